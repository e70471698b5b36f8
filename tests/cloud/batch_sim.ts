/**
 * A local stand-in for AWS Batch that executes the document `pipeline plan --target aws-batch`
 * emits: each job (or array child) is a separate `deno run pipeline/main.ts` process started with
 * the job definition's command and environment plus the variables Batch sets
 * (AWS_BATCH_JOB_ARRAY_INDEX / _SIZE, AWS_BATCH_JOB_ATTEMPT). A job starts once every job in its
 * `after` list has succeeded; array children run in parallel. A failed attempt is retried or not
 * by the job definition's `retryStrategy.evaluateOnExit`, the way Batch evaluates it.
 *
 * Faults come from a `chaos` hook that may SIGKILL an attempt (what a Spot reclaim does: Batch
 * reports status reason "Host EC2 ... terminated") or SIGTERM it (a job terminated with a grace
 * period), at a moment it chooses.
 */
import { awsRetryAction, type EvaluateOnExit } from "./aws_batch_rules.ts";

const root = new URL("../../", import.meta.url).pathname;

export interface AwsBatchPlan {
  readonly jobDefinitions: ReadonlyArray<{
    readonly jobDefinitionName: string;
    readonly retryStrategy: { attempts: number; evaluateOnExit: EvaluateOnExit[] };
    readonly containerProperties: {
      readonly command: string[];
      readonly environment: { name: string; value: string }[];
    };
    readonly tags: Record<string, string>;
  }>;
  readonly jobs: ReadonlyArray<{
    readonly after: string[];
    readonly request: {
      readonly jobName: string;
      readonly jobDefinition: string;
      readonly arrayProperties?: { size: number };
    };
  }>;
}

/** One attempt of one unit (job, array index), as the scheduler saw it. */
export interface AttemptRecord {
  readonly stage: string;
  readonly job: string;
  readonly index: number | undefined;
  readonly attempt: number;
  readonly fault: "none" | "SIGKILL" | "SIGTERM";
  /** Exit code, or 137 when SIGKILLed. */
  readonly code: number;
  readonly signal: string | null;
  /** What Batch would report for a lost host. */
  readonly reason: string | undefined;
  readonly action: "SUCCEEDED" | "RETRY" | "EXIT";
  readonly ms: number;
  readonly stderr: string;
}

/** A fault for one attempt: when to send which signal. */
export type Fault =
  | { readonly signal: "SIGKILL"; readonly afterMs: number; readonly from: "spawn" | "stage" }
  | { readonly signal: "SIGTERM"; readonly when: RegExp };

export interface ChaosContext {
  readonly stage: string;
  readonly index: number | undefined;
  readonly attempt: number;
}

export interface BatchSimOptions {
  /** Environment every container gets (store endpoint, credentials) on top of the definition's. */
  readonly env: Record<string, string>;
  /** Decides the fault of an attempt; undefined = let it run. */
  readonly chaos?: (ctx: ChaosContext) => Fault | undefined;
}

/** The line `pipeline stage` logs once it has read the run manifest and starts the unit. */
const STAGE_START = /^stage \S+ of run \S+: shard/m;

async function runAttempt(
  command: string[],
  env: Record<string, string>,
  fault: Fault | undefined,
): Promise<{ code: number; signal: string | null; stderr: string; ms: number }> {
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${root}pipeline/main.ts`, ...command],
    cwd: root,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const timers: ReturnType<typeof setTimeout>[] = [];
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* exited already */ }
  };
  if (fault?.signal === "SIGKILL" && fault.from === "spawn") {
    timers.push(setTimeout(() => kill("SIGKILL"), fault.afterMs));
  }
  let armed = true;
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    stderr += chunk;
    if (!armed || !fault) continue;
    if (fault.signal === "SIGKILL" && fault.from === "stage" && STAGE_START.test(stderr)) {
      armed = false;
      timers.push(setTimeout(() => kill("SIGKILL"), fault.afterMs));
    } else if (fault.signal === "SIGTERM" && fault.when.test(stderr)) {
      armed = false;
      kill("SIGTERM");
    }
  }
  const status = await child.status;
  timers.forEach(clearTimeout);
  return {
    code: status.signal === "SIGKILL" ? 137 : status.code,
    signal: status.signal,
    stderr,
    ms: performance.now() - t0,
  };
}

/**
 * Runs the plan to the end (every job succeeded) or throws naming the job that Batch would have
 * failed, with its last stderr. Returns every attempt in the order they ended.
 */
export async function runAwsBatchPlan(
  plan: AwsBatchPlan,
  options: BatchSimOptions,
): Promise<AttemptRecord[]> {
  const records: AttemptRecord[] = [];
  const definitions = new Map(plan.jobDefinitions.map((d) => [d.jobDefinitionName, d]));
  const finished = new Map<string, Promise<void>>();

  const runUnit = async (job: AwsBatchPlan["jobs"][number], index: number | undefined) => {
    const def = definitions.get(job.request.jobDefinition)!;
    const stage = def.tags["duet:stage"];
    const size = job.request.arrayProperties?.size;
    for (let attempt = 1;; attempt++) {
      const env: Record<string, string> = {
        ...Object.fromEntries(def.containerProperties.environment.map((e) => [e.name, e.value])),
        ...options.env,
        AWS_BATCH_JOB_ATTEMPT: `${attempt}`,
        ...(size !== undefined
          ? { AWS_BATCH_JOB_ARRAY_INDEX: `${index}`, AWS_BATCH_JOB_ARRAY_SIZE: `${size}` }
          : {}),
      };
      const fault = options.chaos?.({ stage, index, attempt });
      const out = await runAttempt(def.containerProperties.command, env, fault);
      const lostHost = out.signal === "SIGKILL";
      const reason = lostHost ? "Host EC2 (instance i-0sim) terminated." : undefined;
      const action = out.code === 0
        ? "SUCCEEDED" as const
        : awsRetryAction(def.retryStrategy.evaluateOnExit, { code: out.code, reason }) ===
              "RETRY" &&
            attempt < def.retryStrategy.attempts
        ? "RETRY" as const
        : "EXIT" as const;
      records.push({
        stage,
        job: job.request.jobName,
        index,
        attempt,
        fault: fault?.signal ?? "none",
        code: out.code,
        signal: out.signal,
        reason,
        action,
        ms: out.ms,
        stderr: out.stderr,
      });
      if (action === "SUCCEEDED") return;
      if (action === "EXIT") {
        throw new Error(
          `job ${job.request.jobName}${index === undefined ? "" : `[${index}]`} failed on ` +
            `attempt ${attempt} with exit ${out.code}:\n${out.stderr}`,
        );
      }
    }
  };

  for (const job of plan.jobs) {
    const upstream = job.after.map((name) => {
      const done = finished.get(name);
      if (!done) throw new Error(`job ${job.request.jobName} is after unknown job ${name}`);
      return done;
    });
    const size = job.request.arrayProperties?.size;
    finished.set(
      job.request.jobName,
      Promise.all(upstream).then(async () => {
        if (size === undefined) return runUnit(job, undefined);
        await Promise.all(Array.from({ length: size }, (_, i) => runUnit(job, i)));
      }),
    );
  }
  // Fail fast on the first job Batch would fail; otherwise wait for all.
  await Promise.all(finished.values());
  return records;
}
