/**
 * The handlers of the calls benchmark (hosted by app.ts): the same workloads as the Restate peer's
 * (../shared/peers/restate/service.mjs).
 *   Caller.go   awaits `Callee.bump` on the same key (an object → object request-response;
 *               the peer's `Caller.call` → `Counter.bump`) and returns how long that call took
 *   Callee.bump a state get + set (the peer's `Counter.bump`)
 *   Caller.nap  a durable 100 ms ctx.sleep, nothing else (the peer's `Caller.nap`)
 *   Caller.timedNap  the same sleep between a ctx.date.now() and a ctx.run(() => Date.now()),
 *               returning how late it woke (two more journal entries, so its end-to-end
 *               latency is not the peer's)
 *
 * Timing inside a handler uses the process's wall clock, not only journaled values: a journaled
 * timestamp (ctx.date.now(), ctx.run) resolves only after its entry is committed, so taking
 * one right before the call would add a transaction to what is measured. The raw clock is
 * read outside the journal; the outputs are only read by the benchmark (nothing branches on
 * them), and `firstSeen` keeps the first execution's reading should the handler be replayed
 * (an attempt that is re-run after the call completed would otherwise measure ~0).
 */
import { object } from "../../../index.js";

/** Invocation id → wall clock (ms) read by its first execution, per label. */
const firstSeen = new Map<string, number>();
/** The wall clock the first execution of this invocation read at `label`. */
function firstReading(id: string, label: string): number {
  const k = `${id}:${label}`;
  let t = firstSeen.get(k);
  if (t === undefined) firstSeen.set(k, (t = Date.now()));
  return t;
}
const forget = (id: string, label: string): boolean => firstSeen.delete(`${id}:${label}`);

/** What Caller.go returns. */
export interface GoOutput {
  /** The callee's result (its count). */
  count: number;
  /** Wall-clock ms from right before ctx.object(...).bump() to right after it resolved. */
  callMs: number;
}

/** What Caller.timedNap returns. */
export interface NapOutput {
  /** Wake-up (ctx.run after the sleep) − (ctx.date.now() before it + 100 ms). */
  latenessMs: number;
  /** Wake-up − (wall clock right when ctx.sleep was called + 100 ms): the timer's own lateness. */
  timerLatenessMs: number;
}

export const NAP_MS = 100;

export const callee = object({
  name: "Callee",
  handlers: {
    bump: async (ctx, n: number) => {
      const count = ((await ctx.get<number>("count")) ?? 0) + n;
      ctx.set("count", count);
      return count;
    },
  },
});

export const caller = object({
  name: "Caller",
  handlers: {
    go: async (ctx, n: number): Promise<GoOutput> => {
      const id = ctx.request.id;
      const before = firstReading(id, "call");
      const count = await ctx.object(callee, ctx.key).bump(n);
      const callMs = Date.now() - before;
      forget(id, "call");
      return { count, callMs };
    },
    nap: async (ctx): Promise<void> => {
      await ctx.sleep(NAP_MS);
    },
    timedNap: async (ctx): Promise<NapOutput> => {
      const id = ctx.request.id;
      const start = await ctx.date.now();
      const sleepCalled = firstReading(id, "sleep");
      await ctx.sleep(NAP_MS);
      const woke = await ctx.run("woke", () => Date.now());
      forget(id, "sleep");
      return { latenessMs: woke - (start + NAP_MS), timerLatenessMs: woke - (sleepCalled + NAP_MS) };
    },
  },
});
