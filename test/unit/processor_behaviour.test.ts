import { describe, expect, it } from "vitest";
import { FencedError, object, service, shared, TerminalError } from "../../index.js";
import { MemoryApp } from "../support/memory_app.js";
import { waitFor } from "../support/wait.js";

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("per-key order and shared handlers", () => {
  it("runs exclusive invocations of one key one at a time in arrival order, shared ones alongside", async () => {
    const gate = deferred();
    const log: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const box = object({
      name: "Box",
      handlers: {
        append: async (ctx, item: string) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          log.push(`start ${item}`);
          if (item === "first") await gate.promise;
          await ctx.run("step", () => item);
          const items = (await ctx.get<string[]>("items")) ?? [];
          ctx.set("items", [...items, item]);
          log.push(`end ${item}`);
          running--;
          return items.length + 1;
        },
        peek: shared(async (ctx) => {
          log.push("peek");
          return (await ctx.get<string[]>("items")) ?? [];
        }),
      },
    });
    const app = new MemoryApp({ objects: [box] });
    await app.start();
    const order = ["first", "second", "third", "fourth"].map((i) => app.send("Box/k", "append", i));
    const other = app.send("Box/other", "append", "elsewhere");
    const peek = app.send("Box/k", "peek");
    // The shared peek and another key finish while "first" still holds key k.
    expect((await app.reply(peek)).value).toEqual([]);
    expect((await app.reply(other)).value).toBe(1);
    expect(log.filter((l) => l.startsWith("start") && !l.includes("elsewhere"))).toEqual(["start first"]);
    gate.resolve();
    const results = await Promise.all(order.map((c) => app.reply(c)));
    expect(results.map((r) => r.value)).toEqual([1, 2, 3, 4]);
    const kLog = log.filter((l) => !l.includes("elsewhere") && l !== "peek");
    expect(kLog).toEqual([
      "start first",
      "end first",
      "start second",
      "end second",
      "start third",
      "end third",
      "start fourth",
      "end fourth",
    ]);
    const after = app.send("Box/k", "peek");
    expect((await app.reply(after)).value).toEqual(["first", "second", "third", "fourth"]);
    await app.runtime.stop();
  });

  it("throws a clear error when a shared handler writes state", async () => {
    const o = object({
      name: "Ro",
      handlers: { sneaky: shared(async (ctx) => (ctx as unknown as { set(n: string, v: number): void }).set("x", 1)) },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const r = await app.reply(app.send("Ro/1", "sneaky"));
    expect(r.status).toBe("failed");
    expect(r.errorCode).toBe("shared_handler_write");
    expect(r.errorMessage).toMatch(/ctx\.set\(\) was called in shared handler Ro\/1 .*read-only/);
    await app.runtime.stop();
  });
});

describe("retries and failures", () => {
  it("retries a retryable failure with backoff and replays completed steps", async () => {
    let attempts = 0;
    let stepRuns = 0;
    const o = object({
      name: "Flaky",
      handlers: {
        go: async (ctx) => {
          const v = await ctx.run("once", () => ++stepRuns);
          attempts++;
          if (attempts < 3) throw new Error(`transient ${attempts}`);
          return { v, attempt: ctx.request.attempt };
        },
      },
      options: { retry: { initialIntervalMs: 1, maxAttempts: 5 } },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const r = await app.reply(app.send("Flaky/1", "go"));
    expect(r).toMatchObject({ status: "ok", value: { v: 1, attempt: 3 } });
    expect(stepRuns).toBe(1);
    await app.runtime.stop();
  });

  it("gives up after the bounded attempts and records the last error; state writes are discarded", async () => {
    let attempts = 0;
    const o = object({
      name: "Doomed",
      handlers: {
        go: async (ctx) => {
          ctx.set("partial", true);
          throw new Error(`boom ${++attempts}`);
        },
        read: shared(async (ctx) => ctx.get<unknown>("partial")),
      },
      options: { retry: { initialIntervalMs: 1, maxAttempts: 3 } },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const r = await app.reply(app.send("Doomed/1", "go"));
    expect(r.status).toBe("failed");
    expect(r.errorCode).toBe("unknown");
    expect(r.errorMessage).toBe("gave up after 3 attempts: boom 3");
    expect(attempts).toBe(3);
    expect((await app.reply(app.send("Doomed/1", "read"))).value).toBe(null);
    await app.runtime.stop();
  });

  it("fails at once on TerminalError, and ctx.run retries by its own policy", async () => {
    let runTries = 0;
    const o = object({
      name: "T",
      handlers: {
        terminal: async () => {
          throw new TerminalError("not allowed", { code: "not_allowed" });
        },
        step: async (ctx) => {
          const v = await ctx.run(
            "retried",
            () => {
              if (++runTries < 3) throw new Error("not yet");
              return "ok";
            },
            { initialIntervalMs: 1, maxAttempts: 5 },
          );
          try {
            await ctx.run(
              "hopeless",
              () => {
                throw new Error("never works");
              },
              { initialIntervalMs: 1, maxAttempts: 2 },
            );
          } catch (e) {
            return { v, caught: (e as TerminalError).message, code: (e as TerminalError).code };
          }
          return { v };
        },
      },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    expect(await app.reply(app.send("T/1", "terminal"))).toMatchObject({
      status: "failed",
      errorCode: "not_allowed",
      errorMessage: "not allowed",
    });
    const r = await app.reply(app.send("T/1", "step"));
    expect(r).toMatchObject({
      status: "ok",
      value: { v: "ok", caught: 'ctx.run("hopeless") failed after 2 attempts: never works', code: "unknown" },
    });
    expect(runTries).toBe(3);
    await app.runtime.stop();
  });
});

describe("determinism check", () => {
  it("fails the attempt with an error naming the recorded and the actual action", async () => {
    let attempt = 0;
    const o = object({
      name: "Nd",
      handlers: {
        go: async (ctx) => {
          attempt++;
          await ctx.run(attempt === 1 ? "charge-card" : "send-email", () => 1);
          if (attempt === 1) throw new Error("crash after the step");
          return "done";
        },
      },
      options: { retry: { initialIntervalMs: 1, maxAttempts: 2 } },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const r = await app.reply(app.send("Nd/1", "go"));
    expect(r.status).toBe("failed");
    expect(r.errorCode).toBe("non_deterministic");
    expect(r.errorMessage).toContain('the journal recorded run "charge-card", the handler now did run "send-email"');
    await app.runtime.stop();
  });

  it("detects a replay that ends early", async () => {
    let attempt = 0;
    const o = object({
      name: "Short",
      handlers: {
        go: async (ctx) => {
          attempt++;
          await ctx.run("one", () => 1);
          if (attempt === 1) {
            await ctx.run("two", () => 2);
            throw new Error("retry me");
          }
          return "done";
        },
      },
      options: { retry: { initialIntervalMs: 1, maxAttempts: 2 } },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const r = await app.reply(app.send("Short/1", "go"));
    expect(r.errorCode).toBe("non_deterministic");
    expect(r.errorMessage).toMatch(/finished at journal index 1, but the journal recorded 2 entries \(next: run "two"\)/);
    await app.runtime.stop();
  });
});

describe("bad input", () => {
  it("records a clear failure and a DLQ copy for each bad record, and keeps going", async () => {
    const o = object({ name: "Good", handlers: { echo: async (_ctx, v: unknown) => v } });
    const s = service({ name: "Svc", handlers: { hi: async () => "hi" } });
    const app = new MemoryApp({ objects: [o], services: [s] });
    await app.start();
    const cases = [
      { corr: app.send("Nope/1", "echo", 1), code: "unknown_target", msg: /no object or service named "Nope".*known: Good, Svc/ },
      { corr: app.send("Good/1", "nope", 1), code: "unknown_handler", msg: /Good has no handler "nope" \(known: echo\)/ },
      {
        corr: app.send("Good/1", "echo", undefined, { raw: Buffer.from("{not json") }),
        code: "invalid_input",
        msg: /input of Good\.echo is not valid JSON/,
      },
      { corr: app.send(null, "echo", 1), code: "missing_key", msg: /has no key/ },
      { corr: app.send("Good", "echo", 1), code: "missing_key", msg: /object Good needs a key/ },
      { corr: app.send("Good/1", null, 1), code: "missing_handler", msg: /header kvo-handler is missing/ },
    ];
    const good = app.send("Good/1", "echo", { fine: true });
    const svc = app.send("Svc", "hi");
    for (const c of cases) {
      const r = await app.reply(c.corr);
      expect(r.status, c.code).toBe("failed");
      expect(r.errorCode, c.code).toBe(c.code);
      expect(r.errorMessage, c.code).toMatch(c.msg);
    }
    expect((await app.reply(good)).value).toEqual({ fine: true });
    expect((await app.reply(svc)).value).toBe("hi");
    await waitFor(() => app.dlq().length === cases.length, "DLQ records");
    expect(
      app
        .dlq()
        .map((d) => d.code)
        .sort(),
    ).toEqual(cases.map((c) => c.code).sort());
    await app.runtime.stop();
  });
});

describe("reply topics", () => {
  it("rejects a missing or invalid reply topic to the DLQ instead of stalling every commit", async () => {
    const o = object({ name: "Good", handlers: { echo: async (_ctx, v: unknown) => v } });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    app.send("Good/1", "echo", 1, { replyTo: "no-such-topic" });
    app.send("Good/1", "echo", 2, { replyTo: "bad topic/name" });
    const good = app.send("Good/1", "echo", 3);
    expect((await app.reply(good)).value).toBe(3);
    await waitFor(() => app.dlq().length === 2, "DLQ records");
    const byCode = new Map(app.dlq().map((d) => [d.code, d.message]));
    expect(byCode.get("unknown_reply_topic")).toMatch(/reply topic "no-such-topic" \(header kvo-reply-to\) does not exist/);
    expect(byCode.get("invalid_reply_to")).toMatch(/"bad topic\/name" is not a valid Kafka topic name/);
    // a topic that exists gets the reply
    app.log.createTopic("other-replies", 1);
    app.send("Good/1", "echo", 4, { replyTo: "other-replies" });
    await waitFor(() => app.log.partitions("other-replies").flat().length === 1, "reply on other-replies");
    expect(app.dlq()).toHaveLength(2);
    await app.runtime.stop();
  });
});

describe("record size limit", () => {
  it("fails only the invocation whose output, state, journal or input is too large", async () => {
    const big = "x".repeat(20_000);
    const o = object({
      name: "Big",
      handlers: {
        output: async () => big,
        state: async (ctx) => void ctx.set("blob", big),
        steps: async (ctx) => {
          await ctx.run("one", () => big.slice(0, 10_000));
          await ctx.run("two", () => big.slice(0, 10_000));
          return "unreachable";
        },
        ok: async (ctx, v: number) => {
          ctx.set("n", v);
          return v;
        },
        read: async (ctx) => (await ctx.get<string>("blob")) ?? null,
      },
    });
    const app = new MemoryApp({ objects: [o] }, { maxRecordBytes: 16_384 });
    await app.start();
    const cases = {
      output: app.send("Big/1", "output"),
      state: app.send("Big/1", "state"),
      steps: app.send("Big/1", "steps"),
      input: app.send("Big/1", "ok", big),
    };
    const ok = app.send("Big/1", "ok", 7);
    const read = app.send("Big/1", "read");
    const expected: Record<string, RegExp> = {
      // outputs keep 4 KiB of room for the reply/outcome envelope
      output: /the output of Big\.output is \d+ bytes, above the limit of 12288/,
      // ctx.set is journaled with its value, so the journal is what overflows first
      state: /(state "blob" of Big\/1|the journal of invocation p\d+-o\d+ \(1 entries\)) is \d+ bytes/,
      steps: /the journal of invocation .* \(2 entries\) is \d+ bytes/,
      input: /invocation record 0@\d+ \(input and headers\) is \d+ bytes/,
    };
    for (const [name, corr] of Object.entries(cases)) {
      const r = await app.reply(corr);
      expect(r.status, name).toBe("failed");
      expect(r.errorCode, name).toBe("record_too_large");
      expect(r.errorMessage, name).toMatch(expected[name]!);
    }
    expect((await app.reply(ok)).value).toBe(7);
    expect((await app.reply(read)).value).toBeNull(); // the refused state write never applied
    expect(app.dlq().map((d) => d.code)).toEqual(["record_too_large"]);
    await app.runtime.stop();
  });
});

describe("idempotency keys", () => {
  it("runs a request once per idempotency key and answers repeats with the same outcome", async () => {
    let runs = 0;
    const o = object({
      name: "Pay",
      handlers: { charge: async (ctx, amount: number) => ctx.run("charge", () => ({ charged: amount, n: ++runs })) },
    });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const a = app.send("Pay/acct", "charge", 10, { idempotencyKey: "order-1" });
    const b = app.send("Pay/acct", "charge", 10, { idempotencyKey: "order-1" });
    const ra = await app.reply(a);
    const rb = await app.reply(b);
    const c = app.send("Pay/acct", "charge", 10, { idempotencyKey: "order-1" });
    const rc = await app.reply(c);
    expect(ra.value).toEqual({ charged: 10, n: 1 });
    expect(rb.value).toEqual(ra.value);
    expect(rc.value).toEqual(ra.value);
    expect(runs).toBe(1);
    const d = await app.reply(app.send("Pay/acct", "charge", 10, { idempotencyKey: "order-2" }));
    expect(d.value).toEqual({ charged: 10, n: 2 });
    await app.runtime.stop();
  });
});

describe("fencing for good", () => {
  it("stops by itself and reports why when it cannot re-join after being fenced", async () => {
    const o = object({ name: "Acc", handlers: { add: async (ctx, n: number) => n } });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    expect((await app.reply(app.send("Acc/1", "add", 1))).value).toBe(1);
    // The next commit is refused as fenced, and the transport cannot re-join: another live
    // process took this transactional id.
    app.transport.commit = async () => {
      throw new FencedError("transactional.id in use by a newer producer");
    };
    app.transport.rejoin = async () => {
      throw new FencedError("transactional.id in use by a newer producer");
    };
    app.send("Acc/1", "add", 2);
    const closed = await app.runtime.closed;
    expect(closed).toBeInstanceOf(FencedError);
    expect(closed!.message).toMatch(/newer producer/);
    expect(app.runtime.stats().fenced).toBe(1);
    expect(app.replies()).toHaveLength(1); // nothing of the fenced batch became visible
  });
});

describe("instrumentation events", () => {
  it("reports invocations, commits and restores, survives a throwing listener, and unsubscribes", async () => {
    const o = object({
      name: "Ev",
      handlers: {
        ok: async (ctx, n: number) => ctx.run("double", () => n * 2),
        bad: async () => {
          throw new TerminalError("no", { code: "nope" });
        },
      },
    });
    const app = new MemoryApp({ objects: [o] });
    const ends: Array<{ handler: string; failure: { code: string } | null; attempts: number }> = [];
    const restored: number[] = [];
    let commits = 0;
    app.runtime.on("partition.restored", (e) => restored.push(e.partition));
    app.runtime.on("invocation.end", () => {
      throw new Error("listener bug");
    });
    const offEnd = app.runtime.on("invocation.end", (e) => ends.push({ handler: e.handler, failure: e.failure, attempts: e.attempts }));
    app.runtime.on("commit.done", (e) => {
      expect(e.records).toBeGreaterThan(0);
      commits++;
    });
    await app.start();
    expect(restored.sort()).toEqual([0, 1]);
    expect((await app.reply(app.send("Ev/1", "ok", 2))).value).toBe(4);
    expect((await app.reply(app.send("Ev/1", "bad"))).errorCode).toBe("nope");
    expect(ends).toEqual([
      { handler: "ok", failure: null, attempts: 1 },
      { handler: "bad", failure: { code: "nope", message: "no" }, attempts: 1 },
    ]);
    expect(commits).toBeGreaterThanOrEqual(2);
    offEnd();
    await app.reply(app.send("Ev/1", "ok", 3));
    expect(ends).toHaveLength(2);
    await app.runtime.stop();
  });
});
