/**
 * Plain Kubernetes: a `List` of batch/v1 Jobs, one per stage, applied at once with
 * `kubectl apply -f`. Shardable stages are Indexed Jobs (completionMode Indexed, the pod gets
 * JOB_COMPLETION_INDEX; the plan sets DUET_SHARD_COUNT). Kubernetes has no job dependencies, so
 * each Job's init container waits (`kubectl wait --for=condition=complete`) for its upstream
 * Jobs; a ServiceAccount + Role allow exactly that. podFailurePolicy: exit 64/65 (and any other
 * code but 75/143) fails the Job at once; 75/143 count against the per-index retry budget;
 * disruptions (preemption, drain) do not count.
 */
import {
  dependenciesOf,
  dnsName,
  NEVER_RETRY_EXIT_CODES,
  type PlanInput,
  resourcesFor,
  RETRY_EXIT_CODES,
  shardsOf,
  stageArgs,
} from "./common.ts";

export const k8sJobName = (input: PlanInput, stage: string) =>
  dnsName(["duet", input.runId, stage]);

export function k8sList(input: PlanInput): Record<string, unknown> {
  const namespace = input.namespace ?? "default";
  const sa = input.k8sServiceAccount ?? "duet-plan";
  const retries = input.retries ?? 3;
  const labels = { "app.kubernetes.io/name": "duet", "duet/run-id": dnsName([input.runId]) };
  const baseEnv = Object.entries(input.env ?? {}).map(([name, value]) => ({ name, value }));
  const jobs = input.stages.map((stage, i) => {
    const r = resourcesFor(input, stage);
    const shards = shardsOf(input, stage);
    const requests: Record<string, string> = { cpu: `${r.vcpus}`, memory: `${r.memoryMiB}Mi` };
    const limits: Record<string, string> = { memory: `${r.memoryMiB}Mi` };
    if (r.gpus > 0) limits["nvidia.com/gpu"] = `${r.gpus}`;
    const upstream = dependenciesOf(input.stages, i).map((d) => k8sJobName(input, d));
    return {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: k8sJobName(input, stage.name), namespace, labels },
      spec: {
        completionMode: "Indexed",
        completions: shards,
        parallelism: shards,
        backoffLimitPerIndex: retries,
        maxFailedIndexes: 0,
        podFailurePolicy: {
          rules: [
            { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
            {
              action: "FailJob",
              onExitCodes: {
                containerName: "stage",
                operator: "In",
                values: [...NEVER_RETRY_EXIT_CODES],
              },
            },
            {
              action: "Count",
              onExitCodes: {
                containerName: "stage",
                operator: "In",
                values: [...RETRY_EXIT_CODES],
              },
            },
            {
              action: "FailJob",
              onExitCodes: {
                containerName: "stage",
                operator: "NotIn",
                values: [...RETRY_EXIT_CODES],
              },
            },
          ],
        },
        template: {
          metadata: { labels: { ...labels, "duet/stage": stage.name } },
          spec: {
            restartPolicy: "Never",
            serviceAccountName: sa,
            // train checkpoints within 30 s of SIGTERM, then exits 143
            terminationGracePeriodSeconds: 60,
            initContainers: upstream.map((job, j) => ({
              name: `wait-${j}`,
              image: input.kubectlImage ?? "registry.k8s.io/kubectl:v1.33.0",
              args: [
                "wait",
                "--for=condition=complete",
                "--timeout=168h",
                "-n",
                namespace,
                `job/${job}`,
              ],
            })),
            containers: [{
              name: "stage",
              image: input.image,
              args: stageArgs(input, stage),
              env: [...baseEnv, { name: "DUET_SHARD_COUNT", value: `${shards}` }],
              resources: { requests, limits },
            }],
            ...(r.gpus > 0
              ? {
                tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
              }
              : {}),
          },
        },
      },
    };
  });
  return {
    apiVersion: "v1",
    kind: "List",
    items: [
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: sa, namespace, labels } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: sa, namespace, labels },
        rules: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list", "watch"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: sa, namespace, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: sa },
        subjects: [{ kind: "ServiceAccount", name: sa, namespace }],
      },
      ...jobs,
    ],
  };
}
