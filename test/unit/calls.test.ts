/**
 * Calls, sends, timers, awakeables, combinators, workflows and cancellation (issue 9) on the
 * in-memory log: the journal and partition logic, without Kafka.
 */
import { describe, expect, it } from "vitest";
import { object, service, shared, TerminalError, workflow } from "../../index.js";
import { awakeableCompletionRecord } from "../../runtime/invocation/awakeable_record.js";
import { H } from "../../runtime/invocation/headers.js";
import { defaultPartition } from "../../runtime/log/partitioner.js";
import { MemoryApp, quietLogger } from "../support/memory_app.js";
import { MemoryTransport } from "../support/memory_log.js";
import { Runtime } from "../../runtime/runtime.js";
import { waitFor } from "../support/wait.js";

const account = object({
  name: "Account",
  handlers: {
    deposit: async (ctx, amount: number) => {
      if (amount < 0) throw new TerminalError(`negative amount ${amount}`, { code: "bad_amount" });
      const balance = ((await ctx.get<number>("balance")) ?? 0) + amount;
      ctx.set("balance", balance);
      return balance;
    },
    balance: shared(async (ctx) => (await ctx.get<number>("balance")) ?? 0),
  },
});

const notifier = service({
  name: "Notifier",
  handlers: { notify: async (_ctx, msg: string) => `sent:${msg}` },
});

const teller = object({
  name: "Teller",
  handlers: {
    pay: async (ctx, input: { to: string; amount: number }) => {
      const balance = await ctx.object(account, input.to).deposit(input.amount);
      const note = await ctx.service(notifier).notify(`paid ${input.amount}`);
      ctx.set("paid", ((await ctx.get<number>("paid")) ?? 0) + 1);
      return { balance, note };
    },
    payBad: async (ctx, to: string) => {
      try {
        await ctx.object(account, to).deposit(-1);
        return "no error";
      } catch (error) {
        return { code: (error as TerminalError).code, terminal: error instanceof TerminalError };
      }
    },
    later: async (ctx, input: { to: string; delay: number }) => {
      ctx.send(account, input.to).deposit(5, { delay: input.delay });
      return "scheduled";
    },
    nap: async (ctx, ms: number) => {
      const before = await ctx.date.now();
      await ctx.sleep(ms);
      const after = await ctx.run("after", () => Date.now());
      return { slept: after - before };
    },
    waitSignal: async (ctx) => {
      const { id, promise } = ctx.awakeable<{ ok: boolean }>();
      ctx.set("awakeable", id);
      await ctx.run("publish", () => id); // commits the awakeable entry before the id leaves
      return await promise;
    },
    raceIt: async (ctx, ms: number) => {
      const { promise } = ctx.awakeable<string>();
      try {
        return await promise.orTimeout(ms);
      } catch (error) {
        return `timeout:${(error as TerminalError).code}`;
      }
    },
  },
});

const cycleA = object({
  name: "CycA",
  handlers: {
    // Objects that call each other: an explicit return type breaks the circular type inference.
    start: async (ctx, key: string): Promise<string> => ctx.object(cycleB, key).hop(ctx.key),
    back: async (): Promise<string> => "never",
  },
});
const cycleB = object({
  name: "CycB",
  handlers: {
    hop: async (ctx, aKey: string): Promise<string> => ctx.object(cycleA, aKey).back(),
  },
});

function newApp(extra: Partial<ConstructorParameters<typeof MemoryApp>[1]> = {}) {
  return new MemoryApp({ objects: [account, teller, cycleA, cycleB], services: [notifier] }, { suspendAfterMs: 50, ...extra });
}

describe("calls", () => {
  it("calls an object and a service and returns their outputs", async () => {
    const app = newApp();
    await app.start();
    const r = await app.reply(app.send("Teller/t1", "pay", { to: "acc-1", amount: 10 }));
    expect(r.value).toEqual({ balance: 10, note: "sent:paid 10" });
    const again = await app.reply(app.send("Teller/t1", "pay", { to: "acc-1", amount: 5 }));
    expect(again.value).toEqual({ balance: 15, note: "sent:paid 5" });
    await app.runtime.stop();
  });

  it("rethrows a callee's TerminalError with its code", async () => {
    const app = newApp();
    await app.start();
    const r = await app.reply(app.send("Teller/t2", "payBad", "acc-2"));
    expect(r.value).toEqual({ code: "bad_amount", terminal: true });
    await app.runtime.stop();
  });

  it("fails a call that comes back to a key the chain holds with call_cycle, naming the chain", async () => {
    const app = newApp();
    await app.start();
    const r = await app.reply(app.send("CycA/1", "start", "2"));
    expect(r.status).toBe("failed");
    expect(r.errorCode).toBe("call_cycle");
    expect(r.errorMessage).toContain("CycA/1 → CycB/2 → CycA/1");
    await app.runtime.stop();
  });
});

describe("timers", () => {
  it("delivers a delayed send once, not before its time", async () => {
    const app = newApp();
    await app.start();
    const start = Date.now();
    expect((await app.reply(app.send("Teller/t3", "later", { to: "acc-3", delay: 300 }))).value).toBe("scheduled");
    await waitFor(async () => (await app.reply(app.send("Account/acc-3", "balance"))).value === 5, "delayed deposit", 5_000);
    expect(Date.now() - start).toBeGreaterThanOrEqual(300);
    await new Promise((r) => setTimeout(r, 200));
    expect((await app.reply(app.send("Account/acc-3", "balance"))).value).toBe(5);
    expect(app.runtime.stats().timers).toBe(0);
    await app.runtime.stop();
  });

  it("sleeps durably, also across suspension", async () => {
    const app = newApp();
    await app.start();
    const r = await app.reply(app.send("Teller/t4", "nap", 300));
    expect((r.value as { slept: number }).slept).toBeGreaterThanOrEqual(300);
    await app.runtime.stop();
  });
});

describe("backpressure", () => {
  it("never pauses a partition on invocations queued behind a holder that waits for a call (it would wait for itself)", async () => {
    const echo = object({ name: "Echo", handlers: { echo: async (_ctx, n: number) => n } });
    const hot = object({ name: "Hot", handlers: { go: async (ctx, n: number) => ctx.object(echo, `e${n}`).echo(n) } });
    const app = new MemoryApp({ objects: [echo, hot] }, { partitions: 1, maxInFlightPerPartition: 5, suspendAfterMs: 20 });
    await app.start();
    const corrs = Array.from({ length: 20 }, (_, n) => app.send("Hot/k", "go", n));
    for (const [n, corr] of corrs.entries()) expect((await app.reply(corr, 10_000)).value).toBe(n);
    await app.runtime.stop();
  });
});

describe("transactions", () => {
  it("seals full batches between handlers' steps when one commit wakes many handlers at once", async () => {
    const fanout = service({
      name: "Fanout",
      handlers: {
        go: async (ctx) => {
          await ctx.date.now(); // every invocation wakes when this commit lands: their sends are written in one turn
          for (let i = 0; i < 50; i++) ctx.send(account, `f${i}`).deposit(1, { delay: 60_000 });
        },
      },
    });
    const app = new MemoryApp({ objects: [account], services: [fanout] }, { partitions: 1, maxTransactionRecords: 500 });
    const sizes: number[] = [];
    const commit = app.transport.commit.bind(app.transport);
    app.transport.commit = (batch) => (sizes.push(batch.records.length), commit(batch));
    await app.start();
    const corrs = Array.from({ length: 100 }, (_, i) => app.send(`Fanout/r${i}`, "go"));
    for (const corr of corrs) await app.reply(corr);
    expect(app.runtime.stats().timers).toBe(5_000);
    // a full batch is sealed at the end of the turn, or at a step boundary once at twice the
    // cap; a step is one journal record and one timer record (without step boundaries, the
    // turn that wakes them all would write its 10,000 records into one batch)
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2 * 500 + 2);
    await app.runtime.stop();
  });
});

describe("partitioning", () => {
  it("refuses an object's record on another partition than Kafka's default partitioner gives its key", async () => {
    const app = newApp();
    await app.start();
    const key = Buffer.from("Account/acc-9");
    const right = defaultPartition(key, 2);
    app.log.append("m.invocations", {
      key,
      value: Buffer.from("1"),
      partition: 1 - right,
      headers: { [H.handler]: Buffer.from("deposit"), [H.replyTo]: Buffer.from("replies"), [H.correlationId]: Buffer.from("wrong") },
    });
    app.log.notify();
    const r = await app.reply("wrong");
    expect(r.errorCode).toBe("wrong_partition");
    expect(r.errorMessage).toContain(`puts its key on partition ${right}`);
    expect(app.dlq().map((d) => d.code)).toEqual(["wrong_partition"]);
    expect((await app.reply(app.send("Account/acc-9", "balance"))).value).toBe(0);
    await app.runtime.stop();
  });
});

describe("restore", () => {
  it("a sleeping invocation restored by another process waits suspended, without a replay, and wakes at its time", async () => {
    let executions = 0;
    const sleeper = object({
      name: "Sleeper",
      handlers: {
        nap: async (ctx, ms: number) => {
          executions++;
          await ctx.sleep(ms);
          return "woke";
        },
      },
    });
    const app = new MemoryApp({ objects: [sleeper] }, { suspendAfterMs: 10_000 });
    await app.start();
    const corr = app.send("Sleeper/s", "nap", 600);
    await waitFor(() => app.runtime.stats().timers === 1, "sleep recorded");
    await new Promise((r) => setTimeout(r, 50)); // its journal entry commits
    const started = Date.now();
    app.transport.dead = true; // the first process dies (its runtime never commits again)
    const transport = new MemoryTransport(app.log, "m.invocations", "m.changelog");
    const second = new Runtime({ app: "m", partitions: 2, logger: quietLogger, objects: [sleeper] }, transport);
    await second.start();
    expect(second.stats().suspended).toBe(1);
    expect(second.stats().timers).toBe(1);
    expect(executions).toBe(1); // restored without running the handler
    expect((await app.reply(corr)).value).toBe("woke");
    expect(executions).toBe(2); // one replay, when the timer fired
    expect(Date.now() - started).toBeGreaterThanOrEqual(400); // not early: ~600 ms after it started sleeping
    await second.stop();
  });
});

describe("awakeables", () => {
  it("is completed by a record on its partition, after the waiting attempt was suspended", async () => {
    const app = newApp();
    await app.start();
    const corr = app.send("Teller/t5", "waitSignal");
    let id: string | undefined;
    await waitFor(() => {
      id = app.log
        .partitions("m.changelog")
        .flat()
        .map((r) => r.value?.toString("latin1") ?? "")
        .find((v) => v.includes("awk."))
        ?.match(/awk\.[\w.-]+/)?.[0];
      return id !== undefined;
    }, "awakeable id in the changelog");
    await waitFor(() => app.runtime.stats().suspended === 1, "suspended");
    const record = awakeableCompletionRecord("m.invocations", { id: id!, value: Buffer.from('{"ok":true}'), failure: null });
    app.log.append("m.invocations", { key: record.key, value: record.value, headers: record.headers ?? {}, partition: record.partition });
    app.log.notify();
    expect((await app.reply(corr)).value).toEqual({ ok: true });
    await app.runtime.stop();
  });

  it("orTimeout: the timer wins when nothing completes the awakeable", async () => {
    const app = newApp();
    await app.start();
    expect((await app.reply(app.send("Teller/t6", "raceIt", 100))).value).toBe("timeout:timeout");
    await app.runtime.stop();
  });
});

describe("workflows", () => {
  const approvals = workflow({
    name: "Approval",
    run: async (ctx, amount: number) => {
      ctx.set("stage", "waiting");
      const decision = await ctx.promise<string>("decision").get();
      ctx.set("stage", decision);
      return { amount, decision };
    },
    handlers: {
      decide: async (ctx, decision: string) => ctx.promise("decision").resolve(decision),
      stage: async (ctx) => ctx.get<string>("stage"),
    },
  });

  it("runs once per id and is signalled through a durable promise", async () => {
    const app = new MemoryApp({ objects: [approvals] }, { suspendAfterMs: 50 });
    await app.start();
    const first = app.send("Approval/w1", "run", 100);
    // the run's progress is visible to shared handlers while it waits (also once suspended)
    await waitFor(async () => (await app.reply(app.send("Approval/w1", "stage"))).value === "waiting", "stage waiting");
    await waitFor(() => app.runtime.stats().suspended === 1, "run suspended");
    await app.reply(app.send("Approval/w1", "decide", "approved"));
    expect((await app.reply(first)).value).toEqual({ amount: 100, decision: "approved" });
    const second = await app.reply(app.send("Approval/w1", "run", 999));
    expect(second.value).toEqual({ amount: 100, decision: "approved" });
    expect((await app.reply(app.send("Approval/w1", "stage"))).value).toBe("approved");
    await app.runtime.stop();
  });
});

describe("cancellation", () => {
  const waiter = object({
    name: "Waiter",
    handlers: {
      wait: async (ctx) => {
        await ctx.awakeable<string>().promise;
        return "woken";
      },
    },
  });
  const boss = object({
    name: "Boss",
    handlers: {
      run: async (ctx) => {
        try {
          return await ctx.object(waiter, "w").wait();
        } catch (error) {
          ctx.send(account, "comp").deposit(1); // compensation
          throw error;
        }
      },
    },
  });

  it("cancels the callee and runs the caller's compensation", async () => {
    const app = new MemoryApp({ objects: [waiter, boss, account] }, { suspendAfterMs: 50 });
    await app.start();
    const corr = app.send("Boss/b", "run");
    await waitFor(() => app.runtime.stats().inFlight === 2, "caller and callee in flight");
    await new Promise((r) => setTimeout(r, 100));
    // the caller's invocation id: p<partition>-o<offset> of its record
    const part = app.log.partitions("m.invocations").findIndex((p) => p.some((r) => r.key?.toString() === "Boss/b"));
    app.log.append("m.invocations", { key: Buffer.from("Boss/b"), value: null, headers: { [H.cancel]: Buffer.from(`p${part}-o0`) } });
    app.log.notify();
    const r = await app.reply(corr);
    expect(r.errorCode).toBe("cancelled");
    await waitFor(async () => (await app.reply(app.send("Account/comp", "balance"))).value === 1, "compensation ran");
    await waitFor(() => app.runtime.stats().inFlight === 0, "callee cancelled too");
    await app.runtime.stop();
  });
});
