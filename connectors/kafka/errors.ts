/**
 * Errors of the Kafka adapter and the mapping of librdkafka errors onto them.
 *
 * ConfigurationError and FencedError are the SDK's classes (the runtime tests them with
 * instanceof); they are re-exported here so the adapter's callers need one import. Every
 * error carries a stable `code` and a `retryable` flag.
 */
import { ConfigurationError, FencedError, KvoError } from "../../sdk/errors.js";

export { ConfigurationError, FencedError };

/** Stable codes of the adapter's errors. */
export const KafkaErrorCodes = {
  /** An existing topic has another partition count than the app needs. */
  topicPartitions: "topic_partition_count_mismatch",
  /** An existing topic has another cleanup.policy than the app needs. */
  topicCleanupPolicy: "topic_cleanup_policy_mismatch",
  /** A Kafka operation failed in a way that a later attempt can succeed (broker down, timeout). */
  transient: "kafka_transient",
  /** The transport was stopped. */
  stopped: "kafka_transport_stopped",
} as const;

/**
 * A Kafka operation failed but nothing of it took effect (a commit's transaction was aborted),
 * so the same work can be attempted again.
 */
export class KafkaRetryableError extends KvoError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: KafkaErrorCodes.transient, retryable: true, cause: options.cause });
  }
}

/** The transport was stopped while the operation ran; nothing of it took effect. */
export class TransportStoppedError extends KvoError {
  constructor(what: string) {
    super(`${what}: the Kafka transport is stopped`, { code: KafkaErrorCodes.stopped, retryable: false });
  }
}

/** The shape of errors from @confluentinc/kafka-javascript's callback API (LibrdKafkaError). */
export interface RdError {
  message: string;
  code: number;
  isFatal?: boolean;
  isRetriable?: boolean;
  isTxnRequiresAbort?: boolean;
}

export function asRdError(err: unknown): RdError {
  if (err && typeof err === "object" && "code" in err && typeof (err as RdError).code === "number") {
    return err as RdError;
  }
  return { message: err instanceof Error ? err.message : String(err), code: -1 };
}

/** librdkafka / Kafka protocol error codes the adapter reacts to. */
export const RdCodes = {
  ERR__TIMED_OUT: -185,
  ERR__QUEUE_FULL: -184,
  ERR__STATE: -172,
  ERR__FATAL: -150,
  ERR__FENCED: -144,
  ERR__PARTITION_EOF: -191,
  ERR__ASSIGN_PARTITIONS: -175,
  ERR__REVOKE_PARTITIONS: -174,
  UNKNOWN_TOPIC_OR_PART: 3,
  ILLEGAL_GENERATION: 22,
  UNKNOWN_MEMBER_ID: 25,
  REBALANCE_IN_PROGRESS: 27,
  TOPIC_ALREADY_EXISTS: 36,
  INVALID_PRODUCER_EPOCH: 47,
  FENCED_INSTANCE_ID: 82,
  PRODUCER_FENCED: 90,
} as const;

/** Group membership errors of TxnOffsetCommit: this member's generation is over (KIP-447). */
const GROUP_FENCED = new Set<number>([RdCodes.ILLEGAL_GENERATION, RdCodes.UNKNOWN_MEMBER_ID, RdCodes.FENCED_INSTANCE_ID]);
/** A newer producer with the same transactional.id exists. */
const PRODUCER_FENCED = new Set<number>([RdCodes.ERR__FENCED, RdCodes.PRODUCER_FENCED]);

export type TxnErrorKind =
  /** The same call can be made again (it resumes; nothing is lost or duplicated). */
  | "retry-call"
  /** The transaction must be aborted; the work can then be attempted again. */
  | "abort-retryable"
  /** The transaction must be aborted; this member's group generation is over. */
  | "abort-group-fenced"
  /** The producer is fenced by a newer instance: it can never commit again. */
  | "producer-fenced"
  /** The producer is unusable (fatal error); a new one must be created. */
  | "fatal";

/** Decides how a failed transactional call is handled. */
export function classifyTxnError(err: RdError): TxnErrorKind {
  const text = err.message.toLowerCase();
  if (PRODUCER_FENCED.has(err.code) || (err.isFatal && /fenced/.test(text))) return "producer-fenced";
  if (err.isFatal) return "fatal";
  if (GROUP_FENCED.has(err.code)) return "abort-group-fenced";
  if (err.isTxnRequiresAbort) return "abort-retryable";
  if (err.isRetriable) return "retry-call";
  return "abort-retryable";
}

export function describe(err: unknown): string {
  const e = asRdError(err);
  return e.code === -1 ? e.message : `${e.message} (code ${e.code})`;
}
