/**
 * Topics of one scenario: the app's own (created exactly as its runtime process will, from the
 * runtime's topic specs with the same --runtime-options), the source topic of the readings
 * and the alerts topic the handler emits to (KVO does not create output topics).
 */
import { createRuntime } from "../../../connectors/create_runtime.js";
import { createKafkaTransport } from "../../../connectors/kafka/transport.js";
import type { TopicNames } from "../../../runtime/runtime.js";
import { deviceObject } from "./device.js";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export interface ScenarioTopics {
  app: TopicNames;
  source: string;
  alerts: string;
}

export async function createScenarioTopics(
  brokers: string[],
  app: string,
  partitions: number,
  runtimeOptions: string | undefined,
): Promise<ScenarioTopics> {
  const extra = runtimeOptions ? (JSON.parse(runtimeOptions) as Record<string, unknown>) : {};
  const alerts = `${app}.alerts`;
  const source = `${app}.readings`;
  const runtime = createRuntime({
    app,
    objects: [deviceObject(alerts, "json")],
    partitions,
    ...extra,
    kafka: { brokers },
    logger: quiet,
  });
  const transport = createKafkaTransport({
    brokers,
    clientId: "kvo-bench-subscription-setup",
    groupId: app,
    inputTopic: runtime.topics.invocations,
    changelogTopic: runtime.topics.changelog,
    transactionalId: "kvo-bench-subscription-setup-unused",
    logger: quiet,
  });
  try {
    const replicationFactor = 1;
    await transport.ensureTopics([
      ...runtime.topicSpecs(),
      { name: source, partitions, replicationFactor, cleanupPolicy: "delete" },
      { name: alerts, partitions, replicationFactor, cleanupPolicy: "delete" },
    ]);
  } finally {
    await transport.stop();
  }
  return { app: runtime.topics, source, alerts };
}

/** Every topic of the scenario, for deletion. */
export const allTopics = (t: ScenarioTopics): string[] => [
  t.app.invocations,
  t.app.changelog,
  t.app.dlq,
  t.app.sourceOffsets,
  t.source,
  t.alerts,
];
