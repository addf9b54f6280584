/**
 * Header names of the public record formats (see docs/record-format.md). Anything that can
 * produce to Kafka can start an invocation with these; replies and DLQ records carry them.
 */
export const H = {
  handler: "kvo-handler",
  idempotencyKey: "kvo-idempotency-key",
  replyTo: "kvo-reply-to",
  correlationId: "kvo-correlation-id",
  invocationId: "kvo-invocation-id",
  /** On a record of `<app>.invocations`: cancel the in-flight invocation with this id. */
  cancel: "kvo-cancel",
  status: "kvo-status",
  errorCode: "kvo-error-code",
  errorMessage: "kvo-error-message",
  dlqSourceTopic: "kvo-dlq-source-topic",
  dlqSourcePartition: "kvo-dlq-source-partition",
  dlqSourceOffset: "kvo-dlq-source-offset",
  /** On a DLQ copy whose value was left out because it is too large: the value's size. */
  dlqValueOmittedBytes: "kvo-dlq-value-omitted-bytes",
  /** On a DLQ copy too large even without its value: the original's own headers (and a huge key) were left out. */
  dlqHeadersOmitted: "kvo-dlq-headers-omitted",
} as const;

export const KVO_HEADER_PREFIX = "kvo-";
