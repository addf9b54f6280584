import type { Logger } from "./support.js";

/** Payloads of the runtime's instrumentation events, by event name. */
export interface RuntimeEvents {
  /** An invocation ended (its outcome is in the batch being committed). */
  "invocation.end": {
    invocationId: string;
    target: string;
    key: string | null;
    handler: string;
    attempts: number;
    /** Null on success. */
    failure: { code: string; message: string } | null;
  };
  /** A transaction committed. */
  "commit.done": { records: number; durationMs: number };
  /** A transaction failed (not fenced); the same batch is retried after `retryInMs`. */
  "commit.failed": { code: string; message: string; attempt: number; retryInMs: number };
  /** A partition was restored from the changelog and is being processed. */
  "partition.restored": { partition: number; changelogRecords: number; inFlight: number; durationMs: number };
  /** Restoring a partition failed (e.g. the broker is unreachable); it is retried after `retryInMs`. */
  "partition.restore_failed": { partition: number; code: string; message: string; attempt: number; retryInMs: number };
  /** A changelog record could not be decoded on restore: copied to the DLQ, tombstoned, skipped. */
  "changelog.quarantined": { partition: number; offset: bigint; code: string; message: string };
  /** Partitions were handed back to the group. */
  "partition.revoked": { partitions: number[] };
  /** Per subscription, every 5 s: records of each owned source partition not yet relayed (null: not yet known). */
  "subscription.lag": { name: string; topic: string; partitions: Array<{ partition: number; lag: number | null }> };
  /** A subscription's topic does not exist; it waits for it (said again every 30 s). */
  "subscription.waiting": { name: string; topic: string; message: string };
  /** A source record could not become an invocation and was copied to the DLQ with the reason. */
  "subscription.dead_lettered": { name: string; topic: string; partition: number; offset: number; code: string; message: string };
  /** A commit was refused because this process lost ownership. */
  fenced: { message: string; origin: "broker" | "local"; brokerCode: number | undefined };
}

export type RuntimeEventName = keyof RuntimeEvents;
export type RuntimeEventListener<E extends RuntimeEventName> = (payload: RuntimeEvents[E]) => void;

/**
 * Namespaced events for metrics and tracing. `on` returns its own unsubscribe function. A
 * throwing listener is logged and never disturbs processing.
 */
export class Instrumentation {
  private readonly listeners = new Map<RuntimeEventName, Set<(payload: never) => void>>();

  constructor(private readonly logger: Logger) {}

  on<E extends RuntimeEventName>(event: E, listener: RuntimeEventListener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const entry = listener as (payload: never) => void;
    set.add(entry);
    return () => void set.delete(entry);
  }

  emit<E extends RuntimeEventName>(event: E, payload: RuntimeEvents[E]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as RuntimeEventListener<E>)(payload);
      } catch (e) {
        this.logger.warn(`a listener of "${event}" threw (ignored): ${(e as Error)?.message ?? String(e)}`);
      }
    }
  }
}
