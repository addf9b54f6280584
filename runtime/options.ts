/**
 * Runtime options: the one place where they are declared, validated and defaulted. Everything
 * else in the runtime reads a ResolvedRuntimeOptions and never applies a default of its own.
 */
import type { ObjectDefinition, ServiceDefinition } from "../sdk/definitions.js";
import { ConfigurationError } from "../sdk/errors.js";
import { DEFAULT_ATTEMPT_TIMEOUT_MS, validateAttemptTimeout, type RetryPolicy } from "../sdk/retry.js";
import { DEFAULT_MAX_RECORD_BYTES } from "./partition/limits.js";
import { resolveSubscriptions, type ResolvedSubscription, type Subscription } from "./ingress/subscription.js";
import { consoleLogger, systemClock, type Clock, type Logger } from "./support.js";

export interface TopicNames {
  invocations: string;
  changelog: string;
  dlq: string;
  /**
   * Compacted, one partition: per subscription and source partition, the highest source offset
   * already turned into an invocation (so a re-read range runs nothing twice).
   */
  sourceOffsets: string;
}

export interface RuntimeOptions {
  /** Application name: prefix of its topics and its consumer group. */
  app: string;
  objects?: ObjectDefinition[];
  services?: ServiceDefinition[];
  /**
   * Topics whose records call handlers, exactly once each:
   * `[subscribe({ topic: "orders", to: [order, "place"], key: { field: "orderId" } })]`.
   */
  subscriptions?: Subscription[];
  /** Partition count of the invocations and changelog topics (equal, fixed at creation). */
  partitions: number;
  /** Replication factor of topics the runtime creates (default 1; use 3 in production). */
  replicationFactor?: number;
  /** Topic names; default `<app>.invocations`, `<app>.changelog`, `<app>.dlq`, `<app>.source-offsets`. */
  topics?: Partial<TopicNames>;
  /** Default retry policy of invocations (objects may override). */
  retry?: RetryPolicy;
  /** How long outcomes of idempotent invocations are kept for deduplication (default 24 h). */
  idempotencyRetentionMs?: number;
  /**
   * Most outcomes of idempotent invocations kept per partition (default 100,000) and their
   * bytes (default 64 MiB). Past either, the oldest outcomes are dropped early (the record
   * `["out", id]` is tombstoned): a duplicate arriving after that runs again.
   */
  maxOutcomesPerPartition?: number;
  maxOutcomeBytesPerPartition?: number;
  /**
   * Largest value the runtime writes in one Kafka record: handler outputs, state values,
   * journals, invocation records, replies, DLQ copies (default 900,000 bytes; Kafka's default
   * limit is 1 MB). Larger ones fail their invocation with code record_too_large.
   */
  maxRecordBytes?: number;
  /** In-flight (running or queued) invocations per partition above which its consumption pauses (default 2,000). */
  maxInFlightPerPartition?: number;
  /** Bytes of in-flight invocation inputs per partition above which its consumption pauses (default 32 MiB). */
  maxInFlightBytesPerPartition?: number;
  /** Records per Kafka transaction (default 2,000): bounds how long one commit takes. */
  maxTransactionRecords?: number;
  /** Bytes per Kafka transaction (default 8 MiB; at least maxRecordBytes). */
  maxTransactionBytes?: number;
  /**
   * Estimated memory of written but uncommitted records (their bytes plus ~600 bytes of heap
   * each) above which all consumption pauses until commits catch up (default 16 MiB).
   */
  maxUncommittedBytes?: number;
  /** Callers waiting on one idempotent invocation (reply targets) beyond which more are refused (default 100). */
  maxReplyTargets?: number;
  /**
   * Attempt timeout of handlers whose definition declares none (default 5 minutes): an attempt
   * running longer fails with the retryable code attempt_timeout and is retried by its policy.
   */
  attemptTimeoutMs?: number;
  /** How long a reply topic found to exist is trusted before it is looked up again (default 5 min). */
  replyTopicTtlMs?: number;
  /**
   * How long an attempt may wait only for calls, timers or awakeables before it is suspended
   * (default 1 s): set aside with only its records in memory (no closures, no JS timer) and
   * resumed by replaying its journal when the outcome arrives.
   */
  suspendAfterMs?: number;
  /** Suspended invocations per partition above which its consumption pauses (default 1,000,000). */
  maxSuspendedPerPartition?: number;
  logger?: Logger;
  clock?: Clock;
}

export type ResolvedRuntimeOptions = Required<Omit<RuntimeOptions, "objects" | "services" | "retry" | "topics" | "subscriptions">> & {
  objects: ObjectDefinition[];
  services: ServiceDefinition[];
  subscriptions: ResolvedSubscription[];
  retry: RetryPolicy | undefined;
  topics: TopicNames;
};

const APP_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;
const MiB = 1024 * 1024;

export function topicNames(app: string, overrides: Partial<TopicNames> = {}): TopicNames {
  return {
    invocations: overrides.invocations ?? `${app}.invocations`,
    changelog: overrides.changelog ?? `${app}.changelog`,
    dlq: overrides.dlq ?? `${app}.dlq`,
    sourceOffsets: overrides.sourceOffsets ?? `${app}.source-offsets`,
  };
}

function integer(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigurationError(`runtime option ${name} must be an integer of at least ${min}, got ${String(value)}`);
  }
  return value;
}

export function resolveRuntimeOptions(options: RuntimeOptions): ResolvedRuntimeOptions {
  if (typeof options.app !== "string" || !APP_PATTERN.test(options.app)) {
    throw new ConfigurationError(
      `app name "${String(options.app)}" is invalid: use letters, digits, '.', '_' or '-' (it prefixes topic and group names)`,
    );
  }
  if (!Number.isInteger(options.partitions) || options.partitions < 1) {
    throw new ConfigurationError(`partitions must be a positive integer, got ${options.partitions}`);
  }
  // at least 16 KiB: 4 KiB of every record is kept for ids, headers and capped error messages
  const maxRecordBytes = integer("maxRecordBytes", options.maxRecordBytes, DEFAULT_MAX_RECORD_BYTES, 16 * 1024);
  const maxTransactionBytes = integer(
    "maxTransactionBytes",
    options.maxTransactionBytes,
    Math.max(8 * MiB, 2 * maxRecordBytes),
    2 * maxRecordBytes,
  );
  const topics = topicNames(options.app, options.topics);
  const names = [topics.invocations, topics.changelog, topics.dlq, topics.sourceOffsets];
  if (new Set(names).size !== names.length) throw new ConfigurationError(`topics must be four different topics, got ${names.join(", ")}`);
  const objects = options.objects ?? [];
  const services = options.services ?? [];
  const replicationFactor = integer("replicationFactor", options.replicationFactor, 1, 1);
  return {
    app: options.app,
    objects,
    services,
    subscriptions: resolveSubscriptions(options.app, options.subscriptions, [...objects, ...services], names, replicationFactor),
    partitions: options.partitions,
    replicationFactor,
    topics,
    retry: options.retry,
    idempotencyRetentionMs: integer("idempotencyRetentionMs", options.idempotencyRetentionMs, 24 * 3600_000, 1000),
    maxOutcomesPerPartition: integer("maxOutcomesPerPartition", options.maxOutcomesPerPartition, 100_000, 1),
    maxOutcomeBytesPerPartition: integer("maxOutcomeBytesPerPartition", options.maxOutcomeBytesPerPartition, 64 * MiB, maxRecordBytes),
    maxRecordBytes,
    maxInFlightPerPartition: integer("maxInFlightPerPartition", options.maxInFlightPerPartition, 2_000, 1),
    maxInFlightBytesPerPartition: integer("maxInFlightBytesPerPartition", options.maxInFlightBytesPerPartition, 32 * MiB, maxRecordBytes),
    maxTransactionRecords: integer("maxTransactionRecords", options.maxTransactionRecords, 2_000, 10),
    maxTransactionBytes,
    maxUncommittedBytes: integer("maxUncommittedBytes", options.maxUncommittedBytes, 16 * MiB, maxTransactionBytes),
    maxReplyTargets: integer("maxReplyTargets", options.maxReplyTargets, 100, 1),
    attemptTimeoutMs:
      options.attemptTimeoutMs === undefined
        ? DEFAULT_ATTEMPT_TIMEOUT_MS
        : validateAttemptTimeout(options.attemptTimeoutMs, "runtime option attemptTimeoutMs"),
    replyTopicTtlMs: integer("replyTopicTtlMs", options.replyTopicTtlMs, 5 * 60_000, 1000),
    suspendAfterMs: integer("suspendAfterMs", options.suspendAfterMs, 1_000, 0),
    maxSuspendedPerPartition: integer("maxSuspendedPerPartition", options.maxSuspendedPerPartition, 1_000_000, 1),
    logger: options.logger ?? consoleLogger(`kvo ${options.app}`),
    clock: options.clock ?? systemClock,
  };
}
