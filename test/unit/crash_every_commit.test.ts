import { describe, expect, it } from "vitest";
import { object, TerminalError } from "../../index.js";
import { H } from "../../runtime/invocation/headers.js";
import { Runtime } from "../../runtime/runtime.js";
import { codecs } from "../../runtime/codec/records.js";
import { MemoryLog, MemoryTransport, type CrashPlan } from "../support/memory_log.js";
import { crashScenario, repliesIn, settledStateOf } from "../support/crash_harness.js";
import type { Logger } from "../../runtime/support.js";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const APP = "t";
const PARTITIONS = 2;
const REPLIES = "replies";

/** Counts executions of each step action across all attempts and processes of one scenario. */
let executions: Record<string, number> = {};
const bump = (name: string) => (executions[name] = (executions[name] ?? 0) + 1);

const flow = object({
  name: "Flow",
  handlers: {
    go: async (ctx, n: number) => {
      const total = (await ctx.get<number>("total")) ?? 0;
      const a = await ctx.run("a", () => (bump("a"), n * 2));
      ctx.set("afterA", a);
      const t = await ctx.date.now();
      const jitter = Math.floor(ctx.rand.random() * 1000);
      const b = await ctx.run("b", async () => (bump("b"), a + jitter));
      // "c" returns a value unique to each execution: later steps must see the recorded one.
      const c = await ctx.run("c", () => bump("c"));
      const seen = await ctx.run("d", () => (bump("d"), c));
      if (seen !== c) throw new TerminalError(`step d saw ${seen}, step c recorded ${c}`);
      ctx.set("total", total + b);
      ctx.set("lastC", c);
      if (n === 3) ctx.clear("afterA");
      return { a, b, c, tIsNumber: typeof t === "number" };
    },
    reject: async (ctx) => {
      await ctx.run("before", () => bump("before"));
      throw new TerminalError("refused", { code: "refused" });
    },
  },
});

function produce(log: MemoryLog, key: string, handler: string, input: unknown): void {
  log.append(`${APP}.invocations`, {
    key: Buffer.from(key),
    value: input === undefined ? null : Buffer.from(JSON.stringify(input)),
    headers: {
      [H.handler]: Buffer.from(handler),
      [H.replyTo]: Buffer.from(REPLIES),
      [H.correlationId]: Buffer.from(`${key}:${handler}:${JSON.stringify(input)}`),
    },
  });
  log.notify();
}

const replies = (log: MemoryLog) => repliesIn(log, REPLIES);

const finalState = (log: MemoryLog) => settledStateOf(log, `${APP}.changelog`, PARTITIONS);

/**
 * Durable steps: across every journal version ever committed for an invocation, an entry,
 * once written, keeps its value (the journal only grows). Returns the last journal per id.
 */
function checkJournalsOnlyGrow(log: MemoryLog): Map<string, Array<{ kind: string; name: string; value: string | null }>> {
  const last = new Map<string, Array<{ kind: string; name: string; value: string | null }>>();
  for (let p = 0; p < PARTITIONS; p++) {
    for (const r of log.partitions(`${APP}.changelog`)[p]!) {
      const key = JSON.parse(r.key!.toString()) as string[];
      if (key[0] !== "jnl" || r.value === null) continue;
      const entries = codecs.journal
        .decode(r.value)
        .entries.map((e) => ({ kind: e.kind, name: e.name, value: e.value?.toString() ?? null }));
      const before = last.get(key[1]!) ?? [];
      expect(entries.slice(0, before.length), `journal of ${key[1]} rewrote a committed entry`).toEqual(before);
      last.set(key[1]!, entries);
    }
  }
  return last;
}

function newRuntime(log: MemoryLog, crash: CrashPlan | null): { runtime: Runtime; transport: MemoryTransport } {
  const transport = new MemoryTransport(log, `${APP}.invocations`, `${APP}.changelog`, crash);
  const runtime = new Runtime(
    { app: APP, objects: [flow], partitions: PARTITIONS, logger: quiet, retry: { initialIntervalMs: 1, maxIntervalMs: 2 } },
    transport,
  );
  return { runtime, transport };
}

const WORK: Array<[string, string, unknown]> = [
  ["Flow/a", "go", 1],
  ["Flow/a", "go", 2],
  ["Flow/b", "go", 3],
  ["Flow/a", "reject", undefined],
  ["Flow/b", "go", 4],
];

function scenario(crash: CrashPlan | null): ReturnType<typeof crashScenario> {
  executions = {};
  return crashScenario(crash, {
    replies: REPLIES,
    newRuntime,
    produce: (log) => {
      for (const [key, handler, input] of WORK) produce(log, key, handler, input);
    },
    finished: (log) => new Set(replies(log).map((r) => r.corr)).size === WORK.length,
  });
}

describe("crash at every commit, then recover (in memory)", () => {
  it("ends in exactly the state and outcomes of a run without a crash", async () => {
    const baseline = await scenario(null);
    const baseReplies = replies(baseline.log);
    const baseState = finalState(baseline.log);
    // Sanity: the baseline itself is what the handler means.
    expect(baseReplies).toHaveLength(WORK.length);
    expect(baseState["Flow/a.total"]).toBeGreaterThanOrEqual(2 + 4);
    expect(baseState["Flow/b.afterA"]).toBe(8);
    expect(baseReplies.find((r) => r.corr.includes("reject"))).toMatchObject({
      status: "failed",
      value: { code: "refused", message: "refused" },
    });

    const byCorr = (rs: ReturnType<typeof replies>) => new Map(rs.map((r) => [r.corr, r]));
    const stable = (v: unknown) => (v && typeof v === "object" ? { ...v, c: undefined } : v);
    let crashPoints = 0;
    for (let at = 1; at <= baseline.commits; at++) {
      for (const afterApply of [false, true]) {
        const run = await scenario({ atCommit: at, afterApply });
        if (!run.crashed) continue;
        crashPoints++;
        const got = replies(run.log);
        // Exactly one reply per invocation: nothing lost, nothing duplicated.
        expect(got, `crash at commit ${at} (afterApply=${afterApply})`).toHaveLength(WORK.length);
        const gotMap = byCorr(got);
        for (const [corr, base] of byCorr(baseReplies)) {
          const r = gotMap.get(corr)!;
          expect(r.status, corr).toBe(base.status);
          expect(stable(r.value), corr).toEqual(stable(base.value));
        }
        const journals = checkJournalsOnlyGrow(run.log);
        const state = finalState(run.log);
        expect({ ...state, "Flow/a.lastC": 0, "Flow/b.lastC": 0 }).toEqual({ ...baseState, "Flow/a.lastC": 0, "Flow/b.lastC": 0 });
        // The recorded "c" of the last invocation per key is the one stored in state.
        expect(state["Flow/b.lastC"]).toBe((gotMap.get("Flow/b:go:4")!.value as { c: number }).c);
        // Each reply carries the "c" its journal recorded, whatever re-ran before the commit.
        for (const [corr, r] of gotMap) {
          if (r.status !== "ok") continue;
          const recorded = [...journals.values()]
            .filter((j) => j.some((e) => e.name === "a"))
            .map((j) => j.find((e) => e.name === "c")?.value);
          expect(recorded, corr).toContain(String((r.value as { c: number }).c));
        }
        for (const step of ["a", "b", "c", "d"]) expect(executions[step]!, step).toBeGreaterThanOrEqual(4);
      }
    }
    expect(crashPoints).toBeGreaterThanOrEqual(baseline.commits);
  }, 120_000);
});
