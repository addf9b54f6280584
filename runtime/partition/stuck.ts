import type { KeyHolder } from "./processor.js";

/** An invocation that has held its key for long (runtime.stats().stuck). */
export interface StuckInvocation {
  invocationId: string;
  target: string;
  key: string | null;
  handler: string;
  /** Since its first attempt started in this process (after a restore: since it resumed), ms. */
  runningForMs: number;
  /** The attempt number running now, or the next one while it waits for its retry. */
  attempt: number;
  /**
   * Running an attempt, or waiting for its retry timer (both hold the key). Suspended
   * invocations (waiting for a call, timer or awakeable) are not listed: see stats().suspended.
   */
  phase: "running" | "retry_wait";
}

/** Invocations running at least this long are listed as stuck by default. */
export const DEFAULT_STUCK_AFTER_MS = 60_000;
/** At most this many stuck invocations are listed (the oldest). */
export const MAX_STUCK_LISTED = 10;

/**
 * The longest-running invocation's age and the few oldest ones above `stuckAfterMs`:
 * enough to name a hung key without walking every in-flight invocation in a dashboard.
 */
export function stuckReport(
  holders: Iterable<KeyHolder>,
  now: number,
  stuckAfterMs: number,
): { longestRunningMs: number; stuck: StuckInvocation[] } {
  let longestRunningMs = 0;
  const over: KeyHolder[] = [];
  for (const h of holders) {
    const age = Math.max(0, now - h.since);
    longestRunningMs = Math.max(longestRunningMs, age);
    if (age >= stuckAfterMs) over.push(h);
  }
  over.sort((a, b) => a.since - b.since);
  const stuck = over.slice(0, MAX_STUCK_LISTED).map((h) => ({
    invocationId: h.invocationId,
    target: h.target,
    key: h.key,
    handler: h.handler,
    runningForMs: Math.max(0, now - h.since),
    attempt: h.attempt,
    phase: h.phase,
  }));
  return { longestRunningMs, stuck };
}
