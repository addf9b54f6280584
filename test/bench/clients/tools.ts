/**
 * Client-neutral helpers of the client benchmark: topics, input fill, the exactly-once check
 * of the output (a read_committed reader), statistics.
 */
import { randomUUID } from "node:crypto";
import { RdKafka } from "@confluentinc/kafka-javascript";
import { Kafka, logLevel } from "kafkajs";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function uniqueName(prefix: string): string {
  return `${prefix}.${Date.now().toString(36)}.${randomUUID().slice(0, 8)}`;
}

function admin(brokers: string[]) {
  return new Kafka({ clientId: "bench-clients-admin", brokers, logLevel: logLevel.NOTHING }).admin();
}

export async function createTopics(brokers: string[], topics: string[], partitions = 1): Promise<void> {
  const a = admin(brokers);
  await a.connect();
  try {
    await a.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
    });
  } finally {
    await a.disconnect();
  }
}

export async function deleteTopics(brokers: string[], topics: string[]): Promise<void> {
  const a = admin(brokers);
  try {
    await a.connect();
    await a.deleteTopics({ topics, timeout: 10_000 });
  } catch {
    // best effort: unique names, left-overs do not matter
  } finally {
    await a.disconnect().catch(() => undefined);
  }
}

/** Input record i: key "i", value ~100 bytes. */
export function inputValue(i: number): Buffer {
  return Buffer.from(`${i}:`.padEnd(100, "x"));
}

/** Writes `count` records (non-transactional, acks=all) to partition 0 of `topic`. */
export async function fill(brokers: string[], topic: string, count: number): Promise<void> {
  const p = new Kafka({ clientId: "bench-clients-fill", brokers, logLevel: logLevel.NOTHING }).producer({
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await p.connect();
  try {
    for (let start = 0; start < count; start += 1000) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + 1000); i++) {
        messages.push({ key: String(i), value: inputValue(i), partition: 0 });
      }
      await p.send({ topic, acks: -1, messages });
    }
  } finally {
    await p.disconnect();
  }
}

/**
 * Reads partition 0 of `topic` read_committed from the beginning to its end (the last stable
 * offset) and returns every record key, in order.
 */
export async function readCommittedKeys(brokers: string[], topic: string, timeoutMs = 60_000): Promise<string[]> {
  const consumer = new RdKafka.KafkaConsumer(
    {
      "bootstrap.servers": brokers.join(","),
      "group.id": uniqueName("bench.clients.verify"),
      "enable.auto.commit": false,
      "isolation.level": "read_committed",
      "enable.partition.eof": true,
      "auto.offset.reset": "earliest",
    },
    {},
  );
  await new Promise<void>((resolve, reject) => {
    consumer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve()));
  });
  const keys: string[] = [];
  let eof = false;
  consumer.on("partition.eof", () => {
    eof = true;
  });
  consumer.assign([{ topic, partition: 0, offset: 0 }]);
  const deadline = Date.now() + timeoutMs;
  try {
    while (!eof) {
      if (Date.now() > deadline) throw new Error(`verify: no end of ${topic} within ${timeoutMs} ms`);
      const batch = await new Promise<RdKafka.Message[]>((resolve, reject) => {
        consumer.consume(1000, (err, msgs) => (err ? reject(err) : resolve(msgs)));
      });
      for (const m of batch) keys.push(m.key ? m.key.toString() : "");
    }
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
  return keys;
}

/** The group's committed (stable) offset of partition 0, or 0 when none. */
export async function committedOffset(brokers: string[], groupId: string, topic: string): Promise<number> {
  const consumer = new RdKafka.KafkaConsumer(
    { "bootstrap.servers": brokers.join(","), "group.id": groupId, "isolation.level": "read_committed", "enable.auto.commit": false },
    {},
  );
  await new Promise<void>((resolve, reject) => {
    consumer.connect({ timeout: 10_000 }, (err) => (err ? reject(err) : resolve()));
  });
  try {
    const [tp] = await new Promise<RdKafka.TopicPartitionOffset[]>((resolve, reject) =>
      consumer.committed([{ topic, partition: 0 }], 30_000, (err, tps) => (err ? reject(err) : resolve(tps))),
    );
    return typeof tp?.offset === "number" && tp.offset >= 0 ? tp.offset : 0;
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

export interface ExactlyOnce {
  expected: number;
  /** Input records the group committed as consumed. */
  committed: number;
  /** Records in the read_committed output. */
  seen: number;
  /** Consumed (below the committed offset) but absent from the output: data loss. */
  lost: number;
  /** Output records beyond the first of each input record. */
  duplicated: number;
  /** Input records not consumed when the run ended (the loop did not finish). */
  unprocessed: number;
}

/**
 * Input record i has key "i" and sits at offset i. Every input below the committed offset
 * must be in the output exactly once; none above it may be (no output without its offset).
 */
export function exactlyOnce(keys: string[], expected: number, committed: number): ExactlyOnce {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  let lost = 0;
  for (let i = 0; i < committed; i++) if (!counts.has(String(i))) lost++;
  let duplicated = 0;
  for (const [k, c] of counts) duplicated += Number(k) >= committed ? c : c - 1;
  return { expected, committed, seen: keys.length, lost, duplicated, unprocessed: expected - committed };
}

export { median, percentile, round } from "../stats.js";

/** Resolves with fn's result, or with `fallback` after `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
