/**
 * Schedules of the torture test: what a run produces (records of a small workload) and which
 * faults it meets (commit, delivery and process faults, runtime limits), their fast-check
 * arbitraries, and the sequential model of what the records must produce.
 */
import fc from "fast-check";
import type { CommitFault, CommitOutcome, DeliveryFault } from "../faulty_transport.js";

export const APP = "tt";
export const INPUT = `${APP}.invocations`;
export const CHANGELOG = `${APP}.changelog`;
export const DLQ = `${APP}.dlq`;
export const REPLIES = "replies";
export const OBJECT = "T";
export const KEYS = 5;
export const START_OF_TIME = 1_700_000_000_000;
/** Correlation id of input record `i`: its replies are found by it. */
export const corr = (i: number) => `r${i}`;

export interface UpdateSpec {
  kind: "update";
  key: number;
  /** ctx.run steps before the state update. */
  steps: number;
  /** Steps run concurrently (Promise.all) instead of one after another. */
  parallel: boolean;
  /** Throws a TerminalError after its steps: the invocation fails, state is unchanged. */
  fail: boolean;
  /** Throws a retryable error on attempt 1 (after its steps, or beside them when parallel). */
  flaky: boolean;
  /** Idempotency key; records of one object key with the same one are one invocation. */
  idem: number | null;
  /** setImmediate hops the producer waits before appending this record. */
  gap: number;
  /** Bytes of padding in the input (ignored by the handler): makes the byte limits bite. */
  pad: number;
}

export interface ReadSpec {
  kind: "read";
  key: number;
  gap: number;
}

export type RecordSpec = UpdateSpec | ReadSpec;

export interface Schedule {
  partitions: number;
  records: RecordSpec[];
  commits: CommitFault[];
  deliveries: DeliveryFault[];
  /** Per process in start order: dies after this many event-loop turns (null: lives on). */
  lifetimes: Array<number | null>;
  /**
   * "tight": the smallest transactions, in-flight counts and byte budgets the options allow, so
   * batches split, partitions pause and resume, and consumption stalls on uncommitted bytes.
   */
  limits: "default" | "tight";
}

/** Runtime options of "tight" schedules (each at or near its lowest allowed value). */
export const TIGHT_LIMITS = {
  maxTransactionRecords: 10,
  maxInFlightPerPartition: 2,
  maxRecordBytes: 16 * 1024,
  maxInFlightBytesPerPartition: 16 * 1024,
  maxTransactionBytes: 32 * 1024,
  maxUncommittedBytes: 32 * 1024,
};

const gapArb = fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 1 });

const updateArb: fc.Arbitrary<UpdateSpec> = fc.record({
  kind: fc.constant("update" as const),
  key: fc.integer({ min: 0, max: KEYS - 1 }),
  steps: fc.integer({ min: 0, max: 3 }),
  parallel: fc.boolean(),
  fail: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
  flaky: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  idem: fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, { arbitrary: fc.integer({ min: 0, max: 1 }), weight: 1 }),
  gap: gapArb,
  pad: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.constant(6_000), weight: 1 }),
});

const readArb: fc.Arbitrary<ReadSpec> = fc.record({
  kind: fc.constant("read" as const),
  key: fc.integer({ min: 0, max: KEYS - 1 }),
  gap: gapArb,
});

const outcomeArb: fc.Arbitrary<CommitOutcome> = fc.oneof(
  { arbitrary: fc.constant("ok" as const), weight: 12 },
  { arbitrary: fc.constant("retryable" as const), weight: 2 },
  { arbitrary: fc.constant("aborted" as const), weight: 2 },
  { arbitrary: fc.constant("fenced" as const), weight: 2 },
  { arbitrary: fc.constant("crashBefore" as const), weight: 1 },
  { arbitrary: fc.constant("crashAfter" as const), weight: 1 },
);

const commitFaultArb: fc.Arbitrary<CommitFault> = fc.record({
  delayTicks: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 5 }), weight: 1 }),
  outcome: outcomeArb,
});

const deliveryFaultArb: fc.Arbitrary<DeliveryFault> = fc.oneof(
  { arbitrary: fc.constant({ kind: "all" as const }), weight: 6 },
  { arbitrary: fc.integer({ min: 1, max: 3 }).map((count) => ({ kind: "some" as const, count })), weight: 3 },
  { arbitrary: fc.constant({ kind: "crash" as const }), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 20 }).map((turns) => ({ kind: "rebalance" as const, turns })), weight: 1 },
);

export const scheduleArb: fc.Arbitrary<Schedule> = fc.record({
  partitions: fc.integer({ min: 2, max: 3 }),
  records: fc.array(fc.oneof({ arbitrary: updateArb, weight: 4 }, { arbitrary: readArb, weight: 1 }), { minLength: 1, maxLength: 12 }),
  commits: fc.array(commitFaultArb, { maxLength: 30 }),
  deliveries: fc.array(deliveryFaultArb, { maxLength: 12 }),
  lifetimes: fc.array(fc.option(fc.integer({ min: 1, max: 80 }), { freq: 2 }), { maxLength: 4 }),
  limits: fc.oneof({ arbitrary: fc.constant("default" as const), weight: 2 }, { arbitrary: fc.constant("tight" as const), weight: 1 }),
});

/** An update record with defaults, for hand-written (pinned) schedules. */
export const update = (key: number, more: Partial<UpdateSpec> = {}): UpdateSpec => ({
  kind: "update",
  key,
  steps: 0,
  parallel: false,
  fail: false,
  flaky: false,
  idem: null,
  gap: 0,
  pad: 0,
  ...more,
});

// ---- the sequential model ----------------------------------------------------------------

export type Expectation =
  | { kind: "update"; key: number; status: "ok"; list: number[]; steps: number }
  | { kind: "update"; key: number; status: "failed" }
  /** An idempotency-key duplicate: the same reply as the record `of` (by index). */
  | { kind: "duplicate"; of: number }
  /** A shared read: some state the key actually had (a prefix of its final list). */
  | { kind: "read"; key: number };

export interface Model {
  expectations: Expectation[];
  finalLists: Map<number, number[]>;
  /** Distinct invocations with an idempotency key (their outcomes are kept). */
  idempotentInvocations: number;
}

/** What a runtime that processed the records one at a time, in offset order, would produce. */
export function model(s: Schedule): Model {
  const lists = new Map<number, number[]>();
  const firstByIdem = new Map<string, number>();
  const expectations = s.records.map((r, i): Expectation => {
    if (r.kind === "read") return { kind: "read", key: r.key };
    if (r.idem !== null) {
      const idem = `${r.key}|${r.idem}`;
      const first = firstByIdem.get(idem);
      if (first !== undefined) return { kind: "duplicate", of: first };
      firstByIdem.set(idem, i);
    }
    if (r.fail) return { kind: "update", key: r.key, status: "failed" };
    const list = [...(lists.get(r.key) ?? []), i];
    lists.set(r.key, list);
    return { kind: "update", key: r.key, status: "ok", list, steps: r.steps };
  });
  return { expectations, finalLists: lists, idempotentInvocations: firstByIdem.size };
}
