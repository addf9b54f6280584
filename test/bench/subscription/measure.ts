/**
 * Measuring one drain of the runtime process: from the first invocation's end until
 * everything is seen committed, with the process's CPU, the broker's and the machine's, its
 * largest RSS and its stats; and the row that reports it.
 */
import { percentile, round } from "../stats.js";
import { brokerPid, busyPercent, cpuSeconds, machineCpu } from "../backlog/proc_stats.js";
import type { Options } from "./options.js";
import type { RuntimeProcess, ChildStats } from "./runtime_process.js";

export const log = (line: string): void => void process.stderr.write(`[subscription] ${line}\n`);

export type Row = Record<string, number | boolean | string>;

/** Rejects with `message` when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const cpuPercent = (before: number | null, after: number | null, secs: number): number =>
  before === null || after === null ? Number.NaN : (100 * (after - before)) / secs;

export interface Drain {
  startupSecs: number;
  secs: number;
  rssMax: number;
  childCpuPct: number;
  brokerCpuPct: number;
  machineBusyPct: number;
  stats: ChildStats;
}

/**
 * Waits for the first invocation to end, then until `drained` resolves (with the
 * performance.now() at which everything was seen committed), and measures in between.
 */
export async function measureDrain(rt: RuntimeProcess, spawnedAt: number, o: Options, drained: () => Promise<number>): Promise<Drain> {
  const first = (await within(
    rt.next("first"),
    o.stallMs,
    `no invocation ended within ${o.stallMs / 1000} s of starting the runtime process (see its stderr above)`,
  )) as { atMs: number };
  const broker = brokerPid();
  const cpuAtFirst = cpuSeconds(rt.pid);
  const brokerCpuAtFirst = broker === null ? null : cpuSeconds(broker);
  const machineAtFirst = machineCpu();
  log(`first invocation ended ${((first.atMs - spawnedAt) / 1000).toFixed(2)} s after spawn; draining`);
  const doneAt = await drained();
  const secs = (performance.timeOrigin + doneAt - first.atMs) / 1000;
  const cpuAtDone = cpuSeconds(rt.pid);
  const brokerCpuAtDone = broker === null ? null : cpuSeconds(broker);
  if (broker !== null && brokerPid() !== broker)
    log(`WARNING: the broker (pid ${broker}) was restarted during the drain; discard this run`);
  const machineAtDone = machineCpu();
  rt.sample();
  const rssMax = rt.rssMax;
  const stats = await rt.stats(true);
  rt.assertHealthy();
  return {
    startupSecs: (first.atMs - spawnedAt) / 1000,
    secs,
    rssMax,
    childCpuPct: cpuPercent(cpuAtFirst, cpuAtDone, secs),
    brokerCpuPct: cpuPercent(brokerCpuAtFirst, brokerCpuAtDone, secs),
    machineBusyPct: busyPercent(machineAtFirst, machineAtDone),
    stats,
  };
}

export function drainRow(scenario: string, o: Options, run: number, d: Drain): Row {
  const sorted = [...d.stats.txnMs].sort((a, b) => a - b);
  return {
    scenario,
    run,
    n: o.records,
    k: o.keys,
    partitions: o.partitions,
    egress: o.egress,
    per_s: round(o.records / d.secs, 0),
    secs: round(d.secs, 2),
    startup_secs: round(d.startupSecs, 2),
    rss_max_mb: round(d.rssMax / 1e6, 0),
    heap_used_at_end_mb: round(d.stats.heapUsedMb, 0),
    heap_live_at_end_mb: round(d.stats.heapLiveMb, 0),
    heap_total_max_mb: round(d.stats.memoryMax.heapTotalMb, 0),
    external_max_mb: round(d.stats.memoryMax.externalMb, 0),
    max_txn_ms: round(d.stats.maxCommitMs, 0),
    p50_txn_ms: round(percentile(sorted, 50), 0),
    commits: d.stats.commits,
    invocations_per_commit: round(d.stats.completed / Math.max(1, d.stats.commits), 0),
    loop_delay_max_ms: round(d.stats.loopDelayMaxMs, 0),
    child_cpu_pct: round(d.childCpuPct, 0),
    broker_cpu_pct: round(d.brokerCpuPct, 0),
    machine_busy_pct: round(d.machineBusyPct, 0),
  };
}
