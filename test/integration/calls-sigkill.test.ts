/**
 * Calls, delayed sends and sleeps exactly-once under SIGKILL, on the real broker. A runtime in
 * a child process (apps/calls_app.ts, 4 partitions) runs, all at the same time:
 *  - 2,000 call chains ChainA.start → ChainB.step → ChainC.leaf (`await ctx.object(...)`), each
 *    level counting its executions per key and marking the chain with what it returned;
 *  - 2,000 delayed sends (400 Sender.schedule invocations of 5 sends, delays 0.5–5 s) to
 *    Receiver.arrive, which marks when it ran and when the send was due;
 *  - 2,000 sleeps (Sleeper.nap, 0.5–5 s), each marking when it resumed and when it was due;
 * over a few hundred keys per object. The workload is produced in waves; after each wave the
 * child is SIGKILLed at a seeded random moment (6 times) and restarted, then it drains.
 *
 * Then, from the committed state (changelog) and the reply topic: every chain's A got its
 * result exactly once (one reply each, carrying the result A committed, built from the B and C
 * executions that committed), B and C ran exactly once per chain, every delayed send arrived
 * exactly once and never before its due time, every sleep resumed exactly once and never
 * early, and the totals are exact. "Due" is the time the runtime recorded (the send's timer
 * record, the sleep's journaled wake-up time; exactly one each), checked to be no earlier
 * than the handler's journaled time plus the delay. Nothing is left in flight (no invocation or journal in the
 * changelog, no pending timer or suspended invocation in the runtime's stats).
 *
 * The workload and kill schedule come from a seed printed at the start; replay it with
 *   KVO_IT_SEED=<seed> npx vitest run test/integration/calls-sigkill.test.ts
 */
import { randomInt } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { H } from "../../runtime/invocation/headers.js";
import { checkChains, checkDelayedSends, checkSleeps, lateness, readChangelogSnapshot, totalCount } from "./support/calls_checks.js";
import { planCallsWorkload, waveInvocations } from "./support/calls_workload.js";
import { ChildRuntime, type ChildEvent } from "./support/child_runtime.js";
import { createTopic, produceInvocations, readTopic } from "./support/kafka_tools.js";
import { seededRandom } from "./support/source_topics.js";
import { uniqueName } from "./support/unique.js";

const PARTITIONS = 4;
const KILLS = 6;
const WAVES = KILLS; // one wave per kill: every kill lands on freshly produced work
const SIZE = {
  chains: 2_000,
  sends: 2_000,
  naps: 2_000,
  chainKeys: 300,
  senderKeys: 200,
  receiverKeys: 300,
  sleeperKeys: 400,
  sendsPerSchedule: 5,
  minMs: 500,
  maxMs: 5_000,
};
const SEED = Number(process.env.KVO_IT_SEED ?? randomInt(2 ** 31));

let current: ChildRuntime | null = null;
afterEach(async () => {
  await current?.stop();
  current = null;
});

function start(app: string): ChildRuntime {
  current = new ChildRuntime(app, "calls_app.ts", { KVO_INSTANCE_ID: "calls-crash-0", KVO_PARTITIONS: String(PARTITIONS) });
  return current;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stat = (e: ChildEvent | undefined, name: string): number => Number(e?.[name] ?? 0);
const owns = (e: ChildEvent) => e.event === "stats" && Array.isArray(e.partitions) && (e.partitions as number[]).length === PARTITIONS;
/** Work the runtime holds: running or queued invocations, pending timers, suspended invocations. */
const pendingWork = (e: ChildEvent | undefined) => stat(e, "inFlight") + stat(e, "timers") + stat(e, "suspended");

describe("calls, delayed sends and sleeps exactly-once under SIGKILL", () => {
  it("runs every chain, delayed send and sleep exactly once, none early, across 6 SIGKILLs", async () => {
    console.log(`calls-sigkill: seed ${SEED} (replay: KVO_IT_SEED=${SEED})`);
    const t0 = Date.now();
    const random = seededRandom(SEED);
    const workload = planCallsWorkload(random, SIZE);
    const app = uniqueName("kvo-calls-crash");
    const replies = `${app}.replies`;
    await createTopic(replies);
    let child = start(app);
    await child.waitFor((e) => e.event === "started", "first start");

    let kills = 0;
    let killsWithWorkInFlight = 0;
    const pendingAtKill: number[] = [];
    for (let wave = 0; wave < WAVES; wave++) {
      // Produce once the (re)started process owns its partitions, then kill at a seeded moment.
      await child.waitForNext(owns, `partitions assigned before wave ${wave}`);
      await produceInvocations(`${app}.invocations`, waveInvocations(workload, wave, WAVES, replies));
      await sleep(500 + Math.floor(3_000 * random()));
      const pending = pendingWork(child.last("stats"));
      pendingAtKill.push(pending);
      if (pending > 0) killsWithWorkInFlight++;
      await child.killHard();
      kills++;
      child = start(app);
      await child.waitFor((e) => e.event === "started", `restart after kill ${kills}`);
    }
    const killPhaseMs = Date.now() - t0;
    // From here on no crash: timers due later show the lateness of a running runtime.
    await child.waitFor(owns, "partitions assigned after the last restart");
    const upAgainAt = Date.now();
    console.log(`calls-sigkill: ${kills} kills in ${killPhaseMs} ms, work held at each kill: ${JSON.stringify(pendingAtKill)}`);

    // Drain: every chain replied (or no new reply for 60 s: the checks then name what is
    // missing), then the runtime holds nothing for 3 s (6 stats in a row).
    let lastProgress = Date.now();
    let seen = 0;
    const replyRecords = await readTopic(
      replies,
      (rs) => {
        if (rs.length > seen) [seen, lastProgress] = [rs.length, Date.now()];
        return new Set(rs.map((r) => r.headers[H.correlationId])).size >= SIZE.chains || Date.now() - lastProgress > 60_000;
      },
      { timeoutMs: 240_000, settleMs: 3_000 },
    );
    let quiet = 0;
    const drainDeadline = Date.now() + 120_000;
    while (quiet < 6) {
      const e = await child.waitForNext((x) => x.event === "stats", "stats while draining");
      quiet = owns(e) && pendingWork(e) === 0 ? quiet + 1 : 0;
      if (Date.now() > drainDeadline) throw new Error(`the runtime did not drain within 120 s: last stats ${JSON.stringify(e)}`);
    }
    const drained = child.last("stats")!;
    const drainMs = Date.now() - t0 - killPhaseMs;
    expect(await child.stop()).toBe(0);
    current = null;

    const snapshot = await readChangelogSnapshot(`${app}.changelog`);
    const chains = checkChains(snapshot.states, workload, replyRecords);
    const sends = checkDelayedSends(snapshot.states, workload, snapshot.due);
    const naps = checkSleeps(snapshot.states, workload, snapshot.due);
    const leftovers = Object.fromEntries([...snapshot.othersByType].map(([type, keys]) => [type, keys.length]));
    console.log(
      `calls-sigkill: drained in ${drainMs} ms (total ${Date.now() - t0} ms); ` +
        `violations: chains ${chains.length}, sends ${sends.violations.length}, sleeps ${naps.violations.length}; ` +
        `lateness ms, all: sends ${JSON.stringify(lateness(sends.runs))}, sleeps ${JSON.stringify(lateness(naps.runs))}; ` +
        `due after the last restart (${upAgainAt - t0} ms in): sends ${JSON.stringify(lateness(sends.runs, upAgainAt))}, ` +
        `sleeps ${JSON.stringify(lateness(naps.runs, upAgainAt))}; ` +
        `other changelog keys left: ${JSON.stringify(leftovers)}`,
    );

    expect(kills).toBe(KILLS);
    // The kills hit work in flight (else this would test nothing but clean restarts).
    expect(killsWithWorkInFlight, `work held at each kill: ${JSON.stringify(pendingAtKill)}`).toBeGreaterThanOrEqual(KILLS - 1);

    // Exact outcomes, each violation named (the first 20 shown).
    expect(chains.slice(0, 20), `${chains.length} chain violations`).toEqual([]);
    expect(sends.violations.slice(0, 20), `${sends.violations.length} delayed-send violations`).toEqual([]);
    expect(naps.violations.slice(0, 20), `${naps.violations.length} sleep violations`).toEqual([]);

    // Totals: every level of every chain, every send and every sleep, once.
    const totals = Object.fromEntries(
      ["ChainA", "ChainB", "ChainC", "Sender", "Receiver", "Sleeper"].map((o) => [o, totalCount(snapshot.states, o)]),
    );
    expect(totals).toEqual({
      ChainA: SIZE.chains,
      ChainB: SIZE.chains,
      ChainC: SIZE.chains,
      Sender: SIZE.sends,
      Receiver: SIZE.sends,
      Sleeper: SIZE.naps,
    });
    expect(replyRecords.length, "reply records").toBe(SIZE.chains);

    // Nothing left in flight: no accepted invocation or journal in the changelog, no pending
    // timer or suspended invocation in the runtime.
    expect(snapshot.othersByType.get("inv") ?? [], "invocations left in the changelog").toEqual([]);
    expect(snapshot.othersByType.get("jnl") ?? [], "journals left in the changelog").toEqual([]);
    expect({ timers: stat(drained, "timers"), suspended: stat(drained, "suspended"), inFlight: stat(drained, "inFlight") }).toEqual({
      timers: 0,
      suspended: 0,
      inFlight: 0,
    });
  }, 600_000);
});
