/**
 * Test-side Kafka tooling (kafkajs, independent of the runtime's client): produce invocation
 * records and read topics back read_committed, to count exact outcomes.
 */
import { Kafka, logLevel, type IHeaders } from "kafkajs";
import { randomUUID } from "node:crypto";
import { H } from "../../../runtime/invocation/headers.js";
export { brokers };

import { bootstrapServers as brokers } from "./endpoints.js";
import { createTopicsAndWait } from "./create_topics.js";

function kafka(): Kafka {
  return new Kafka({ clientId: "kvo-test-tools", brokers: brokers(), logLevel: logLevel.NOTHING });
}

/** Creates a topic (no-op when it exists) and waits for its leaders. */
export async function createTopic(topic: string, partitions = 1): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    await createTopicsAndWait(admin, [{ topic, numPartitions: partitions }]);
  } finally {
    await admin.disconnect();
  }
}

export interface InvocationSpec {
  key: string | null;
  handler?: string;
  input?: unknown;
  raw?: Buffer | null;
  replyTo?: string;
  correlationId?: string;
  idempotencyKey?: string;
}

/** Produces invocation records in order (one idempotent producer, acks=all). */
export async function produceInvocations(topic: string, specs: InvocationSpec[]): Promise<void> {
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < specs.length; i += 500) {
      await producer.send({
        topic,
        messages: specs.slice(i, i + 500).map((s) => {
          const headers: IHeaders = {};
          if (s.handler) headers[H.handler] = s.handler;
          if (s.replyTo) headers[H.replyTo] = s.replyTo;
          if (s.correlationId) headers[H.correlationId] = s.correlationId;
          if (s.idempotencyKey) headers[H.idempotencyKey] = s.idempotencyKey;
          const value = s.raw !== undefined ? s.raw : s.input === undefined ? null : Buffer.from(JSON.stringify(s.input));
          return { key: s.key, value, headers };
        }),
      });
    }
  } finally {
    await producer.disconnect();
  }
}

export interface ReadRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/**
 * Reads a topic from the beginning, read_committed, until `done(records)` holds, then keeps
 * reading for `settleMs` more so that duplicates past the expected count would show.
 */
export async function readTopic(
  topic: string,
  done: (records: ReadRecord[]) => boolean,
  options: { timeoutMs?: number; settleMs?: number } = {},
): Promise<ReadRecord[]> {
  const consumer = kafka().consumer({ groupId: `kvo-test-reader-${randomUUID()}`, readUncommitted: false, sessionTimeout: 10_000 });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {}))
          if (v !== undefined) headers[k] = Array.isArray(v) ? String(v[0]) : String(v);
        records.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value, headers });
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    while (!done(records)) {
      if (Date.now() > deadline)
        throw new Error(`reading ${topic}: condition not met within ${options.timeoutMs ?? 120_000} ms (${records.length} records read)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, options.settleMs ?? 1_000));
    return [...records];
  } finally {
    await consumer.disconnect();
  }
}

/** Latest value per key of a compacted topic, read to its current end (read_committed). */
export async function readCompacted(topic: string, settleMs = 2_000): Promise<{ latest: Map<string, Buffer>; all: ReadRecord[] }> {
  const admin = kafka().admin();
  await admin.connect();
  let total = 0;
  try {
    for (const p of await admin.fetchTopicOffsets(topic)) total += Number(p.high) - Number(p.low);
  } finally {
    await admin.disconnect();
  }
  // read_committed skips control and aborted records, so "all offsets read" is not reachable;
  // read until nothing new arrives for settleMs.
  let last = -1;
  let stableSince = Date.now();
  const all = await readTopic(
    topic,
    (rs) => {
      if (rs.length !== last) {
        last = rs.length;
        stableSince = Date.now();
      }
      return rs.length > 0 && (rs.length >= total || Date.now() - stableSince > settleMs);
    },
    { settleMs: 0 },
  );
  all.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  const latest = new Map<string, Buffer>();
  for (const r of all) {
    if (r.key === null) continue;
    if (r.value === null) latest.delete(r.key);
    else latest.set(r.key, r.value);
  }
  return { latest, all };
}
