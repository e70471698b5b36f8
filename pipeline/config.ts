/**
 * Loading a run configuration: defaults, then the user's JSON file, then each `--set path=value`,
 * then one strict decode that reports every problem at once (exit 64).
 */
import { Effect, Result, Schema, SchemaIssue } from "effect";
import { Config } from "../schemas/config.ts";
import { defaults } from "../schemas/defaults.ts";
import { crossFieldProblems } from "./config_checks.ts";
import { ConfigError } from "./errors.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Objects merge key by key; anything else (arrays included) replaces. */
export function deepMerge(base: Json, over: Json): Json {
  if (!isObject(base) || !isObject(over)) return structuredClone(over);
  const out: Record<string, Json> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    out[k] = k in out ? deepMerge(out[k], v) : structuredClone(v);
  }
  return out;
}

/** `train.steps=200` → sets that path; the value is JSON when it parses, else a string. */
export function applySet(config: Json, assignment: string): Json {
  const eq = assignment.indexOf("=");
  if (eq <= 0) throw new Error(`--set ${assignment}: expected path=value, e.g. train.steps=200`);
  const path = assignment.slice(0, eq).split(".");
  const raw = assignment.slice(eq + 1);
  let value: Json;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const patch: Json = path.reduceRight<Json>((acc, key) => ({ [key]: acc }), value);
  return deepMerge(config, patch);
}

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1();

/** One `path: problem` line per issue, from the schema's own issue formatter. */
function issueLines(issue: SchemaIssue.Issue): string[] {
  return standardIssues(issue).issues.map(({ path, message }) => {
    const problem = message === "Expected no excess property"
      ? "unknown field"
      : message.replace(/^Expected/, "expected");
    const at = (path ?? []).map((p) => String(typeof p === "object" ? p.key : p)).join(".");
    return at ? `${at}: ${problem}` : problem;
  });
}

export function decodeConfig(raw: unknown): Effect.Effect<Config, ConfigError> {
  const result = Schema.decodeUnknownResult(Config)(raw, {
    errors: "all",
    onExcessProperty: "error",
  });
  if (!Result.isSuccess(result)) {
    return Effect.fail(new ConfigError({ problems: issueLines(result.failure.issue) }));
  }
  const problems = crossFieldProblems(result.success);
  return problems.length
    ? Effect.fail(new ConfigError({ problems }))
    : Effect.succeed(result.success);
}

/** The full config from an optional file (JSON) plus `--set` overrides. */
export function loadConfig(
  file: string | undefined,
  sets: ReadonlyArray<string>,
): Effect.Effect<Config, ConfigError> {
  return Effect.gen(function* () {
    let raw: Json = defaults as unknown as Json;
    if (file !== undefined) {
      const text = yield* Effect.try({
        try: () => Deno.readTextFileSync(file),
        catch: (e) =>
          new ConfigError({ problems: [`${file}: cannot read (${(e as Error).message})`] }),
      });
      const parsed = yield* Effect.try({
        try: () => JSON.parse(text) as Json,
        catch: (e) =>
          new ConfigError({ problems: [`${file}: not valid JSON (${(e as Error).message})`] }),
      });
      if (!isObject(parsed)) {
        return yield* new ConfigError({ problems: [`${file}: expected a JSON object`] });
      }
      raw = deepMerge(raw, parsed);
    }
    for (const s of sets) {
      raw = yield* Effect.try({
        try: () => applySet(raw, s),
        catch: (e) => new ConfigError({ problems: [(e as Error).message] }),
      });
    }
    return yield* decodeConfig(raw);
  });
}
