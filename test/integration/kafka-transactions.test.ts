/**
 * Kafka transactions on the real single-node broker (never mocked): a committed
 * transaction is visible to a read_committed consumer, an aborted one is not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from "kafkajs";
import { bootstrapServers } from "./support/endpoints.js";
import { uniqueGroup, uniqueTopic, uniqueTransactionalId } from "./support/unique.js";
import { createTopicsAndWait } from "./support/create_topics.js";

interface Rec {
  key: string;
  value: string;
}

// kafkajs logs retriable broker errors (e.g. CONCURRENT_TRANSACTIONS right after an abort) at ERROR;
// real failures surface as exceptions, so its logger stays quiet.
const kafka = new Kafka({ clientId: "kvo-it-transactions", brokers: bootstrapServers(), logLevel: logLevel.NOTHING });
let admin: Admin;
const producers: Producer[] = [];

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});

afterAll(async () => {
  await Promise.allSettled(producers.map((p) => p.disconnect()));
  await admin.disconnect();
});

async function createTopic(): Promise<string> {
  const topic = uniqueTopic();
  await createTopicsAndWait(admin, [{ topic, numPartitions: 1, replicationFactor: 1 }]);
  return topic;
}

async function transactionalProducer(): Promise<Producer> {
  const producer = kafka.producer({
    transactionalId: uniqueTransactionalId(),
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  producers.push(producer);
  await producer.connect();
  return producer;
}

/**
 * Reads `topic` from the beginning with a fresh group until `done(records)` holds.
 * kafkajs consumers are read_committed unless `readUncommitted` is set.
 */
async function readUntil(
  topic: string,
  done: (records: Rec[]) => boolean,
  opts: { readUncommitted?: boolean; timeoutMs?: number } = {},
): Promise<Rec[]> {
  const consumer = kafka.consumer({ groupId: uniqueGroup(), readUncommitted: opts.readUncommitted ?? false });
  const records: Rec[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; read so far: ${JSON.stringify(records)}`)), opts.timeoutMs ?? 30_000);
      void consumer
        .run({
          eachMessage: async ({ message }) => {
            records.push({ key: message.key?.toString() ?? "", value: message.value?.toString() ?? "" });
            if (done(records)) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

describe("Kafka transactions (single-node KRaft broker)", () => {
  it("a committed transaction is visible to a read_committed consumer", async () => {
    const topic = await createTopic();
    const producer = await transactionalProducer();
    const sent: Rec[] = [
      { key: "machine-1", value: "reading-1" },
      { key: "machine-2", value: "reading-2" },
      { key: "machine-1", value: "reading-3" },
    ];

    const txn = await producer.transaction();
    await txn.send({ topic, messages: sent });
    await txn.commit();

    const read = await readUntil(topic, (r) => r.length >= sent.length);
    expect(read).toEqual(sent);
  });

  it("an aborted transaction is not visible to a read_committed consumer", async () => {
    const topic = await createTopic();
    const producer = await transactionalProducer();
    const aborted: Rec[] = [
      { key: "k", value: "aborted-1" },
      { key: "k", value: "aborted-2" },
    ];
    const committed: Rec[] = [{ key: "k", value: "committed-after-abort" }];

    const t1 = await producer.transaction();
    await t1.send({ topic, messages: aborted });
    await t1.abort();
    // A later committed record marks the end: with one partition, anything visible from the
    // aborted transaction would have to be delivered before it.
    const t2 = await producer.transaction();
    await t2.send({ topic, messages: committed });
    await t2.commit();

    const isMarker = (r: Rec[]) => r.some((x) => x.value === "committed-after-abort");
    const readCommitted = await readUntil(topic, isMarker);
    expect(readCommitted).toEqual(committed);

    // The aborted records really are in the log: a read_uncommitted consumer sees them.
    const readUncommitted = await readUntil(topic, isMarker, { readUncommitted: true });
    expect(readUncommitted).toEqual([...aborted, ...committed]);
  });
});
