/**
 * The runtime on the real broker, in-process: typed client round trip, per-key order with
 * shared handlers alongside, bad input to the DLQ with the partition going on, and topic
 * validation at start-up.
 */
import { Kafka, logLevel } from "kafkajs";
import { afterEach, describe, expect, it } from "vitest";
import { connectClient, createRuntime, object, service, shared, TerminalError, type Runtime } from "../../index.js";
import { InvocationFailedError } from "../../connectors/client/errors.js";
import { H } from "../../runtime/invocation/headers.js";
import { bootstrapServers } from "./support/endpoints.js";
import { createTopic, produceInvocations, readTopic } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";
import { createTopicsAndWait } from "./support/create_topics.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function startRuntime(
  app: string,
  defs: Parameters<typeof createRuntime>[0]["objects"],
  services: Parameters<typeof createRuntime>[0]["services"] = [],
): Promise<Runtime> {
  const runtime = createRuntime({
    app,
    objects: defs ?? [],
    services: services ?? [],
    partitions: 2,
    kafka: { brokers: bootstrapServers(), instanceId: "it-0", sessionTimeoutMs: 6_000 },
  });
  await runtime.start();
  cleanups.push(() => runtime.stop());
  return runtime;
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

describe("runtime on Kafka", () => {
  it("answers typed calls and reports terminal failures", async () => {
    const app = uniqueName("kvo-basic");
    const counter = object({
      name: "Counter",
      handlers: {
        add: async (ctx, n: number) => {
          const v = ((await ctx.get<number>("v")) ?? 0) + (await ctx.run("n", () => n));
          ctx.set("v", v);
          return v;
        },
        fail: async () => {
          throw new TerminalError("nope", { code: "refused" });
        },
      },
    });
    const greeter = service({ name: "Greeter", handlers: { hi: async (ctx, who: string) => `hi ${who} #${ctx.request.attempt}` } });
    await startRuntime(app, [counter], [greeter]);
    const client = await connectClient({ app, brokers: bootstrapServers() });
    cleanups.push(() => client.close());
    const c = client.object(counter, "a");
    expect(await c.add(2)).toBe(2);
    expect(await c.add(3)).toBe(5);
    expect(await client.service(greeter).hi("bob")).toBe("hi bob #1");
    const err = await c.fail().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvocationFailedError);
    expect(err).toMatchObject({ code: "refused", message: "nope" });
    // Idempotency key: the second call is answered from the first outcome.
    const once = client.object(counter, "b", { idempotencyKey: "req-1" });
    expect(await once.add(10)).toBe(10);
    expect(await once.add(10)).toBe(10);
    expect(await client.object(counter, "b").add(1)).toBe(11);
  });

  it("keeps arrival order per key while shared handlers run alongside", async () => {
    const app = uniqueName("kvo-order");
    const first = gate();
    const started: string[] = [];
    const box = object({
      name: "Box",
      handlers: {
        append: async (ctx, item: string) => {
          started.push(item);
          if (item === "i0") await first.wait;
          const items = (await ctx.get<string[]>("items")) ?? [];
          await ctx.run("step", () => item);
          ctx.set("items", [...items, item]);
          return items.length;
        },
        peek: shared(async (ctx) => (await ctx.get<string[]>("items")) ?? []),
      },
    });
    await startRuntime(app, [box]);
    const client = await connectClient({ app, brokers: bootstrapServers() });
    cleanups.push(() => client.close());
    const b = client.object(box, "k");
    const calls = Array.from({ length: 20 }, (_, i) => b.append(`i${i}`));
    await new Promise((r) => setTimeout(r, 500));
    // i0 holds the key: nothing else of key k started, but a shared read answers now.
    expect(started).toEqual(["i0"]);
    expect(await b.peek()).toEqual([]);
    first.open();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(started).toEqual(Array.from({ length: 20 }, (_, i) => `i${i}`));
    expect(await b.peek()).toEqual(Array.from({ length: 20 }, (_, i) => `i${i}`));
  });

  it("sends bad records to the DLQ with the reason, and keeps the partition going", async () => {
    const app = uniqueName("kvo-bad");
    const echo = object({ name: "Echo", handlers: { say: async (_ctx, v: unknown) => v } });
    await startRuntime(app, [echo]);
    const replies = `${app}.replies`;
    await createTopic(replies);
    const base = { replyTo: replies };
    await produceInvocations(`${app}.invocations`, [
      { ...base, key: "Ghost/1", handler: "say", input: 1, correlationId: "unknown-object" },
      { ...base, key: "Echo/1", handler: "shout", input: 1, correlationId: "unknown-handler" },
      { ...base, key: "Echo/1", handler: "say", raw: Buffer.from("{oops"), correlationId: "bad-json" },
      { ...base, key: null, handler: "say", input: 1, correlationId: "no-key" },
      { ...base, key: "Echo/1", handler: "say", input: { ok: true }, correlationId: "good" },
    ]);
    const got = await readTopic(replies, (rs) => rs.length >= 5, { settleMs: 1_000 });
    const byCorr = new Map(got.map((r) => [r.headers[H.correlationId], r]));
    expect(got).toHaveLength(5);
    expect(byCorr.get("good")!.headers[H.status]).toBe("ok");
    expect(JSON.parse(byCorr.get("good")!.value!.toString())).toEqual({ ok: true });
    const expected: Record<string, [string, RegExp]> = {
      "unknown-object": ["unknown_target", /no object or service named "Ghost"/],
      "unknown-handler": ["unknown_handler", /Echo has no handler "shout" \(known: say\)/],
      "bad-json": ["invalid_input", /not valid JSON/],
      "no-key": ["missing_key", /has no key/],
    };
    for (const [corr, [code, message]] of Object.entries(expected)) {
      const r = byCorr.get(corr)!;
      expect(r.headers[H.status], corr).toBe("failed");
      expect(r.headers[H.errorCode], corr).toBe(code);
      expect(r.headers[H.errorMessage], corr).toMatch(message);
    }
    const dlq = await readTopic(`${app}.dlq`, (rs) => rs.length >= 4, { settleMs: 1_000 });
    expect(dlq.map((r) => r.headers[H.errorCode]).sort()).toEqual(
      Object.values(expected)
        .map(([c]) => c)
        .sort(),
    );
    expect(dlq.find((r) => r.headers[H.errorCode] === "invalid_input")!.value!.toString()).toBe("{oops");
    expect(dlq.every((r) => r.headers[H.dlqSourceTopic] === `${app}.invocations` && r.headers[H.dlqSourceOffset] !== undefined)).toBe(true);
  });

  it("refuses to start when an existing topic has the wrong partition count", async () => {
    const app = uniqueName("kvo-topics");
    const admin = new Kafka({ clientId: "kvo-it-admin", brokers: bootstrapServers(), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await createTopicsAndWait(admin, [
      { topic: `${app}.changelog`, numPartitions: 3, configEntries: [{ name: "cleanup.policy", value: "compact" }] },
    ]);
    await admin.disconnect();
    const echo = object({ name: "Echo", handlers: { say: async (_ctx, v: unknown) => v } });
    const runtime = createRuntime({ app, objects: [echo], partitions: 2, kafka: { brokers: bootstrapServers(), instanceId: "it-0" } });
    const err = await runtime.start().catch((e: unknown) => e);
    cleanups.push(() => runtime.stop());
    expect(err).toHaveProperty("code", expect.stringMatching(/configuration|topic/));
    expect((err as Error).message).toMatch(new RegExp(`${app}\\.changelog.*3.*2|${app}\\.changelog.*partition`));
  });
});
