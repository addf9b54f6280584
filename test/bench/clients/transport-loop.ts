/**
 * The loop on KVO's own Kafka adapter (connectors/kafka, librdkafka underneath), used the way
 * the runtime's group committer uses it: records arrive through the ConsumeListener; each
 * chunk is one LogTransport.commit (records + offsets); a retryable failure commits the same
 * chunk again, a FencedError drops what was fetched and re-joins the group.
 */
import { createKafkaTransport } from "../../../connectors/kafka/index.js";
import { FencedError } from "../../../connectors/kafka/errors.js";
import type { InboundRecord } from "../../../runtime/log/log.js";
import { process, type StartLoop } from "./loop.js";
import { sleep } from "./tools.js";

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

export const startTransportLoop: StartLoop = async (o) => {
  const t = createKafkaTransport({
    brokers: o.brokers,
    clientId: "bench-transport",
    groupId: o.groupId,
    inputTopic: o.inputTopic,
    changelogTopic: o.outputTopic,
    transactionalId: o.transactionalId,
    transactionTimeoutMs: o.transactionTimeoutMs,
    logger: quiet,
  });
  const queue: InboundRecord[] = [];
  const owned = new Set<number>();
  let running = true;
  let paused = false;
  let committing: Promise<unknown> = Promise.resolve();

  await t.startConsuming({
    async onAssigned(partitions) {
      for (const p of partitions) owned.add(p);
    },
    async onRevoked(partitions) {
      await committing;
      for (const p of partitions) owned.delete(p);
      queue.length = 0;
    },
    onRecords(partition, records) {
      if (!owned.has(partition)) return;
      queue.push(...records);
      if (!paused && queue.length > 4 * o.recordsPerTxn) {
        paused = true;
        t.pause([partition]);
      }
    },
  });

  const pump = async (): Promise<void> => {
    while (running) {
      if (queue.length === 0) {
        await sleep(1);
        continue;
      }
      const chunk = queue.splice(0, o.recordsPerTxn);
      if (paused && queue.length < o.recordsPerTxn) {
        paused = false;
        t.resume([...owned]);
      }
      const last = chunk[chunk.length - 1]!;
      const batch = {
        records: chunk.map((r) => ({ topic: o.outputTopic, partition: 0, key: r.key, value: process(r.value) })),
        offsets: new Map([[last.partition, last.offset + 1n]]),
      };
      const startedAt = performance.now();
      for (;;) {
        try {
          committing = t.commit(batch);
          await committing;
          o.onCommit(chunk.length, startedAt, performance.now(), Number(last.offset) + 1);
          if (o.pauseMs) await sleep(o.pauseMs);
          break;
        } catch (err) {
          o.onError(err);
          if (!running) return;
          if (err instanceof FencedError) {
            queue.length = 0;
            await t.rejoin().catch((e: unknown) => o.onError(e));
            break;
          }
          await sleep(100); // retryable: nothing of the chunk is visible, commit it again
        }
      }
    }
  };
  const pumping = pump();

  return {
    async stop() {
      running = false;
      await pumping;
      await t.stop();
    },
  };
};
