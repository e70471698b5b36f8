/**
 * Shard and attempt of this process, from flags or the scheduler's variables:
 * - AWS Batch array jobs: AWS_BATCH_JOB_ARRAY_INDEX, AWS_BATCH_JOB_ARRAY_SIZE, AWS_BATCH_JOB_ATTEMPT
 *   (from 1), all set by Batch.
 * - Kubernetes Indexed Jobs: JOB_COMPLETION_INDEX (set by k8s); the count is DUET_SHARD_COUNT,
 *   which the plan sets (k8s has no count variable). No attempt variable exists.
 * - GCP Batch: BATCH_TASK_INDEX, BATCH_TASK_COUNT, BATCH_TASK_RETRY_ATTEMPT (from 0).
 * - Argo: the plan passes --shard-index/--shard-count flags and DUET_ATTEMPT={{retries}} (from 0).
 * Flags win over variables; DUET_SHARD_INDEX/DUET_SHARD_COUNT are generic fallbacks.
 */

export interface Shard {
  readonly index: number;
  readonly count: number;
  /** Where the index came from, for the log line. */
  readonly source: string;
}

export interface Attempt {
  /** 1-based attempt number. */
  readonly number: number;
  readonly source: string;
}

export class ShardEnvError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

const parseCount = (raw: string, what: string, min: number): number => {
  if (!/^\d+$/.test(raw.trim())) throw new ShardEnvError(`${what} is not an integer: '${raw}'`);
  const n = Number(raw);
  if (n < min) throw new ShardEnvError(`${what} must be >= ${min}: ${n}`);
  return n;
};

const SOURCES: ReadonlyArray<{ index: string; count: string[] }> = [
  { index: "AWS_BATCH_JOB_ARRAY_INDEX", count: ["AWS_BATCH_JOB_ARRAY_SIZE", "DUET_SHARD_COUNT"] },
  { index: "JOB_COMPLETION_INDEX", count: ["DUET_SHARD_COUNT"] },
  { index: "BATCH_TASK_INDEX", count: ["BATCH_TASK_COUNT", "DUET_SHARD_COUNT"] },
  { index: "DUET_SHARD_INDEX", count: ["DUET_SHARD_COUNT"] },
];

/**
 * Shard of this process. Flags (`--shard-index`, `--shard-count`, as strings or numbers) win;
 * else the first scheduler variable present; else shard 0 of 1. A count without an index
 * (e.g. AWS_BATCH_JOB_ARRAY_SIZE on a non-array job) is an error only when an index is present.
 */
export function shardFromEnv(
  env: Env,
  flags: { shardIndex?: string | number; shardCount?: string | number } = {},
): Shard {
  const flagIndex = flags.shardIndex;
  const flagCount = flags.shardCount;
  let shard: Shard | undefined;
  if (flagIndex !== undefined || flagCount !== undefined) {
    if (flagIndex === undefined || flagCount === undefined) {
      throw new ShardEnvError("--shard-index and --shard-count go together");
    }
    shard = {
      index: parseCount(String(flagIndex), "--shard-index", 0),
      count: parseCount(String(flagCount), "--shard-count", 1),
      source: "flags",
    };
  } else {
    for (const s of SOURCES) {
      const raw = env[s.index];
      if (raw === undefined || raw === "") continue;
      const countVar = s.count.find((c) => env[c] !== undefined && env[c] !== "");
      if (!countVar) {
        throw new ShardEnvError(`${s.index} is set but no shard count (${s.count.join(" or ")})`);
      }
      shard = {
        index: parseCount(raw, s.index, 0),
        count: parseCount(env[countVar]!, countVar, 1),
        source: `${s.index}/${countVar}`,
      };
      break;
    }
  }
  shard ??= { index: 0, count: 1, source: "default" };
  if (shard.index >= shard.count) {
    throw new ShardEnvError(`shard index ${shard.index} is not below count ${shard.count}`);
  }
  return shard;
}

/** Attempt number (1-based) from the scheduler, or undefined where it gives none (k8s). */
export function attemptFromEnv(env: Env): Attempt | undefined {
  const read = (name: string, offset: number): Attempt | undefined => {
    const raw = env[name];
    if (raw === undefined || !/^\d+$/.test(raw.trim())) return undefined;
    return { number: Number(raw) + offset, source: name };
  };
  return read("AWS_BATCH_JOB_ATTEMPT", 0) ?? read("BATCH_TASK_RETRY_ATTEMPT", 1) ??
    read("DUET_ATTEMPT", 1);
}

/** One log line: `shard 3/8 (AWS_BATCH_JOB_ARRAY_INDEX/AWS_BATCH_JOB_ARRAY_SIZE), attempt 2 (...)`. */
export function describeSchedulerContext(shard: Shard, attempt: Attempt | undefined): string {
  return `shard ${shard.index}/${shard.count} (${shard.source}), attempt ${
    attempt ? `${attempt.number} (${attempt.source})` : "unknown"
  }`;
}
