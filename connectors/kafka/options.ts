/** Options of the Kafka transport and the librdkafka settings derived from them. */
import { consoleLogger, type Logger } from "../../runtime/support.js";

export interface KafkaTransportOptions {
  /** Bootstrap servers, e.g. ["127.0.0.1:9092"]. */
  brokers: string[];
  clientId: string;
  /** Consumer group of the app's processes. */
  groupId: string;
  /** The topic whose partitions the group divides (`<app>.invocations`). */
  inputTopic: string;
  /** The compacted state topic, read by readChangelog (`<app>.changelog`). */
  changelogTopic: string;
  /** One per process; a restarted process reuses it and so fences its previous incarnation. */
  transactionalId: string;
  /** Coordinator aborts a transaction open longer than this (default 10000). */
  transactionTimeoutMs?: number;
  /** Group session timeout (default 10000; the broker allows 6000..1800000 by default). */
  sessionTimeoutMs?: number;
  /**
   * Rebalance timeout (librdkafka max.poll.interval.ms, default 60000): how long onRevoked may
   * take before the group goes on without this member. At least sessionTimeoutMs.
   */
  rebalanceTimeoutMs?: number;
  /** Where a partition without a committed offset starts (default "earliest"). */
  autoOffsetReset?: "earliest" | "latest";
  /** Extra librdkafka settings for every client (e.g. security), applied last. */
  rdkafka?: Record<string, string | number | boolean>;
  logger?: Logger;
}

export interface ResolvedOptions extends Required<Omit<KafkaTransportOptions, "rdkafka" | "logger">> {
  rdkafka: Record<string, string | number | boolean>;
  logger: Logger;
}

export function resolveOptions(o: KafkaTransportOptions): ResolvedOptions {
  if (o.brokers.length === 0) throw new Error("kafka transport: brokers is empty");
  const sessionTimeoutMs = o.sessionTimeoutMs ?? 10_000;
  return {
    brokers: o.brokers,
    clientId: o.clientId,
    groupId: o.groupId,
    inputTopic: o.inputTopic,
    changelogTopic: o.changelogTopic,
    transactionalId: o.transactionalId,
    autoOffsetReset: o.autoOffsetReset ?? "earliest",
    transactionTimeoutMs: o.transactionTimeoutMs ?? 10_000,
    sessionTimeoutMs,
    rebalanceTimeoutMs: Math.max(sessionTimeoutMs, o.rebalanceTimeoutMs ?? 60_000),
    rdkafka: o.rdkafka ?? {},
    logger: o.logger ?? consoleLogger("kvo kafka"),
  };
}

/** Settings common to every client of the transport. */
export function baseConfig(o: ResolvedOptions, role: string): Record<string, string | number | boolean> {
  return {
    "bootstrap.servers": o.brokers.join(","),
    "client.id": `${o.clientId}-${role}`,
    "socket.keepalive.enable": true,
    // reconnect quickly after a broker restart
    "reconnect.backoff.ms": 100,
    "reconnect.backoff.max.ms": 2000,
    "log.connection.close": false,
  };
}
