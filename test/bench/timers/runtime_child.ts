/**
 * The measured process of the timers benchmark: one runtime holding the N pending timers.
 * Started by main.ts with `--expose-gc` (and --max-old-space-size when capped); env KVO_APP,
 * KVO_BOOTSTRAP_SERVERS, KVO_PARTITIONS, KVO_TIMERS_N, KVO_TIMERS_KIND, KVO_TIMERS_SPREAD_MS.
 *
 * Protocol (JSON lines on stdout): {"event":"ready"} once started; then it reads the window
 * start (ms since epoch) as one line on stdin, waits until all N timers are pending (or the
 * window opens), reads the heap after a full GC ({"event":"pending"}), waits until every id
 * fired and prints {"event":"result"}. Progress goes to stderr.
 */
import { createInterface } from "node:readline";
import { createRuntime } from "../../../index.js";
import type { Logger } from "../../../runtime/support.js";
import { percentile, round } from "../stats.js";
import { definitions, FireMarks } from "./app.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("the timers runtime process needs --expose-gc");
const n = Number(process.env.KVO_TIMERS_N);
const kind = process.env.KVO_TIMERS_KIND === "sleep" ? "sleep" : "send";
const spreadMs = Number(process.env.KVO_TIMERS_SPREAD_MS);
const MB = 1024 * 1024;

const emit = (event: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(event) + "\n");
const progress = (line: string): void => void process.stderr.write(`[timers ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const quiet: Logger = { debug() {}, info() {}, warn: (m) => progress(`warn: ${m}`), error: (m) => progress(`error: ${m}`) };

const marks = new FireMarks(n);
const runtime = createRuntime({
  app: process.env.KVO_APP!,
  ...definitions(marks),
  partitions: Number(process.env.KVO_PARTITIONS ?? 1),
  logger: quiet,
  kafka: { brokers: process.env.KVO_BOOTSTRAP_SERVERS!.split(","), instanceId: "bench-timers-0" },
});
await runtime.start();
gc();
const baseline = process.memoryUsage();
emit({ event: "ready" });

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const windowStart = Number((await lines.next()).value);

let rssMax = 0;
let heapMax = 0;
let timersMax = 0;
let suspendedMax = 0;
let uncommittedMax = 0;
// runtime.stats() walks every in-flight invocation (suspended ones included: up to N here), so
// it is read once a second and shared by the sampling, the progress lines and the waits below.
let stats = runtime.stats();
let ticks = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  const s = (stats = runtime.stats());
  uncommittedMax = Math.max(uncommittedMax, s.uncommittedBytes);
  rssMax = Math.max(rssMax, m.rss);
  heapMax = Math.max(heapMax, m.heapUsed);
  timersMax = Math.max(timersMax, s.timers);
  suspendedMax = Math.max(suspendedMax, s.suspended);
  if (++ticks % 5 !== 0) return;
  progress(
    `timers ${s.timers} suspended ${s.suspended} in flight ${s.inFlight} fired ${marks.fired}/${n} ` +
      `rss ${round(m.rss / MB, 0)} MB heap ${round(m.heapUsed / MB, 0)} MB uncommitted ${round(s.uncommittedBytes / MB)} MB ` +
      `commits ${s.commits} (mean ${round(s.meanCommitMs)} ms) paused ${JSON.stringify(s.paused.map((p) => p.reasons))}`,
  );
}, 1_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
// All pending, and committed: the records of the last transaction (all the writes of the
// invocations one commit woke, tens of MB) are not what a pending timer costs.
const allPending = () => {
  const s = stats;
  return s.timers >= n && (kind === "send" ? s.inFlight === 0 : s.suspended >= n) && s.uncommittedBytes === 0;
};
while (!allPending() && Date.now() < windowStart) await sleep(200);
const scheduledMs = Date.now() - t0;
const { timers, suspended } = stats;
gc();
const pending = process.memoryUsage();
const bytesPerTimer = (pending.heapUsed - baseline.heapUsed) / Math.max(1, kind === "send" ? timers : suspended);
emit({
  event: "pending",
  timers,
  suspended,
  scheduled_ms: scheduledMs,
  heap_used_mb: round(pending.heapUsed / MB),
  rss_mb: round(pending.rss / MB),
  heap_total_mb: round(pending.heapTotal / MB),
  external_mb: round(pending.external / MB),
  array_buffers_mb: round(pending.arrayBuffers / MB),
  bytes_per_timer: Math.round(bytesPerTimer),
});

// Everything fired (or nothing more for a minute: report what did).
let last = -1;
let stillSince = Date.now();
while (marks.fired < n) {
  if (marks.fired !== last) [last, stillSince] = [marks.fired, Date.now()];
  if (Date.now() - Math.max(stillSince, windowStart) > 60_000) break;
  await sleep(200);
}
const lastFiredAt = Date.now();
// A handler that ran is not yet committed: wait until the runtime holds nothing (every
// invocation completed, every write committed) for 20 s in a row (a fenced process holds
// nothing either, until it re-joins and restores), for at most four minutes.
const idle = () => stats.inFlight === 0 && stats.timers === 0 && stats.uncommittedBytes === 0;
let idleSince: number | null = null;
while (Date.now() - lastFiredAt < 240_000) {
  if (!idle()) idleSince = null;
  else if (idleSince === null) idleSince = Date.now();
  else if (Date.now() - idleSince >= 20_000) break;
  await sleep(200);
}
const settledAt = idle() ? idleSince : null;
clearInterval(sampler);
const lateness = Array.from(marks.lateness.filter((_, i) => marks.seen[i] === 1)).sort((a, b) => a - b);
emit({
  event: "result",
  n,
  kind,
  pending_max: kind === "send" ? timersMax : suspendedMax,
  timers_max: timersMax,
  suspended_max: suspendedMax,
  scheduled_ms: scheduledMs,
  fired: marks.fired,
  duplicate_runs: marks.duplicates,
  early: marks.early,
  rss_max_mb: round(rssMax / MB),
  heap_used_max_mb: round(heapMax / MB),
  uncommitted_max_mb: round(uncommittedMax / MB),
  heap_used_baseline_mb: round(baseline.heapUsed / MB),
  heap_used_mb: round(pending.heapUsed / MB),
  rss_pending_mb: round(pending.rss / MB),
  heap_total_pending_mb: round(pending.heapTotal / MB),
  external_pending_mb: round(pending.external / MB),
  bytes_per_timer: Math.round(bytesPerTimer),
  fire_lateness_p50_ms: percentile(lateness, 50),
  p99: percentile(lateness, 99),
  fire_lateness_max_ms: lateness[lateness.length - 1] ?? null,
  /** When the last id fired, after the last due time: how long the partition took to catch up. */
  last_fired_after_window_ms: lastFiredAt - windowStart - spreadMs,
  /** When the runtime became idle for good (all completed and committed) after the last due time; null: not within 4 min. */
  settled_after_window_ms: settledAt === null ? null : settledAt - windowStart - spreadMs,
  /** Times this process was fenced (a transaction outlived transaction.timeout.ms, ...): its uncommitted work was redone. */
  fenced: stats.fenced,
  commits: stats.commits,
  max_commit_ms: Math.round(stats.maxCommitMs),
});
await runtime.stop();
process.exit(0);
