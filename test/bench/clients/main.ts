/**
 * Kafka client benchmark: the same transactional consume→process→produce loop with kafkajs and
 * with @confluentinc/kafka-javascript. `npm run bench -- clients [options]`.
 *
 * Scenarios (each client, several repetitions, medians reported):
 *   latency    1 record per transaction: transaction time (begin → commit acknowledged) p50/p99
 *   tput100    100 records per transaction: records/s
 *   tput1000   1,000 records per transaction: records/s
 *   restart    a private broker (compose/infra/kafka.ts, ports 39092/39093) is killed (SIGKILL)
 *              mid-run and started again; does the loop finish by itself, how long was it
 *              stalled, and did the read_committed output get every input exactly once?
 *
 * Steady-state scenarios use KVO_BOOTSTRAP_SERVERS, else 127.0.0.1:9092 when it answers, else
 * the private broker. The shared broker is never restarted.
 *
 * Options: --reps N (3) --scenarios a,b (all) --clients kafkajs,confluent --private
 *          --restart-mode hard|graceful (hard)
 * Output: one JSON object per scenario and client on stdout; progress and a summary on stderr.
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { InfraPaths } from "../../../compose/infra/service.js";
import { kafkaRoundTrip, kafkaService, type KafkaService } from "../../../compose/infra/kafka.js";
import { startConfluentLoop } from "./confluent-loop.js";
import { startTransportLoop } from "./transport-loop.js";
import { kafkajsLoop } from "./kafkajs-loop.js";
import type { StartLoop } from "./loop.js";
import {
  committedOffset,
  createTopics,
  deleteTopics,
  exactlyOnce,
  fill,
  median,
  percentile,
  readCommittedKeys,
  round,
  sleep,
  uniqueName,
  withTimeout,
  type ExactlyOnce,
} from "./tools.js";

const CLIENTS: Record<string, StartLoop> = {
  kafkajs: kafkajsLoop(),
  "kafkajs-tuned": kafkajsLoop({ initialRetryTime: 20, maxRetryTime: 5000, retries: 10 }),
  confluent: startConfluentLoop,
  "kvo-transport": startTransportLoop,
};
const SCENARIOS = ["latency", "tput100", "tput1000", "restart"] as const;
type Scenario = (typeof SCENARIOS)[number];

const TXN_TIMEOUT_MS = 10_000;
const PRIVATE = { name: "kafka-bench-clients", port: 39092, controllerPort: 39093 };

interface Params {
  recordsPerTxn: number;
  records: number;
  pauseMs?: number;
  /** Transactions excluded from latency percentiles (connection warm-up). */
  warmup: number;
}

const PARAMS: Record<Scenario, Params> = {
  latency: { recordsPerTxn: 1, records: 600, warmup: 50 },
  tput100: { recordsPerTxn: 100, records: 20_000, warmup: 0 },
  tput1000: { recordsPerTxn: 1000, records: 50_000, warmup: 0 },
  restart: { recordsPerTxn: 10, records: 10_000, pauseMs: 5, warmup: 0 },
};

interface RunResult {
  client: string;
  ok: boolean;
  txns: number;
  meanRecordsPerTxn: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  recordsPerSec: number;
  eos: ExactlyOnce;
  errors: Record<string, number>;
  // restart only
  /** SIGKILL/SIGTERM → broker answers a produce/consume round trip again. */
  brokerDownMs?: number;
  /** Longest time without a commit from the kill on. */
  stallMs?: number;
  /** Broker healthy → first commit that ended that longest pause. */
  recoverMs?: number;
}

const log = (msg: string): void => {
  process.stderr.write(`[bench clients] ${msg}\n`);
};

function parseArgs(args: string[]) {
  const get = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const reps = Number(get("--reps") ?? 3);
  const scenarios = (get("--scenarios")?.split(",") ?? [...SCENARIOS]) as Scenario[];
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}`);
  const clients = get("--clients")?.split(",") ?? Object.keys(CLIENTS);
  for (const c of clients) if (!CLIENTS[c]) throw new Error(`unknown client ${c}`);
  const mode = get("--restart-mode") ?? "hard";
  if (mode !== "hard" && mode !== "graceful") throw new Error(`--restart-mode hard|graceful`);
  return { reps, scenarios, clients, forcePrivate: args.includes("--private"), hard: mode === "hard" };
}

function infraPaths(): InfraPaths {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  const stateDir = resolve(process.env.KVO_STATE_DIR ?? join(root, ".kvo"));
  const cacheDir = resolve(process.env.KVO_CACHE_DIR ?? join(stateDir, "cache"));
  return { root, stateDir, cacheDir };
}

function errorKey(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: unknown };
  return `${e?.name ?? "Error"}: ${String(e?.message ?? err).slice(0, 120)}`;
}

async function runOnce(
  client: string,
  scenario: Scenario,
  brokers: string[],
  broker?: { service: KafkaService; paths: InfraPaths; hard: boolean },
): Promise<RunResult> {
  const p = PARAMS[scenario];
  const id = uniqueName(`bench.clients.${client}.${scenario}`);
  const input = `${id}.in`;
  const output = `${id}.out`;
  await createTopics(brokers, [input, output]);
  await fill(brokers, input, p.records);

  const commits: { n: number; start: number; end: number }[] = [];
  const errors: Record<string, number> = {};
  let next = 0;
  const start = CLIENTS[client];
  if (!start) throw new Error(`unknown client ${client}`);
  const loop = await start({
    brokers,
    inputTopic: input,
    outputTopic: output,
    groupId: `${id}.group`,
    transactionalId: `${id}.txn`,
    recordsPerTxn: p.recordsPerTxn,
    transactionTimeoutMs: TXN_TIMEOUT_MS,
    ...(p.pauseMs ? { pauseMs: p.pauseMs } : {}),
    onCommit(n, s, e, nextOffset) {
      commits.push({ n, start: s, end: e });
      next = Math.max(next, nextOffset);
    },
    onError(err) {
      const k = errorKey(err);
      errors[k] = (errors[k] ?? 0) + 1;
    },
  });

  const waitDone = async (deadline: number): Promise<boolean> => {
    while (next < p.records && performance.now() < deadline) await sleep(50);
    return next >= p.records;
  };

  let ok: boolean;
  const extra: Partial<RunResult> = {};
  if (broker) {
    // restart: kill once a fifth of the input is through
    const startDeadline = performance.now() + 60_000;
    while (next < p.records / 5 && performance.now() < startDeadline) await sleep(20);
    const killedAt = performance.now();
    log(`${client}: restarting the private broker (${broker.hard ? "SIGKILL" : "SIGTERM"}) at offset ${next}`);
    await broker.service.restart(broker.paths, { hard: broker.hard, downMs: 2000 });
    const upAt = performance.now();
    ok = await waitDone(upAt + 90_000);
    extra.brokerDownMs = round(upAt - killedAt, 0);
    // the longest pause in commits from the kill on, and when commits resumed after it
    let prev = killedAt;
    let gap = 0;
    let resumedAt: number | undefined;
    for (const c of commits) {
      if (c.end <= killedAt) continue;
      if (c.end - prev > gap) {
        gap = c.end - prev;
        resumedAt = c.end;
      }
      prev = c.end;
    }
    if (ok && resumedAt !== undefined) {
      extra.stallMs = round(gap, 0);
      extra.recoverMs = round(Math.max(0, resumedAt - upAt), 0);
    }
  } else {
    ok = await waitDone(performance.now() + 180_000);
  }
  await withTimeout(loop.stop(), 20_000, undefined);

  // a transaction left open by a stuck producer is aborted by the coordinator after its
  // timeout; committed offsets and the output's LSO wait for that
  const check = async (): Promise<ExactlyOnce> => {
    const committed = await committedOffset(brokers, `${id}.group`, input).catch(() => 0);
    const keys = await readCommittedKeys(brokers, output).catch(() => [] as string[]);
    return exactlyOnce(keys, p.records, committed);
  };
  let eos = await check();
  if (eos.lost > 0 || eos.duplicated > 0 || eos.unprocessed > 0) {
    await sleep(TXN_TIMEOUT_MS + 5000);
    eos = await check();
  }
  await deleteTopics(brokers, [input, output]);

  const measured = commits.slice(Math.min(p.warmup, Math.max(0, commits.length - 1)));
  const lat = measured.map((c) => c.end - c.start).sort((a, b) => a - b);
  const first = measured[0];
  const last = measured[measured.length - 1];
  const recs = measured.reduce((s, c) => s + c.n, 0);
  return {
    client,
    ok,
    txns: commits.length,
    meanRecordsPerTxn: round(commits.reduce((s, c) => s + c.n, 0) / Math.max(1, commits.length), 1),
    meanMs: round(lat.reduce((s, x) => s + x, 0) / Math.max(1, lat.length), 2),
    p50Ms: round(percentile(lat, 50), 2),
    p99Ms: round(percentile(lat, 99), 2),
    recordsPerSec: first && last && last.end > first.start ? round((recs / (last.end - first.start)) * 1000, 0) : 0,
    eos,
    errors,
    ...extra,
  };
}

function summarize(scenario: Scenario, client: string, runs: RunResult[], brokerLabel: string) {
  const p = PARAMS[scenario];
  const base = {
    suite: "clients",
    scenario,
    client,
    broker: brokerLabel,
    records_per_txn: p.recordsPerTxn,
    records: p.records,
    reps: runs.length,
    completed: `${runs.filter((r) => r.ok).length}/${runs.length}`,
    mean_records_per_txn: median(runs.map((r) => r.meanRecordsPerTxn)),
    mean_ms: round(median(runs.map((r) => r.meanMs)), 2),
    p50_ms: round(median(runs.map((r) => r.p50Ms)), 2),
    p99_ms: round(median(runs.map((r) => r.p99Ms)), 2),
    records_per_s: round(median(runs.map((r) => r.recordsPerSec)), 0),
    lost: runs.reduce((s, r) => s + r.eos.lost, 0),
    duplicated: runs.reduce((s, r) => s + r.eos.duplicated, 0),
    unprocessed: runs.reduce((s, r) => s + r.eos.unprocessed, 0),
  };
  const restart =
    scenario === "restart"
      ? {
          recovered: `${runs.filter((r) => r.ok).length}/${runs.length}`,
          broker_down_ms: median(runs.map((r) => r.brokerDownMs ?? Number.NaN)),
          stall_ms: median(runs.map((r) => r.stallMs ?? Number.NaN)),
          recover_ms: median(runs.map((r) => r.recoverMs ?? Number.NaN)),
        }
      : {};
  return { ...base, ...restart, runs };
}

export async function main(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const paths = infraPaths();
  let privateBroker: KafkaService | undefined;
  const needPrivate = async (): Promise<string[]> => {
    if (!privateBroker) {
      privateBroker = kafkaService(PRIVATE);
      log(`starting private broker ${PRIVATE.name} on 127.0.0.1:${PRIVATE.port}`);
      await privateBroker.install(paths);
      await privateBroker.start(paths);
    }
    return [`127.0.0.1:${PRIVATE.port}`];
  };
  const stopPrivate = async (): Promise<void> => {
    if (privateBroker) await privateBroker.stop(paths).catch(() => undefined);
  };
  const onSignal = (): void => {
    void stopPrivate().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  try {
    let steady: string[];
    let label: string;
    const shared = process.env.KVO_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
    if (!opts.forcePrivate && (await kafkaRoundTrip(shared, 15_000))) {
      steady = shared.split(",");
      label = `shared ${shared}`;
    } else if (opts.scenarios.some((s) => s !== "restart")) {
      steady = await needPrivate();
      label = `private ${steady.join(",")}`;
    } else {
      steady = [];
      label = "";
    }
    const summaries: ReturnType<typeof summarize>[] = [];
    for (const scenario of opts.scenarios) {
      const isRestart = scenario === "restart";
      const brokers = isRestart ? await needPrivate() : steady;
      const byClient = new Map<string, RunResult[]>();
      for (let rep = 1; rep <= opts.reps; rep++) {
        for (const client of opts.clients) {
          log(`${scenario} rep ${rep}/${opts.reps} ${client}`);
          const r = await runOnce(
            client,
            scenario,
            brokers,
            isRestart && privateBroker ? { service: privateBroker, paths, hard: opts.hard } : undefined,
          );
          log(
            `  ok=${r.ok} txns=${r.txns} mean=${r.meanMs}ms p50=${r.p50Ms}ms p99=${r.p99Ms}ms ${r.recordsPerSec} rec/s ` +
              `lost=${r.eos.lost} dup=${r.eos.duplicated} unprocessed=${r.eos.unprocessed}` +
              (isRestart ? ` stall=${r.stallMs}ms recover=${r.recoverMs}ms` : ""),
          );
          byClient.set(client, [...(byClient.get(client) ?? []), r]);
        }
      }
      for (const [client, runs] of byClient) {
        const s = summarize(
          scenario,
          client,
          runs,
          isRestart ? `private ${brokers.join(",")} (${opts.hard ? "SIGKILL" : "SIGTERM"})` : label,
        );
        summaries.push(s);
        process.stdout.write(JSON.stringify(s) + "\n");
      }
    }
    log("summary (medians):");
    for (const s of summaries) {
      const { runs: _runs, ...rest } = s;
      log(JSON.stringify(rest));
    }
  } finally {
    await stopPrivate();
  }
}
