/**
 * Exact-outcome checks of calls-sigkill.test.ts: reads the objects' committed state from the
 * changelog (read_committed, latest value per key) and compares it with the seeded workload
 * (support/calls_workload.ts). Each check returns a list of violations, one line each, so a
 * failure says which chain, send or sleep went wrong and how, not just that a count is off.
 */
import { codecs } from "../../../runtime/codec/records.js";
import { H } from "../../../runtime/invocation/headers.js";
import type { ChainResult, Timing } from "../apps/calls_app.js";
import type { CallsWorkload } from "./calls_workload.js";
import { readCompacted, type ReadRecord } from "./kafka_tools.js";

/** Committed state: `<Object>/<key>` → state name → value. */
export type ObjectStates = Map<string, Map<string, unknown>>;

/**
 * The due times the runtime recorded, from every committed changelog record (not only the
 * latest: timer records and journals are tombstoned once done). Sets, so that a due time
 * recorded twice differently shows.
 */
export interface RecordedDueTimes {
  /** Send id (from the input of the timer record ["tmr", …]) → its `fireAt`. */
  sendFireAt: Map<number, Set<number>>;
  /** Invocation id → the wake-up times (`at`) of the sleep entries of its journals ["jnl", id]. */
  sleepWakeAt: Map<string, Set<number>>;
}

export interface ChangelogSnapshot {
  states: ObjectStates;
  /** Changelog keys other than state still present (latest value not a tombstone), by their type ("inv", "jnl", …). */
  othersByType: Map<string, string[]>;
  due: RecordedDueTimes;
}

function addTo<K>(map: Map<K, Set<number>>, key: K, value: number): void {
  if (!map.has(key)) map.set(key, new Set());
  map.get(key)!.add(value);
}

function recordedDueTimes(all: ReadRecord[]): RecordedDueTimes {
  const due: RecordedDueTimes = { sendFireAt: new Map(), sleepWakeAt: new Map() };
  for (const r of all) {
    if (r.key === null || r.value === null) continue;
    const type = (JSON.parse(r.key) as string[])[0];
    if (type === "tmr") {
      const timer = codecs.timer.decode(r.value);
      const input = JSON.parse(timer.value?.toString() ?? "null") as { id?: number } | null;
      if (typeof input?.id === "number") addTo(due.sendFireAt, input.id, timer.fireAt);
    } else if (type === "jnl") {
      const journal = codecs.journal.decode(r.value);
      for (const e of journal.entries)
        if (e.kind === "sleep" && typeof e.at === "number") addTo(due.sleepWakeAt, journal.invocationId, e.at);
    }
  }
  return due;
}

/** The latest state of every object key in `changelog`, what else is left there, and the recorded due times. */
export async function readChangelogSnapshot(changelog: string): Promise<ChangelogSnapshot> {
  const { latest, all } = await readCompacted(changelog, 3_000);
  const states: ObjectStates = new Map();
  const othersByType = new Map<string, string[]>();
  for (const [key, value] of latest) {
    const parts = JSON.parse(key) as string[];
    if (parts[0] !== "st") {
      const type = String(parts[0]);
      othersByType.set(type, [...(othersByType.get(type) ?? []), key]);
      continue;
    }
    const [, object, objectKey, name] = parts as [string, string, string, string];
    const id = `${object}/${objectKey}`;
    if (!states.has(id)) states.set(id, new Map());
    states.get(id)!.set(name, JSON.parse(codecs.stateValue.decode(value).value.toString()) as unknown);
  }
  return { states, othersByType, due: recordedDueTimes(all) };
}

const stateOf = (states: ObjectStates, object: string, key: string) => states.get(`${object}/${key}`) ?? new Map<string, unknown>();

/** Tallies by key: how many items each key got. */
function tally<T>(items: T[], keyOf: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(keyOf(item), (counts.get(keyOf(item)) ?? 0) + 1);
  return counts;
}

/**
 * Per key of `object`: `count` equals the expected number of executions; no `dup:*` or
 * `wrong-result:*` mark exists (for every key of the object that has state, expected or not).
 */
function checkCountsAndMarks(states: ObjectStates, object: string, expected: Map<string, number>, violations: string[]): void {
  for (const [key, n] of expected) {
    const count = stateOf(states, object, key).get("count") ?? 0;
    if (count !== n) violations.push(`${object}/${key}: count ${JSON.stringify(count)}, expected ${n}`);
  }
  for (const [id, state] of states) {
    if (!id.startsWith(`${object}/`)) continue;
    if (!expected.has(id.slice(object.length + 1))) violations.push(`${id}: has state but no work was sent to it`);
    for (const [name, value] of state)
      if (name.startsWith("dup:") || name.startsWith("wrong-result:")) violations.push(`${id}: ${name} = ${JSON.stringify(value)}`);
  }
}

/**
 * Call chains: every level ran exactly once per chain (counts exact per key, one mark per
 * chain, the marks' sequence numbers are exactly 1..count per key, so no execution was lost
 * or repeated), A's result came from the executions of B and C that committed (A's mark
 * carries B's and C's sequence numbers), and A replied exactly once, with that result.
 */
export function checkChains(states: ObjectStates, workload: CallsWorkload, replies: ReadRecord[]): string[] {
  const violations: string[] = [];
  const levels = [
    { object: "ChainA", keyOf: (c: CallsWorkload["chains"][number]) => c.aKey, seq: (r: ChainResult) => r.aSeq },
    { object: "ChainB", keyOf: (c: CallsWorkload["chains"][number]) => c.bKey, seq: (r: ChainResult) => r.bSeq },
    { object: "ChainC", keyOf: (c: CallsWorkload["chains"][number]) => c.cKey, seq: (r: ChainResult) => r.cSeq },
  ];
  for (const level of levels) {
    const expected = tally(workload.chains, level.keyOf);
    checkCountsAndMarks(states, level.object, expected, violations);
    const seqsByKey = new Map<string, number[]>();
    for (const c of workload.chains) {
      const key = level.keyOf(c);
      const m = stateOf(states, level.object, key).get(`chain:${c.chain}`) as ChainResult | undefined;
      if (m === undefined) {
        violations.push(`chain ${c.chain}: ${level.object}/${key} has no mark (did not run or its state was lost)`);
        continue;
      }
      seqsByKey.set(key, [...(seqsByKey.get(key) ?? []), level.seq(m) ?? -1]);
    }
    for (const [key, seqs] of seqsByKey) {
      const sorted = [...seqs].sort((a, b) => a - b);
      if (sorted.some((s, i) => s !== i + 1))
        violations.push(`${level.object}/${key}: sequence numbers of its chains are ${JSON.stringify(sorted)}, expected 1..${seqs.length}`);
    }
  }
  // A's result is the one B returned from the C execution that committed, and B's C's.
  for (const c of workload.chains) {
    const a = stateOf(states, "ChainA", c.aKey).get(`chain:${c.chain}`) as ChainResult | undefined;
    const b = stateOf(states, "ChainB", c.bKey).get(`chain:${c.chain}`) as ChainResult | undefined;
    const leaf = stateOf(states, "ChainC", c.cKey).get(`chain:${c.chain}`) as ChainResult | undefined;
    if (!a || !b || !leaf) continue; // reported above
    if (a.bSeq !== b.bSeq || a.cSeq !== b.cSeq)
      violations.push(`chain ${c.chain}: A got ${JSON.stringify(a)} but B committed ${JSON.stringify(b)}`);
    if (b.cSeq !== leaf.cSeq) violations.push(`chain ${c.chain}: B got ${JSON.stringify(b)} but C committed ${JSON.stringify(leaf)}`);
  }
  // Exactly one reply per chain, successful, carrying A's committed result.
  const byChain = new Map<string, ReadRecord[]>();
  for (const r of replies) {
    const id = r.headers[H.correlationId] ?? "(none)";
    byChain.set(id, [...(byChain.get(id) ?? []), r]);
  }
  for (const c of workload.chains) {
    const got = byChain.get(`chain:${c.chain}`) ?? [];
    if (got.length !== 1) {
      violations.push(`chain ${c.chain}: ${got.length} replies, expected 1`);
      continue;
    }
    const r = got[0]!;
    if (r.headers[H.status] !== "ok") {
      violations.push(`chain ${c.chain}: reply ${r.headers[H.status]} ${r.headers[H.errorCode]}: ${r.headers[H.errorMessage]}`);
      continue;
    }
    const value = JSON.parse(r.value!.toString()) as ChainResult;
    const a = stateOf(states, "ChainA", c.aKey).get(`chain:${c.chain}`);
    if (JSON.stringify(value) !== JSON.stringify(a))
      violations.push(`chain ${c.chain}: replied ${JSON.stringify(value)}, A committed ${JSON.stringify(a)}`);
  }
  const unexpected = [...byChain.keys()].filter((id) => !/^chain:\d+$/.test(id) || Number(id.slice(6)) >= workload.chains.length);
  for (const id of unexpected) violations.push(`reply with unexpected correlation id ${id}`);
  return violations;
}

export interface Lateness {
  count: number;
  /** ms after the runtime's due time: smallest, mean, largest. */
  min: number;
  mean: number;
  max: number;
}

/** A delayed send or sleep that ran: its due time (the runtime's) and how many ms after it it ran. */
export interface TimedRun {
  due: number;
  late: number;
}

/** How late the runs due at or after `fromDue` (ms since epoch; default all) ran. */
export function lateness(runs: TimedRun[], fromDue = 0): Lateness {
  const late = runs.filter((r) => r.due >= fromDue).map((r) => r.late);
  if (late.length === 0) return { count: 0, min: 0, mean: 0, max: 0 };
  return {
    count: late.length,
    min: Math.min(...late),
    mean: Math.round(late.reduce((a, b) => a + b, 0) / late.length),
    max: Math.max(...late),
  };
}

/**
 * Checks one delayed send's or sleep's timing: the runtime recorded exactly one due time, no
 * earlier than the handler's own lower bound (`timing.due`: the runtime starts the delay after
 * the handler's journaled time), and the handler ran (`timing.at`) no earlier than that due
 * time. Returns the run, or undefined after a violation.
 */
function checkTiming(what: string, timing: Timing, recorded: Set<number> | undefined, violations: string[]): TimedRun | undefined {
  if (recorded === undefined || recorded.size !== 1) {
    violations.push(
      `${what}: the runtime recorded ${recorded?.size ?? 0} due times (${JSON.stringify([...(recorded ?? [])])}), expected 1`,
    );
    return undefined;
  }
  const due = [...recorded][0]!;
  if (due < timing.due) {
    violations.push(`${what}: the runtime's due time ${due} is ${timing.due - due} ms before the handler's lower bound ${timing.due}`);
    return undefined;
  }
  if (timing.at < due) {
    violations.push(`${what}: ran at ${timing.at}, ${due - timing.at} ms before its due time ${due}`);
    return undefined;
  }
  return { due, late: timing.at - due };
}

/**
 * Delayed sends: every Sender.schedule ran once (its key's count is the number of sends it
 * scheduled), every send arrived exactly once on its receiver (counts exact, one mark each)
 * and never before its due time.
 */
export function checkDelayedSends(
  states: ObjectStates,
  workload: CallsWorkload,
  due: RecordedDueTimes,
): { violations: string[]; runs: TimedRun[] } {
  const violations: string[] = [];
  const perSender = new Map<string, number>();
  for (const s of workload.schedules) perSender.set(s.senderKey, (perSender.get(s.senderKey) ?? 0) + s.sends.length);
  checkCountsAndMarks(states, "Sender", perSender, violations);
  const sends = workload.schedules.flatMap((s) => s.sends);
  checkCountsAndMarks(
    states,
    "Receiver",
    tally(sends, (s) => s.receiverKey),
    violations,
  );
  const runs: TimedRun[] = [];
  for (const s of sends) {
    const t = stateOf(states, "Receiver", s.receiverKey).get(`arrival:${s.id}`) as Timing | undefined;
    if (!t) {
      violations.push(`send ${s.id} (delay ${s.delayMs} ms) never arrived at Receiver/${s.receiverKey}`);
      continue;
    }
    const run = checkTiming(`send ${s.id} to Receiver/${s.receiverKey}`, t, due.sendFireAt.get(s.id), violations);
    if (run) runs.push(run);
  }
  return { violations, runs };
}

/** Sleeps: every sleep resumed exactly once (counts exact, one mark each), and never early. */
export function checkSleeps(
  states: ObjectStates,
  workload: CallsWorkload,
  due: RecordedDueTimes,
): { violations: string[]; runs: TimedRun[] } {
  const violations: string[] = [];
  checkCountsAndMarks(
    states,
    "Sleeper",
    tally(workload.naps, (n) => n.key),
    violations,
  );
  const runs: TimedRun[] = [];
  for (const n of workload.naps) {
    const t = stateOf(states, "Sleeper", n.key).get(`nap:${n.id}`) as Timing | undefined;
    if (!t) {
      violations.push(`sleep ${n.id} (${n.ms} ms) on Sleeper/${n.key} never resumed`);
      continue;
    }
    const what = `sleep ${n.id} on Sleeper/${n.key} (invocation ${t.invocation})`;
    const run = checkTiming(what, t, t.invocation === undefined ? undefined : due.sleepWakeAt.get(t.invocation), violations);
    if (run) runs.push(run);
  }
  return { violations, runs };
}

/** Sum of `count` over the keys of `object`. */
export function totalCount(states: ObjectStates, object: string): number {
  let total = 0;
  for (const [id, state] of states) if (id.startsWith(`${object}/`)) total += Number(state.get("count") ?? 0);
  return total;
}
