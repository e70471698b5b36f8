/**
 * Argo Workflows: one Workflow, a DAG with one task per stage; shardable stages fan out with
 * `withSequence` (shard index passed as --shard-index {{item}}), `spec.parallelism` caps running
 * pods. retryStrategy retries exit codes 75 and 143 (and pod-level errors), never 64/65/1.
 */
import {
  dependenciesOf,
  type PlanInput,
  resourcesFor,
  RETRY_EXIT_CODES,
  shardsOf,
  stageArgs,
} from "./common.ts";

export function argoWorkflow(input: PlanInput): Record<string, unknown> {
  const retries = input.retries ?? 3;
  const baseEnv = Object.entries(input.env ?? {}).map(([name, value]) => ({ name, value }));
  const templates = input.stages.map((stage) => {
    const r = resourcesFor(input, stage);
    const shards = shardsOf(input, stage);
    const requests: Record<string, string> = { cpu: `${r.vcpus}`, memory: `${r.memoryMiB}Mi` };
    const limits: Record<string, string> = { memory: `${r.memoryMiB}Mi` };
    if (r.gpus > 0) limits["nvidia.com/gpu"] = `${r.gpus}`;
    return {
      name: stage.name,
      ...(stage.shardable ? { inputs: { parameters: [{ name: "shard-index" }] } } : {}),
      retryStrategy: {
        limit: `${retries}`,
        retryPolicy: "Always",
        // "Error" = the pod was lost (node gone, evicted); exit codes are the pipeline's own.
        expression: `lastRetry.status == "Error" || asInt(lastRetry.exitCode) in [${
          RETRY_EXIT_CODES.join(", ")
        }]`,
        backoff: { duration: "30s", factor: "2", maxDuration: "30m" },
      },
      activeDeadlineSeconds: stage.gpu ? 172800 : 86400,
      container: {
        name: "stage",
        image: input.image,
        args: [
          ...stageArgs(input, stage),
          ...(stage.shardable
            ? ["--shard-index", "{{inputs.parameters.shard-index}}", "--shard-count", `${shards}`]
            : []),
        ],
        env: [
          ...baseEnv,
          { name: "DUET_SHARD_COUNT", value: `${shards}` },
          { name: "DUET_ATTEMPT", value: "{{retries}}" },
        ],
        resources: { requests, limits },
      },
    };
  });
  const tasks = input.stages.map((stage, i) => {
    const deps = dependenciesOf(input.stages, i);
    return {
      name: stage.name,
      template: stage.name,
      ...(deps.length ? { dependencies: deps } : {}),
      ...(stage.shardable
        ? {
          withSequence: { count: `${shardsOf(input, stage)}` },
          arguments: { parameters: [{ name: "shard-index", value: "{{item}}" }] },
        }
        : {}),
    };
  });
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Workflow",
    metadata: {
      generateName: `duet-${input.runId.toLowerCase().replace(/[^a-z0-9-]+/g, "-")}-`,
      namespace: input.namespace ?? "default",
      labels: { "duet/run-id": input.runId.replace(/[^A-Za-z0-9._-]/g, "-") },
    },
    spec: {
      entrypoint: "pipeline",
      parallelism: Math.max(1, input.shardCount),
      templates: [{ name: "pipeline", dag: { tasks } }, ...templates],
    },
  };
}
