/**
 * A runtime process for the calls / timers crash test (calls-sigkill.test.ts). Started as a
 * child process so the test can SIGKILL it while calls, delayed sends and sleeps are in flight.
 *
 * Three workloads, each recording in state what happened, so the test can check exact
 * outcomes on the changelog afterwards (every handler below only writes state; nothing else
 * leaves the process, so the state is the whole truth):
 *
 *  - Call chains A → B → C: `ChainA.start` calls `ChainB.step`, which calls `ChainC.leaf`
 *    (each `await ctx.object(...)`). Each level, after its callee answered, counts its own
 *    executions per key (`count`: its sequence number `seq`) and marks the chain
 *    (`chain:<n>` = what it saw and returned); a chain marked twice on one key is recorded
 *    as `dup:<n>`. A level returns its callee's result plus its own seq, so A's mark and reply
 *    show which execution of B and C its result came from.
 *  - Delayed sends: `Sender.schedule` takes the journaled time (ctx.date.now()) and sends
 *    `Receiver.arrive({ id, due })` with `{ delay }`, due = that time + delay. The receiver
 *    marks `arrival:<id>` = { due, at } with `at` the wall clock of the attempt that commits.
 *  - Sleeps: `Sleeper.nap` takes the journaled time, sleeps, then marks `nap:<id>` =
 *    { due, at, invocation } the same way.
 * The handlers' `due` is a lower bound only (the runtime starts a delay when the send or
 * sleep is journaled, a commit later); the test also compares `at` with the due times the
 * runtime recorded (timer records, journaled wake-up times).
 *
 * Prints the lifecycle events of child_lifecycle.ts on stdout (started, stats every 500 ms,
 * closed, stopped).
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID, KVO_PARTITIONS
 */
import { createRuntime, object, type ObjectContext } from "../../../index.js";
import { childRuntimeOptions, runChild } from "./child_lifecycle.js";

/** What each level of a chain returns, and marks under `chain:<n>` on its key. */
export interface ChainResult {
  chain: number;
  cSeq: number;
  bSeq?: number;
  aSeq?: number;
}

/**
 * What a receiver or sleeper marks under `arrival:<id>` / `nap:<id>`: when the handler meant
 * it to be due (a lower bound of the runtime's due time, see Sender and Sleeper), when it ran,
 * and (sleeper) which invocation slept, to find its journaled wake-up time.
 */
export interface Timing {
  due: number;
  at: number;
  invocation?: string;
}

export interface ChainInput {
  chain: number;
  bKey: string;
  cKey: string;
}

export interface SendPlan {
  id: number;
  receiverKey: string;
  delayMs: number;
}

/** Counts this execution on the key: returns its sequence number (1 for the key's first). */
async function nextSeq(ctx: ObjectContext): Promise<number> {
  const seq = ((await ctx.get<number>("count")) ?? 0) + 1;
  ctx.set("count", seq);
  return seq;
}

/**
 * Marks `<prefix>:<id>` = value. A mark that exists already means a second execution for the
 * same id: recorded as `dup:<id>` (with both values) for the test to find.
 */
async function mark(ctx: ObjectContext, prefix: string, id: number, value: unknown): Promise<void> {
  const name = `${prefix}:${id}`;
  const earlier: unknown = await ctx.get(name);
  if (earlier !== null) ctx.set(`dup:${id}`, { earlier, now: value });
  ctx.set(name, value);
}

export const chainC = object({
  name: "ChainC",
  handlers: {
    leaf: async (ctx: ObjectContext, input: { chain: number }): Promise<ChainResult> => {
      const result: ChainResult = { chain: input.chain, cSeq: await nextSeq(ctx) };
      await mark(ctx, "chain", input.chain, result);
      return result;
    },
  },
});

export const chainB = object({
  name: "ChainB",
  handlers: {
    step: async (ctx: ObjectContext, input: { chain: number; cKey: string }): Promise<ChainResult> => {
      const fromC = await ctx.object(chainC, input.cKey).leaf({ chain: input.chain });
      if (fromC.chain !== input.chain) ctx.set(`wrong-result:${input.chain}`, fromC);
      const result: ChainResult = { ...fromC, bSeq: await nextSeq(ctx) };
      await mark(ctx, "chain", input.chain, result);
      return result;
    },
  },
});

export const chainA = object({
  name: "ChainA",
  handlers: {
    start: async (ctx: ObjectContext, input: ChainInput): Promise<ChainResult> => {
      const fromB = await ctx.object(chainB, input.bKey).step({ chain: input.chain, cKey: input.cKey });
      if (fromB.chain !== input.chain) ctx.set(`wrong-result:${input.chain}`, fromB);
      const result: ChainResult = { ...fromB, aSeq: await nextSeq(ctx) };
      await mark(ctx, "chain", input.chain, result);
      return result;
    },
  },
});

export const receiver = object({
  name: "Receiver",
  handlers: {
    arrive: async (ctx: ObjectContext, input: { id: number; due: number }): Promise<void> => {
      // The wall clock of this attempt, not ctx.date.now(): only the attempt that commits
      // leaves its mark, and no attempt may run before the send was due.
      const timing: Timing = { due: input.due, at: Date.now() };
      await nextSeq(ctx);
      await mark(ctx, "arrival", input.id, timing);
    },
  },
});

export const sender = object({
  name: "Sender",
  handlers: {
    schedule: async (ctx: ObjectContext, input: { sends: SendPlan[] }): Promise<void> => {
      // Journaled: a replay after a crash sees the first execution's time, which is never
      // later than the moment the runtime starts each delay, so `due` is a lower bound.
      const now = await ctx.date.now();
      for (const s of input.sends) ctx.send(receiver, s.receiverKey).arrive({ id: s.id, due: now + s.delayMs }, { delay: s.delayMs });
      ctx.set("count", ((await ctx.get<number>("count")) ?? 0) + input.sends.length);
    },
  },
});

export const sleeper = object({
  name: "Sleeper",
  handlers: {
    nap: async (ctx: ObjectContext, input: { id: number; ms: number }): Promise<void> => {
      // Journaled, like Sender's: the sleep starts after this time, so `due` is a lower bound
      // of the wake-up time the runtime journals.
      const due = (await ctx.date.now()) + input.ms;
      await ctx.sleep(input.ms);
      const timing: Timing = { due, at: Date.now(), invocation: ctx.request.id };
      await nextSeq(ctx);
      await mark(ctx, "nap", input.id, timing);
    },
  },
});

await runChild(createRuntime({ ...childRuntimeOptions(), objects: [chainA, chainB, chainC, sender, receiver, sleeper] }));
