/**
 * Backlog benchmark: `npm run bench -- backlog [options]`.
 *
 * How fast one runtime process drains a backlog, and what it costs in memory and transaction
 * size. N invocation records over K keys are written to `<app>.invocations` first (KVO's
 * record format, the Kafka Streams peer's keys and values); then a runtime process (app.ts,
 * hosting the state-only `Device.record` of device.ts, `partitions` 6 as the peer, every
 * other runtime option at its default) starts and drains them.
 *
 *   per_s        N / secs; secs runs from the first invocation's end to the moment the app's
 *                committed offsets cover all N records (as the peer measures)
 *   rss_max_mb   largest RSS of the runtime process, sampled every 200 ms from /proc
 *                (heap_used_at_end_mb: its JS heap when drained; heap_live_at_end_mb: the
 *                same after a forced GC, i.e. what is still reachable)
 *   max_txn_ms   longest transaction ("commit.done" durationMs); p50_txn_ms likewise;
 *                first_txn_ms is the first one, which includes opening the producer
 *                (initTransactions), max_later_txn_ms the longest of the others
 *   loop_delay_max_ms, loop_delay_p99_ms  event-loop delay of the runtime process; a
 *                commit's duration includes it (its completion is a callback too)
 *   invocations_per_commit, commits, max_txn_records (records written by one transaction)
 *   child_cpu_pct, broker_cpu_pct  CPU the runtime process and the broker (when infra:up
 *                started it) used during the drain, 100 = one core; machine_busy_pct: all
 *                cores, 100 = all busy (the broker and others share the machine)
 * Afterwards (untimed) the changelog is read back with the runtime's restore path and every
 * key's n, sum, last and alerts are compared with what was produced ("exact").
 *
 * Options (N and K also from KVO_BENCH_BACKLOG_N / KVO_BENCH_BACKLOG_K):
 *   --n N (1000000)  --k K (10000)  --runs R (1; medians of R runs)  --partitions P (6)
 *   --peer             also run ../shared/peers/kafka-streams/run.sh N K (R times) and print
 *                      {"scenario":"backlog-vs-kafka-streams", kvo_per_s, kafka_streams_per_s, ratio, ...}
 *   --cpu-prof [dir]   run the runtime under `node --cpu-prof` (default dir .kvo/profiles/backlog-<time>)
 *                      and print the top self-time functions during the drain (profiling slows it)
 *   --runtime-options JSON  merged into createRuntime's options (e.g. transaction caps)
 *   --stall-timeout S (300)  fail when no offset was committed for S seconds
 *   --keep             keep the run's topics (deleted by default)
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createRuntime } from "../../../connectors/create_runtime.js";
import { createKafkaTransport } from "../../../connectors/kafka/transport.js";
import type { TopicNames } from "../../../runtime/runtime.js";
import { benchBrokers } from "../brokers.js";
import { medianRows, percentile, round } from "../stats.js";
import { reportCpuProfile } from "./cpu_profile.js";
import { device } from "./device.js";
import { DrainWatch } from "./drain_watch.js";
import { parseArgs, type Options } from "./options.js";
import { compareWithKafkaStreams } from "./peer.js";
import { openCpuWindow } from "./proc_stats.js";
import { produceBacklog } from "./produce.js";
import { RuntimeProcess, type ChildStats } from "./runtime_process.js";
import { verifyChangelog, type Verdict } from "./verify.js";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const log = (line: string): void => void process.stderr.write(`[backlog] ${line}\n`);
const print = (row: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(row) + "\n");

/**
 * Creates the app's topics exactly as the runtime process will (its own topic specs, with the
 * same --runtime-options) and returns their names.
 */
async function createTopics(brokers: string[], app: string, o: Options): Promise<TopicNames> {
  const extra = o.runtimeOptions ? (JSON.parse(o.runtimeOptions) as Record<string, unknown>) : {};
  const runtime = createRuntime({ app, objects: [device], partitions: o.partitions, ...extra, kafka: { brokers }, logger: quiet });
  const transport = createKafkaTransport({
    brokers,
    clientId: "kvo-bench-backlog-setup",
    groupId: app,
    inputTopic: runtime.topics.invocations,
    changelogTopic: runtime.topics.changelog,
    transactionalId: "kvo-bench-backlog-setup-unused",
    logger: quiet,
  });
  try {
    await transport.ensureTopics(runtime.topicSpecs());
  } finally {
    await transport.stop();
  }
  return runtime.topics;
}

type Row = Record<string, number | boolean | string>;

interface Drain {
  /** Spawn → first invocation ended, s. */
  startupSecs: number;
  /** First invocation ended → all offsets committed, s. */
  secs: number;
  /** The drain window on the monotonic clock, µs (the clock of --cpu-prof samples). */
  windowUs: [number, number];
  /** CPU used during the drain by the runtime process and by the broker (100 = one core). */
  childCpuPct: number;
  brokerCpuPct: number;
  machineBusyPct: number;
  stats: ChildStats;
}

/** Waits until the runtime process has drained the backlog and measures the drain. */
async function measureDrain(
  rt: RuntimeProcess,
  spawnedAt: number,
  watch: DrainWatch,
  app: string,
  input: string,
  ends: Map<number, bigint>,
  o: Options,
): Promise<Drain> {
  const first = (await rt.nextWithin("first", o.stallMs, "invocation ended")) as { atMs: number; hrUs: number };
  const cpu = openCpuWindow(rt.pid);
  log(`first invocation ended ${((first.atMs - spawnedAt) / 1000).toFixed(2)} s after spawn; draining`);

  const doneAt = await watch.untilCommitted(app, input, ends, () => rt.assertAlive(), o.stallMs);
  const doneHrUs = Number(process.hrtime.bigint() / 1000n) - (performance.now() - doneAt) * 1000;
  const secs = (performance.timeOrigin + doneAt - first.atMs) / 1000;
  const cpuUse = cpu.close(secs, log);
  rt.sample();
  const stats = await rt.stats();
  return {
    startupSecs: (first.atMs - spawnedAt) / 1000,
    secs,
    windowUs: [first.hrUs, doneHrUs],
    ...cpuUse,
    stats,
  };
}

/** A number from the child's JSON (NaN, which JSON turns into null, comes back as NaN). */
const num = (x: unknown): number => (typeof x === "number" ? x : Number.NaN);

function toRow(o: Options, run: number, d: Drain, rssMax: number, verdict: Verdict): Row {
  const { stats } = d;
  const sorted = [...stats.txnMs].sort((a, b) => a - b);
  const row: Row = {
    scenario: "backlog-run",
    run,
    n: o.records,
    k: o.keys,
    partitions: o.partitions,
    per_s: round(o.records / d.secs, 0),
    secs: round(d.secs, 2),
    startup_secs: round(d.startupSecs, 2),
    rss_max_mb: round(rssMax / 1e6, 0),
    heap_used_at_end_mb: round(num(stats.heapUsedMb), 0),
    heap_live_at_end_mb: round(num(stats.heapLiveMb), 0),
    max_txn_ms: round(sorted[sorted.length - 1] ?? Number.NaN, 0),
    p50_txn_ms: round(percentile(sorted, 50), 0),
    // the first commit's duration includes connecting the producer and initTransactions
    first_txn_ms: round(stats.txnMs[0] ?? Number.NaN, 0),
    max_later_txn_ms: round(stats.txnMs.length > 1 ? stats.txnMs.slice(1).reduce((a, b) => Math.max(a, b)) : Number.NaN, 0),
    loop_delay_max_ms: round(num(stats.loopDelayMaxMs), 0),
    loop_delay_p99_ms: round(num(stats.loopDelayP99Ms), 0),
    invocations_per_commit: round(stats.completed / Math.max(1, stats.commits), 0),
    commits: stats.commits,
    max_txn_records: stats.maxTxnRecords,
    commit_retries: stats.commitRetries,
    failed: stats.failed,
    child_cpu_pct: round(d.childCpuPct, 0),
    broker_cpu_pct: round(d.brokerCpuPct, 0),
    machine_busy_pct: round(d.machineBusyPct, 0),
    changelog_records: verdict.changelogRecords,
    exact: verdict.exact,
  };
  if (stats.completed !== o.records) row.completed = stats.completed;
  if (!verdict.exact) row.problems = verdict.problems.join("; ");
  if (o.runtimeOptions) row.runtime_options = o.runtimeOptions;
  return row;
}

async function runOnce(brokers: string[], o: Options, run: number, watch: DrainWatch): Promise<Row> {
  const app = `bench-backlog-${Date.now().toString(36)}-${run}`;
  let topics: TopicNames | null = null;
  let runtime: RuntimeProcess | null = null;
  try {
    topics = await createTopics(brokers, app, o);
    const input = topics.invocations;
    log(`run ${run}: producing ${o.records} records over ${o.keys} keys to ${input}`);
    const produced = await produceBacklog(brokers, input, o.records, o.keys);
    const ends = await watch.endOffsets(input);
    const onTopic = [...ends.values()].reduce((a, b) => a + b, 0n);
    if (onTopic !== BigInt(o.records)) throw new Error(`${input} holds ${onTopic} records after producing ${o.records}`);
    log(`run ${run}: produced in ${produced.seconds.toFixed(1)} s (${Math.round(o.records / produced.seconds)}/s); starting the runtime`);

    const profDir = o.cpuProfDir ? join(o.cpuProfDir, `run-${run}`) : undefined;
    if (profDir) mkdirSync(profDir, { recursive: true });
    const spawnedAt = performance.timeOrigin + performance.now();
    runtime = new RuntimeProcess({
      app,
      brokers,
      partitions: o.partitions,
      runtimeOptions: o.runtimeOptions,
      ...(profDir && { cpuProfDir: profDir }),
    });
    const drain = await measureDrain(runtime, spawnedAt, watch, app, input, ends, o);
    log(`run ${run}: drained in ${drain.secs.toFixed(2)} s; stopping the runtime`);
    await runtime.stop();

    const verdict = await verifyChangelog({ brokers, app, topics, partitions: o.partitions }, produced.expected);
    log(
      `run ${run}: changelog read back in ${verdict.seconds.toFixed(1)} s (${verdict.changelogRecords} records): ${verdict.exact ? "exact" : `NOT EXACT: ${verdict.problems.join("; ")}`}`,
    );
    if (profDir)
      reportCpuProfile(
        { dir: profDir, pid: runtime.pid, windowUs: drain.windowUs },
        { scenario: "backlog-cpu-profile", run, top: 15 },
        log,
      );
    return toRow(o, run, drain, runtime.rssMax, verdict);
  } finally {
    await runtime?.stop();
    if (topics && !o.keep) await watch.cleanup([topics.invocations, topics.changelog, topics.dlq], app);
  }
}

export async function main(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const brokers = await benchBrokers();
  const watch = await DrainWatch.connect(brokers);
  const rows: Row[] = [];
  try {
    for (let run = 1; run <= o.runs; run++) {
      const row = await runOnce(brokers, o, run, watch);
      if (o.runs > 1) print(row);
      else log(JSON.stringify(row));
      rows.push(row);
    }
  } finally {
    await watch.close();
  }
  const kvo: Row = { scenario: "backlog", runs: rows.length, ...medianRows(rows) };
  print(kvo);

  if (o.peer) {
    const comparison = await compareWithKafkaStreams(brokers, "backlog-vs-kafka-streams", o, kvo.per_s as number, { log, print });
    print({
      ...comparison,
      rss_max_mb: kvo.rss_max_mb!,
      max_txn_ms: kvo.max_txn_ms!,
    });
  }
  if (!rows.every((r) => r.exact === true)) throw new Error("the drained state is not exact (see the problems above)");
}
