/** Exponential backoff. Every field is optional; unset fields take the runtime's defaults. */
export interface RetryPolicy {
  /** Delay before the first retry. */
  initialIntervalMs?: number;
  /** Multiplier applied to the delay after each failed attempt. */
  factor?: number;
  /** Upper bound of one delay. */
  maxIntervalMs?: number;
  /** Attempts in total, the first included. Infinity retries forever. */
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

export function resolveRetryPolicy(policy: RetryPolicy | undefined, base: ResolvedRetryPolicy): ResolvedRetryPolicy {
  const resolved = { ...base, ...stripUndefined(policy ?? {}) };
  if (!(resolved.maxAttempts >= 1)) throw new RangeError(`retry maxAttempts must be >= 1, got ${resolved.maxAttempts}`);
  if (!(resolved.initialIntervalMs >= 0)) throw new RangeError(`retry initialIntervalMs must be >= 0, got ${resolved.initialIntervalMs}`);
  if (!(resolved.factor >= 1)) throw new RangeError(`retry factor must be >= 1, got ${resolved.factor}`);
  if (!(resolved.maxIntervalMs >= 0)) throw new RangeError(`retry maxIntervalMs must be >= 0, got ${resolved.maxIntervalMs}`);
  return resolved;
}

/** Delay before retry number `attempt` (1 = the first retry). */
export function backoffDelay(policy: ResolvedRetryPolicy, attempt: number): number {
  const raw = policy.initialIntervalMs * Math.pow(policy.factor, Math.max(0, attempt - 1));
  return Math.min(policy.maxIntervalMs, raw);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
