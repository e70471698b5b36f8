/**
 * Entry point of `deno task pipeline`. Owns the process: signals, exit codes, error lines.
 * SIGTERM/SIGINT abort the shared signal: the current stage stops (train checkpoints first),
 * and the process exits 143/130.
 */
import { Effect, Exit } from "effect";
import { CliError, Command } from "effect/cli";
import { NodeServices } from "@effect/platform-node";
import { pipelineCommand, shutdown } from "./cli.ts";
import { describeError, ExitCode, exitCodeOf } from "./errors.ts";
import { failureOf, StageRegistry } from "./runner.ts";
import { stages } from "../stages/registry.ts";
import { duetVersion } from "./version.ts";

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.addSignalListener(signal, () => {
    if (shutdown.signal.aborted) {
      Deno.exit(signal === "SIGINT" ? ExitCode.sigint : ExitCode.sigterm);
    }
    shutdown.abort(signal);
  });
}

const program = Command.run(pipelineCommand, { version: duetVersion }).pipe(
  Effect.provideService(StageRegistry, stages),
  Effect.provide(NodeServices.layer),
);
const exit = await Effect.runPromiseExit(program);
if (Exit.isSuccess(exit)) Deno.exit(ExitCode.ok);
const error = failureOf(exit.cause);
// effect/cli has printed its own message for parse errors (unknown flag, bad value).
if (CliError.isCliError(error)) Deno.exit(ExitCode.usage);
console.error(`error: ${describeError(error)}`);
Deno.exit(exitCodeOf(error));
