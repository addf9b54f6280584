/**
 * The demos' own input and output topics (not the runtime's, which it creates itself). They
 * have fixed names (`factory.readings`, `orders`, ...), as another team's topics would, so a
 * run starts by deleting and re-creating them: a new run must not read an earlier run's
 * records. Uses kafkajs's admin client, as any tool outside KVO would.
 */
import { Kafka, logLevel, type Admin } from "kafkajs";
import type { TopicNames } from "../../index.js";

export interface TopicSpec {
  topic: string;
  partitions: number;
}

const READY_TIMEOUT_MS = 30_000;

export function kafkaAdmin(brokers: string[]): Admin {
  return new Kafka({ clientId: "kvo-demo-admin", brokers, logLevel: logLevel.NOTHING }).admin();
}

/** Deletes the topics that exist, waits until they are gone, creates them empty and waits for their leaders. */
export async function recreateTopics(brokers: string[], specs: readonly TopicSpec[]): Promise<void> {
  const admin = kafkaAdmin(brokers);
  await admin.connect();
  try {
    const names = specs.map((s) => s.topic);
    const existing = new Set(await admin.listTopics());
    const stale = names.filter((n) => existing.has(n));
    if (stale.length > 0) {
      await admin.deleteTopics({ topics: stale });
      // Deletion is asynchronous in the broker: creating a topic that is still being deleted fails.
      await until(`topics ${stale.join(", ")} to be deleted`, async () => {
        const now = new Set(await admin.listTopics());
        return stale.every((n) => !now.has(n));
      });
    }
    await until(`topics ${names.join(", ")} to be created`, async () => {
      try {
        await admin.createTopics({ waitForLeaders: false, topics: specs.map((s) => ({ topic: s.topic, numPartitions: s.partitions })) });
      } catch (error) {
        // "already exists" (an earlier attempt got through) is fine; "marked for deletion" means retry.
        if (!/already exists/i.test((error as Error).message)) return false;
      }
      const metadata = await admin.fetchTopicMetadata({ topics: names });
      return metadata.topics.every(
        (t) =>
          t.partitions.length === specs.find((s) => s.topic === t.name)?.partitions &&
          t.partitions.every((p) => p.leader >= 0 && p.partitionErrorCode === 0),
      );
    });
  } finally {
    await admin.disconnect();
  }
}

/** The topics a finished demo run leaves behind: the runtime's own and the typed client's reply topic. */
export function appTopics(app: string, topics: TopicNames): string[] {
  return [topics.invocations, topics.changelog, topics.dlq, topics.sourceOffsets, `${app}.replies`];
}

/** Best-effort removal of a finished run's topics: a failure is reported, not thrown. */
export async function deleteTopicsQuietly(brokers: string[], topics: readonly string[]): Promise<void> {
  const admin = kafkaAdmin(brokers);
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present });
  } catch (error) {
    console.log(`(cleanup: could not delete ${topics.join(", ")}: ${(error as Error).message})`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = "";
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = `: ${(error as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${READY_TIMEOUT_MS / 1000} s waiting for ${what}${lastError}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
