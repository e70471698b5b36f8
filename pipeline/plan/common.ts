/**
 * Scheduler plans: the inputs every target shares, steps from the stage registry, the exit codes.
 * Each target (argo.ts, k8s.ts, aws_batch.ts, gcp_batch.ts) maps a `PlanInput` to a document.
 */

/** What a plan needs to know about a stage (`planStages` derives it from the stage registry). */
export interface PlanStage {
  readonly name: string;
  /** Runs as shard i of n (array/indexed jobs). */
  readonly shardable: boolean;
  /** Requests a GPU. */
  readonly gpu: boolean;
  /** Upstream stages; default: the previous stage in the list. */
  readonly dependsOn?: ReadonlyArray<string>;
}

/** What plans read of a stage definition (`Stage` in pipeline/stage.ts, `stages/registry.ts`). */
export interface RegistryStage {
  readonly name: string;
  /** The stages whose committed outputs it reads: its dependencies in a plan. */
  readonly needs: ReadonlyArray<string>;
  readonly shardable: boolean;
}

/** Stages that get a GPU in plans: the ones that run the models (train, baseline; refine predicts). */
export const GPU_STAGES: ReadonlyArray<string> = ["train", "baseline", "refine"];

/**
 * Plan steps from the stage registry, in its order: dependencies are each stage's `needs`,
 * shardability its `shardable`, so a stage added to the registry is planned like any other.
 * Every name in `gpuStages` must be a registered stage (a renamed stage would silently lose its GPU).
 */
export function planStages(
  registry: ReadonlyArray<RegistryStage>,
  gpuStages: ReadonlyArray<string> = GPU_STAGES,
): PlanStage[] {
  const names = new Set(registry.map((s) => s.name));
  for (const g of gpuStages) {
    if (!names.has(g)) throw new PlanInputError(`GPU stage ${g} is not in the stage registry`);
  }
  return registry.map((s) => ({
    name: s.name,
    shardable: s.shardable,
    gpu: gpuStages.includes(s.name),
    dependsOn: [...s.needs],
  }));
}

export const PLAN_TARGETS = ["argo", "k8s", "aws-batch", "gcp-batch"] as const;
export type PlanTarget = typeof PLAN_TARGETS[number];

/** Exit codes (DESIGN.md): retry on these, never on the others (64 usage, 65 data, 1 bug). */
export const RETRY_EXIT_CODES = [75, 143] as const;
export const NEVER_RETRY_EXIT_CODES = [64, 65] as const;

export interface Resources {
  readonly vcpus: number;
  readonly memoryMiB: number;
  readonly gpus: number;
}

export interface PlanInput {
  readonly target: PlanTarget;
  readonly runId: string;
  readonly image: string;
  /** Store URI every stage reads and writes, e.g. s3://bucket/duet. */
  readonly store: string;
  /** Shards per shardable stage (array size / completions / taskCount). */
  readonly shardCount: number;
  readonly stages: ReadonlyArray<PlanStage>;
  /** Retries after the first attempt for exit codes 75 and 143 (default 3). */
  readonly retries?: number;
  readonly cpuResources?: Partial<Resources>;
  readonly gpuResources?: Partial<Resources>;
  /** Extra environment for every stage container (e.g. AWS_ENDPOINT_URL_S3, DUET_S3_PATH_STYLE). */
  readonly env?: Readonly<Record<string, string>>;
  /** k8s/argo namespace (default "default"). */
  readonly namespace?: string;
  /** AWS Batch job queues (default duet-cpu / duet-gpu). */
  readonly awsJobQueue?: string;
  readonly awsGpuJobQueue?: string;
  /** GCP Batch location (default us-central1) and GPU machine (default g2-standard-8 + nvidia-l4). */
  readonly gcpRegion?: string;
  readonly gcpGpuMachineType?: string;
  readonly gcpGpuType?: string;
  /** Service account the k8s jobs' dependency waiters use (default duet-plan). */
  readonly k8sServiceAccount?: string;
  /** Image with kubectl for the k8s dependency waiters. */
  readonly kubectlImage?: string;
}

export const DEFAULT_CPU: Resources = { vcpus: 2, memoryMiB: 8192, gpus: 0 };
export const DEFAULT_GPU: Resources = { vcpus: 8, memoryMiB: 30720, gpus: 1 };

export const resourcesFor = (input: PlanInput, stage: PlanStage): Resources =>
  stage.gpu ? { ...DEFAULT_GPU, ...input.gpuResources } : { ...DEFAULT_CPU, ...input.cpuResources };

/** Upstream stage names: explicit, else the previous stage. */
export function dependenciesOf(stages: ReadonlyArray<PlanStage>, index: number): string[] {
  const stage = stages[index];
  if (stage.dependsOn) return [...stage.dependsOn];
  return index === 0 ? [] : [stages[index - 1].name];
}

/** Arguments after the image's entrypoint (`deno task pipeline` with --cached-only). */
export const stageArgs = (input: PlanInput, stage: PlanStage): string[] => [
  "stage",
  stage.name,
  "--run-id",
  input.runId,
  "--store",
  input.store,
];

/** The full command the entrypoint stands for, for documentation and logs. */
export const stageCommandLine = (input: PlanInput, stage: PlanStage) =>
  ["deno", "task", "pipeline", ...stageArgs(input, stage)].join(" ");

export const shardsOf = (input: PlanInput, stage: PlanStage) =>
  stage.shardable ? input.shardCount : 1;

/** Lowercase DNS-1123 label from parts (k8s names, GCP job ids); keeps it within max chars. */
export function dnsName(parts: ReadonlyArray<string>, max = 63): string {
  const name = parts.join("-").toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/-+/g, "-")
    .replace(/^-+|-+$/g, "");
  const cut = name.slice(0, max).replace(/-+$/, "");
  return /^[a-z]/.test(cut) ? cut : `d${cut}`.slice(0, max);
}

export class PlanInputError extends Error {}

/** Checks the input before any target renders it. */
export function validatePlanInput(input: PlanInput): void {
  const fail = (m: string): never => {
    throw new PlanInputError(m);
  };
  if (!PLAN_TARGETS.includes(input.target)) {
    fail(`--target must be one of ${PLAN_TARGETS.join(", ")}`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(input.runId)) {
    fail("--run-id: 1-63 of letters, digits, '.', '_', '-', starting with a letter or digit");
  }
  if (!input.image) fail("--image is required");
  if (!input.store) fail("--store is required");
  if (/^(file:|memory:)/.test(input.store) || !/^[a-z0-9]+:\/\//.test(input.store)) {
    fail("--store must be shared object storage (s3://bucket/prefix) for a scheduler plan");
  }
  if (!Number.isInteger(input.shardCount) || input.shardCount < 1 || input.shardCount > 10000) {
    fail("--shards must be an integer from 1 to 10000");
  }
  if (input.stages.length === 0) fail("no stages to plan");
  const names = new Set(input.stages.map((s) => s.name));
  if (names.size !== input.stages.length) fail("duplicate stage names");
  input.stages.forEach((s, i) => {
    for (const d of dependenciesOf(input.stages, i)) {
      if (!input.stages.slice(0, i).some((u) => u.name === d)) {
        fail(`stage ${s.name} depends on ${d}, which is not an earlier stage`);
      }
    }
  });
  const retries = input.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0 || retries > 9) fail("retries must be 0-9");
}
