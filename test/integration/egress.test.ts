/**
 * ctx.emit on the real broker: records emitted by handlers reach an output topic in the
 * transaction that completes the invocation, so a read_committed consumer sees exactly one per
 * successful invocation and none of failed ones, each in the partition Kafka's default
 * (murmur2) partitioner picks for its key.
 */
import { Partitioners } from "kafkajs";
import { afterEach, describe, expect, it } from "vitest";
import { connectClient, createRuntime, object, TerminalError, type ObjectContext } from "../../index.js";
import { bootstrapServers } from "./support/endpoints.js";
import { createTopic, readTopic } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe("egress on Kafka", () => {
  it("a read_committed consumer sees one emitted record per successful invocation, none of failed ones", async () => {
    const app = uniqueName("kvo-egress");
    const outTopic = `${app}.out`;
    await createTopic(outTopic, 3);
    let flakyAttempts = 0;
    const account = object({
      name: "Account",
      handlers: {
        deposit: async (ctx: ObjectContext, n: number) => {
          const total = ((await ctx.get<number>("total")) ?? 0) + n;
          ctx.set("total", total);
          ctx.emit(outTopic, { key: ctx.key, value: { id: ctx.request.id, n, total }, headers: { kind: "deposit" } });
          if (n < 0) throw new TerminalError("negative deposit", { code: "negative" });
          return total;
        },
        /** Emits in every attempt, fails the first one: only the second attempt's record is written. */
        flaky: async (ctx: ObjectContext) => {
          flakyAttempts++;
          ctx.emit(outTopic, { key: ctx.key, value: `attempt ${ctx.request.attempt}` }, { format: "string" });
          if (ctx.request.attempt === 1) throw new Error("transient");
          return ctx.request.attempt;
        },
      },
      options: { retry: { initialIntervalMs: 10, maxAttempts: 3 } },
    });
    const runtime = createRuntime({
      app,
      objects: [account],
      partitions: 2,
      kafka: { brokers: bootstrapServers(), instanceId: "it-0", sessionTimeoutMs: 6_000 },
    });
    await runtime.start();
    cleanups.push(() => runtime.stop());
    const client = await connectClient({ app, brokers: bootstrapServers() });
    cleanups.push(() => client.close());

    const keys = ["a", "b", "c", "d", "e"];
    const ok: number[] = [];
    let failed = 0;
    for (const key of keys) {
      ok.push(await client.object(account, key).deposit(1));
      ok.push(await client.object(account, key).deposit(2));
      const err = await client
        .object(account, key)
        .deposit(-5)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "negative" });
      failed++;
    }
    expect(ok).toEqual(keys.flatMap(() => [1, 3]));
    expect(await client.object(account, "f").flaky()).toBe(2);
    expect(flakyAttempts).toBe(2);

    const expected = 2 * keys.length + 1;
    const records = await readTopic(outTopic, (rs) => rs.length >= expected, { timeoutMs: 20_000, settleMs: 1_500 });
    expect(failed).toBe(keys.length);

    const deposits = records
      .filter((r) => r.headers.kind === "deposit")
      .map((r) => ({ key: r.key, ...(JSON.parse(r.value!.toString()) as { id: string; n: number; total: number }) }));
    // exactly once per successful invocation: distinct invocation ids, no failed (negative) one
    expect(deposits).toHaveLength(2 * keys.length);
    expect(new Set(deposits.map((d) => d.id)).size).toBe(2 * keys.length);
    expect(deposits.filter((d) => d.n < 0)).toEqual([]);
    for (const key of keys) {
      expect(deposits.filter((d) => d.key === key).map((d) => [d.n, d.total])).toEqual([
        [1, 1],
        [2, 3],
      ]);
    }
    expect(records.filter((r) => r.key === "f").map((r) => r.value?.toString())).toEqual(["attempt 2"]);

    // partitioned like any Kafka producer would: murmur2 of the key
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = [0, 1, 2].map((partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] }));
    for (const r of records) {
      expect(r.partition, `partition of key ${r.key}`).toBe(
        partitioner({ topic: outTopic, partitionMetadata, message: { key: r.key, value: null } }),
      );
    }
  }, 30_000);
});
