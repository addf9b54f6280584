/**
 * Broker-side evidence of what a process tried to write: reads a whole topic with a chosen
 * isolation level and returns the records whose key or value contains a marker.
 *
 * read_uncommitted returns every data record the broker stored, including those of aborted
 * and still-open transactions; read_committed returns only committed ones. A marker found
 * with the first and not with the second is a write that reached the broker inside a
 * transaction the broker never committed.
 */
import { randomUUID } from "node:crypto";
import { Kafka, logLevel } from "kafkajs";
import { bootstrapServers } from "./endpoints.js";

export type Isolation = "read_committed" | "read_uncommitted";

export interface MarkedRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: string;
}

/**
 * Reads `topic` from the beginning until nothing new arrived for `settleMs` (aborted records
 * and control records make "offset = high watermark" unreachable under read_committed).
 */
export async function readMarked(
  topic: string,
  marker: string,
  isolation: Isolation,
  settleMs = 3_000,
): Promise<{ total: number; marked: MarkedRecord[] }> {
  const kafka = new Kafka({ clientId: "kvo-test-isolation-reader", brokers: bootstrapServers(), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({
    groupId: `kvo-test-isolation-${randomUUID()}`,
    readUncommitted: isolation === "read_uncommitted",
    sessionTimeout: 10_000,
  });
  const needle = Buffer.from(marker);
  const marked: MarkedRecord[] = [];
  let total = 0;
  let lastChange = Date.now();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        total++;
        lastChange = Date.now();
        const inKey = message.key?.includes(needle) ?? false;
        const inValue = message.value?.includes(needle) ?? false;
        if (inKey || inValue) {
          marked.push({
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value: message.value?.toString("latin1") ?? "",
          });
        }
      },
    });
    const deadline = Date.now() + 120_000;
    while (total === 0 || Date.now() - lastChange < settleMs) {
      if (Date.now() > deadline) throw new Error(`reading ${topic} (${isolation}): no end within 120 s (${total} records read)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { total, marked };
  } finally {
    await consumer.disconnect();
  }
}
