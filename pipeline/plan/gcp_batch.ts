/**
 * Google Cloud Batch: a Google Cloud Workflows definition that creates one Batch job per stage,
 * in dependency order, through the `googleapis.batch.v1.projects.locations.jobs.create`
 * connector (which waits for the job to finish and raises if it fails). Shardable stages are one
 * task group with taskCount = shards (BATCH_TASK_INDEX / BATCH_TASK_COUNT in the container).
 * lifecyclePolicies: RETRY_TASK on 75, 143 and Batch's VM-loss codes (50001 preempted, 50002
 * VM lost, 50003 VM rebooted); every other code (64, 65, 1) fails the task, per the API: "When
 * RETRY_TASK is specified, we will retry failed tasks if we notice any exit code match and fail
 * tasks if no match is found".
 */
import {
  dependenciesOf,
  dnsName,
  type PlanInput,
  type PlanStage,
  resourcesFor,
  RETRY_EXIT_CODES,
  shardsOf,
  stageArgs,
} from "./common.ts";

export const GCP_RETRY_EXIT_CODES = [...RETRY_EXIT_CODES, 50001, 50002, 50003];

export function gcpBatchJob(input: PlanInput, stage: PlanStage): Record<string, unknown> {
  const r = resourcesFor(input, stage);
  const shards = shardsOf(input, stage);
  return {
    taskGroups: [{
      taskCount: `${shards}`,
      parallelism: `${shards}`,
      taskSpec: {
        runnables: [{
          container: { imageUri: input.image, commands: stageArgs(input, stage) },
          environment: {
            variables: { ...input.env, DUET_SHARD_COUNT: `${shards}` },
          },
        }],
        computeResource: { cpuMilli: `${r.vcpus * 1000}`, memoryMib: `${r.memoryMiB}` },
        maxRetryCount: input.retries ?? 3,
        maxRunDuration: stage.gpu ? "172800s" : "86400s",
        lifecyclePolicies: [{
          action: "RETRY_TASK",
          actionCondition: { exitCodes: GCP_RETRY_EXIT_CODES },
        }],
      },
    }],
    allocationPolicy: r.gpus > 0
      ? {
        instances: [{
          installGpuDrivers: true,
          policy: {
            machineType: input.gcpGpuMachineType ?? "g2-standard-8",
            accelerators: [{ type: input.gcpGpuType ?? "nvidia-l4", count: `${r.gpus}` }],
          },
        }],
      }
      : undefined, // Batch picks a machine that fits computeResource
    labels: { "duet-run-id": dnsName([input.runId]), "duet-stage": stage.name },
    logsPolicy: { destination: "CLOUD_LOGGING" },
  };
}

export function gcpWorkflow(input: PlanInput): Record<string, unknown> {
  const region = input.gcpRegion ?? "us-central1";
  const suffix = '${text.substring(sys.get_env("GOOGLE_CLOUD_WORKFLOW_EXECUTION_ID"), 0, 8)}';
  const steps: Record<string, unknown>[] = [{
    init: {
      assign: [
        { project: '${sys.get_env("GOOGLE_CLOUD_PROJECT_ID")}' },
        { region },
        { parent: '${"projects/" + project + "/locations/" + region}' },
        { suffix },
      ],
    },
  }];
  // Stages run in list order, which respects dependencies (validatePlanInput checks that).
  input.stages.forEach((stage) => {
    const jobPrefix = dnsName(["duet", input.runId, stage.name], 54);
    steps.push({
      [`run_${stage.name.replace(/[^A-Za-z0-9_]/g, "_")}`]: {
        call: "googleapis.batch.v1.projects.locations.jobs.create",
        args: {
          parent: "${parent}",
          jobId: `\${"${jobPrefix}-" + suffix}`,
          body: gcpBatchJob(input, stage),
          connector_params: { timeout: 31536000, polling_policy: { initial_delay: 60 } },
        },
        result: `${stage.name.replace(/[^A-Za-z0-9_]/g, "_")}_job`,
      },
    });
  });
  steps.push({ done: { return: `duet run ${input.runId}: all stages succeeded` } });
  return { main: { steps } };
}

/** Upstream stages per stage, for readers of the plan (Workflows runs steps in order). */
export const gcpDependencies = (input: PlanInput) =>
  Object.fromEntries(input.stages.map((s, i) => [s.name, dependenciesOf(input.stages, i)]));
