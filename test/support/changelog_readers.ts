import { expect } from "vitest";
import { H } from "../../runtime/invocation/headers.js";
import { PartitionState } from "../../runtime/partition/state.js";
import type { MemoryLog } from "./memory_log.js";

/** Replies written to `topic` of an in-memory log: correlation id, status, decoded value. */
export function repliesIn(log: MemoryLog, topic: string): Array<{ corr: string; status: string; value: unknown }> {
  return log
    .partitions(topic)
    .flat()
    .map((r) => ({
      corr: r.headers[H.correlationId]!.toString(),
      status: r.headers[H.status]!.toString(),
      value: r.value && r.value.length ? (JSON.parse(r.value.toString()) as unknown) : undefined,
    }));
}

/**
 * Every object's state ("Target/key.name" → value) after compaction of a changelog, checking
 * that nothing is left in flight (invocations, journals, timers): the end state of a finished run.
 */
export function settledStateOf(log: MemoryLog, changelog: string, partitions: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let p = 0; p < partitions; p++) {
    const state = new PartitionState();
    for (const [k, v] of log.compacted(changelog, p)) state.apply(k, v);
    expect(state.invocations.size, "no invocation left in flight").toBe(0);
    expect(state.journals.size, "no journal left behind").toBe(0);
    expect(state.timers.size, "no timer left behind").toBe(0);
    for (const [id, names] of state.objects) for (const [name, v] of names) out[`${id}.${name}`] = JSON.parse(v.toString());
  }
  return out;
}
