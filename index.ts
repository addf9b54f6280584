/**
 * The public entry point of KVO (package export "."): everything an application imports
 * comes from here. It gathers the layers, which depend on each other one way only,
 * sdk ← runtime ← connectors (docs/design.md, Layers):
 *  - sdk/: defining objects and services, their contexts, errors, retry policies; also
 *    importable alone as "kvo/sdk" (no Kafka client loaded);
 *  - runtime/: the types of a running runtime (its options, stats, events, logger, clock);
 *  - connectors/: createRuntime (the runtime on Kafka) and the typed Kafka client.
 * Nothing inside sdk/, runtime/ or connectors/ may import this file (eslint enforces it).
 */
export * from "./sdk/index.js";

export type { Runtime, RuntimeOptions, RuntimeStats, TopicNames } from "./runtime/runtime.js";
export type { Logger, Clock } from "./runtime/support.js";
export type { RuntimeEvents, RuntimeEventName, RuntimeEventListener } from "./runtime/instrumentation.js";
export type { StuckInvocation } from "./runtime/partition/stuck.js";
export { subscribe, decoder } from "./runtime/ingress/subscription.js";
export type { SubscriptionStats, SubscriptionPartitionStats, RelayState } from "./runtime/ingress/relay_stats.js";
export type {
  Subscription,
  SubscriptionOptions,
  SubscriptionKey,
  SubscriptionValue,
  SourceRecord,
  CustomValueFormat,
} from "./runtime/ingress/subscription.js";

export { createRuntime } from "./connectors/create_runtime.js";
export type { CreateRuntimeOptions, KafkaRuntimeOptions } from "./connectors/create_runtime.js";
export { connectClient, KvoClient } from "./connectors/client/kafka_client.js";
export type { ClientOptions, CallOptions, CancelOptions } from "./connectors/client/kafka_client.js";
export { InvocationFailedError, ReplyTimeoutError } from "./connectors/client/errors.js";
