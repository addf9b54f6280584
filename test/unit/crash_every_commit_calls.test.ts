/**
 * Calls, sends (immediate and delayed), sleeps and awakeables under a crash at every commit
 * (before and after the commit applies), in memory: the recovered run ends with exactly the
 * replies and state of a run without a crash. Nothing is called, sent, woken or resolved twice,
 * nothing is lost.
 */
import { describe, expect, it } from "vitest";
import { object, service } from "../../index.js";
import { H } from "../../runtime/invocation/headers.js";
import { Runtime } from "../../runtime/runtime.js";
import { PartitionState } from "../../runtime/partition/state.js";
import { MemoryLog, MemoryTransport, type CrashPlan } from "../support/memory_log.js";
import { crashScenario, repliesIn, settledStateOf } from "../support/crash_harness.js";
import type { Logger } from "../../runtime/support.js";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const APP = "cc";
const PARTITIONS = 2;
const REPLIES = "replies";

const bank = object({
  name: "Bank",
  handlers: {
    charge: async (ctx, amount: number) => {
      const balance = ((await ctx.get<number>("balance")) ?? 0) + amount;
      ctx.set("balance", balance);
      ctx.set("charges", ((await ctx.get<number>("charges")) ?? 0) + 1);
      return balance;
    },
  },
});

const ledger = object({
  name: "Ledger",
  handlers: {
    record: async (ctx, entry: { order: string; kind: string }) => {
      const seen = (await ctx.get<string[]>("entries")) ?? [];
      ctx.set("entries", [...seen, `${entry.order}:${entry.kind}`].sort());
    },
  },
});

const resolver = service({
  name: "Resolver",
  handlers: {
    resolve: async (ctx, input: { id: string; value: string }) => ctx.resolveAwakeable(input.id, input.value),
  },
});

const order = object({
  name: "Order",
  handlers: {
    place: async (ctx, amount: number) => {
      const balance = await ctx.object(bank, `acct-${amount % 2}`).charge(amount);
      ctx.send(ledger, "L").record({ order: ctx.key, kind: "now" });
      ctx.send(ledger, "L").record({ order: ctx.key, kind: "later" }, { delay: 30 });
      await ctx.sleep(20);
      const { id, promise } = ctx.awakeable<string>();
      ctx.send(resolver).resolve({ id, value: `ok-${ctx.key}` });
      const signal = await promise;
      ctx.set("placed", { amount, signal });
      return { charged: balance > 0, signal };
    },
  },
});

function newRuntime(log: MemoryLog, crash: CrashPlan | null): { runtime: Runtime; transport: MemoryTransport } {
  const transport = new MemoryTransport(log, `${APP}.invocations`, `${APP}.changelog`, crash);
  const runtime = new Runtime(
    {
      app: APP,
      objects: [bank, ledger, order],
      services: [resolver],
      partitions: PARTITIONS,
      logger: quiet,
      retry: { initialIntervalMs: 1, maxIntervalMs: 2 },
      suspendAfterMs: 5,
    },
    transport,
  );
  return { runtime, transport };
}

const ORDERS = ["o1", "o2", "o3", "o4"];

function produce(log: MemoryLog, key: string, amount: number): void {
  log.append(`${APP}.invocations`, {
    key: Buffer.from(`Order/${key}`),
    value: Buffer.from(JSON.stringify(amount)),
    headers: { [H.handler]: Buffer.from("place"), [H.replyTo]: Buffer.from(REPLIES), [H.correlationId]: Buffer.from(key) },
  });
  log.notify();
}

const replies = (log: MemoryLog) => repliesIn(log, REPLIES);

const finalState = (log: MemoryLog) => settledStateOf(log, `${APP}.changelog`, PARTITIONS);

/** Done when every order replied and the ledger holds both records of each (the delayed ones come last). */
function finished(log: MemoryLog): boolean {
  if (new Set(replies(log).map((r) => r.corr)).size < ORDERS.length) return false;
  for (let p = 0; p < PARTITIONS; p++) {
    const state = new PartitionState();
    for (const [k, v] of log.compacted(`${APP}.changelog`, p)) state.apply(k, v);
    const entries = state.objectState("Ledger", "L")?.get("entries");
    if (entries && (JSON.parse(entries.toString()) as string[]).length === ORDERS.length * 2 && state.timers.size === 0) return true;
  }
  return false;
}

const scenario = (crash: CrashPlan | null) =>
  crashScenario(crash, { replies: REPLIES, newRuntime, produce: (log) => ORDERS.forEach((key, i) => produce(log, key, i + 1)), finished });

describe("calls, sends, timers and awakeables: crash at every commit, then recover (in memory)", () => {
  it("ends in exactly the replies and state of a run without a crash", async () => {
    const t0 = Date.now();
    const baseline = await scenario(null);
    if (process.env.KVO_DEBUG) console.log(`baseline: ${baseline.commits} commits in ${Date.now() - t0} ms`);
    const baseReplies = replies(baseline.log);
    const baseState = finalState(baseline.log);
    expect(baseReplies).toHaveLength(ORDERS.length);
    for (const r of baseReplies) expect(r).toMatchObject({ status: "ok", value: { charged: true, signal: `ok-${r.corr}` } });
    expect(baseState["Bank/acct-1.charges"]).toBe(2);
    expect(baseState["Bank/acct-0.balance"]).toBe(2 + 4);
    expect((baseState["Ledger/L.entries"] as string[]).length).toBe(ORDERS.length * 2);

    let crashPoints = 0;
    for (let at = 1; at <= baseline.commits; at++) {
      for (const afterApply of [false, true]) {
        const t1 = Date.now();
        const run = await scenario({ atCommit: at, afterApply });
        if (process.env.KVO_DEBUG) console.log(`crash at ${at}/${afterApply}: crashed=${run.crashed} ${Date.now() - t1} ms`);
        if (!run.crashed) continue;
        crashPoints++;
        const got = replies(run.log);
        const where = `crash at commit ${at} (afterApply=${afterApply})`;
        expect(got, where).toHaveLength(ORDERS.length);
        expect(new Map(got.map((r) => [r.corr, r])), where).toEqual(new Map(baseReplies.map((r) => [r.corr, r])));
        expect(finalState(run.log), where).toEqual(baseState);
      }
    }
    expect(crashPoints).toBeGreaterThanOrEqual(baseline.commits);
  }, 240_000);
});
