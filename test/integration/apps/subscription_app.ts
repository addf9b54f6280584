/**
 * A runtime process for the subscription crash test: object `Acc` is fed by a subscription
 * (key = the source record's key) on SOURCE_TOPIC, whose JSON records `{ seq, amount }` carry a
 * per-key sequence number. Started as a child process so the test can SIGKILL it.
 *
 * `Acc.ingest` checks that records of its key arrive in sequence order (a gap, a repeat or a
 * reordering is recorded in state as `violations` / `firstViolation`), counts invocations,
 * adds `amount` to a total, and emits one record per source record to OUTPUT_TOPIC carrying
 * the source position, so the test can find duplicates, losses and reorderings on the broker.
 * `Acc.summary` (shared) returns the state.
 *
 * Prints the lifecycle events of child_lifecycle.ts on stdout (started, stats every 500 ms,
 * closed, stopped).
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID, KVO_PARTITIONS, SOURCE_TOPIC,
 *      OUTPUT_TOPIC, SUBSCRIPTION_NAME, IDEMPOTENCY_RETENTION_MS (default 1000: invocation-id
 *      deduplication must not hide a relay that turns a source record into a second invocation)
 */
import { createRuntime, object, shared, subscribe, type ObjectContext, type SharedObjectContext } from "../../../index.js";
import { childRuntimeOptions, runChild } from "./child_lifecycle.js";

const sourceTopic = process.env.SOURCE_TOPIC!;
const outputTopic = process.env.OUTPUT_TOPIC!;

/** A record of the output topic: one per source record the handler saw (and completed). */
export interface IngestOutput {
  key: string;
  seq: number;
  sourcePartition: number;
  sourceOffset: number;
  count: number;
  total: number;
}

export interface AccSummary {
  count: number;
  total: number;
  lastSeq: number;
  violations: number;
  firstViolation: string | null;
}

export const acc = object({
  name: "Acc",
  handlers: {
    ingest: async (ctx: ObjectContext, input: { seq: number; amount: number }) => {
      const source = ctx.request.source;
      if (!source) throw new Error(`Acc.ingest ${ctx.request.id} has no ctx.request.source: it was not made by a subscription`);
      const lastSeq = (await ctx.get<number>("lastSeq")) ?? 0;
      if (input.seq !== lastSeq + 1) {
        ctx.set("violations", ((await ctx.get<number>("violations")) ?? 0) + 1);
        if ((await ctx.get<string>("firstViolation")) === null)
          ctx.set("firstViolation", `seq ${input.seq} after ${lastSeq} (source ${source.partition}:${source.offset})`);
      }
      ctx.set("lastSeq", input.seq);
      const count = ((await ctx.get<number>("count")) ?? 0) + 1;
      const total = ((await ctx.get<number>("total")) ?? 0) + input.amount;
      ctx.set("count", count);
      ctx.set("total", total);
      const out: IngestOutput = {
        key: ctx.key,
        seq: input.seq,
        sourcePartition: source.partition,
        sourceOffset: source.offset,
        count,
        total,
      };
      ctx.emit(outputTopic, { key: ctx.key, value: out });
    },
    summary: shared(async (ctx: SharedObjectContext): Promise<AccSummary> => ({
      count: (await ctx.get<number>("count")) ?? 0,
      total: (await ctx.get<number>("total")) ?? 0,
      lastSeq: (await ctx.get<number>("lastSeq")) ?? 0,
      violations: (await ctx.get<number>("violations")) ?? 0,
      firstViolation: await ctx.get<string>("firstViolation"),
    })),
  },
});

await runChild(
  createRuntime({
    ...childRuntimeOptions(3),
    objects: [acc],
    subscriptions: [subscribe({ topic: sourceTopic, to: [acc, "ingest"], key: "record-key", name: process.env.SUBSCRIPTION_NAME! })],
    idempotencyRetentionMs: Number(process.env.IDEMPOTENCY_RETENTION_MS ?? 1_000),
  }),
);
