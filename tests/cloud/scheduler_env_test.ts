import {
  attemptFromEnv,
  describeSchedulerContext,
  ShardEnvError,
  shardFromEnv,
} from "../../pipeline/plan/scheduler_env.ts";
import { assert, assertEquals } from "../assert.ts";

const throwsShardError = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof ShardEnvError;
  }
  return false;
};

Deno.test("shardFromEnv: flags, each scheduler's variables, default", () => {
  assertEquals(shardFromEnv({}), { index: 0, count: 1, source: "default" });
  assertEquals(
    shardFromEnv({ AWS_BATCH_JOB_ARRAY_INDEX: "3", AWS_BATCH_JOB_ARRAY_SIZE: "8" }),
    { index: 3, count: 8, source: "AWS_BATCH_JOB_ARRAY_INDEX/AWS_BATCH_JOB_ARRAY_SIZE" },
  );
  assertEquals(
    shardFromEnv({ JOB_COMPLETION_INDEX: "2", DUET_SHARD_COUNT: "4" }),
    { index: 2, count: 4, source: "JOB_COMPLETION_INDEX/DUET_SHARD_COUNT" },
  );
  assertEquals(
    shardFromEnv({ BATCH_TASK_INDEX: "0", BATCH_TASK_COUNT: "5" }),
    { index: 0, count: 5, source: "BATCH_TASK_INDEX/BATCH_TASK_COUNT" },
  );
  // Flags win over variables.
  assertEquals(
    shardFromEnv({ BATCH_TASK_INDEX: "0", BATCH_TASK_COUNT: "5" }, {
      shardIndex: "1",
      shardCount: 2,
    }),
    { index: 1, count: 2, source: "flags" },
  );
  // AWS_BATCH_JOB_ARRAY_SIZE without an index (a plain job) is shard 0 of 1.
  assertEquals(shardFromEnv({ AWS_BATCH_JOB_ARRAY_SIZE: "4" }).count, 1);
});

Deno.test("shardFromEnv: inconsistent input is refused", () => {
  assert(throwsShardError(() => shardFromEnv({ JOB_COMPLETION_INDEX: "1" })), "no count");
  assert(throwsShardError(() => shardFromEnv({ BATCH_TASK_INDEX: "5", BATCH_TASK_COUNT: "5" })));
  assert(throwsShardError(() => shardFromEnv({ BATCH_TASK_INDEX: "x", BATCH_TASK_COUNT: "5" })));
  assert(throwsShardError(() => shardFromEnv({}, { shardIndex: 0 })), "index without count");
  assert(throwsShardError(() => shardFromEnv({}, { shardIndex: "0", shardCount: "0" })));
  assert(throwsShardError(() => shardFromEnv({}, { shardIndex: "-1", shardCount: "2" })));
});

Deno.test("attemptFromEnv: 1-based attempt from AWS Batch, GCP Batch, Argo", () => {
  assertEquals(attemptFromEnv({}), undefined);
  assertEquals(attemptFromEnv({ AWS_BATCH_JOB_ATTEMPT: "2" }), {
    number: 2,
    source: "AWS_BATCH_JOB_ATTEMPT",
  });
  assertEquals(attemptFromEnv({ BATCH_TASK_RETRY_ATTEMPT: "0" })?.number, 1);
  assertEquals(attemptFromEnv({ DUET_ATTEMPT: "3" })?.number, 4);
  assertEquals(attemptFromEnv({ DUET_ATTEMPT: "{{retries}}" }), undefined, "unsubstituted");
  assertEquals(
    describeSchedulerContext(shardFromEnv({ BATCH_TASK_INDEX: "1", BATCH_TASK_COUNT: "3" }), {
      number: 2,
      source: "BATCH_TASK_RETRY_ATTEMPT",
    }),
    "shard 1/3 (BATCH_TASK_INDEX/BATCH_TASK_COUNT), attempt 2 (BATCH_TASK_RETRY_ATTEMPT)",
  );
});
