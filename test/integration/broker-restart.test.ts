/**
 * Broker crash, on the real broker: 2,000 increments over 100 keys (two ctx.run steps and a
 * state update each) run in one runtime process while the broker is SIGKILLed and started
 * again on the same data dir (compose/infra/kafka_crash.ts), with invocations and commits in
 * flight. The runtime is NOT restarted: it must ride out the outage by itself. Afterwards
 * every key's count is exact (nothing lost, nothing applied twice), every invocation replied
 * exactly once in per-key order, and every step result a reply carries is the one journaled.
 *
 * Restarts the shared broker when infra:up started it (leaving it healthy for the next test
 * files), else a private one; KVO_IT_PRIVATE_BROKER=1 forces the private one. See
 * support/restartable_broker.ts. KVO_IT_BROKER_KILLS (default 1) sets how many crashes; each
 * costs a broker start (measured: ~10 s on an idle 2-core machine, 30-60 s on a loaded one).
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from "vitest";
import { defaultPaths } from "../../compose/infra/infra.js";
import { codecs } from "../../runtime/codec/records.js";
import { H } from "../../runtime/invocation/headers.js";
import { ChildRuntime, type ChildEvent } from "./support/child_runtime.js";
import { counterInvocations, expectExactCounts, expectExactReplies } from "./support/counter_checks.js";
import { createTopic, produceInvocations } from "./support/kafka_tools.js";
import { restartableBroker, type RestartableBroker } from "./support/restartable_broker.js";
import { uniqueName } from "./support/unique.js";

const KEYS = 100;
const PER_KEY = 20;
const TOTAL = KEYS * PER_KEY;
const KILLS = Math.max(1, Number(process.env.KVO_IT_BROKER_KILLS ?? 1) || 1);

let broker: RestartableBroker;
let savedBootstrap: string | undefined;
let child: ChildRuntime | null = null;

beforeAll(async () => {
  broker = await restartableBroker();
  // the test's own Kafka tools (support/kafka_tools.ts) read the endpoint from here
  savedBootstrap = process.env.KVO_BOOTSTRAP_SERVERS;
  process.env.KVO_BOOTSTRAP_SERVERS = broker.bootstrap;
}, 240_000);

afterAll(async () => {
  if (savedBootstrap === undefined) delete process.env.KVO_BOOTSTRAP_SERVERS;
  else process.env.KVO_BOOTSTRAP_SERVERS = savedBootstrap;
  await broker?.release();
}, 120_000);

afterEach(async () => {
  await child?.stop();
  child = null;
});

const stats = (e: ChildEvent) => e.event === "stats";
const completedOf = (e: ChildEvent | undefined): number => Number(e?.completed ?? 0);

describe("broker crash (SIGKILL + restart) while invocations are in flight", () => {
  it("the runtime recovers by itself: exact counts, one reply per invocation, per-key order", async () => {
    const t0 = Date.now();
    const app = uniqueName("kvo-brk");
    const replies = `${app}.replies`;
    await createTopic(replies);
    const logs = join(defaultPaths().stateDir, "logs");
    mkdirSync(logs, { recursive: true });
    const childLog = join(logs, `it-${app}.log`);
    onTestFailed(() => void process.stderr.write(`broker-restart: runtime log ${childLog}; broker log ${broker.logFile ?? "(unknown)"}\n`));
    const runtime = new ChildRuntime(app, "marked_counter_app.ts", {
      KVO_BOOTSTRAP_SERVERS: broker.bootstrap,
      KVO_INSTANCE_ID: "brk-0",
      KVO_PARTITIONS: "4",
      STEP_DELAY_MS: "10",
      KVO_CHILD_LOG_FILE: childLog,
    });
    child = runtime;
    await runtime.waitFor((e) => e.event === "started", "runtime started");
    await runtime.waitFor((e) => stats(e) && (e.partitions as number[]).length === 4, "all 4 partitions restored");

    // One wave per crash, in per-key order; each crash comes once a quarter of its wave completed.
    const perWave = Math.ceil(PER_KEY / KILLS);
    const crashes: { completedBefore: number; inFlightBefore: number; downMs: number; recoveredMs: number }[] = [];
    for (let wave = 0; wave < KILLS; wave++) {
      const from = wave * perWave + 1;
      const to = Math.min(PER_KEY, (wave + 1) * perWave);
      const waveStart = completedOf(runtime.last("stats"));
      await produceInvocations(`${app}.invocations`, counterInvocations(KEYS, from, to, replies));
      const waveSize = (to - from + 1) * KEYS;
      await runtime.waitForNext((e) => stats(e) && completedOf(e) >= waveStart + waveSize / 4, `a quarter of wave ${wave + 1} completed`);
      const before = runtime.last("stats")!;
      const killedAt = Date.now();
      const timings = await broker.crash();
      // progress after the restart, without any restart of the runtime
      await runtime.waitForNext(
        (e) => stats(e) && completedOf(e) > completedOf(before) + KEYS,
        `progress after broker restart ${wave + 1}`,
        120_000,
      );
      crashes.push({
        completedBefore: completedOf(before),
        inFlightBefore: Number(before.inFlight),
        downMs: timings.transactionsMs,
        recoveredMs: Date.now() - killedAt,
      });
    }

    const replyRecords = await expectExactReplies(replies, TOTAL);
    const tokenByInvocation = new Map<string, string>();
    for (const r of replyRecords)
      tokenByInvocation.set(r.headers[H.invocationId]!, (JSON.parse(r.value!.toString()) as { token: string }).token);

    // The crash hit running work, the runtime felt it, and it was the same process throughout.
    for (const c of crashes) expect(c.inFlightBefore, "invocations in flight when the broker was killed").toBeGreaterThan(0);
    const last = runtime.last("stats")!;
    // felt as failed (retried) commits, or as a lost assignment (fenced, re-joined, restored)
    expect(Number(last.commitRetries) + Number(last.fenced), "commit retries + fencings during the outage").toBeGreaterThan(0);
    expect(runtime.child.exitCode).toBeNull();
    expect(runtime.events.filter((e) => e.event === "started")).toHaveLength(1);
    expect(runtime.events.filter((e) => e.event === "closed")).toEqual([]);
    const notable = runtime.events.filter((e) => e.event === "fenced" || e.event === "commit_failed" || e.event === "restore_failed");
    process.stdout.write(
      `broker-restart (${broker.kind} broker): ${JSON.stringify(crashes)}; all replies after ${Date.now() - t0} ms; ` +
        `fenced ${String(last.fenced)}, commit retries ${String(last.commitRetries)}; events: ${JSON.stringify(notable)}\n`,
    );

    await runtime.stop();
    child = null;
    const { latest, all } = await expectExactCounts(`${app}.changelog`, KEYS, PER_KEY);
    expect([...latest.keys()].filter((k) => k.startsWith('["inv"') || k.startsWith('["jnl"'))).toEqual([]);
    // every committed journal of an invocation holds the token its reply returned
    let journals = 0;
    for (const r of all) {
      if (!r.key?.startsWith('["jnl"') || r.value === null) continue;
      const token = codecs.journal.decode(r.value).entries[0];
      if (!token) continue;
      journals++;
      const id = (JSON.parse(r.key) as string[])[1]!;
      expect(JSON.parse(token.value!.toString()), `journal of ${id}`).toBe(tokenByInvocation.get(id));
    }
    expect(journals).toBeGreaterThanOrEqual(TOTAL);
    rmSync(childLog, { force: true });
  }, 300_000);
});
