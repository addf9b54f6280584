/**
 * The systems around KVO in the demos: an upstream producer and a downstream consumer that
 * know nothing about KVO, written with kafkajs as any other team's code would be.
 */
import { randomUUID } from "node:crypto";
import { Kafka, logLevel, Partitioners } from "kafkajs";

export interface PlainRecord {
  key: string;
  value: Buffer | string;
}

export interface ReadRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer;
}

const SEND_BATCH = 500;

/** Sends the records in order (records with the same key keep their order: same partition). */
export async function produceAll(brokers: string[], topic: string, records: readonly PlainRecord[]): Promise<void> {
  const kafka = new Kafka({ clientId: "kvo-demo-upstream", brokers, logLevel: logLevel.NOTHING });
  // Java's murmur2 partitioner (kafkajs's default since 2.0), named to silence its warning.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < records.length; i += SEND_BATCH) {
      await producer.send({ topic, acks: -1, messages: records.slice(i, i + SEND_BATCH).map((r) => ({ key: r.key, value: r.value })) });
    }
  } finally {
    await producer.disconnect();
  }
}

/**
 * Reads `topic` from the beginning with isolation read_committed (only records of committed
 * transactions) until at least `expected` records arrived and then nothing more for
 * `settleMs` (so that extra records, if any, are seen too), or until `timeoutMs`.
 */
export async function readCommitted(
  brokers: string[],
  topic: string,
  options: { expected: number; settleMs?: number; timeoutMs?: number },
): Promise<ReadRecord[]> {
  const { expected, settleMs = 2_000, timeoutMs = 30_000 } = options;
  const kafka = new Kafka({ clientId: "kvo-demo-downstream", brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `kvo-demo-reader-${randomUUID()}`, readUncommitted: false });
  const records: ReadRecord[] = [];
  let lastArrival = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        lastArrival = Date.now();
        records.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value ?? Buffer.alloc(0) });
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && (records.length < expected || Date.now() - lastArrival < settleMs)) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return records;
  } finally {
    await consumer.disconnect();
  }
}
