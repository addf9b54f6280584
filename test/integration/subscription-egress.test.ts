/**
 * ctx.emit from handlers fed by a subscription, on the real broker:
 *  - emitting to any of the app's own topics (`<app>.invocations`, `.changelog`, `.dlq`,
 *    `.source-offsets`) is refused at the call with `reserved_emit_topic`;
 *  - a subscription invocation that fails after emitting leaves no record visible to a
 *    read_committed reader, and the records after it in its partition still run.
 * The same for invocations from clients (one record per successful invocation, none of failed
 * ones, retried attempts) is egress.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createRuntime, KvoError, object, subscribe, TerminalError, type ObjectContext } from "../../index.js";
import { bootstrapServers } from "./support/endpoints.js";
import { createTopic, readTopic } from "./support/kafka_tools.js";
import { SourceProducer } from "./support/source_topics.js";
import { uniqueName } from "./support/unique.js";

/** A command of the source topic: emit to `emitTo` (catching a refusal), then fail when asked. */
interface Command {
  n: number;
  emitTo: string | null;
  fail: boolean;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe("egress from subscription handlers", () => {
  it("refuses emits to the app's own topics and never shows a failed invocation's emits", async () => {
    const app = uniqueName("kvo-sub-egress");
    const source = `${app}.commands`;
    const output = `${app}.out`;
    await createTopic(source, 1);
    await createTopic(output, 1);
    const reserved = [`${app}.invocations`, `${app}.changelog`, `${app}.dlq`, `${app}.source-offsets`];

    const worker = object({
      name: "Worker",
      handlers: {
        handle: async (ctx: ObjectContext, cmd: Command) => {
          let refusal: string | null = null;
          if (cmd.emitTo !== null) {
            try {
              ctx.emit(cmd.emitTo, { key: ctx.key, value: { n: cmd.n } });
            } catch (err) {
              refusal = err instanceof KvoError ? `${err.code}/${err.retryable}` : `not a KvoError: ${String(err)}`;
            }
          }
          ctx.emit(output, { key: ctx.key, value: { n: cmd.n, refusal } });
          if (cmd.fail) throw new TerminalError("asked to fail after emitting", { code: "asked_to_fail" });
        },
      },
    });

    // One partition: 4 refused emits, then on one object a command that fails after emitting
    // twice and one after it.
    const commands: Array<Command & { key: string }> = [
      ...reserved.map((emitTo, i) => ({ key: `w${i}`, n: i, emitTo, fail: false })),
      { key: "w4", n: 4, emitTo: output, fail: true },
      { key: "w4", n: 5, emitTo: null, fail: false },
    ];
    const producer = await new SourceProducer().connect();
    try {
      await producer.send(
        source,
        commands.map(({ key, ...cmd }) => ({ key, value: Buffer.from(JSON.stringify(cmd)) })),
      );
    } finally {
      await producer.close();
    }

    const runtime = createRuntime({
      app,
      partitions: 1,
      objects: [worker],
      subscriptions: [subscribe({ topic: source, to: [worker, "handle"], name: "commands" })],
      kafka: { brokers: bootstrapServers(), instanceId: "egress-0", sessionTimeoutMs: 6_000 },
      retry: { initialIntervalMs: 10, maxAttempts: 2 },
    });
    await runtime.start();
    cleanups.push(() => runtime.stop());

    // All six ran (five completed, one failed) before the output is read.
    const deadline = Date.now() + 60_000;
    while (runtime.stats().completed < 5 || runtime.stats().failed < 1) {
      if (Date.now() > deadline) throw new Error(`not all commands ran: ${JSON.stringify(runtime.stats())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const records = await readTopic(output, (rs) => rs.length >= 5, { timeoutMs: 30_000, settleMs: 3_000 });
    // Different keys run concurrently: their records come in any order.
    const outs = records
      .map((r) => ({ key: r.key, ...(JSON.parse(r.value!.toString()) as { n: number; refusal: string | null }) }))
      .sort((a, b) => a.n - b.n);
    expect(outs).toEqual([
      ...reserved.map((_, i) => ({ key: `w${i}`, n: i, refusal: "reserved_emit_topic/false" })),
      { key: "w4", n: 5, refusal: null },
    ]);
  }, 90_000);
});
