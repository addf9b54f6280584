/**
 * Creating topics for tests and waiting until every partition has a leader.
 *
 * kafkajs's own `createTopics({ waitForLeaders: true })` fails now and then with "This server
 * does not host this topic-partition" (UNKNOWN_TOPIC_OR_PARTITION) on a busy single broker,
 * while the topic is being set up: seen in CI and in the commitpath bench. Creation here does
 * not ask kafkajs to wait; the metadata is polled until it is complete instead.
 */
import type { Admin, ITopicConfig } from "kafkajs";

export async function createTopicsAndWait(admin: Admin, topics: ITopicConfig[], timeoutMs = 60_000): Promise<void> {
  await admin.createTopics({ waitForLeaders: false, topics });
  const names = topics.map((t) => t.topic);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let problem: string;
    try {
      const md = await admin.fetchTopicMetadata({ topics: names });
      const notReady = md.topics.filter((t) => {
        const want = topics.find((c) => c.topic === t.name)?.numPartitions ?? 1;
        return t.partitions.length < want || t.partitions.some((p) => p.leader < 0 || p.partitionErrorCode !== 0);
      });
      if (notReady.length === 0) return;
      problem = `no leader yet for ${notReady.map((t) => t.name).join(", ")}`;
    } catch (err) {
      problem = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`topics ${names.join(", ")} not ready within ${timeoutMs} ms: ${problem}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
