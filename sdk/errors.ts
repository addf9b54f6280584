/**
 * Every error KVO raises or records is a KvoError with a stable string `code` and a
 * `retryable` flag. The flag, not the class hierarchy, decides what the runtime does:
 * a retryable failure is retried with backoff; a non-retryable one ends the invocation.
 * KVO's own codes are listed, with their flag, in sdk/error_codes.ts (ERROR_CODES) and
 * docs/errors.md; `code` stays a string so that applications can use codes of their own.
 */
export class KvoError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: { code: string; retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.retryable = options.retryable;
  }
}

/** Thrown by a handler (or a ctx.run action) to fail the invocation at once, without retries. */
export class TerminalError extends KvoError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? "terminal", retryable: false, cause: options.cause });
  }
}

/** A replay took a different action than the journal recorded at the same index. */
export class NonDeterminismError extends KvoError {
  constructor(message: string) {
    super(message, { code: "non_deterministic", retryable: true });
  }
}

/** A shared (read-only) handler tried to change state. */
export class SharedHandlerWriteError extends KvoError {
  constructor(method: string, target: string) {
    super(
      `ctx.${method}() was called in shared handler ${target}; shared handlers are read-only. ` +
        `Move the write into an exclusive handler (declare it without shared()).`,
      { code: "shared_handler_write", retryable: false },
    );
  }
}

/** Bad configuration found at start-up (topics, options). Not retryable: fix and restart. */
export class ConfigurationError extends KvoError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? "configuration", retryable: false, cause: options.cause });
  }
}

/** This process lost ownership (group generation moved on); its work is discarded. */
export class FencedError extends KvoError {
  /**
   * Who refused: "broker" when a broker answered the commit with a fencing error (its code in
   * `brokerCode`), "local" when this process refused it itself (it no longer owns a partition
   * the commit names, or it learnt earlier that its producer is fenced).
   */
  readonly origin: "broker" | "local";
  /** The Kafka (or librdkafka) error code of a broker refusal. */
  readonly brokerCode: number | undefined;

  constructor(message: string, options: { cause?: unknown; origin?: "broker" | "local"; brokerCode?: number } = {}) {
    super(message, { code: "fenced", retryable: false, cause: options.cause });
    this.origin = options.origin ?? "local";
    this.brokerCode = options.brokerCode;
  }
}

/** A value could not be serialized to or from its wire form. */
export class SerializationError extends KvoError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "serialization", retryable: false, cause: options.cause });
  }
}

/**
 * An attempt ran longer than its attempt timeout (runtime `attemptTimeoutMs`, a definition's
 * `options.attemptTimeoutMs` or `options.handlers.<name>.attemptTimeoutMs`). Retryable: the
 * attempt is abandoned (its context is dead, the AbortSignal of its ctx.run actions aborted)
 * and the invocation goes through its retry policy like after any retryable failure.
 */
export class AttemptTimeoutError extends KvoError {
  constructor(
    where: string,
    readonly timeoutMs: number,
  ) {
    super(
      `${where} did not finish within its attempt timeout of ${timeoutMs} ms; the attempt was abandoned and will be retried ` +
        `by the retry policy. If it legitimately takes longer, raise attemptTimeoutMs (createRuntime, the definition's options, ` +
        `or options.handlers.<name>); if it hangs, pass the AbortSignal that ctx.run hands its action to fetch() and the like.`,
      { code: "attempt_timeout", retryable: true },
    );
  }
}

/**
 * The invocation was cancelled (runtime.cancel(), client.cancel() or a `kvo-cancel` record).
 * Terminal: its state writes are discarded and the next invocation of its key starts.
 */
export class CancelledError extends KvoError {
  constructor(message: string) {
    super(message, { code: "cancelled", retryable: false });
  }
}

/**
 * A durable promise's `orTimeout(ms)` timer won the race: the awaited call, awakeable or
 * promise did not complete in time. Terminal (the winner is journaled: a replay throws it too).
 */
export class TimeoutError extends TerminalError {
  constructor(message: string) {
    super(message, { code: "timeout" });
  }
}

/**
 * An exclusive call to an object key that the call chain already holds (A/1 → B/2 → A/1):
 * it could only deadlock, so it fails at the call. `chain` lists the held keys in order.
 */
export class CallCycleError extends TerminalError {
  constructor(
    readonly chain: readonly string[],
    message: string,
  ) {
    super(message, { code: "call_cycle" });
  }
}

/**
 * The partition running an attempt was closed (revoked, fenced or the runtime is stopping).
 * The abort reason handed to ctx.run actions then; the invocation resumes from its journal
 * wherever the partition is restored.
 */
export class PartitionClosedError extends KvoError {
  constructor(partition: number) {
    super(
      `partition ${partition} was closed (revoked, fenced or the runtime is stopping); the attempt was abandoned and resumes where the partition is restored`,
      {
        code: "partition_closed",
        retryable: true,
      },
    );
  }
}

/** Wraps anything thrown that is not a KvoError. Unknown failures are retryable. */
export class UnknownError extends KvoError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { code: "unknown", retryable: true, cause: options.cause });
  }
}

/** Normalises any thrown value into a KvoError, keeping the original as `cause`. */
export function toKvoError(thrown: unknown): KvoError {
  if (thrown instanceof KvoError) return thrown;
  if (thrown instanceof Error) {
    const err = new UnknownError(thrown.message || thrown.name, { cause: thrown });
    if (thrown.stack) err.stack = thrown.stack;
    return err;
  }
  let text: string;
  try {
    text = typeof thrown === "string" ? thrown : (JSON.stringify(thrown) ?? String(thrown));
  } catch {
    text = String(thrown);
  }
  return new UnknownError(`non-Error value thrown: ${text}`, { cause: thrown });
}
