/**
 * What the torture test checks after a run (against the sequential model and the log), and
 * how it describes a run that did not finish.
 */
import { H } from "../../../runtime/invocation/headers.js";
import { PartitionState } from "../../../runtime/partition/state.js";
import { codecs } from "../../../runtime/codec/records.js";
import type { MemoryLog } from "../memory_log.js";
import type { World } from "./run.js";
import { CHANGELOG, corr, DLQ, INPUT, KEYS, model, OBJECT, REPLIES, START_OF_TIME, type Schedule } from "./schedule.js";

export interface Reply {
  corr: string;
  invocationId: string;
  status: string;
  value: unknown;
}

export function readReplies(log: MemoryLog): Reply[] {
  return log.partitions(REPLIES)[0]!.map((r) => ({
    corr: r.headers[H.correlationId]?.toString() ?? "(none)",
    invocationId: r.headers[H.invocationId]?.toString() ?? "(none)",
    status: r.headers[H.status]?.toString() ?? "(none)",
    value: r.value && r.value.length > 0 ? (JSON.parse(r.value.toString()) as unknown) : undefined,
  }));
}

/** Why a run did not finish: inputs without a reply, and whether the group skipped them. */
export function describeStuck(world: World): string {
  const replied = new Set(readReplies(world.log).map((r) => r.corr));
  const input = world.log.partitions(INPUT);
  const missing: string[] = [];
  input.forEach((records, p) => {
    for (const r of records) {
      const c = r.headers[H.correlationId]!.toString();
      if (replied.has(c)) continue;
      const committed = world.log.groupOffsets.get(p) ?? 0n;
      const state = partitionState(world.log, p);
      const inFlight = [...state.invocations.values()].some((inv) => inv.replyTo.some((t) => t.correlationId === c));
      const lost = r.offset < committed && !inFlight;
      missing.push(
        `${c} (${p}@${r.offset}; committed offset ${committed}; ${inFlight ? "in flight in the changelog" : "no invocation record"}${lost ? ": INPUT LOST, the group offset moved past it" : ""})`,
      );
    }
  });
  const live = world.processes
    .filter((p) => !p.dead)
    .map((p) => `process ${p.id} (${p.clock.pending} timers, stats ${JSON.stringify(p.runtime.stats())})`);
  return `${world.produced}/${world.s.records.length} records produced; no reply for ${missing.join(", ") || "none"}; live: ${live.join(", ") || "none"}`;
}

export function partitionState(log: MemoryLog, p: number): PartitionState {
  const state = new PartitionState();
  for (const r of log.partitions(CHANGELOG)[p]!) if (r.key) state.apply(r.key.toString(), r.value);
  return state;
}

/**
 * Virtual time only moves by firing timers; a schedule needs seconds of it. Days would mean a
 * periodic timer shorter than the clock's horizon firing on every turn, which would also
 * expire kept outcomes (24 h) and make duplicates run again: say so instead.
 */
const MAX_VIRTUAL_MS = 3600_000;

export function check(world: World, s: Schedule): void {
  const problems = [...world.violations];
  const elapsed = world.time.now - START_OF_TIME;
  if (elapsed > MAX_VIRTUAL_MS) {
    problems.push(
      `virtual time advanced by ${elapsed} ms: some timer keeps firing (a periodic timer under the VirtualClock horizon?); raise the horizon above its period`,
    );
  }
  for (const p of world.processes) problems.push(...p.transport.violations.map((v) => `process ${p.id}: ${v}`));
  const m = model(s);
  const replies = readReplies(world.log);
  const byCorr = new Map<string, Reply[]>();
  for (const r of replies) byCorr.set(r.corr, [...(byCorr.get(r.corr) ?? []), r]);

  // Exactly one reply per input record, and nothing else.
  for (const [c, rs] of byCorr) {
    if (!/^r\d+$/.test(c) || Number(c.slice(1)) >= s.records.length) problems.push(`reply for unknown correlation id ${c}`);
    else if (rs.length !== 1) problems.push(`${c} got ${rs.length} replies: ${JSON.stringify(rs)}`);
  }
  const dlq = world.log.topics.has(DLQ) ? world.log.partitions(DLQ).flat() : [];
  if (dlq.length > 0) problems.push(`${dlq.length} records in the DLQ, e.g. ${dlq[0]!.headers[H.errorMessage]?.toString()}`);

  // Outcomes against the model; step results against what handler code was given.
  const reply = (i: number) => byCorr.get(corr(i))?.[0];
  m.expectations.forEach((e, i) => {
    const got = reply(i);
    if (!got) {
      problems.push(`r${i}: no reply`);
      return;
    }
    const where = `r${i} (${JSON.stringify(s.records[i])})`;
    switch (e.kind) {
      case "duplicate": {
        const original = reply(e.of);
        if (
          original &&
          (got.status !== original.status ||
            JSON.stringify(got.value) !== JSON.stringify(original.value) ||
            got.invocationId !== original.invocationId)
        ) {
          problems.push(`${where}: duplicate of r${e.of} answered ${JSON.stringify(got)}, the original ${JSON.stringify(original)}`);
        }
        return;
      }
      case "read": {
        const list = got.value as number[];
        const final = m.finalLists.get(e.key) ?? [];
        if (got.status !== "ok" || !Array.isArray(list) || JSON.stringify(final.slice(0, list.length)) !== JSON.stringify(list)) {
          problems.push(
            `${where}: read ${got.status} ${JSON.stringify(got.value)}, not a state key ${e.key} ever had (final ${JSON.stringify(final)})`,
          );
        }
        return;
      }
      case "update": {
        if (e.status === "failed") {
          if (got.status !== "failed" || (got.value as { code?: string })?.code !== "op_failed")
            problems.push(`${where}: expected failure op_failed, got ${got.status} ${JSON.stringify(got.value)}`);
          return;
        }
        const value = got.value as { list: number[]; steps: number[] };
        if (got.status !== "ok" || JSON.stringify(value?.list) !== JSON.stringify(e.list)) {
          problems.push(
            `${where}: expected list ${JSON.stringify(e.list)}, got ${got.status} ${JSON.stringify(got.value)} (per-key order or exactly-once broken)`,
          );
          return;
        }
        if (value.steps.length !== e.steps) problems.push(`${where}: ${value.steps.length} step results in the reply, expected ${e.steps}`);
        value.steps.forEach((v, step) => {
          const returned = world.returned.get(`${got.invocationId}#${step}`) ?? [];
          if (returned.length === 0)
            problems.push(`${where}: reply carries step ${step} = ${v}, but no live process was ever given a result for it`);
          for (const r of returned)
            if (r.value !== v) problems.push(`${where}: step ${step} returned ${r.value} in process ${r.process}, the reply carries ${v}`);
        });
        return;
      }
    }
  });
  for (const [stepKey, returned] of world.returned) {
    const values = new Set(returned.map((r) => r.value));
    if (values.size > 1)
      problems.push(
        `step ${stepKey} returned different values to handler code: ${returned.map((r) => `${r.value} in process ${r.process}`).join(", ")}`,
      );
  }

  // Final state, nothing in flight, offsets at the end, journals only grew.
  const finalLists = new Map<number, unknown>();
  let outcomes = 0;
  for (let p = 0; p < s.partitions; p++) {
    const state = partitionState(world.log, p);
    if (state.invocations.size > 0)
      problems.push(`partition ${p}: invocations left in flight: ${[...state.invocations.keys()].join(", ")}`);
    if (state.journals.size > 0) problems.push(`partition ${p}: journals left behind: ${[...state.journals.keys()].join(", ")}`);
    outcomes += state.outcomes.size;
    for (const [id, names] of state.objects) {
      const key = Number(id.slice(`${OBJECT}/k`.length));
      for (const [name, bytes] of names) {
        if (name === "list") finalLists.set(key, JSON.parse(bytes.toString()));
        else problems.push(`unexpected state ${id}.${name}`);
      }
    }
    const end = BigInt(world.log.partitions(INPUT)[p]!.length);
    const committed = world.log.groupOffsets.get(p) ?? 0n;
    if (committed !== end) problems.push(`partition ${p}: committed group offset ${committed}, input ends at ${end}`);
    checkJournalsGrow(world.log, p, problems);
  }
  for (let k = 0; k < KEYS; k++) {
    const want = m.finalLists.get(k);
    const got = finalLists.get(k);
    if (JSON.stringify(want) !== JSON.stringify(got))
      problems.push(`final state of ${OBJECT}/k${k}: ${JSON.stringify(got)}, the sequential model says ${JSON.stringify(want)}`);
  }
  if (outcomes !== m.idempotentInvocations)
    problems.push(`${outcomes} kept outcomes, expected ${m.idempotentInvocations} (one per idempotency key)`);

  if (problems.length > 0) throw new Error(`${problems.length} problem(s):\n- ${problems.slice(0, 20).join("\n- ")}`);
}

/** Every committed version of a journal extends the previous one: a recorded step never changes. */
function checkJournalsGrow(log: MemoryLog, p: number, problems: string[]): void {
  const last = new Map<string, string[]>();
  for (const r of log.partitions(CHANGELOG)[p]!) {
    const key = JSON.parse(r.key!.toString()) as string[];
    if (key[0] !== "jnl") continue;
    const id = key[1]!;
    if (r.value === null) {
      last.delete(id);
      continue;
    }
    const entries = codecs.journal
      .decode(r.value)
      .entries.map((e) => `${e.kind}:${e.name}:${e.value?.toString() ?? ""}:${e.failure?.code ?? ""}`);
    const before = last.get(id) ?? [];
    if (JSON.stringify(entries.slice(0, before.length)) !== JSON.stringify(before)) {
      problems.push(`journal of ${id} rewrote committed entries: ${JSON.stringify(before)} -> ${JSON.stringify(entries)}`);
    }
    last.set(id, entries);
  }
}
