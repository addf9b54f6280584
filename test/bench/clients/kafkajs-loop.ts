/** The loop with kafkajs 2.2.4 (pure JavaScript). */
import { Kafka, logLevel, type RetryOptions } from "kafkajs";
import { process, type StartLoop } from "./loop.js";
import { sleep } from "./tools.js";

/**
 * `producerRetry` tunes the producer's retrier. kafkajs retries CONCURRENT_TRANSACTIONS (the
 * broker still writing the previous transaction's markers) with its general backoff, 300 ms
 * by default; the Java client uses 20 ms for it. "kafkajs-tuned" starts at 20 ms.
 */
export function kafkajsLoop(producerRetry?: RetryOptions): StartLoop {
  return async (o) => {
    const kafka = new Kafka({ clientId: "bench-kafkajs", brokers: o.brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({
      transactionalId: o.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: o.transactionTimeoutMs,
      ...(producerRetry ? { retry: producerRetry } : {}),
    });
    const consumer = kafka.consumer({
      groupId: o.groupId,
      readUncommitted: false,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxBytesPerPartition: 4 * 1024 * 1024,
    });
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [o.inputTopic], fromBeginning: true });
    // a transaction whose abort failed (broker down) is aborted again before the next one
    let unfinished: { abort(): Promise<void> } | undefined;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kafkajs's documented idiom: these are closures over the batch, not methods
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
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
              acks: -1,
              messages: chunk.map((m) => ({ key: m.key, value: process(m.value), partition: 0 })),
            });
            await txn.sendOffsets({
              consumerGroupId: o.groupId,
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
          await heartbeat();
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
}
