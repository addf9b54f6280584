import { KafkaJS } from "@confluentinc/kafka-javascript";

/**
 * Deletes a bench app's topics (`<app>.*`) and consumer group; best effort (names are unique
 * per run, a leftover only costs disk): a failure is reported through `log`.
 */
export async function deleteAppTopics(app: string, brokers: string[], log: (line: string) => void): Promise<void> {
  const admin = new KafkaJS.Kafka({ kafkaJS: { brokers, logLevel: KafkaJS.logLevel.NOTHING } }).admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${app}.`));
    await admin.deleteGroups([app]).catch(() => undefined);
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
  } catch (e) {
    log(`cleaning up ${app}: ${(e as Error).message}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
