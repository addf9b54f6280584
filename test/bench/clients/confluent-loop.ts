/**
 * The loop with @confluentinc/kafka-javascript (librdkafka) through its KafkaJS-compatible
 * promisified API. Offsets go to the transaction with the consumer's group metadata (KIP-447).
 */
import { KafkaJS } from "@confluentinc/kafka-javascript";
import { process, type StartLoop } from "./loop.js";
import { sleep } from "./tools.js";

export const startConfluentLoop: StartLoop = async (o) => {
  const kafka = new KafkaJS.Kafka({
    kafkaJS: { clientId: "bench-confluent", brokers: o.brokers, logLevel: KafkaJS.logLevel.NOTHING },
  });
  const producer = kafka.producer({
    kafkaJS: { transactionalId: o.transactionalId, idempotent: true, transactionTimeout: o.transactionTimeoutMs },
    // kafkajs sends at once; librdkafka would otherwise wait linger.ms (5) before each send resolves
    "linger.ms": 0,
  });
  const consumer = kafka.consumer({
    kafkaJS: {
      groupId: o.groupId,
      fromBeginning: true,
      autoCommit: false,
      readUncommitted: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
    },
    // the default (32) would cap every transaction at 32 records
    "js.consumer.max.batch.size": -1,
  });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [o.inputTopic] });
  // a transaction whose abort failed (broker down) is aborted again before the next one
  let unfinished: { abort(): Promise<void> } | undefined;
  await consumer.run({
    eachBatchAutoResolve: false,
    // eslint-disable-next-line @typescript-eslint/unbound-method -- kafkajs's documented idiom: these are closures over the batch, not methods
    eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
      const msgs = batch.messages;
      for (let i = 0; i < msgs.length; i += o.recordsPerTxn) {
        if (!isRunning() || isStale()) return;
        const chunk = msgs.slice(i, i + o.recordsPerTxn);
        const last = chunk[chunk.length - 1];
        if (!last) return;
        const startedAt = performance.now();
        let txn;
        try {
          if (unfinished) {
            await unfinished.abort();
            unfinished = undefined;
          }
          txn = await producer.transaction();
          await txn.send({
            topic: o.outputTopic,
            messages: chunk.map((m) => ({ key: m.key, value: process(m.value), partition: 0 })),
          });
          await txn.sendOffsets({
            consumer,
            topics: [
              {
                topic: batch.topic,
                partitions: [{ partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }],
              },
            ],
          });
          await txn.commit();
        } catch (err) {
          o.onError(err);
          if (txn) {
            const t = txn;
            await t.abort().catch((e: unknown) => {
              unfinished = t;
              o.onError(e);
            });
          }
          throw err;
        }
        o.onCommit(chunk.length, startedAt, performance.now(), Number(last.offset) + 1);
        resolveOffset(last.offset);
        if (o.pauseMs) await sleep(o.pauseMs);
      }
    },
  });
  return {
    async stop() {
      await consumer.disconnect().catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
};
