/** Readers and the run loop of the in-memory crash-at-every-commit tests. */
import { expect } from "vitest";
import { H } from "../../runtime/invocation/headers.js";
import { PartitionState } from "../../runtime/partition/state.js";
import type { Runtime } from "../../runtime/runtime.js";
import { MemoryLog, type CrashPlan, type MemoryTransport } from "./memory_log.js";
import { waitFor } from "./wait.js";

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

/**
 * One run of a crash-at-a-commit scenario on a fresh in-memory log: a process that dies at
 * `crash` (or never, for the baseline) and, if it died, a second one that recovers from the
 * same log, until `finished`. Returns the log and the commits both made.
 */
export async function crashScenario(
  crash: CrashPlan | null,
  o: {
    replies: string;
    newRuntime: (log: MemoryLog, crash: CrashPlan | null) => { runtime: Runtime; transport: MemoryTransport };
    produce: (log: MemoryLog) => void;
    finished: (log: MemoryLog) => boolean;
  },
): Promise<{ log: MemoryLog; commits: number; crashed: boolean }> {
  const log = new MemoryLog();
  log.createTopic(o.replies, 1);
  const first = o.newRuntime(log, crash);
  let crashed = false;
  first.transport.onCrash = () => (crashed = true);
  await first.runtime.start();
  o.produce(log);
  await waitFor(() => crashed || o.finished(log), "first run to finish or crash", 10_000);
  let commits = first.transport.commitCount;
  if (crashed) {
    const second = o.newRuntime(log, null);
    await second.runtime.start();
    await waitFor(() => o.finished(log), "recovery run to finish", 10_000);
    await second.runtime.stop();
    commits += second.transport.commitCount;
  } else {
    await first.runtime.stop();
  }
  return { log, commits, crashed };
}
