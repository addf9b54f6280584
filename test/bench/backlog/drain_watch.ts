/**
 * When is the backlog drained? The same signal as the Kafka Streams peer uses: the app's
 * committed offsets on the input topic cover every record. KVO commits them in the same
 * transaction as the state changes of the invocations they consumed, so this is the moment
 * the last state is committed. Polled every 20 ms with the admin client (a few ms of broker
 * work each), from this process, not the measured one.
 */
import { KafkaJS } from "@confluentinc/kafka-javascript";

const POLL_EVERY_MS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class DrainWatch {
  private readonly admin: KafkaJS.Admin;

  private constructor(brokers: string[]) {
    this.admin = new KafkaJS.Kafka({ kafkaJS: { brokers, logLevel: KafkaJS.logLevel.NOTHING } }).admin();
  }

  static async connect(brokers: string[]): Promise<DrainWatch> {
    const watch = new DrainWatch(brokers);
    await watch.admin.connect();
    return watch;
  }

  /** End offset (high watermark) per partition of a topic. */
  async endOffsets(topic: string): Promise<Map<number, bigint>> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  /** Committed offset per partition of `topic` for `groupId` (0 where nothing is committed). */
  async committed(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const [t] = await this.admin.fetchOffsets({ groupId, topics: [topic], requireStableOffsets: true });
    return new Map((t?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset) < 0n ? 0n : BigInt(p.offset)]));
  }

  /**
   * Resolves with the time (performance.now()) at which the group's committed offsets were
   * first seen to reach `ends`. Calls `check` before each poll (it throws to abort, e.g. when
   * the runtime process died) and fails when nothing was committed for `stallMs`.
   */
  async untilCommitted(groupId: string, topic: string, ends: Map<number, bigint>, check: () => void, stallMs: number): Promise<number> {
    const total = [...ends.values()].reduce((a, b) => a + b, 0n);
    let last = -1n;
    let lastMoved = performance.now();
    for (;;) {
      check();
      const committed = await this.committed(groupId, topic);
      const seenAt = performance.now();
      if ([...ends].every(([p, end]) => (committed.get(p) ?? 0n) >= end)) return seenAt;
      const sum = [...committed.values()].reduce((a, b) => a + b, 0n);
      if (sum !== last) {
        last = sum;
        lastMoved = seenAt;
      } else if (seenAt - lastMoved > stallMs) {
        throw new Error(
          `the backlog did not drain: group ${groupId} has committed ${sum} of ${total} offsets on ${topic} and nothing moved for ${Math.round(stallMs / 1000)} s ` +
            `(raise --stall-timeout if transactions are expected to take that long)`,
        );
      }
      await sleep(POLL_EVERY_MS);
    }
  }

  /** Deletes the run's topics and consumer group (best effort: names are unique per run). */
  async cleanup(topics: string[], groupId: string): Promise<void> {
    await this.admin.deleteGroups([groupId]).catch(() => undefined);
    await this.admin
      .deleteTopics({ topics, timeout: 30_000 })
      .catch((e: unknown) => process.stderr.write(`deleting ${topics.join(", ")}: ${(e as Error).message}\n`));
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}
