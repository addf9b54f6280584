/**
 * createRuntime: the runtime (runtime/runtime.ts) wired to Kafka (connectors/kafka). This is
 * the factory applications use; tests of pure logic build a Runtime over an in-memory log.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { ConfigurationError } from "../sdk/errors.js";
import { Runtime, topicNames, type RuntimeOptions } from "../runtime/runtime.js";
import { createKafkaTransport, type KafkaTransportOptions } from "./kafka/transport.js";
import { createAvroPayloads, type SchemaRegistryAvroPayloadsOptions } from "./schema_registry/index.js";

export interface KafkaRuntimeOptions {
  /** Bootstrap servers, e.g. ["127.0.0.1:9092"]. */
  brokers: string[];
  /**
   * Stable identity of this process within the app, e.g. the pod name of a StatefulSet
   * ("orders-2"). The transactional.id is `kvo-<app>-<instanceId>`: a restarted process with
   * the same id fences its previous incarnation at once, instead of waiting for the
   * transaction timeout. Two live processes must never share one. Default: host-pid-random.
   */
  instanceId?: string;
  /** client.id prefix shown in broker logs (default `kvo-<app>-<instanceId>`). */
  clientId?: string;
  /** Consumer group session timeout (default 10000 ms). */
  sessionTimeoutMs?: number;
  /** How long onRevoked may take before the group goes on without this member (default 60000 ms). */
  rebalanceTimeoutMs?: number;
  /** The coordinator aborts a transaction open longer than this (default 10000 ms). */
  transactionTimeoutMs?: number;
  /** Extra librdkafka settings for every client (security, tuning), applied last. */
  rdkafka?: Record<string, string | number | boolean>;
}

export interface CreateRuntimeOptions extends RuntimeOptions {
  kafka: KafkaRuntimeOptions;
  /**
   * The Schema Registry (Confluent API) for Avro subscriptions and ctx.emit with avro():
   * default url KVO_SCHEMA_REGISTRY_URL, else the local one `npm run infra:up` starts.
   * Contacted only when an Avro record is read or written.
   */
  schemaRegistry?: Partial<SchemaRegistryAvroPayloadsOptions>;
}

const INSTANCE_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

export function createRuntime(options: CreateRuntimeOptions): Runtime {
  const { kafka } = options;
  if (!kafka || !Array.isArray(kafka.brokers) || kafka.brokers.length === 0) {
    throw new ConfigurationError(
      'kafka.brokers is missing or empty: pass the bootstrap servers, e.g. kafka: { brokers: ["127.0.0.1:9092"] }',
    );
  }
  const instanceId = kafka.instanceId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  if (!INSTANCE_PATTERN.test(instanceId)) {
    throw new ConfigurationError(`kafka.instanceId "${instanceId}" is invalid: use 1-100 letters, digits, '.', '_' or '-'`);
  }
  const topics = topicNames(options.app, options.topics);
  const clientId = kafka.clientId ?? `kvo-${options.app}-${instanceId}`;
  const shared: Omit<KafkaTransportOptions, "clientId" | "groupId" | "inputTopic" | "changelogTopic" | "transactionalId"> = {
    brokers: kafka.brokers,
    ...(kafka.sessionTimeoutMs !== undefined && { sessionTimeoutMs: kafka.sessionTimeoutMs }),
    ...(kafka.rebalanceTimeoutMs !== undefined && { rebalanceTimeoutMs: kafka.rebalanceTimeoutMs }),
    ...(kafka.transactionTimeoutMs !== undefined && { transactionTimeoutMs: kafka.transactionTimeoutMs }),
    ...(kafka.rdkafka !== undefined && { rdkafka: kafka.rdkafka }),
    ...(options.logger !== undefined && { logger: options.logger }),
  };
  const transport = createKafkaTransport({
    ...shared,
    clientId,
    groupId: options.app,
    inputTopic: topics.invocations,
    changelogTopic: topics.changelog,
    transactionalId: `kvo-${options.app}-${instanceId}`,
  });
  return new Runtime(options, transport, {
    avroPayloads: createAvroPayloads(options.schemaRegistry ?? {}),
    // One consumer group and transactional producer per subscription (docs/design.md, Subscriptions).
    subscriptionTransport: (subscription) =>
      createKafkaTransport({
        ...shared,
        clientId: `${clientId}-sub-${subscription.name}`,
        groupId: subscription.groupId,
        inputTopic: subscription.topic,
        changelogTopic: topics.sourceOffsets,
        transactionalId: `kvo-${options.app}-${instanceId}-sub-${subscription.name}`,
        autoOffsetReset: subscription.start,
      }),
  });
}
