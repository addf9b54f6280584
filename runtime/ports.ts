/**
 * What the runtime needs from the outside beyond its main LogTransport, injected by
 * connectors/create_runtime.ts (Kafka, Schema Registry) or by tests (in-memory fakes).
 */
import type { ResolvedSubscription } from "./ingress/subscription.js";
import type { LogTransport } from "./log/log.js";
import type { AvroPayloads } from "./payload/avro_port.js";

export interface RuntimePorts {
  /** Avro application payloads (subscriptions with avro(), ctx.emit with avro()). */
  avroPayloads?: AvroPayloads;
  /**
   * Opens the transport one subscription's relay runs on: a consumer group
   * (`subscription.groupId`) on the source topic, commits with KIP-447 offsets for that group,
   * and readChangelog(0) reading the app's source-offsets topic.
   */
  subscriptionTransport?: (subscription: ResolvedSubscription) => LogTransport;
}
