/**
 * The runtime side of the backlog benchmark, run as its own process so that its RSS is its
 * own. It hosts `Device` (device.ts) and nothing else.
 *
 * Environment: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_PARTITIONS (6, as the peer),
 * KVO_BENCH_RUNTIME_OPTIONS (JSON merged into createRuntime's options, e.g. transaction caps),
 * KVO_BENCH_RDKAFKA (JSON librdkafka overrides).
 *
 * stdout, one JSON object per line: {"event":"ready"} once started; {"event":"first"} when
 * the first invocation ended; on SIGUSR2 {"event":"stats", ...} with runtime.stats(), the
 * transaction durations seen by "commit.done", the heap (used, and live after a forced GC)
 * and the event loop's delay since start.
 * SIGTERM stops the runtime gracefully and exits (so `node --cpu-prof` writes its profile).
 * Every event carries atMs (epoch ms, fractional) and hrUs (monotonic clock, µs).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createRuntime } from "../../../index.js";
import { device } from "./device.js";

const json = (name: string): Record<string, unknown> => {
  const raw = process.env[name];
  if (!raw) return {};
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${name} is not valid JSON (${(e as Error).message}): ${raw}`);
  }
};

const emit = (event: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(event) + "\n");
/** Epoch ms (fractional) and the monotonic clock in µs, the clock of `--cpu-prof` samples. */
const now = () => ({ atMs: performance.timeOrigin + performance.now(), hrUs: Number(process.hrtime.bigint() / 1000n) });

const runtime = createRuntime({
  app: process.env.KVO_APP!,
  objects: [device],
  partitions: Number(process.env.KVO_PARTITIONS ?? 6),
  ...json("KVO_BENCH_RUNTIME_OPTIONS"),
  kafka: {
    brokers: process.env.KVO_BOOTSTRAP_SERVERS!.split(","),
    instanceId: "backlog-0",
    rdkafka: json("KVO_BENCH_RDKAFKA") as Record<string, string | number | boolean>,
  },
});

// How late the event loop runs callbacks: a commit's duration includes this lag (its
// completion is a callback too), so long transactions with a busy loop are the loop's doing.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

// One listener per commit only (cheap); invocation.end is listened to until the first one.
const txnMs: number[] = [];
let maxTxnRecords = 0;
runtime.on("commit.done", (e) => {
  txnMs.push(e.durationMs);
  if (e.records > maxTxnRecords) maxTxnRecords = e.records;
});
const offFirst = runtime.on("invocation.end", () => {
  offFirst();
  emit({ event: "first", ...now() });
});

await runtime.start();
process.on("SIGUSR2", () => {
  const at = now();
  const heapUsedMb = process.memoryUsage().heapUsed / 1e6;
  // what is still reachable (a leak) as opposed to garbage not yet collected; needs
  // --expose-gc, which `npm run bench` sets in NODE_OPTIONS (inherited)
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapLiveMb = gc ? process.memoryUsage().heapUsed / 1e6 : Number.NaN;
  const loop = { loopDelayMaxMs: loopDelay.max / 1e6, loopDelayP99Ms: loopDelay.percentile(99) / 1e6 };
  emit({ event: "stats", ...at, ...runtime.stats(), txnMs, maxTxnRecords, heapUsedMb, heapLiveMb, ...loop });
});
process.on("SIGTERM", () => void runtime.stop().then(() => process.exit(0)));
void runtime.closed.then((error) => {
  if (error) {
    process.stderr.write(`backlog app: the runtime stopped by itself: ${error.message}\n`);
    process.exit(3);
  }
});
emit({ event: "ready", ...now() });
