/**
 * Cancelling a hung invocation on the real broker: through the typed client (id from
 * onSent, record routed to the id's partition) and through a raw `kvo-cancel` record produced
 * by a plain Kafka producer (id derived from the idempotency key, record keyed like the call).
 * Either way the invocation fails with `cancelled`, its ctx.run action's AbortSignal aborts,
 * and its key serves the next call.
 */
import { afterEach, describe, expect, it } from "vitest";
import { CancelledError } from "../../sdk/errors.js";
import { connectClient, createRuntime, object, type Runtime } from "../../index.js";
import { InvocationFailedError } from "../../connectors/client/errors.js";
import { invocationId } from "../../runtime/invocation/envelope.js";
import { H } from "../../runtime/invocation/headers.js";
import { bootstrapServers } from "./support/endpoints.js";
import { produceInvocations, readTopic } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";
import { Kafka, logLevel } from "kafkajs";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A job whose step hangs until its attempt's AbortSignal aborts; records each signal. */
function jobDefinition(signals: AbortSignal[]) {
  return object({
    name: "Job",
    handlers: {
      hang: async (ctx) =>
        ctx.run("wait", (signal) => {
          signals.push(signal);
          return new Promise<never>((_, reject) => signal.addEventListener("abort", () => reject(signal.reason as Error)));
        }),
      ok: async (ctx) => `free ${ctx.key}`,
    },
  });
}

async function startRuntime(app: string, job: ReturnType<typeof jobDefinition>): Promise<Runtime> {
  const runtime = createRuntime({
    app,
    objects: [job],
    partitions: 2,
    kafka: { brokers: bootstrapServers(), instanceId: "it-0", sessionTimeoutMs: 6_000 },
  });
  await runtime.start();
  cleanups.push(() => runtime.stop());
  return runtime;
}

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("cancel on Kafka", () => {
  it("cancels a hung invocation through the client and through a raw kvo-cancel record", async () => {
    const app = uniqueName("kvo-cancel");
    const signals: AbortSignal[] = [];
    const job = jobDefinition(signals);
    await startRuntime(app, job);
    const client = await connectClient({ app, brokers: bootstrapServers(), timeoutMs: 15_000 });
    cleanups.push(() => client.close());

    // 1. Through the client: the id comes from onSent (partition and offset of the record).
    let id: string | undefined;
    const hung = client.object(job, "a", { onSent: (sent) => (id = sent) }).hang();
    const outcome = hung.catch((e: unknown) => e);
    await until(() => id !== undefined && signals.length === 1, "the first job to run");
    expect(id).toMatch(/^p\d+-o\d+$/);
    expect(await client.cancel(id!)).toBe(true);
    const error = await outcome;
    expect(error).toBeInstanceOf(InvocationFailedError);
    expect(error).toMatchObject({ code: "cancelled", invocationId: id });
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(CancelledError);
    expect(await client.object(job, "a").ok()).toBe("free a");
    expect(await client.cancel(id!)).toBe(false); // finished: a logged no-op

    // 2. Through a raw record: any producer; the id of an idempotent call is deterministic.
    const replies = `${app}.replies`; // the client's reply topic: it exists already
    await produceInvocations(`${app}.invocations`, [
      { key: "Job/b", handler: "hang", replyTo: replies, correlationId: "hung-b", idempotencyKey: "order-7" },
    ]);
    await until(() => signals.length === 2, "the second job to run");
    const idB = invocationId(0, 0n, "Job", "b", "hang", "order-7");
    const producer = new Kafka({ clientId: "kvo-it-cancel", brokers: bootstrapServers(), logLevel: logLevel.NOTHING }).producer({
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    await producer.send({
      topic: `${app}.invocations`,
      messages: [{ key: "Job/b", value: null, headers: { [H.cancel]: idB, [H.replyTo]: replies, [H.correlationId]: "cancel-b" } }],
    });
    const raw = <R extends { headers: Record<string, string> }>(rs: R[]) =>
      rs.filter((r) => ["hung-b", "cancel-b"].includes(r.headers[H.correlationId]!));
    const got = raw(await readTopic(replies, (rs) => raw(rs).length >= 2, { timeoutMs: 15_000, settleMs: 300 }));
    const byCorr = new Map(got.map((r) => [r.headers[H.correlationId], r]));
    expect(byCorr.get("cancel-b")!.headers[H.status]).toBe("ok");
    expect(JSON.parse(byCorr.get("cancel-b")!.value!.toString())).toEqual({ invocationId: idB, cancelled: true });
    expect(byCorr.get("hung-b")!.headers).toMatchObject({ [H.status]: "failed", [H.errorCode]: "cancelled", [H.invocationId]: idB });
    expect(signals[1]!.aborted).toBe(true);
    expect(await client.object(job, "b").ok()).toBe("free b");
    // The client reaches an idempotent id through the route it was called with.
    expect(await client.cancel(idB, { route: { target: job, key: "b" } })).toBe(false);
  });
});
