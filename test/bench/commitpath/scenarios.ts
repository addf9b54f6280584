/**
 * The scenarios of the commit-path benchmark (see main.ts for what each measures): each
 * function runs one repetition on fresh topics and returns one row of figures per scheme.
 */
import { execFile } from "node:child_process";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { percentile, round } from "../stats.js";
import type { CommitSample } from "./committer.js";
import { openFixture, type Fixture } from "./fixture.js";
import { sample, type Resources } from "./resources.js";
import { SCHEMES, layout, type Layout, type SchemeName } from "./schemes.js";
import { takeover, type TakeoverResult } from "./takeover.js";
import { STEPS, concurrent, invoke } from "./workload.js";

/** One repetition's figures; booleans are checks (summarised as "passed/runs"). */
export type Row = Record<string, number | string | boolean>;

export interface ScenarioArgs {
  invocations: number;
  partitions: number;
  inFlight: number;
  seconds: number;
}

const log = (msg: string): void => {
  process.stderr.write(`[bench commitpath] ${msg}\n`);
};

export const r2 = (x: number): number => round(x, 2);
const sortAsc = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN);
const range = (n: number): number[] => Array.from({ length: n }, (_, p) => p);

/** Opens a fixture, runs fn, always closes it. */
async function withFixture<T>(brokers: string[], label: string, partitions: number, fn: (f: Fixture) => Promise<T>): Promise<T> {
  const f = await openFixture(brokers, label, partitions);
  try {
    return await fn(f);
  } finally {
    await f.close();
  }
}

/** The schemes in the order of round `i` (alternating, so neither always runs first). */
export const order = (i: number): SchemeName[] => (i % 2 ? [...SCHEMES].reverse() : [...SCHEMES]);

function txnStats(samples: CommitSample[]) {
  const step = sortAsc(samples.filter((s) => s.offsetPartitions === 0).map((s) => s.ms));
  const offsets = sortAsc(samples.filter((s) => s.offsetPartitions > 0).map((s) => s.ms));
  return {
    txns: samples.length,
    txns_with_offsets: offsets.length,
    step_only_txn_p50_ms: r2(percentile(step, 50)),
    step_only_txn_mean_ms: r2(mean(step)),
    with_offsets_txn_p50_ms: r2(percentile(offsets, 50)),
    with_offsets_txn_mean_ms: r2(mean(offsets)),
    records_per_txn: r2(samples.reduce((s, x) => s + x.records, 0) / Math.max(1, samples.length)),
  };
}

/** What `count` producers cost a fresh process (memory-child.ts). */
function memoryProbe(brokers: string[], topic: string, prefix: string, count: number): Promise<Row> {
  const child = fileURLToPath(new URL("./memory-child.ts", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", "tsx", child, brokers.join(","), topic, prefix, String(count)],
      { timeout: 120_000, env: { ...process.env, NODE_OPTIONS: "--expose-gc" } },
      (err, stdout, stderr) => {
        const line = stdout.split("\n").find((l) => l.startsWith("{"));
        if (err || !line) reject(new Error(`memory probe (${count} producers) failed: ${err?.message ?? ""} ${stderr.slice(-500)}`));
        else resolve(JSON.parse(line) as Row);
      },
    );
  });
}

/**
 * Both schemes at once, each on its own fixture, invocations alternating A, B, A, B... (the
 * first of each pair alternating too), so that both see the same load of this shared machine.
 */
export async function seqRun(brokers: string[], a: ScenarioArgs): Promise<Map<SchemeName, Row>> {
  return withFixture(brokers, "seq-A", 1, (fa) =>
    withFixture(brokers, "seq-B", 1, async (fb) => {
      const layouts = new Map<SchemeName, { l: Layout; f: Fixture; lat: number[] }>([
        ["A", { l: layout("A", fa, [0]), f: fa, lat: [] }],
        ["B", { l: layout("B", fb, [0]), f: fb, lat: [] }],
      ]);
      const warmup = 20;
      const load0 = loadavg()[0] ?? Number.NaN;
      for (let i = 0; i < warmup + a.invocations; i++) {
        for (const scheme of order(i)) {
          const s = layouts.get(scheme);
          if (!s) continue;
          const t0 = performance.now();
          await invoke(s.l, s.f.changelog, 0, i);
          if (i >= warmup) s.lat.push(performance.now() - t0);
        }
      }
      const load = r2(((loadavg()[0] ?? Number.NaN) + load0) / 2);
      const rows = new Map<SchemeName, Row>();
      for (const [scheme, s] of layouts) {
        const lat = sortAsc(s.lat);
        const samples = s.l.committers.flatMap((c) => c.samples).slice(warmup * (STEPS + 1));
        rows.set(scheme, {
          invocations: lat.length,
          p50_ms: r2(percentile(lat, 50)),
          p99_ms: r2(percentile(lat, 99)),
          mean_ms: r2(mean(lat)),
          ...txnStats(samples),
          load_avg_1m: load,
        });
      }
      return rows;
    }),
  );
}

/**
 * One producer, one record per transaction, kinds in blocks of RAW_BLOCK transactions
 * (rotating), the first of each block not counted: a transaction that follows one with
 * offsets can wait for that one's markers (CONCURRENT_TRANSACTIONS), so each kind is measured
 * after transactions of its own kind, as in a long run of that kind.
 */
export const RAW_BLOCK = 10;

export async function rawRun(brokers: string[], a: ScenarioArgs) {
  return withFixture(brokers, "raw", a.partitions, async (f) => {
    const producer = f.producer("raw");
    const all = range(a.partitions);
    const kinds: [string, number[]][] = [
      ["step_only", []],
      ["offsets_1", [0]],
      [`offsets_${a.partitions}`, all],
    ];
    const times = new Map<string, number[]>(kinds.map(([k]) => [k, []]));
    const blocks = Math.ceil(a.invocations / (RAW_BLOCK - 1)) + 1;
    let n = 0;
    for (let block = 0; block < blocks; block++) {
      for (const [kind, partitions] of kinds) {
        for (let i = 0; i < RAW_BLOCK; i++) {
          n++;
          const t0 = performance.now();
          await producer.commit({
            records: [{ topic: f.changelog, partition: 0, key: Buffer.from(`${kind}-${n}`), value: Buffer.alloc(160, 0x61) }],
            offsets: new Map(partitions.map((p) => [p, BigInt(n)])),
          });
          // block 0 warms the producer up
          if (block > 0 && i > 0) times.get(kind)?.push(performance.now() - t0);
        }
      }
    }
    const out: Record<string, number> = { load_avg_1m: r2(loadavg()[0] ?? Number.NaN) };
    for (const [kind, t] of times) {
      const s = sortAsc(t);
      out[`${kind}_p50_ms`] = r2(percentile(s, 50));
      out[`${kind}_p99_ms`] = r2(percentile(s, 99));
      out[`${kind}_mean_ms`] = r2(mean(s));
    }
    return out;
  });
}

function brokerPort(brokers: string[]): number {
  const port = Number(brokers[0]?.split(":").pop());
  if (!Number.isInteger(port)) throw new Error(`cannot tell the broker port of "${brokers[0] ?? ""}"`);
  return port;
}

export async function tputRun(brokers: string[], scheme: SchemeName, a: ScenarioArgs) {
  return withFixture(brokers, `tput-${scheme}`, a.partitions, async (f) => {
    const owned = range(a.partitions);
    const port = brokerPort(brokers);
    const before = sample(port);
    const l: Layout = layout(scheme, f, owned);
    let during: Resources = before;
    let samplesAtWindowStart = 0;
    setTimeout(() => (samplesAtWindowStart = l.committers.reduce((s, c) => s + c.samples.length, 0)), 3000).unref();
    const res = await concurrent(l, f.changelog, owned, a.inFlight, 3000, a.seconds * 1000, () => (during = sample(port)));
    await Promise.all(l.committers.map((c) => c.drain()));
    // every partition's consumed offset reached the group, through either scheme
    let offsetsCommitted = true;
    for (const c of l.committers) {
      for (const [p, next] of c.positions) {
        const got = await f.group.committedOffset(p);
        if (got !== next) {
          offsetsCommitted = false;
          log(`  ${scheme}: partition ${p} committed offset ${String(got)}, expected ${next}`);
        }
      }
    }
    const samples = l.committers.flatMap((c) => c.samples);
    const windowTxns = Math.max(0, samples.length - samplesAtWindowStart);
    return {
      invocations_per_s: r2(res.completed / res.seconds),
      p50_ms: r2(percentile(res.latencies, 50)),
      p99_ms: r2(percentile(res.latencies, 99)),
      txns_per_s: r2(windowTxns / res.seconds),
      ...txnStats(samples),
      producers: l.producers.length,
      broker_connections: during.brokerConnections,
      broker_connections_added: during.brokerConnections - before.brokerConnections,
      threads: during.threads,
      threads_added: during.threads - before.threads,
      rss_mb: during.rssMb,
      rss_added_mb: r2(during.rssMb - before.rssMb),
      offsets_committed: offsetsCommitted,
      load_avg_1m: r2(loadavg()[0] ?? Number.NaN),
    };
  });
}

export async function takeoverRun(brokers: string[], a: ScenarioArgs): Promise<Row> {
  return withFixture(brokers, "takeover", a.partitions, async (f) => {
    const t: TakeoverResult = await takeover(f);
    const one = await memoryProbe(brokers, f.changelog, `${f.id}.mem1`, 1);
    const many = await memoryProbe(brokers, f.changelog, `${f.id}.mem${a.partitions}`, a.partitions);
    return {
      A_open_producer_ms: r2(t.openOneMs),
      B_open_all_producers_ms: r2(t.openAllMs),
      B_open_each_producer_p50_ms: r2(t.openEachP50Ms),
      B_close_all_producers_ms: r2(t.closeAllMs),
      B_takeover_with_open_zombie_txn_ms: r2(t.takeoverMs),
      zombie_commit: t.zombieCommit,
      zombie_record_invisible: t.zombieInvisible,
      owner_record_visible: t.ownerVisible,
      rss_1_producer_mb: Number(one.rss_added_mb),
      [`rss_${a.partitions}_producers_mb`]: Number(many.rss_added_mb),
      threads_1_producer: Number(one.threads_added),
      [`threads_${a.partitions}_producers`]: Number(many.threads_added),
      connections_1_producer: Number(one.broker_connections_added),
      [`connections_${a.partitions}_producers`]: Number(many.broker_connections_added),
      load_avg_1m: r2(loadavg()[0] ?? Number.NaN),
    };
  });
}
