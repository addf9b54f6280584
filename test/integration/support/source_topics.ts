/**
 * The "other system" side of the subscription tests: a plain kafkajs producer (not KVO's
 * client, no KVO headers) writing records to a topic a subscription reads, and the consumer
 * group tools an operator would use on the subscription's group (reset, committed offsets).
 */
import { Kafka, logLevel, Partitioners, type Admin, type IHeaders } from "kafkajs";
import { bootstrapServers } from "./endpoints.js";

function kafka(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: bootstrapServers(), logLevel: logLevel.NOTHING });
}

export interface SourceRecordSpec {
  key: string | null;
  value: Buffer | null;
  /** Write to this partition; default: Kafka's murmur2 of the key, like any Java producer. */
  partition?: number;
  headers?: IHeaders;
}

/**
 * A producer of source records, in order: idempotent with one request in flight, so each
 * partition holds the records in the order they were sent (a test's per-key sequence checks
 * depend on that), and a retried send never writes a record twice.
 */
export class SourceProducer {
  private readonly producer = kafka("kvo-test-source-producer").producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });

  async connect(): Promise<this> {
    await this.producer.connect();
    return this;
  }

  async send(topic: string, records: readonly SourceRecordSpec[]): Promise<void> {
    await this.producer.send({
      topic,
      acks: -1,
      messages: records.map((r) => ({
        key: r.key,
        value: r.value,
        ...(r.partition !== undefined && { partition: r.partition }),
        ...(r.headers !== undefined && { headers: r.headers }),
      })),
    });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Runs `fn` with a connected kafkajs admin. */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka("kvo-test-source-admin").admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

/** End offset (high watermark) of each partition of `topic`, by partition. */
export async function endOffsets(topic: string): Promise<Map<number, number>> {
  return withAdmin(async (admin) => new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)])));
}

/** Offsets `groupId` committed on `topic`, by partition (-1: none). */
export async function committedOffsets(groupId: string, topic: string): Promise<Map<number, number>> {
  return withAdmin(async (admin) => {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((entry?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  });
}

/**
 * Rewinds a consumer group on `topic` to the earliest offsets (each partition's low
 * watermark), as an operator would with `kafka-consumer-groups --reset-offsets --to-earliest`. The broker accepts it only while the
 * group has no members: a member that just left may still be listed, so this retries.
 */
export async function resetGroupToEarliest(groupId: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await withAdmin(async (admin) => {
    for (;;) {
      try {
        const low = (await admin.fetchTopicOffsets(topic)).map((p) => ({ partition: p.partition, offset: p.low }));
        await admin.setOffsets({ groupId, topic, partitions: low });
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`resetting group ${groupId} on ${topic}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  });
}

/** mulberry32: a small seeded PRNG, so a failing random schedule can be replayed by its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
