// deno-lint-ignore-file no-explicit-any -- parsed YAML/JSON documents are untyped
/**
 * Scheduler plans: Argo and Kubernetes documents are validated against the official schemas
 * (kubernetes-models / @kubernetes-models/argo-workflows, generated from the Kubernetes OpenAPI
 * spec and Argo's CRD); AWS Batch and GCP Batch against the fields their API references require
 * (cited per check). Retry rules are checked by evaluating them the way each scheduler does.
 */
import { parse } from "yaml";
import { Job } from "kubernetes-models/batch/v1";
import { ServiceAccount } from "kubernetes-models/v1";
import { Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { Workflow } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1";
import {
  type PlanInput,
  PlanInputError,
  planInputFromArgs,
  planStages,
  type PlanTarget,
  renderPlan,
} from "../../pipeline/plan/render.ts";
import { stages as registry } from "../../stages/registry.ts";

const PIPELINE_STAGES = planStages(registry);
import { awsRetryAction } from "./aws_batch_rules.ts";
import { assert, assertEquals } from "../assert.ts";

const base = (target: PlanTarget, extra: Partial<PlanInput> = {}): PlanInput => ({
  target,
  runId: "run-2026-11",
  image: "ghcr.io/acme/duet:1.2.3",
  store: "s3://duet-bucket/runs",
  shardCount: 4,
  stages: PIPELINE_STAGES,
  ...extra,
});
// Expectations come from the stage registry itself: a stage added there must show up in plans.
const SHARDABLE: string[] = registry.filter((s) => s.shardable).map((s) => s.name);
const GPU = ["train", "baseline", "refine"];
const ORDER: string[] = registry.map((s) => s.name);
const NEEDS: Record<string, string[]> = Object.fromEntries(
  registry.map((s) => [s.name, [...s.needs]]),
);
const stageArgsOk = (args: string[], stage: string) => {
  assertEquals(args.slice(0, 6), [
    "stage",
    stage,
    "--run-id",
    "run-2026-11",
    "--store",
    "s3://duet-bucket/runs",
  ]);
};

/** Kubernetes podFailurePolicy: the first rule whose exit-code condition matches decides. */
function k8sFailureAction(rules: any[], exitCode: number): string {
  for (const rule of rules) {
    const c = rule.onExitCodes;
    if (!c) continue;
    const hit = c.values.includes(exitCode);
    if (c.operator === "In" ? hit : !hit) return rule.action;
  }
  return "Count";
}

Deno.test("plan argo: a Workflow valid against the Argo CRD schema, DAG in stage order", () => {
  const doc = parse(renderPlan(base("argo")));
  new Workflow(doc).validate();
  assertEquals(doc.kind, "Workflow");
  const dag = doc.spec.templates.find((t: any) => t.name === doc.spec.entrypoint).dag;
  assertEquals(dag.tasks.map((t: any) => t.name), ORDER);
  dag.tasks.forEach((t: any, i: number) => {
    assertEquals(t.dependencies ?? [], NEEDS[ORDER[i]], t.name);
    assertEquals(t.withSequence?.count, SHARDABLE.includes(t.name) ? "4" : undefined, t.name);
  });
  for (const name of ORDER) {
    const tpl = doc.spec.templates.find((t: any) => t.name === name);
    stageArgsOk(tpl.container.args, name);
    assertEquals(tpl.container.image, "ghcr.io/acme/duet:1.2.3");
    assertEquals(
      tpl.container.resources.limits["nvidia.com/gpu"],
      GPU.includes(name) ? "1" : undefined,
    );
    assert(tpl.container.resources.requests.cpu, "cpu request");
    assert(/in \[75, 143\]/.test(tpl.retryStrategy.expression), tpl.retryStrategy.expression);
    assert(!/64|65/.test(tpl.retryStrategy.expression), "64/65 never retried");
    if (SHARDABLE.includes(name)) {
      assert(tpl.container.args.includes("{{inputs.parameters.shard-index}}"), "shard index flag");
    }
    assert(
      tpl.container.env.some((e: any) => e.name === "DUET_ATTEMPT" && e.value === "{{retries}}"),
    );
  }
  assertEquals(doc.spec.parallelism, 4);
});

Deno.test("plan argo: the schema check catches a broken document", () => {
  const doc = parse(renderPlan(base("argo")));
  delete doc.spec.templates[1].container.name;
  let failed = false;
  try {
    new Workflow(doc).validate();
  } catch {
    failed = true;
  }
  assert(failed, "a container without a name must be rejected");
});

Deno.test("plan k8s: Jobs valid against the Kubernetes schema; Indexed, retries, GPUs, waits", () => {
  const doc = parse(renderPlan(base("k8s")));
  assertEquals(doc.kind, "List");
  const byKind = (k: string) => doc.items.filter((i: any) => i.kind === k);
  new ServiceAccount(byKind("ServiceAccount")[0]).validate();
  new Role(byKind("Role")[0]).validate();
  new RoleBinding(byKind("RoleBinding")[0]).validate();
  const jobs = byKind("Job");
  assertEquals(jobs.length, ORDER.length);
  const names = jobs.map((j: any) => j.metadata.name);
  jobs.forEach((job: any, i: number) => {
    new Job(job).validate();
    const stage = ORDER[i];
    const spec = job.spec;
    assertEquals(spec.completionMode, "Indexed");
    assertEquals(spec.completions, SHARDABLE.includes(stage) ? 4 : 1, stage);
    assertEquals(spec.template.spec.restartPolicy, "Never", "podFailurePolicy requires Never");
    const c = spec.template.spec.containers[0];
    stageArgsOk(c.args, stage);
    assertEquals(c.resources.limits["nvidia.com/gpu"], GPU.includes(stage) ? "1" : undefined);
    assert(
      c.env.some((e: any) => e.name === "DUET_SHARD_COUNT" && e.value === `${spec.completions}`),
    );
    const rules = spec.podFailurePolicy.rules;
    for (const code of [75, 143]) assertEquals(k8sFailureAction(rules, code), "Count", `${code}`);
    for (const code of [64, 65, 1, 137]) assertEquals(k8sFailureAction(rules, code), "FailJob");
    const waits = spec.template.spec.initContainers.map((w: any) => w.args.at(-1));
    assertEquals(waits, NEEDS[stage].map((n) => `job/${names[ORDER.indexOf(n)]}`), stage);
  });
});

Deno.test("plan aws-batch: RegisterJobDefinition/SubmitJob fields per the AWS Batch API", () => {
  const doc = JSON.parse(renderPlan(base("aws-batch", { retries: 4 })));
  // API reference, RegisterJobDefinition: jobDefinitionName (required, up to 128 letters,
  // numbers, hyphens, underscores), type (required: container | multinode);
  // containerProperties.image; resourceRequirements {type: GPU|MEMORY|VCPU, value: string};
  // retryStrategy.attempts 1-10; evaluateOnExit up to 5 entries, action RETRY|EXIT,
  // onExitCode/onStatusReason up to 512 chars, exit code patterns digits with an optional final *.
  assertEquals(doc.jobDefinitions.length, ORDER.length);
  doc.jobDefinitions.forEach((d: any, i: number) => {
    const stage = ORDER[i];
    assert(/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(d.jobDefinitionName), d.jobDefinitionName);
    assertEquals(d.type, "container");
    assertEquals(d.containerProperties.image, "ghcr.io/acme/duet:1.2.3");
    stageArgsOk(d.containerProperties.command, stage);
    const req = Object.fromEntries(
      d.containerProperties.resourceRequirements.map((r: any) => [r.type, r.value]),
    );
    for (const v of Object.values(req)) assertEquals(typeof v, "string");
    assert(Number(req.VCPU) > 0 && Number(req.MEMORY) > 0, "VCPU and MEMORY");
    assertEquals(req.GPU, GPU.includes(stage) ? "1" : undefined, stage);
    const rs = d.retryStrategy;
    assertEquals(rs.attempts, 5);
    assert(rs.evaluateOnExit.length <= 5, "at most 5 evaluateOnExit entries");
    for (const r of rs.evaluateOnExit) {
      assert(["RETRY", "EXIT"].includes(r.action));
      if (r.onExitCode !== undefined) assert(/^\d*\*?$/.test(r.onExitCode) && r.onExitCode !== "");
    }
    for (const code of [75, 143]) {
      assertEquals(awsRetryAction(rs.evaluateOnExit, { code }), "RETRY");
    }
    for (const code of [64, 65, 1]) {
      assertEquals(awsRetryAction(rs.evaluateOnExit, { code }), "EXIT");
    }
    assertEquals(
      awsRetryAction(rs.evaluateOnExit, { reason: "Host EC2 (instance i-0abc) terminated." }),
      "RETRY",
    );
  });
  // SubmitJob: jobName, jobQueue, jobDefinition required; arrayProperties.size 2-10,000.
  const names = doc.jobs.map((j: any) => j.request.jobName);
  doc.jobs.forEach((j: any, i: number) => {
    const stage = ORDER[i];
    for (const f of ["jobName", "jobQueue", "jobDefinition"]) assert(j.request[f], `${f} required`);
    assertEquals(j.request.jobDefinition, doc.jobDefinitions[i].jobDefinitionName);
    assertEquals(j.request.jobQueue, GPU.includes(stage) ? "duet-gpu" : "duet-cpu");
    assertEquals(j.request.arrayProperties?.size, SHARDABLE.includes(stage) ? 4 : undefined);
    assertEquals(j.after, NEEDS[stage].map((n) => names[ORDER.indexOf(n)]));
  });
  const single = JSON.parse(renderPlan(base("aws-batch", { shardCount: 1 })));
  assert(
    single.jobs.every((j: any) => j.request.arrayProperties === undefined),
    "size 1: no array",
  );
});

Deno.test("plan gcp-batch: Workflows steps creating Batch jobs, fields per the Batch v1 API", () => {
  const doc = parse(renderPlan(base("gcp-batch")));
  const steps = doc.main.steps.map((s: any) => Object.entries(s)[0]);
  const runs = steps.filter(([, v]: any) => v.call);
  assertEquals(runs.length, ORDER.length);
  runs.forEach(([name, step]: any, i: number) => {
    const stage = ORDER[i];
    assertEquals(name, `run_${stage}`);
    // Workflows connector googleapis.batch.v1.projects.locations.jobs.create: parent, jobId,
    // body required.
    assertEquals(step.call, "googleapis.batch.v1.projects.locations.jobs.create");
    for (const f of ["parent", "jobId", "body"]) assert(step.args[f], `${f} required`);
    const prefix = /^\$\{"([^"]+)" \+ suffix\}$/.exec(step.args.jobId)?.[1];
    // Job id: ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$ after the 8-char execution suffix is appended.
    assert(prefix && /^[a-z][a-z0-9-]*-$/.test(prefix) && prefix.length + 8 <= 63, prefix);
    // Job: taskGroups[].taskSpec.runnables[] required; taskCount/parallelism int64 (as strings
    // in JSON); maxRetryCount 0-10; lifecyclePolicies {action, actionCondition.exitCodes[]}.
    const group = step.args.body.taskGroups[0];
    const spec = group.taskSpec;
    assertEquals(group.taskCount, SHARDABLE.includes(stage) ? "4" : "1");
    const container = spec.runnables[0].container;
    assertEquals(container.imageUri, "ghcr.io/acme/duet:1.2.3");
    stageArgsOk(container.commands, stage);
    assert(spec.maxRetryCount >= 0 && spec.maxRetryCount <= 10);
    assertEquals(spec.lifecyclePolicies.length, 1);
    const policy = spec.lifecyclePolicies[0];
    assertEquals(policy.action, "RETRY_TASK");
    for (const c of [75, 143]) assert(policy.actionCondition.exitCodes.includes(c), `${c}`);
    for (const c of [64, 65, 1]) assert(!policy.actionCondition.exitCodes.includes(c), `${c}`);
    const accel = step.args.body.allocationPolicy?.instances?.[0]?.policy?.accelerators;
    assertEquals(accel !== undefined, GPU.includes(stage), stage);
    if (accel) assertEquals(step.args.body.allocationPolicy.instances[0].installGpuDrivers, true);
    assert(Number(spec.computeResource.cpuMilli) > 0 && Number(spec.computeResource.memoryMib) > 0);
  });
});

Deno.test("plan: the stage registry is a parameter; bad input is refused", () => {
  const stages = [
    { name: "prep", shardable: true, gpu: false },
    { name: "fit", shardable: false, gpu: true, dependsOn: ["prep"] },
  ];
  const doc = parse(renderPlan(base("k8s", { stages, shardCount: 2 })));
  assertEquals(doc.items.filter((i: any) => i.kind === "Job").length, 2);
  const refused = (extra: Partial<PlanInput>) => {
    try {
      renderPlan(base("argo", extra));
    } catch (e) {
      return e instanceof PlanInputError;
    }
    return false;
  };
  assert(refused({ store: "file:///tmp/x" }), "a local store cannot be shared by cluster jobs");
  assert(refused({ store: ".duet" }), "plain paths neither");
  assert(refused({ runId: "bad id!" }));
  assert(refused({ shardCount: 0 }));
  assert(refused({ stages: [{ name: "a", shardable: false, gpu: false, dependsOn: ["zzz"] }] }));
  assert(!refused({}), "the default input is fine");
});

Deno.test("plan: steps, dependencies and shards come from the stage registry", () => {
  assertEquals(
    planInputFromArgs({ target: "argo", runId: "r", store: "s3://b/p" }, PIPELINE_STAGES).stages,
    PIPELINE_STAGES,
  );
  for (const [i, s] of PIPELINE_STAGES.entries()) {
    assertEquals(s.name, registry[i].name);
    assertEquals(s.shardable, registry[i].shardable, s.name);
    assertEquals(s.dependsOn, NEEDS[s.name], s.name);
    assertEquals(s.gpu, GPU.includes(s.name), s.name);
  }
  // A stage added to a registry is planned without touching the plan code.
  const extended = [
    ...registry,
    { name: "calibrate", needs: ["train", "normalize"], shardable: true },
  ];
  const doc = JSON.parse(
    renderPlan(base("aws-batch", { stages: planStages(extended), shardCount: 3 })),
  );
  const job = doc.jobs.at(-1);
  assertEquals(job.request.jobName, "duet-run-2026-11-calibrate");
  assertEquals(job.after, ["duet-run-2026-11-train", "duet-run-2026-11-normalize"]);
  assertEquals(job.request.arrayProperties, { size: 3 });
  assertEquals(job.request.jobQueue, "duet-cpu");
  // A GPU stage name the registry does not have is refused, not silently dropped.
  let refused = false;
  try {
    planStages(registry, ["train", "fit"]);
  } catch (e) {
    refused = e instanceof PlanInputError;
  }
  assert(refused, "unknown GPU stage");
});
