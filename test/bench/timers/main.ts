/**
 * Timers benchmark: `npm run bench -- timers [options]`.
 *
 * What N pending durable timers cost one runtime process, and how late they fire. A runtime
 * process (runtime_child.ts, started with --expose-gc and an optional heap cap) hosts the
 * handlers of app.ts; this process produces the workload with a plain Kafka producer:
 *   --kind send (default)  N/B `Scheduler.schedule` invocations, each making B delayed sends
 *                          to `Sink.fire` (N timers kept in the changelog and the timer queue);
 *   --kind sleep           N `Sleeper.nap` invocations, each sleeping until its due time:
 *                          N suspended invocations waiting.
 * Every due time lies in a window that opens --window-start-s after the workload is produced
 * and spans --spread-s, so all N are pending at once before the first is due.
 *
 * One JSON row: {"scenario":"timers-pending", n, kind, rss_max_mb (whole run), heap_used_mb
 * (after a full GC with all N pending), bytes_per_timer ((that − heap after start) / N),
 * fire_lateness_p50_ms, p99 (wall clock in the handler − due time, ms), and: scheduled_ms (until
 * all N were pending and committed), pending_max, fired, duplicate_runs (handler executions of
 * an id already marked: retries), early (fired before due: must be 0), heap_used_max_mb (any
 * moment, garbage included), uncommitted_max_mb (runtime.stats().uncommittedBytes),
 * heap_total_pending_mb / external_pending_mb (V8 heap reserved, Buffers, with all pending),
 * last_fired_after_window_ms (how long after the last due time the last one fired: the
 * partition catching up with the firing rate), settled_after_window_ms (until the runtime held
 * nothing, in flight or uncommitted, for good: null when not within 4 min), fenced, commits, max_commit_ms}.
 *
 * Options:
 *   --n N (1,000,000)        pending timers
 *   --kind send|sleep (send)
 *   --batch B (100)          delayed sends per scheduling invocation
 *   --partitions P (1)       partitions of the app's topics
 *   --heap-cap-mb MB (none)  --max-old-space-size of the runtime process
 *   --window-start-s S (send N/2,000, sleep N/800; at least 30)
 *   --spread-s S (60)
 *   --keep                   keep the app's topics (deleted by default)
 */
import { spawn } from "node:child_process";
import { deleteAppTopics } from "../app_topics.js";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { Kafka, logLevel, type Message } from "kafkajs";
import { H } from "../../../runtime/invocation/headers.js";
import { benchBrokers } from "../brokers.js";
import { dueOf, type ScheduleInput } from "./app.js";
import { parseArgs, type Options } from "./options.js";

const log = (line: string): void => void process.stderr.write(`[timers] ${line}\n`);

/** The runtime process; its stdout lines as events, its stderr ours. */
function startRuntime(app: string, brokers: string[], o: Options) {
  const nodeArgs = ["--expose-gc", ...(o.heapCapMb > 0 ? [`--max-old-space-size=${o.heapCapMb}`] : []), "--import", "tsx"];
  const child = spawn(process.execPath, [...nodeArgs, new URL("./runtime_child.ts", import.meta.url).pathname], {
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      KVO_APP: app,
      KVO_BOOTSTRAP_SERVERS: brokers.join(","),
      KVO_PARTITIONS: String(o.partitions),
      KVO_TIMERS_N: String(o.n),
      KVO_TIMERS_KIND: o.kind,
      KVO_TIMERS_SPREAD_MS: String(o.spreadS * 1000),
    },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const events: Array<Record<string, unknown>> = [];
  let exited: string | null = null;
  child.once(
    "exit",
    (code, signal) => (exited = `the timers runtime process exited (code ${code}, signal ${signal}); its stderr is above`),
  );
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      events.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      log(`runtime: ${line}`);
    }
  });
  const next = async (event: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const at = events.findIndex((e) => e.event === event);
      if (at >= 0) return events.splice(at, 1)[0]!;
      if (exited) throw new Error(exited);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { child, next, send: (line: string) => child.stdin.write(line + "\n") };
}

/** The invocation records of the workload, in produce batches. */
function* workload(o: Options, windowStart: number): Generator<Message[]> {
  const spread = o.spreadS * 1000;
  const chunk: Message[] = [];
  const record = (key: string, handler: string, input: unknown): Message => ({
    key,
    value: JSON.stringify(input),
    headers: { [H.handler]: handler },
  });
  if (o.kind === "send") {
    for (let batch = 0; batch < o.n / o.batch; batch++) {
      const input: ScheduleInput = { batch, count: o.batch, total: o.n, windowStart, spread };
      chunk.push(record(`Scheduler/b${batch}`, "schedule", input));
      if (chunk.length === 1_000) yield chunk.splice(0);
    }
  } else {
    for (let id = 0; id < o.n; id++) {
      chunk.push(record(`Sleeper/n${id}`, "nap", { id, due: dueOf(id, o.n, windowStart, spread) }));
      if (chunk.length === 5_000) yield chunk.splice(0);
    }
  }
  if (chunk.length > 0) yield chunk;
}

export async function main(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const brokers = await benchBrokers();
  const app = `kvo-bench-timers-${randomBytes(3).toString("hex")}`;
  const kafka = new Kafka({ clientId: "kvo-bench-timers", brokers, logLevel: logLevel.NOTHING });
  log(`${app}: n ${o.n} kind ${o.kind} partitions ${o.partitions} heap cap ${o.heapCapMb || "none"} MB`);
  const runtime = startRuntime(app, brokers, o);
  try {
    await runtime.next("ready");
    const windowStart = Date.now() + o.windowStartS * 1000;
    runtime.send(String(windowStart));
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const t0 = Date.now();
    for (const messages of workload(o, windowStart)) await producer.send({ topic: `${app}.invocations`, messages });
    await producer.disconnect();
    log(`workload produced in ${Date.now() - t0} ms; first timer due in ${Math.round((windowStart - Date.now()) / 1000)} s`);
    const pending = await runtime.next("pending");
    log(`pending: ${JSON.stringify(pending)}`);
    const result = await runtime.next("result");
    const { event: _event, ...fields } = result;
    process.stdout.write(
      JSON.stringify({
        scenario: "timers-pending",
        n: o.n,
        kind: o.kind,
        rss_max_mb: fields.rss_max_mb,
        heap_used_mb: fields.heap_used_mb,
        bytes_per_timer: fields.bytes_per_timer,
        fire_lateness_p50_ms: fields.fire_lateness_p50_ms,
        p99: fields.p99,
        ...fields,
        partitions: o.partitions,
        heap_cap_mb: o.heapCapMb || null,
      }) + "\n",
    );
  } finally {
    runtime.child.kill("SIGKILL");
    if (!o.keep) await deleteAppTopics(app, brokers, log);
  }
}
