/**
 * AWS Batch: `jobDefinitions` (RegisterJobDefinition requests, one per stage) and `jobs`
 * (SubmitJob requests in dependency order, each with `after`: the job names it depends on).
 * docs/cloud.md has the few lines of shell that register the definitions and submit the jobs,
 * filling each `dependsOn` with the job ids of `after`. Shardable stages are array jobs
 * (AWS_BATCH_JOB_ARRAY_INDEX / AWS_BATCH_JOB_ARRAY_SIZE in the container); an array job that
 * depends on another waits for all of its children.
 * retryStrategy.evaluateOnExit (first match wins, at most 5 rules): RETRY on 75 and 143 and on
 * host (Spot) termination; EXIT on everything else, 64 and 65 included.
 */
import {
  dependenciesOf,
  dnsName,
  type PlanInput,
  resourcesFor,
  RETRY_EXIT_CODES,
  shardsOf,
  stageArgs,
} from "./common.ts";

export const awsEvaluateOnExit = [
  { onStatusReason: "Host EC2*", action: "RETRY" },
  ...RETRY_EXIT_CODES.map((code) => ({ onExitCode: `${code}`, action: "RETRY" })),
  { onExitCode: "*", action: "EXIT" },
];

export function awsBatchPlan(input: PlanInput): Record<string, unknown> {
  const retries = input.retries ?? 3;
  const name = (stage: string) => dnsName(["duet", input.runId, stage], 128);
  const jobDefinitions = input.stages.map((stage) => {
    const r = resourcesFor(input, stage);
    return {
      jobDefinitionName: name(stage.name),
      type: "container",
      platformCapabilities: ["EC2"],
      retryStrategy: { attempts: retries + 1, evaluateOnExit: awsEvaluateOnExit },
      timeout: { attemptDurationSeconds: stage.gpu ? 172800 : 86400 },
      containerProperties: {
        image: input.image,
        command: stageArgs(input, stage),
        resourceRequirements: [
          { type: "VCPU", value: `${r.vcpus}` },
          { type: "MEMORY", value: `${r.memoryMiB}` },
          ...(r.gpus > 0 ? [{ type: "GPU", value: `${r.gpus}` }] : []),
        ],
        environment: [
          ...Object.entries(input.env ?? {}).map(([name, value]) => ({ name, value })),
          { name: "DUET_SHARD_COUNT", value: `${shardsOf(input, stage)}` },
        ],
      },
      tags: { "duet:run-id": input.runId, "duet:stage": stage.name },
    };
  });
  const jobs = input.stages.map((stage, i) => {
    const shards = shardsOf(input, stage);
    return {
      after: dependenciesOf(input.stages, i).map(name),
      request: {
        jobName: name(stage.name),
        jobQueue: stage.gpu ? input.awsGpuJobQueue ?? "duet-gpu" : input.awsJobQueue ?? "duet-cpu",
        jobDefinition: name(stage.name),
        // Array size must be 2..10000: one shard is a plain job (shard 0 of 1).
        ...(shards >= 2 ? { arrayProperties: { size: shards } } : {}),
        tags: { "duet:run-id": input.runId, "duet:stage": stage.name },
      },
    };
  });
  return { format: "duet-aws-batch-plan/v1", jobDefinitions, jobs };
}
