/**
 * The runtime's LogTransport implemented with @confluentinc/kafka-javascript (librdkafka).
 * See runtime/log/log.ts for the contract and docs/kafka-client.md for why this client.
 *
 * Clients of one transport: a group consumer (input topic, read_committed), one transactional
 * producer, a restore reader (changelog, read_committed, assigned by hand) and short-lived
 * admin clients for ensureTopics.
 */
import type { ConsumeListener, InboundRecord, LogTransport, TopicSpec, TransactionBatch } from "../../runtime/log/log.js";
import { GroupConsumer } from "./group.js";
import { resolveOptions, type KafkaTransportOptions } from "./options.js";
import { ChangelogReader } from "./restore.js";
import { ensureTopics, existingTopics } from "./topics.js";
import { membersWithOurIdentity } from "./identity.js";
import { TransactionalProducer } from "./transactions.js";

export type { KafkaTransportOptions };

export function createKafkaTransport(options: KafkaTransportOptions): LogTransport {
  const o = resolveOptions(options);
  const group = new GroupConsumer(o);
  const producer = new TransactionalProducer(o, group);
  const reader = new ChangelogReader(o);
  let stopped: Promise<void> | null = null;
  /** Members carrying our identity, asked until the group answers (bounded by rebalanceTimeoutMs). */
  const checkIdentity = async (): Promise<number> => {
    const deadline = Date.now() + o.rebalanceTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await membersWithOurIdentity(o);
      } catch (err) {
        if (Date.now() > deadline) throw err;
        o.logger.warn(`identity check failed (attempt ${attempt}): ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
      }
    }
  };

  return {
    ensureTopics: (specs: TopicSpec[]) => ensureTopics(o, specs),
    existingTopics: (names: string[]) => existingTopics(o, names),
    startConsuming: (listener: ConsumeListener) => group.start(listener),
    committedOffset: (partition: number) => group.committedOffset(partition),
    readChangelog: (partition: number, onRecord: (record: InboundRecord) => void) => reader.read(partition, onRecord),
    commit: (batch: TransactionBatch) => producer.commit(batch),
    async rejoin() {
      // a producer fenced by a newer one with our transactional.id stays fenced: another
      // process took this identity, and re-joining the group would not make commits possible
      producer.assertNotFenced();
      await group.rejoin(async () => {
        if (producer.inDoubt) producer.resolveIdentityDoubt((await checkIdentity()) > 0);
      });
    },
    highWatermarks: (partitions: number[]) => group.highWatermarks(partitions),
    idlePositions: (partitions: number[]) => group.idlePositions(partitions),
    pause: (partitions: number[]) => group.pause(partitions),
    resume: (partitions: number[]) => group.resume(partitions),
    stop() {
      // revoke first (onRevoked may still commit), then close the producer and the reader
      stopped ??= (async () => {
        await group.stop();
        await producer.stop();
        await reader.stop();
      })();
      return stopped;
    },
  };
}
