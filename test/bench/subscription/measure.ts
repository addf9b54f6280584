/**
 * Measuring one drain of the runtime process: from the first invocation's end until
 * everything is seen committed, with the process's CPU, the broker's and the machine's, its
 * largest RSS and its stats; and the row that reports it.
 */
import { percentile, round } from "../stats.js";
import { openCpuWindow } from "../backlog/proc_stats.js";
import type { Options } from "./options.js";
import type { RuntimeProcess, ChildStats } from "./runtime_process.js";

export const log = (line: string): void => void process.stderr.write(`[subscription] ${line}\n`);

export type Row = Record<string, number | boolean | string>;

export interface Drain {
  startupSecs: number;
  secs: number;
  rssMax: number;
  childCpuPct: number;
  brokerCpuPct: number;
  machineBusyPct: number;
  stats: ChildStats;
  /** The drain window on the monotonic clock, µs (the clock of --cpu-prof samples). */
  windowUs: [number, number];
}

/**
 * Waits for the first invocation to end, then until `drained` resolves (with the
 * performance.now() at which everything was seen committed), and measures in between.
 */
export async function measureDrain(rt: RuntimeProcess, spawnedAt: number, o: Options, drained: () => Promise<number>): Promise<Drain> {
  const first = (await rt.nextWithin("first", o.stallMs, "invocation ended")) as { atMs: number; hrUs: number };
  const cpu = openCpuWindow(rt.pid);
  log(`first invocation ended ${((first.atMs - spawnedAt) / 1000).toFixed(2)} s after spawn; draining`);
  const doneAt = await drained();
  const doneHrUs = Number(process.hrtime.bigint() / 1000n) - (performance.now() - doneAt) * 1000;
  const secs = (performance.timeOrigin + doneAt - first.atMs) / 1000;
  const cpuUse = cpu.close(secs, log);
  rt.sample();
  const rssMax = rt.rssMax;
  const stats = await rt.stats(true);
  rt.assertHealthy();
  return {
    startupSecs: (first.atMs - spawnedAt) / 1000,
    secs,
    rssMax,
    ...cpuUse,
    stats,
    windowUs: [first.hrUs, doneHrUs],
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
    // CPU of the runtime process (all its threads) per record drained, µs
    cpu_us_per_record: round(((d.childCpuPct / 100) * d.secs * 1e6) / o.records, 0),
    broker_cpu_pct: round(d.brokerCpuPct, 0),
    machine_busy_pct: round(d.machineBusyPct, 0),
  };
}
