import { ConfigurationError } from "./errors.js";

/**
 * Exponential backoff. Every field is optional; unset fields take the runtime's defaults.
 * Every retry policy is bounded: an invocation that never ends would hold its key (and,
 * through the in-flight limit, its partition) for good.
 */
export interface RetryPolicy {
  /** Delay before the first retry. */
  initialIntervalMs?: number;
  /** Multiplier applied to the delay after each failed attempt. */
  factor?: number;
  /** Upper bound of one delay. */
  maxIntervalMs?: number;
  /** Attempts in total, the first included: a finite positive integer. */
  maxAttempts?: number;
}

export type ResolvedRetryPolicy = Required<RetryPolicy>;

/** Invocation retries: bounded by default, so a poison invocation ends instead of looping. */
export const DEFAULT_INVOCATION_RETRY: ResolvedRetryPolicy = {
  initialIntervalMs: 100,
  factor: 2,
  maxIntervalMs: 10_000,
  maxAttempts: 10,
};

/** ctx.run retries inside one attempt, before the step is recorded as failed. */
export const DEFAULT_RUN_RETRY: ResolvedRetryPolicy = {
  initialIntervalMs: 50,
  factor: 2,
  maxIntervalMs: 5_000,
  maxAttempts: 5,
};

/**
 * How long one attempt of an invocation may run before it is abandoned and retried
 * (`attempt_timeout`), unless the runtime, the definition or the handler sets another. Long
 * enough for slow external calls, short enough that a hung handler releases its key.
 */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 5 * 60_000;

/** Timers of Node (and browsers) fire at once for delays above 2^31-1 ms (~24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Merges `policy` over `base` and checks the result; `where` names the policy in errors
 * (e.g. `object Account options.retry`).
 */
export function resolveRetryPolicy(
  policy: RetryPolicy | undefined,
  base: ResolvedRetryPolicy,
  where = "retry policy",
): ResolvedRetryPolicy {
  const resolved = { ...base, ...stripUndefined(policy ?? {}) };
  const { maxAttempts, initialIntervalMs, factor, maxIntervalMs } = resolved;
  if (typeof maxAttempts !== "number" || !Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new ConfigurationError(
      `${where}: maxAttempts must be a finite positive integer (attempts in total, the first included), got ${String(maxAttempts)}. ` +
        `Unbounded retries would hold the key, and through the in-flight limit its partition, forever; ` +
        `to keep trying for long, set a large maxAttempts (e.g. 1000) with maxIntervalMs bounding each delay.`,
      { code: "invalid_retry_policy" },
    );
  }
  checkDuration(where, "initialIntervalMs", initialIntervalMs);
  checkDuration(where, "maxIntervalMs", maxIntervalMs);
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 1) {
    throw new ConfigurationError(`${where}: factor must be a finite number >= 1 (the delay multiplier per retry), got ${String(factor)}`, {
      code: "invalid_retry_policy",
    });
  }
  return resolved;
}

/** Checks an attempt timeout; `where` names the option in the error. Returns it. */
export function validateAttemptTimeout(timeoutMs: unknown, where: string): number {
  if (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMER_MS) {
    throw new ConfigurationError(
      `${where} must be an integer number of milliseconds between 1 and ${MAX_TIMER_MS} (~24.8 days), got ${String(timeoutMs)}. ` +
        `Every attempt needs a bound so a hung handler releases its key; default ${DEFAULT_ATTEMPT_TIMEOUT_MS} ms.`,
      { code: "invalid_attempt_timeout" },
    );
  }
  return timeoutMs;
}

/** Delay before retry number `attempt` (1 = the first retry). */
export function backoffDelay(policy: ResolvedRetryPolicy, attempt: number): number {
  const raw = policy.initialIntervalMs * Math.pow(policy.factor, Math.max(0, attempt - 1));
  return Math.min(policy.maxIntervalMs, raw);
}

function checkDuration(where: string, field: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    throw new ConfigurationError(
      `${where}: ${field} must be a number of milliseconds between 0 and ${MAX_TIMER_MS}, got ${String(value)}`,
      { code: "invalid_retry_policy" },
    );
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
