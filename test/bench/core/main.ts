/**
 * Core benchmark: `npm run bench -- core [--reps N]`.
 *
 * A runtime process hosts `Bench` (test/bench/core/app.ts); this process invokes it through
 * the Kafka client (produce to `<app>.invocations`, outcome on a reply topic) and measures
 * send → outcome. Scenarios, each repeated (default 3) and reported as medians:
 *   core-3step  add: three ctx.run steps + one state update
 *   core-0step  bump: one state update
 * with sequential calls (500 over 50 keys) and 64 in flight (5,000 over 1,000 keys), the
 * same shapes as the Restate peer (../shared/peers/restate). In the same run it measures the
 * raw commit time of a one-record Kafka transaction on the same broker (the floor of KVO's
 * latency) and reports the ratio.
 *
 * `--peer` also runs the Restate peer (../shared/peers/restate/run.sh) after KVO, in the same
 * run, and prints its lines plus KVO/Restate ratios ("scenario":"vs-restate-…").
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { KafkaJS } from "@confluentinc/kafka-javascript";
import { KvoClient } from "../../../connectors/client/kafka_client.js";
import { ensureInfra } from "../../../compose/infra/infra.js";
import { median, percentile, round as roundTo } from "../stats.js";

interface Stats {
  commits: number;
  completed: number;
}

let brokers = (process.env.KVO_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092").split(",");

const round = (x: number) => roundTo(x, 2);

class RuntimeProcess {
  private readonly child: ChildProcess;
  private readonly lines: Array<(l: Record<string, unknown>) => boolean> = [];

  constructor(app: string) {
    this.child = spawn(process.execPath, ["--import", "tsx", new URL("./app.ts", import.meta.url).pathname], {
      env: { ...process.env, KVO_APP: app, KVO_BOOTSTRAP_SERVERS: brokers.join(",") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      for (let i = 0; i < this.lines.length; i++) if (this.lines[i]!(event)) this.lines.splice(i--, 1);
    });
  }

  next(kind: string): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.lines.push((e) => (e.event === kind ? (resolve(e), true) : false)));
  }

  async stats(): Promise<Stats> {
    const got = this.next("stats");
    this.child.kill("SIGUSR2");
    return (await got) as unknown as Stats;
  }

  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    this.child.kill("SIGKILL");
  }
}

async function load(
  client: KvoClient,
  handler: string,
  inFlight: number,
  calls: number,
  keys: number,
): Promise<{ latencies: number[]; perSecond: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= calls) return;
      const t0 = performance.now();
      await client.call("Bench", `k${i % keys}`, handler, 1);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { latencies: latencies.sort((a, b) => a - b), perSecond: calls / seconds };
}

/** p50 of begin → send one record → commit, on the same broker, same client library. */
async function rawCommitP50(topic: string, count: number): Promise<number> {
  const kafka = new KafkaJS.Kafka({ kafkaJS: { brokers, logLevel: KafkaJS.logLevel.NOTHING } });
  const producer = kafka.producer({ kafkaJS: { transactionalId: `bench-raw-${randomUUID()}`, idempotent: true }, "linger.ms": 0 });
  await producer.connect();
  const times: number[] = [];
  try {
    for (let i = 0; i < count + 20; i++) {
      const t0 = performance.now();
      const txn = await producer.transaction();
      await txn.send({ topic, messages: [{ key: String(i), value: "x" }] });
      await txn.commit();
      if (i >= 20) times.push(performance.now() - t0);
    }
  } finally {
    await producer.disconnect();
  }
  return median(times);
}

export async function main(args: string[]): Promise<void> {
  if (!process.env.KVO_BOOTSTRAP_SERVERS) {
    // the services as `npm run infra:up` starts them (nothing is started when they answer)
    const endpoints = await ensureInfra({ log: (line) => process.stderr.write(`[infra] ${line}\n`) });
    brokers = endpoints.bootstrapServers.split(",");
  }
  const repsArg = args.indexOf("--reps");
  const reps = repsArg >= 0 ? Number(args[repsArg + 1]) : 3;
  const rows: Record<string, Array<Record<string, number>>> = { "core-3step": [], "core-0step": [] };
  for (let rep = 1; rep <= reps; rep++) {
    const app = `bench-core-${Date.now().toString(36)}-${rep}`;
    const runtime = new RuntimeProcess(app);
    await runtime.next("ready");
    const client = await KvoClient.connect({ app, brokers });
    try {
      await load(client, "add", 4, 200, 50); // warm-up
      const commitP50 = await rawCommitP50(`${app}.raw`, 200);
      for (const [scenario, handler] of [
        ["core-3step", "add"],
        ["core-0step", "bump"],
      ] as const) {
        const seq = await load(client, handler, 1, 500, 50);
        const before = await runtime.stats();
        const c64 = await load(client, handler, 64, 5000, 1000);
        const after = await runtime.stats();
        const commits = after.commits - before.commits;
        const row = {
          seq_p50_ms: percentile(seq.latencies, 50),
          seq_p99_ms: percentile(seq.latencies, 99),
          seq_per_s: seq.perSecond,
          c64_per_s: c64.perSecond,
          c64_p50_ms: percentile(c64.latencies, 50),
          c64_p99_ms: percentile(c64.latencies, 99),
          commit_p50_ms: commitP50,
          invocations_per_commit: commits > 0 ? (after.completed - before.completed) / commits : NaN,
        };
        rows[scenario]!.push(row);
        process.stderr.write(`rep ${rep} ${scenario}: ${JSON.stringify(row)}\n`);
      }
    } finally {
      await client.close();
      await runtime.stop();
    }
  }
  const summaries: Record<string, Record<string, number>> = {};
  for (const [scenario, list] of Object.entries(rows)) {
    const keys = Object.keys(list[0] ?? {});
    const out: Record<string, number> = {};
    for (const k of keys) out[k] = round(median(list.map((r) => r[k]!)));
    out.seq_p50_over_commit_p50 = round(out.seq_p50_ms! / out.commit_p50_ms!);
    summaries[scenario] = out;
    process.stdout.write(JSON.stringify({ scenario, reps, ...out }) + "\n");
  }
  if (args.includes("--peer")) await restatePeer(summaries);
}

/** Runs the Restate peer on the same workloads and prints its figures and KVO's ratios to them. */
async function restatePeer(kvo: Record<string, Record<string, number>>): Promise<void> {
  const script = fileURLToPath(new URL("../../../../shared/peers/restate/run.sh", import.meta.url));
  if (!existsSync(script)) {
    process.stdout.write(JSON.stringify({ scenario: "restate-peer", error: `not found: ${script}` }) + "\n");
    return;
  }
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile("bash", [script], { maxBuffer: 1 << 20, timeout: 15 * 60_000 }, (err, out) =>
      err ? reject(new Error(`${script} failed: ${err.message}`, { cause: err })) : resolve(out),
    ),
  );
  const peer = new Map<string, Record<string, string | number>>();
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const row = JSON.parse(line) as Record<string, string | number>;
    peer.set(String(row.workload), row);
    process.stdout.write(JSON.stringify({ scenario: `restate-${row.workload}`, ...row }) + "\n");
  }
  for (const [scenario, prefix] of [
    ["core-3step", "3step"],
    ["core-0step", "0step"],
  ] as const) {
    const k = kvo[scenario];
    const seq = peer.get(`${prefix}-seq`);
    const c64 = peer.get(`${prefix}-c64`);
    if (!k || !seq || !c64) continue;
    process.stdout.write(
      JSON.stringify({
        scenario: `vs-restate-${prefix}`,
        restate_seq_p50_ms: Number(seq.p50),
        restate_c64_per_s: Number(c64.rps),
        kvo_seq_p50_over_restate: round(k.seq_p50_ms! / Number(seq.p50)),
        kvo_c64_per_s_over_restate: round(k.c64_per_s! / Number(c64.rps)),
      }) + "\n",
    );
  }
}
