/**
 * Attempt timeouts, cancellation and stuck-key visibility (issue "Core hardening", defect 6:
 * head-of-line blocking), on the in-memory log.
 */
import { describe, expect, it } from "vitest";
import { AttemptTimeoutError, CancelledError, ConfigurationError } from "../../sdk/errors.js";
import { object, service, shared } from "../../index.js";
import { invocationId } from "../../runtime/invocation/envelope.js";
import { H } from "../../runtime/invocation/headers.js";
import type { TransactionBatch } from "../../runtime/log/log.js";
import { Runtime } from "../../runtime/runtime.js";
import { MemoryApp, quietLogger } from "../support/memory_app.js";
import { MemoryTransport } from "../support/memory_log.js";
import { waitFor } from "../support/wait.js";
import { StepClock } from "../support/step_clock.js";

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Never settles: a handler or step that hangs. */
const forever = () => new Promise<never>(() => {});

/** Produces a `kvo-cancel` record (docs/record-format.md); returns its correlation id. */
function sendCancel(app: MemoryApp, key: string, id: string, corr: string): string {
  app.log.append("m.invocations", {
    key: Buffer.from(key),
    value: null,
    headers: { [H.cancel]: Buffer.from(id), [H.replyTo]: Buffer.from("replies"), [H.correlationId]: Buffer.from(corr) },
  });
  app.log.notify();
  return corr;
}

describe("attempt timeout", () => {
  it("abandons a hung attempt, aborts its signal, drops its late step result and retries to success", async () => {
    const stale = deferred<string>();
    const fresh = deferred<string>();
    const signals: AbortSignal[] = [];
    let attempts = 0;
    const o = object({
      name: "Slow",
      handlers: {
        go: async (ctx) => {
          const n = ++attempts;
          const v = await ctx.run("fetch", (signal) => {
            signals.push(signal);
            return n === 1 ? stale.promise : fresh.promise;
          });
          return { v, attempt: ctx.request.attempt };
        },
      },
      options: { attemptTimeoutMs: 50, retry: { initialIntervalMs: 1, maxAttempts: 5 } },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const corr = app.send("Slow/1", "go");
    await waitFor(() => attempts >= 2, "the retry after the timeout");
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(AttemptTimeoutError);
    expect((signals[0]!.reason as AttemptTimeoutError).code).toBe("attempt_timeout");
    expect((signals[0]!.reason as AttemptTimeoutError).retryable).toBe(true);
    // The abandoned attempt's step finishes now: its result must not take the retry's journal slot.
    stale.resolve("stale");
    await new Promise((r) => setImmediate(r));
    fresh.resolve("fresh");
    const r = await app.reply(corr);
    expect(r.status).toBe("ok");
    expect(r.value).toMatchObject({ v: "fresh" });
    expect((r.value as { attempt: number }).attempt).toBeGreaterThanOrEqual(2);
    await app.runtime.stop();
  });

  it("fails with attempt_timeout once the attempts are exhausted, discarding state writes", async () => {
    let attempts = 0;
    const o = object({
      name: "Hung",
      handlers: {
        go: async (ctx) => {
          attempts++;
          ctx.set("partial", true);
          return forever();
        },
        read: shared(async (ctx) => ctx.get<unknown>("partial")),
      },
      options: { attemptTimeoutMs: 20, retry: { initialIntervalMs: 1, maxAttempts: 2 } },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const r = await app.reply(app.send("Hung/1", "go"));
    expect(r.status).toBe("failed");
    expect(r.errorCode).toBe("attempt_timeout");
    expect(r.errorMessage).toMatch(
      /^gave up after 2 attempts: Hung\/1\.go \(invocation p\d+-o0\) attempt 2 did not finish within its attempt timeout of 20 ms/,
    );
    expect(attempts).toBe(2);
    expect((await app.reply(app.send("Hung/1", "read"))).value).toBe(null);
    await app.runtime.stop();
  });

  it("runs the deadline on the injected clock, with the per-handler timeout over the definition's", async () => {
    const clock = new StepClock();
    const signals: AbortSignal[] = [];
    const o = object({
      name: "Clocked",
      handlers: {
        slow: async (ctx) => ctx.run("wait", (signal) => (signals.push(signal), forever())),
        quick: async (ctx) => ctx.run("wait", (signal) => (signals.push(signal), forever())),
      },
      options: { attemptTimeoutMs: 600_000, handlers: { quick: { attemptTimeoutMs: 1_000 } }, retry: { maxAttempts: 1 } },
    });
    const app = new MemoryApp({ objects: [o] }, { clock });
    await app.start();
    const slow = app.send("Clocked/a", "slow");
    const quick = app.send("Clocked/b", "quick");
    await waitFor(() => signals.length === 2, "both attempts running");
    clock.advance(999);
    await new Promise((r) => setTimeout(r, 20));
    expect(app.replies()).toEqual([]);
    clock.advance(1);
    expect((await app.reply(quick)).errorMessage).toMatch(/Clocked\/b\.quick .* attempt timeout of 1000 ms/);
    expect(app.replies().some((r) => r.corr === slow)).toBe(false);
    clock.advance(600_000);
    expect((await app.reply(slow)).errorMessage).toMatch(/attempt timeout of 600000 ms/);
    expect(signals.every((s) => s.aborted)).toBe(true);
    await app.runtime.stop();
  });

  it("applies the runtime's attemptTimeoutMs to definitions that declare none", async () => {
    const hang = async () => forever();
    const plain = object({ name: "Plain", handlers: { hang } });
    const own = object({ name: "Own", handlers: { hang }, options: { attemptTimeoutMs: 600_000 } });
    const clock = new StepClock();
    const app = new MemoryApp({ objects: [plain, own] }, { clock, attemptTimeoutMs: 5_000, retry: { maxAttempts: 1 } });
    await app.start();
    const a = app.send("Plain/1", "hang");
    const b = app.send("Own/1", "hang");
    await waitFor(() => app.runtime.stats({ stuckAfterMs: 0 }).stuck.length === 2, "both running");
    clock.advance(5_000);
    expect((await app.reply(a)).errorMessage).toMatch(/Plain\/1\.hang .* attempt timeout of 5000 ms/);
    expect(app.replies().some((r) => r.corr === b)).toBe(false);
    await app.runtime.stop();
  });

  it("keeps a hung key from blocking other keys of its partition", async () => {
    const clock = new StepClock();
    let hungAttempts = 0;
    const o = object({
      name: "Hol",
      handlers: {
        hang: async () => {
          hungAttempts++;
          return forever();
        },
        ok: async (_ctx, v: number) => v,
      },
      options: { handlers: { hang: { attemptTimeoutMs: 30 } }, retry: { initialIntervalMs: 1, maxAttempts: 2 } },
    });
    // One partition that pauses at 3 in-flight invocations: three on the hung key fill it.
    const app = new MemoryApp({ objects: [o] }, { clock, partitions: 1, maxInFlightPerPartition: 3 });
    await app.start();
    const hung = [1, 2, 3].map(() => app.send("Hol/stuck", "hang"));
    await waitFor(() => app.runtime.stats().inFlight === 3 && hungAttempts === 1, "the hung key filling the partition");
    const other = app.send("Hol/other", "ok", 7);
    await new Promise((r) => setTimeout(r, 30));
    expect(app.replies()).toEqual([]); // the partition is paused behind the hung key...
    // ...until its attempts time out: 3 invocations × 2 attempts of 30 ms, 1 ms apart.
    const answered = (corr: string) => app.replies().some((r) => r.corr === corr);
    for (let i = 0; i < 40 && ![other, ...hung].every(answered); i++) {
      clock.advance(30);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await app.reply(other)).value).toBe(7);
    for (const corr of hung) expect((await app.reply(corr)).errorCode).toBe("attempt_timeout");
    expect(hungAttempts).toBe(6);
    await app.runtime.stop();
  });
});

describe("retry policy validation", () => {
  it("refuses unbounded or malformed maxAttempts and attempt timeouts, saying what and how to fix", () => {
    const def = (options: object) => () => object({ name: "V", handlers: { go: async () => 1 }, options });
    for (const maxAttempts of [Infinity, NaN, 0, -1, 1.5]) {
      expect(def({ retry: { maxAttempts } }), String(maxAttempts)).toThrow(ConfigurationError);
    }
    expect(def({ retry: { maxAttempts: Infinity } })).toThrow(
      /object V options\.retry: maxAttempts must be a finite positive integer .*got Infinity.*set a large maxAttempts/,
    );
    expect(def({ retry: { maxIntervalMs: Infinity } })).toThrow(/maxIntervalMs must be a number of milliseconds between 0 and 2147483647/);
    expect(def({ attemptTimeoutMs: 0 })).toThrow(
      /object V options\.attemptTimeoutMs must be an integer number of milliseconds between 1 and 2147483647/,
    );
    expect(def({ attemptTimeoutMs: 2 ** 31 })).toThrow(ConfigurationError);
    expect(def({ handlers: { nope: { attemptTimeoutMs: 5 } } })).toThrow(
      /options\.handlers names "nope", which is not one of its handlers \(go\)/,
    );
    expect(def({ handlers: { go: { attemptTimeoutMs: Infinity } } })).toThrow(/object V options\.handlers\.go\.attemptTimeoutMs must be/);
    expect(() => service({ name: "S", handlers: { go: async () => 1 }, options: { retry: { maxAttempts: Infinity } } })).toThrow(
      /service S options\.retry/,
    );
    const ok = object({ name: "V", handlers: { go: async () => 1 }, options: { retry: { maxAttempts: 3 }, attemptTimeoutMs: 1_000 } });
    expect(() => new MemoryApp({ objects: [ok] }, { retry: { maxAttempts: Infinity } })).toThrow(ConfigurationError);
  });

  it("fails an invocation whose ctx.run retry policy is unbounded, at once and without retries", async () => {
    let attempts = 0;
    const o = object({
      name: "RunPolicy",
      handlers: { go: async (ctx) => (attempts++, ctx.run("step", () => 1, { maxAttempts: Infinity })) },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const r = await app.reply(app.send("RunPolicy/1", "go"));
    expect(r.errorCode).toBe("invalid_retry_policy");
    expect(r.errorMessage).toMatch(/ctx\.run\("step"\) retry policy: maxAttempts must be a finite positive integer/);
    expect(attempts).toBe(1);
    await app.runtime.stop();
  });
});

describe("stuck keys in stats()", () => {
  it("names the oldest invocations holding their keys, bounded, with how long and at which attempt", async () => {
    const clock = new StepClock();
    let started = 0;
    const o = object({
      name: "Stuck",
      handlers: {
        hang: async () => (started++, forever()),
        flaky: async () => {
          started++;
          throw new Error("try later");
        },
      },
      options: { attemptTimeoutMs: 3_600_000, retry: { initialIntervalMs: 3_600_000, maxIntervalMs: 3_600_000, maxAttempts: 3 } },
    });
    const app = new MemoryApp({ objects: [o] }, { clock });
    await app.start();
    expect(app.runtime.stats()).toMatchObject({ longestRunningMs: 0, stuck: [] });
    app.send("Stuck/first", "flaky");
    await waitFor(() => started === 1, "the first one");
    clock.advance(30_000);
    for (let i = 0; i < 12; i++) app.send(`Stuck/k${i}`, "hang");
    app.send("Stuck/k0", "hang"); // queued behind k0: not holding anything yet
    await waitFor(() => started === 13, "12 hung invocations");
    clock.advance(40_000);
    const stats = app.runtime.stats();
    expect(stats.longestRunningMs).toBe(70_000);
    expect(stats.stuck).toHaveLength(1); // only "first" is above the default 60 s
    expect(stats.stuck[0]).toMatchObject({
      target: "Stuck",
      key: "first",
      handler: "flaky",
      runningForMs: 70_000,
      attempt: 2,
      phase: "retry_wait",
    });
    expect(stats.stuck[0]!.invocationId).toMatch(/^p\d+-o\d+$/);
    const all = app.runtime.stats({ stuckAfterMs: 40_000 }).stuck;
    expect(all).toHaveLength(10); // bounded
    expect(all[0]!.key).toBe("first");
    expect(all.slice(1).every((s) => s.phase === "running" && s.runningForMs === 40_000 && s.attempt === 1)).toBe(true);
    await app.runtime.stop();
  });
});

describe("cancel", () => {
  it("cancels a running invocation: abort signal, cancelled reply, state discarded, next one of the key starts", async () => {
    const signals: AbortSignal[] = [];
    const o = object({
      name: "Job",
      handlers: {
        work: async (ctx) => {
          ctx.set("touched", true);
          return ctx.run("wait", (signal) => (signals.push(signal), forever()));
        },
        read: async (ctx) => ctx.get<unknown>("touched"),
      },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const running = app.send("Job/1", "work");
    const next = app.send("Job/1", "read");
    await waitFor(() => signals.length === 1, "the job running");
    const [holder] = app.runtime.stats({ stuckAfterMs: 0 }).stuck;
    expect(holder).toMatchObject({ key: "1", handler: "work", phase: "running" });
    expect(await app.runtime.cancel(holder!.invocationId)).toBe(true);
    expect(signals[0]!.aborted).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(CancelledError);
    const r = await app.reply(running);
    expect(r).toMatchObject({ status: "failed", errorCode: "cancelled" });
    expect(r.errorMessage).toMatch(/Job\/1\.work \(invocation p\d+-o0\) was cancelled \(runtime\.cancel\(\)\)/);
    expect((await app.reply(next)).value).toBe(null);
    expect(await app.runtime.cancel(holder!.invocationId)).toBe(false); // finished: a no-op
    expect(app.runtime.stats()).toMatchObject({ inFlight: 0, failed: 1 });
    await app.runtime.stop();
  });

  it("cancels an invocation waiting for its retry; the retry never runs", async () => {
    let attempts = 0;
    const o = object({
      name: "Retrying",
      handlers: {
        go: async () => {
          attempts++;
          throw new Error("not yet");
        },
        ping: async () => "pong",
      },
      options: { retry: { initialIntervalMs: 60_000, maxAttempts: 5 } },
    });
    const clock = new StepClock();
    const app = new MemoryApp({ objects: [o] }, { clock });
    await app.start();
    const corr = app.send("Retrying/1", "go", undefined, { idempotencyKey: "once" });
    await waitFor(() => app.runtime.stats({ stuckAfterMs: 0 }).stuck[0]?.phase === "retry_wait", "the retry wait");
    const id = invocationId(0, 0n, "Retrying", "1", "go", "once");
    expect(app.runtime.stats({ stuckAfterMs: 0 }).stuck[0]!.invocationId).toBe(id);
    expect(await app.runtime.cancel(id)).toBe(true);
    expect(await app.reply(corr)).toMatchObject({ status: "failed", errorCode: "cancelled" });
    clock.advance(60_000); // when the retry was due
    expect((await app.reply(app.send("Retrying/1", "ping"))).value).toBe("pong");
    expect(attempts).toBe(1);
    // The outcome of an idempotency key is kept: a repeat is answered "cancelled", not re-run.
    expect(await app.reply(app.send("Retrying/1", "go", undefined, { idempotencyKey: "once" }))).toMatchObject({ errorCode: "cancelled" });
    expect(attempts).toBe(1);
    await app.runtime.stop();
  });

  it("cancels an invocation queued behind another of its key without disturbing the running one", async () => {
    const gate = deferred();
    const ran: string[] = [];
    const o = object({
      name: "Queue",
      handlers: {
        step: async (_ctx, name: string) => {
          ran.push(name);
          if (name === "head") await gate.promise;
          return name;
        },
      },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const head = app.send("Queue/q", "step", "head");
    const queued = app.send("Queue/q", "step", "queued", { idempotencyKey: "q-1" });
    const last = app.send("Queue/q", "step", "last");
    await waitFor(() => app.runtime.stats().inFlight === 3, "three in flight");
    expect(await app.runtime.cancel(invocationId(0, 0n, "Queue", "q", "step", "q-1"))).toBe(true);
    expect(await app.reply(queued)).toMatchObject({ status: "failed", errorCode: "cancelled" });
    expect(ran).toEqual(["head"]);
    gate.resolve();
    expect((await app.reply(head)).value).toBe("head");
    expect((await app.reply(last)).value).toBe("last");
    expect(ran).toEqual(["head", "last"]);
    await app.runtime.stop();
  });

  it("cancels through a kvo-cancel record, answers it, and answers unknown or empty ids with a failure", async () => {
    const o = object({ name: "Rec", handlers: { hang: async (ctx) => ctx.run("wait", () => forever()), ok: async () => "ok" } });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const hung = app.send("Rec/r", "hang");
    await waitFor(() => app.runtime.stats({ stuckAfterMs: 0 }).stuck.length === 1, "the hung invocation");
    const id = app.runtime.stats({ stuckAfterMs: 0 }).stuck[0]!.invocationId;

    const answer = await app.reply(sendCancel(app, "Rec/r", id, "cancel-1"));
    expect(answer).toMatchObject({ status: "ok", value: { invocationId: id, cancelled: true } });
    const r = await app.reply(hung);
    expect(r).toMatchObject({ status: "failed", errorCode: "cancelled" });
    expect(r.errorMessage).toMatch(/was cancelled \(by cancel record \d+@\d+\)/);
    expect((await app.reply(app.send("Rec/r", "ok"))).value).toBe("ok");

    const again = await app.reply(sendCancel(app, "Rec/r", id, "cancel-2"));
    expect(again).toMatchObject({ status: "failed", errorCode: "not_in_flight" });
    expect(again.errorMessage).toMatch(new RegExp(`invocation ${id} is not in flight on partition \\d+, nothing was cancelled`));
    const empty = await app.reply(sendCancel(app, "Rec/r", "", "cancel-3"));
    expect(empty).toMatchObject({ status: "failed", errorCode: "invalid_cancel" });
    await waitFor(() => app.dlq().length === 1, "the DLQ copy of the empty cancel");
    expect(app.dlq()[0]!.code).toBe("invalid_cancel");
    await app.runtime.stop();
  });

  it("commits a consumed cancel record with the cancelled outcome, so it survives a crash", async () => {
    let starts = 0;
    const o = object({
      name: "Dur",
      handlers: { hang: async (ctx) => (starts++, ctx.run("wait", () => forever())), ok: async () => "ok" },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const hung = app.send("Dur/d", "hang");
    await waitFor(() => starts === 1, "the hung invocation");
    const id = app.runtime.stats({ stuckAfterMs: 0 }).stuck[0]!.invocationId;
    const partition = Number(/^p(\d+)-/.exec(id)![1]);

    // The transaction that moves the partition's offset past the cancel record must carry the
    // cancellation; the process dies right after it commits.
    const commit = app.transport.commit.bind(app.transport);
    let checked: TransactionBatch | null = null;
    app.transport.commit = async (batch) => {
      const cancelOffset = BigInt(app.log.partitions("m.invocations")[partition]!.length - 1);
      if (
        checked === null &&
        (batch.offsets.get(partition) ?? 0n) > cancelOffset &&
        app.log.partitions("m.invocations")[partition]!.at(-1)!.headers[H.cancel]
      ) {
        checked = batch;
        await commit(batch);
        app.transport.dead = true; // SIGKILL right after the commit
        return new Promise<void>(() => {});
      }
      return commit(batch);
    };
    sendCancel(app, "Dur/d", id, "cancel-d");
    await waitFor(() => checked !== null, "the commit of the cancel record");
    const tombstone = checked!.records.find((r) => r.topic === "m.changelog" && r.key?.toString() === JSON.stringify(["inv", id]));
    expect(tombstone?.value).toBe(null);

    const restarted = new Runtime(
      { app: "m", partitions: 2, logger: quietLogger, objects: [o] },
      new MemoryTransport(app.log, "m.invocations", "m.changelog"),
    );
    await restarted.start();
    const after = app.send("Dur/d", "ok");
    await waitFor(() => app.replies().some((r) => r.corr === after), "the key to be free after the restart");
    expect(starts).toBe(1); // not resumed: it ended cancelled
    expect(app.replies().filter((r) => r.corr === hung)).toMatchObject([{ status: "failed", errorCode: "cancelled" }]);
    expect(app.replies().filter((r) => r.corr === "cancel-d")).toMatchObject([{ status: "ok" }]);
    await restarted.stop();
  });
});
