import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { object, service } from "../../index.js";
import { KvoClient, serviceRoutingKey } from "../../connectors/client/kafka_client.js";
import { H } from "../../runtime/invocation/headers.js";
import { isRejected, parseInvocation, type ParsedInvocation } from "../../runtime/invocation/envelope.js";
import type { InboundRecord } from "../../runtime/log/log.js";
import { Registry } from "../../runtime/registry.js";
import { MemoryApp } from "../support/memory_app.js";
import { waitFor } from "../support/wait.js";

const svc = service({ name: "Svc", handlers: { hi: async (_ctx, n: number) => n } });
const obj = object({ name: "Obj", handlers: { hi: async (_ctx, n: number) => n } });
const registry = new Registry([svc, obj]);

function record(
  key: Buffer | string,
  headers: Record<string, string | Buffer> = {},
  at: { partition?: number; offset?: bigint } = {},
): InboundRecord {
  const h: Record<string, Buffer> = { [H.handler]: Buffer.from("hi") };
  for (const [name, value] of Object.entries(headers)) h[name] = Buffer.isBuffer(value) ? value : Buffer.from(value);
  return {
    partition: at.partition ?? 0,
    offset: at.offset ?? 0n,
    key: Buffer.isBuffer(key) ? key : Buffer.from(key),
    value: Buffer.from("1"),
    headers: h,
    timestamp: 0,
  };
}

function parsed(r: InboundRecord): ParsedInvocation {
  const p = parseInvocation(r, registry);
  if (isRejected(p)) throw new Error(`unexpectedly rejected: ${p.error.message}`);
  return p;
}

/** The id formula before services' routing keys counted; ids of these records must not change. */
function legacyId(target: string, key: string | null, handler: string, idempotencyKey: string): string {
  return `ik-${createHash("sha256")
    .update(JSON.stringify([target, key, handler, idempotencyKey]))
    .digest("base64url")
    .slice(0, 32)}`;
}

describe("invocation ids follow routing", () => {
  it("gives records of one service with different routing keys different ids, and one routing key one id", () => {
    const ik = { [H.idempotencyKey]: "order-1" };
    const a = parsed(record("Svc/a", ik, { partition: 0, offset: 3n }));
    const b = parsed(record("Svc/b", ik, { partition: 1, offset: 3n }));
    const aAgain = parsed(record("Svc/a", ik, { partition: 0, offset: 9n }));
    expect(a.id).not.toBe(b.id); // routed to different partitions: they must not share an id
    expect(aAgain.id).toBe(a.id); // a re-send reaches the same partition and is deduplicated
    expect(parsed(record("Svc/", ik)).id).not.toBe(parsed(record("Svc", ik)).id);
    expect([a.key, b.key]).toEqual([null, null]); // services still have no ctx.key
  });

  it("keeps the ids of object records and of plain service records as they were", () => {
    const ik = { [H.idempotencyKey]: "order-1" };
    expect(parsed(record("Obj/k/with/slashes", ik)).id).toBe(legacyId("Obj", "k/with/slashes", "hi", "order-1"));
    expect(parsed(record("Svc", ik)).id).toBe(legacyId("Svc", null, "hi", "order-1"));
    expect(parsed(record("Svc/x", { [H.idempotencyKey]: "" }, { partition: 1, offset: 4n })).id).toBe("p1-o4");
  });

  it("runs a re-sent service call once, and two routing keys as two invocations with their own ids", async () => {
    let runs = 0;
    const counted = service({ name: "Count", handlers: { hit: async () => ++runs } });
    const app = new MemoryApp({ services: [counted] });
    await app.start();
    const first = await app.reply(app.send("Count/order-1", "hit", undefined, { idempotencyKey: "order-1" }));
    const again = await app.reply(app.send("Count/order-1", "hit", undefined, { idempotencyKey: "order-1" }));
    expect([first.value, again.value, runs]).toEqual([1, 1, 1]);
    // The memory log hashes keys like Kafka does: whole key bytes. Find two that part ways.
    const partitionOf = (key: string) => app.log.append("scratch", { key: Buffer.from(key), value: null }).partition;
    app.log.createTopic("scratch", 2);
    const keys = ["a", "b", "c", "d", "e", "f"].map((s) => `Count/${s}`);
    const k0 = keys.find((k) => partitionOf(k) === 0)!;
    const k1 = keys.find((k) => partitionOf(k) === 1)!;
    const c0 = app.send(k0, "hit", undefined, { idempotencyKey: "order-2" });
    const c1 = app.send(k1, "hit", undefined, { idempotencyKey: "order-2" });
    await app.reply(c0);
    await app.reply(c1);
    const idOf = (corr: string) =>
      app.log
        .partitions("replies")
        .flat()
        .find((r) => r.headers[H.correlationId]?.toString() === corr)!
        .headers[H.invocationId]!.toString();
    expect(idOf(c0)).not.toBe(idOf(c1));
    expect(runs).toBe(3);
    await app.runtime.stop();
  });
});

describe("keys that are not valid UTF-8", () => {
  it("are refused with invalid_key, saying where and how to fix it, instead of decoded lossily", () => {
    // Decoded lossily, "Obj/\xff" and "Obj/\xfe" would both become the object "Obj/\ufffd".
    const bad = parseInvocation(record(Buffer.from([0x4f, 0x62, 0x6a, 0x2f, 0xff]), {}, { partition: 1, offset: 7n }), registry);
    expect(isRejected(bad) && bad.error.code).toBe("invalid_key");
    expect(isRejected(bad) && bad.error.message).toMatch(
      /^record 1@7: the record key is not valid UTF-8 \(hex 4f626a2fff \(5 bytes\)\)\. .*encoded as UTF-8/,
    );
    const badIk = parseInvocation(record("Obj/k", { [H.idempotencyKey]: Buffer.from([0xc3, 0x28]) }), registry);
    expect(isRejected(badIk) && badIk.error.code).toBe("invalid_key");
    expect(isRejected(badIk) && badIk.error.message).toMatch(/header kvo-idempotency-key is not valid UTF-8 \(hex c328/);
    // Valid UTF-8 beyond ASCII, and a byte-order mark, are kept exactly.
    expect(parsed(record("Obj/grüße-✓")).key).toBe("grüße-✓");
    expect(parsed(record(Buffer.from("Obj/\ufeffk"))).key).toBe("\ufeffk");
  });

  it("sends such a record to the DLQ with a failure reply, and the partition goes on", async () => {
    const app = new MemoryApp({ objects: [obj] });
    await app.start();
    const corr = "bad-key";
    app.log.append("m.invocations", {
      partition: 0,
      key: Buffer.from([0x4f, 0x62, 0x6a, 0x2f, 0xfe]),
      value: Buffer.from("1"),
      headers: { [H.handler]: Buffer.from("hi"), [H.replyTo]: Buffer.from("replies"), [H.correlationId]: Buffer.from(corr) },
    });
    app.log.notify();
    expect(await app.reply(corr)).toMatchObject({ status: "failed", errorCode: "invalid_key" });
    expect((await app.reply(app.send("Obj/k", "hi", 5))).value).toBe(5);
    await waitFor(() => app.dlq().length === 1, "the DLQ copy");
    expect(app.dlq()[0]).toMatchObject({ code: "invalid_key", offset: "0" });
    await app.runtime.stop();
  });
});

describe("the typed client routes service calls", () => {
  /** A client whose producer records what it would send (no broker: only the record keys matter). */
  function recordingClient(): { client: KvoClient; keys: string[] } {
    const keys: string[] = [];
    const producer = {
      send: async (r: { messages: Array<{ key: string }> }) => void keys.push(...r.messages.map((m) => m.key)),
      disconnect: async () => undefined,
    };
    const consumer = { disconnect: async () => undefined };
    const Construct = KvoClient as unknown as new (options: object, producer: object, consumer: object) => KvoClient;
    const client = new Construct(
      { app: "m", timeoutMs: 1, replyTopic: "m.replies", invocationsTopic: "m.invocations" },
      producer,
      consumer,
    );
    return { client, keys };
  }

  it("spreads calls over routing keys, keys a call with an idempotency key by it, and keeps object keys", async () => {
    const { client, keys } = recordingClient();
    const noReply = () => undefined; // no runtime answers: each call times out after 1 ms
    for (let i = 0; i < 20; i++) await client.service(svc).hi(i).catch(noReply);
    await client.service(svc, { idempotencyKey: "order-9" }).hi(1).catch(noReply);
    await client.service(svc, { idempotencyKey: "order-9" }).hi(1).catch(noReply);
    await client.object(obj, "k").hi(1).catch(noReply);
    await client.close();

    const spread = keys.slice(0, 20);
    expect(spread.every((k) => /^Svc\/.+/.test(k))).toBe(true);
    expect(new Set(spread).size).toBe(20);
    expect(keys.slice(20)).toEqual(["Svc/order-9", "Svc/order-9", "Obj/k"]);
    // What the runtime makes of them: one id for the re-sent call.
    const id = (key: string, offset: bigint) => parsed(record(key, { [H.idempotencyKey]: "order-9" }, { offset })).id;
    expect(id(keys[20]!, 3n)).toBe(id(keys[21]!, 8n));
    expect(serviceRoutingKey("")).not.toBe(""); // an empty idempotency key is none
  });
});
