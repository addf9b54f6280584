/**
 * The runtime side of the subscription benchmark, run as its own process so that its RSS is
 * its own. It hosts `Device` (device.ts) and, when KVO_BENCH_SOURCE_TOPIC is set, the
 * subscription feeding it from that topic (Avro values, record key = device id); without it,
 * the bench writes invocations straight to `<app>.invocations` (the "direct" scenario).
 *
 * Environment: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_PARTITIONS, KVO_BENCH_ALERTS_TOPIC,
 * KVO_BENCH_EGRESS ("avro" | "json"), KVO_BENCH_SOURCE_TOPIC and KVO_BENCH_SUBSCRIPTION
 * (its name), KVO_BENCH_RUNTIME_OPTIONS (JSON merged into createRuntime's options).
 *
 * stdout, one JSON object per line: {"event":"ready"} once started; {"event":"first"} when the
 * first invocation ended; {"event":"failed", ...} for the first failed invocation; on the
 * stdin command "stats" (or "stats gc", see below) {"event":"stats", ...} with runtime.stats(),
 * every transaction's duration ("commit.done"), the heap and the event loop's delay. SIGTERM stops the runtime gracefully and exits (so
 * `node --cpu-prof` writes its profile). Every event carries atMs (epoch ms, fractional) and
 * hrUs (the monotonic clock in µs, the clock of --cpu-prof samples).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { avro, createRuntime, subscribe } from "../../../index.js";
import { deviceObject, type EgressFormat } from "./device.js";
import { HANDLER } from "./workload.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`subscription bench app: ${name} is not set (the bench sets it when it spawns this process)`);
  return value;
};
const runtimeOptions = ((): Record<string, unknown> => {
  const raw = process.env.KVO_BENCH_RUNTIME_OPTIONS;
  if (!raw) return {};
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`KVO_BENCH_RUNTIME_OPTIONS is not valid JSON (${(e as Error).message}): ${raw}`);
  }
})();

// bigints (offsets) as numbers: JSON has no bigint
const emit = (event: Record<string, unknown>): void =>
  void process.stdout.write(JSON.stringify(event, (_, v: unknown) => (typeof v === "bigint" ? Number(v) : v)) + "\n");
// hrUs: the monotonic clock in µs, the clock of `--cpu-prof` samples (the drain's profile window)
const now = () => ({ atMs: performance.timeOrigin + performance.now(), hrUs: Number(process.hrtime.bigint() / 1000n) });

const device = deviceObject(env("KVO_BENCH_ALERTS_TOPIC"), env("KVO_BENCH_EGRESS") as EgressFormat);
const sourceTopic = process.env.KVO_BENCH_SOURCE_TOPIC;
const runtime = createRuntime({
  app: env("KVO_APP"),
  objects: [device],
  partitions: Number(env("KVO_PARTITIONS")),
  ...(sourceTopic && {
    subscriptions: [subscribe({ topic: sourceTopic, to: [device, HANDLER], value: avro(), name: env("KVO_BENCH_SUBSCRIPTION") })],
  }),
  ...runtimeOptions,
  kafka: { brokers: env("KVO_BOOTSTRAP_SERVERS").split(","), instanceId: "subscription-bench-0" },
});

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

// Where the RSS goes, sampled: the V8 heap, and memory outside it (Buffers of records,
// "external"; librdkafka's own queues are in neither, only in RSS).
const memoryMax = { heapTotalMb: 0, externalMb: 0, arrayBuffersMb: 0 };
setInterval(() => {
  const m = process.memoryUsage();
  memoryMax.heapTotalMb = Math.max(memoryMax.heapTotalMb, m.heapTotal / 1e6);
  memoryMax.externalMb = Math.max(memoryMax.externalMb, m.external / 1e6);
  memoryMax.arrayBuffersMb = Math.max(memoryMax.arrayBuffersMb, m.arrayBuffers / 1e6);
}, 500).unref();

const txnMs: number[] = [];
runtime.on("commit.done", (e) => void txnMs.push(e.durationMs));
const offFirst = runtime.on("invocation.end", () => {
  offFirst();
  emit({ event: "first", ...now() });
});
// A failed invocation makes the run meaningless (e.g. an egress format the runtime does not
// support): say why at once instead of waiting for a drain that cannot end right.
const offFailed = runtime.on("invocation.end", (e) => {
  if (!e.failure) return;
  offFailed();
  emit({ event: "failed", ...now(), invocationId: e.invocationId, failure: e.failure });
});

await runtime.start();
// Commands on stdin, one a line: "stats" reports; "stats gc" also forces a garbage
// collection first and reports the heap still reachable (heapLiveMb: what the runtime holds,
// as opposed to garbage V8 has not collected yet). Needs --expose-gc, which `npm run bench`
// sets in NODE_OPTIONS (inherited). Not done on every "stats": a forced GC pauses the process.
createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, option] = line.trim().split(/\s+/);
  if (command !== "stats") return;
  const at = now();
  const heapUsedMb = process.memoryUsage().heapUsed / 1e6;
  const gc = (globalThis as { gc?: () => void }).gc;
  let heapLiveMb = Number.NaN;
  if (option === "gc" && gc) {
    gc();
    heapLiveMb = process.memoryUsage().heapUsed / 1e6;
  }
  emit({
    event: "stats",
    ...at,
    ...runtime.stats(),
    txnMs,
    heapUsedMb,
    heapLiveMb,
    memoryMax,
    loopDelayMaxMs: loopDelay.max / 1e6,
    loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
  });
});
process.on("SIGTERM", () => void runtime.stop().then(() => process.exit(0)));
void runtime.closed.then((error) => {
  if (error) {
    process.stderr.write(`subscription bench app: the runtime stopped by itself: ${error.message}\n`);
    process.exit(3);
  }
});
emit({ event: "ready", ...now() });
