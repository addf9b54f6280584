/**
 * The scenarios of one run (see main.ts): "direct" (invocations written straight to
 * `<app>.invocations`), "subscription" (readings on a source topic, relayed), and the latency
 * phase either can end with. Each has its own app, topics and runtime process, all removed
 * afterwards unless --keep.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { KafkaJS } from "@confluentinc/kafka-javascript";
import { percentile, round } from "../stats.js";
import type { DrainWatch } from "../backlog/drain_watch.js";
import { AlertsReader } from "./alerts_reader.js";
import { checkAlerts, checkRuntime } from "./checks.js";
import { drainRow, log, measureDrain, type Row } from "./measure.js";
import type { Options } from "./options.js";
import { produceInvocations, producePaced, produceReadings, type PacedTarget } from "./produce.js";
import { reportCpuProfile } from "../backlog/cpu_profile.js";
import { RuntimeProcess, type ChildStats } from "./runtime_process.js";
import { allTopics, createScenarioTopics, type ScenarioTopics } from "./topics.js";
import { ReadingSource } from "./workload.js";

const nowMs = (): number => performance.timeOrigin + performance.now();

/** The subscription's name in every run (its relay's consumer group is `<app>.sub.<name>`). */
const SUBSCRIPTION = "readings";

export class Scenario {
  runtime: RuntimeProcess | null = null;
  topics: ScenarioTopics | null = null;
  constructor(
    readonly app: string,
    readonly brokers: string[],
    readonly o: Options,
    readonly watch: DrainWatch,
    readonly admin: KafkaJS.Admin,
  ) {}

  /** @param cpuProfDir when set, the runtime runs under `node --cpu-prof` writing there */
  spawn(env: Record<string, string>, cpuProfDir?: string): RuntimeProcess {
    this.runtime = new RuntimeProcess(
      {
        KVO_APP: this.app,
        KVO_BOOTSTRAP_SERVERS: this.brokers.join(","),
        KVO_PARTITIONS: String(this.o.partitions),
        KVO_BENCH_ALERTS_TOPIC: this.topics!.alerts,
        KVO_BENCH_EGRESS: this.o.egress,
        ...(this.o.runtimeOptions && { KVO_BENCH_RUNTIME_OPTIONS: this.o.runtimeOptions }),
        ...env,
      },
      cpuProfDir,
    );
    return this.runtime;
  }

  async cleanup(): Promise<void> {
    await this.runtime?.stop();
    if (!this.topics || this.o.keep) return;
    await this.admin.deleteGroups([`${this.app}.sub.${SUBSCRIPTION}`]).catch(() => undefined);
    await this.watch.cleanup(allTopics(this.topics), this.app);
  }
}

/** The same readings written straight to `<app>.invocations` and drained: no subscription. */
export async function runDirect(s: Scenario, run: number): Promise<Row> {
  const { o, brokers, watch } = s;
  try {
    const topics = (s.topics = await createScenarioTopics(brokers, s.app, o.partitions, o.runtimeOptions));
    const source = new ReadingSource(o.keys);
    log(`run ${run} direct: producing ${o.records} invocations to ${topics.app.invocations}`);
    const producedSecs = await produceInvocations(brokers, topics.app.invocations, source, o.records);
    const ends = await watch.endOffsets(topics.app.invocations);
    log(`run ${run} direct: produced in ${producedSecs.toFixed(1)} s; starting the runtime`);
    const rt = s.spawn({});
    const drain = await measureDrain(rt, nowMs(), o, () =>
      watch.untilCommitted(s.app, topics.app.invocations, ends, () => rt.assertHealthy(), o.stallMs),
    );
    log(`run ${run} direct: drained in ${drain.secs.toFixed(2)} s`);
    const row = drainRow("subscription-direct-run", o, run, drain);
    const reader = await AlertsReader.start(brokers, topics.alerts, o.partitions, o.egress);
    let problems: string[];
    try {
      problems = await checkAlerts(reader, source, 60_000);
      if (o.directE2e && o.e2eSeconds > 0 && problems.length === 0) {
        const e2e = await latencyPhase(s, rt, reader, source, { kind: "invocations", topic: topics.app.invocations }, `run ${run} direct`);
        Object.assign(row, e2e.fields);
        problems.push(...e2e.problems);
      }
    } finally {
      await reader.close();
    }
    const final = await rt.stats();
    await rt.stop();
    problems.push(...(await checkRuntime(brokers, s.app, topics, o, source, final)));
    return finishRow(row, final, source, problems);
  } finally {
    await s.cleanup();
  }
}

/**
 * The latency phase on a running runtime process: readings at a steady rate, then every alert
 * read back. Returns the row's e2e_* fields.
 */
async function latencyPhase(
  s: Scenario,
  rt: RuntimeProcess,
  reader: AlertsReader,
  source: ReadingSource,
  target: PacedTarget,
  label: string,
): Promise<{ fields: Row; problems: string[] }> {
  const { o } = s;
  const txnsBefore = (await rt.stats()).txnMs.length;
  reader.latencyFromMs = Date.now();
  log(`${label} latency phase: ${o.rate} readings/s for ${o.e2eSeconds} s`);
  const paced = await producePaced(s.brokers, target, source, o.rate, o.e2eSeconds);
  const problems = await checkAlerts(reader, source, 60_000);
  const after = await rt.stats();
  const latencies = [...reader.latenciesMs].sort((a, b) => a - b);
  const phaseTxns = after.txnMs.slice(txnsBefore).sort((a, b) => a - b);
  const fields: Row = {
    e2e_rate: o.rate,
    e2e_achieved_per_s: round(paced.achievedPerS, 0),
    e2e_p50_ms: round(percentile(latencies, 50), 1),
    e2e_p99_ms: round(percentile(latencies, 99), 1),
    e2e_max_ms: round(latencies[latencies.length - 1] ?? Number.NaN, 1),
    e2e_samples: latencies.length,
    // from the last reading acknowledged to the last alert read: about one latency when the
    // process keeps up with the rate; when it does not, the backlog it built up, and the
    // percentiles above then grow with --e2e-seconds (queueing, not steady-state latency)
    e2e_tail_s: round((reader.lastReadAtMs - paced.doneAtMs) / 1000, 2),
    e2e_p50_txn_ms: round(percentile(phaseTxns, 50), 0),
    e2e_max_txn_ms: round(phaseTxns[phaseTxns.length - 1] ?? Number.NaN, 0),
    e2e_rss_max_mb: round(rt.rssMax / 1e6, 0),
  };
  return { fields, problems };
}

/** Readings on the source topic drained through the subscription, then the latency phase. */
export async function runSubscription(s: Scenario, run: number): Promise<Row> {
  const { o, brokers, watch } = s;
  let reader: AlertsReader | null = null;
  try {
    const topics = (s.topics = await createScenarioTopics(brokers, s.app, o.partitions, o.runtimeOptions));
    const source = new ReadingSource(o.keys);
    log(`run ${run} subscription: producing ${o.records} Avro readings over ${o.keys} devices to ${topics.source}`);
    const producedSecs = await produceReadings(brokers, topics.source, source, o.records);
    const sourceEnds = await watch.endOffsets(topics.source);
    log(
      `run ${run} subscription: produced in ${producedSecs.toFixed(1)} s (${Math.round(o.records / producedSecs)}/s); starting the runtime`,
    );
    const profDir = o.cpuProfDir ? join(o.cpuProfDir, `run-${run}`) : undefined;
    if (profDir) mkdirSync(profDir, { recursive: true });
    const rt = s.spawn({ KVO_BENCH_SOURCE_TOPIC: topics.source, KVO_BENCH_SUBSCRIPTION: SUBSCRIPTION }, profDir);
    const check = (): void => rt.assertHealthy();
    let relayDoneAt = Number.NaN;
    let doneAt = Number.NaN;
    const drain = await measureDrain(rt, nowMs(), o, async () => {
      // 1. the relay has committed every source record (each as one invocation record)
      relayDoneAt = await watch.untilCommitted(`${s.app}.sub.${SUBSCRIPTION}`, topics.source, sourceEnds, check, o.stallMs);
      // 2. the runtime has committed all of them. Only the relay's transactions write to
      // `<app>.invocations`, so each partition ends with a commit marker, which takes an
      // offset but is no record: the runtime's committed offset (last record + 1) reaches
      // the end offset - 1. (checkRuntime also checks that N invocations completed.)
      const ends = await watch.endOffsets(topics.app.invocations);
      const lastRecordEnds = new Map([...ends].map(([p, end]) => [p, end > 0n ? end - 1n : 0n]));
      doneAt = await watch.untilCommitted(s.app, topics.app.invocations, lastRecordEnds, check, o.stallMs);
      return doneAt;
    });
    log(`run ${run} subscription: drained in ${drain.secs.toFixed(2)} s`);
    const row = drainRow("subscription-run", o, run, drain);
    // when the relay had committed every source record (the processors drain behind it)
    row.relay_secs = round(drain.secs - (doneAt - relayDoneAt) / 1000, 2);
    const sub = drain.stats.subscriptions?.[0];
    if (sub) row.skipped_duplicates = sub.skippedDuplicates;

    // the alerts of the drain, then the latency phase on the same (warm) runtime process
    reader = await AlertsReader.start(brokers, topics.alerts, o.partitions, o.egress);
    const problems = await checkAlerts(reader, source, 60_000);
    if (o.e2eSeconds > 0 && problems.length === 0) {
      const e2e = await latencyPhase(s, rt, reader, source, { kind: "source", topic: topics.source }, `run ${run} subscription`);
      Object.assign(row, e2e.fields);
      problems.push(...e2e.problems);
    }
    await reader.close();
    reader = null;
    const final = await rt.stats();
    await rt.stop();
    // the profile is written when the process exits; the window is the drain (not the latency phase)
    if (profDir)
      reportCpuProfile(
        { dir: profDir, pid: rt.pid, windowUs: drain.windowUs },
        { scenario: "subscription-cpu-profile", run, top: 25 },
        log,
      );
    problems.push(...(await checkRuntime(brokers, s.app, topics, o, source, final)));
    return finishRow(row, final, source, problems);
  } finally {
    await reader?.close();
    await s.cleanup();
  }
}

/** The fields every scenario row ends with: relay counters (subscription only), checks, verdict. */
function finishRow(row: Row, final: ChildStats, source: ReadingSource, problems: string[]): Row {
  const relay = final.subscriptions?.[0];
  if (relay) {
    // records relayed again after an aborted relay transaction (0 in a smooth run)
    row.relayed_again = relay.relayed - source.drawn;
    row.relay_commit_retries = Number(relay.commitRetries ?? 0);
    row.relay_commits = Number(relay.commits ?? 0);
    row.relay_max_txn_ms = Math.round(Number(relay.maxCommitMs ?? 0));
  }
  row.fenced = final.fenced;
  row.readings = source.drawn;
  row.alerts = source.totalAlerts;
  row.exact = problems.length === 0;
  if (problems.length > 0) row.problems = problems.slice(0, 5).join("; ");
  return row;
}
