import { describe, expect, it } from "vitest";
import { object } from "../../index.js";
import { codecs } from "../../runtime/codec/records.js";
import type { Clock } from "../../runtime/support.js";
import { MemoryApp } from "../support/memory_app.js";
import type { MemoryLog } from "../support/memory_log.js";
import { waitFor } from "../support/wait.js";

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets pending promise callbacks and immediates run. */
async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Timers fire only when the test advances time. */
class ManualClock implements Clock {
  private time = 1_700_000_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves time forward, firing due timers in order (and timers they set that fall due). */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.time = due[1].at;
      due[1].fn();
      await settle(1);
    }
    this.time = until;
    await settle();
  }
}

/** Changelog records of journals: [id, value or null for a tombstone], in commit order. */
function journalWrites(log: MemoryLog): Array<{ id: string; values: string[] | null }> {
  return log
    .partitions("m.changelog")
    .flat()
    .map((r) => ({ key: JSON.parse(r.key!.toString()) as string[], value: r.value }))
    .filter((r) => r.key[0] === "jnl")
    .map((r) => ({
      id: r.key[1]!,
      values: r.value === null ? null : codecs.journal.decode(r.value).entries.map((e) => e.value?.toString() ?? ""),
    }));
}

describe("nothing of a finished invocation reaches the commit sink", () => {
  it("a ctx.run the handler did not await does not rewrite the journal after the invocation completed", async () => {
    const late = deferred<string>();
    const def = object({
      name: "Fire",
      handlers: {
        fire: async (ctx) => {
          void ctx.run("late", () => late.promise); // not awaited: a handler bug the runtime must contain
          return "done";
        },
        next: async () => "next",
      },
    });
    const app = new MemoryApp({ objects: [def] });
    await app.start();
    expect((await app.reply(app.send("Fire/1", "fire"))).value).toBe("done");
    late.resolve("finished too late");
    await settle();
    // Another invocation of the same partition commits after anything the late step wrote.
    expect((await app.reply(app.send("Fire/1", "next"))).value).toBe("next");
    await app.runtime.stop();
    const writes = journalWrites(app.log);
    expect(
      writes.filter((w) => w.values !== null),
      "journal records written",
    ).toEqual([]);
    for (let p = 0; p < 2; p++) {
      expect(
        [...app.log.compacted("m.changelog", p).keys()].filter((k) => k.startsWith('["jnl"')),
        `partition ${p}`,
      ).toEqual([]);
    }
  });

  it("a step left running by a failed attempt neither completes nor takes over the retry's journal slot", async () => {
    const stale = deferred<string>();
    const freshGate = deferred();
    let attempt = 0;
    const def = object({
      name: "Stale",
      handlers: {
        go: async (ctx) => {
          attempt++;
          if (attempt === 1) {
            void ctx.run("a", () => stale.promise); // not awaited, and the attempt fails
            throw new Error("transient");
          }
          return ctx.run("a", async () => {
            await freshGate.promise;
            return "fresh";
          });
        },
      },
      options: { retry: { initialIntervalMs: 1, maxAttempts: 5 } },
    });
    const app = new MemoryApp({ objects: [def] });
    await app.start();
    const corr = app.send("Stale/1", "go");
    await waitFor(() => attempt === 2, "the retry to start its step");
    stale.resolve("stale"); // the first attempt's step ends while the retry's step runs
    await settle();
    freshGate.resolve();
    const r = await app.reply(corr);
    expect(r.errorMessage).toBeUndefined();
    expect(r.value).toBe("fresh");
    expect(attempt).toBe(2);
    await app.runtime.stop();
    expect(journalWrites(app.log).flatMap((w) => w.values ?? [])).toEqual(['"fresh"']);
  });
});

describe("a closed processor", () => {
  it("stops a ctx.run retry loop: no further tries after close, the step stays pending", async () => {
    const clock = new ManualClock();
    let tries = 0;
    let settled = false;
    const def = object({
      name: "Down",
      handlers: {
        call: async (ctx) => {
          const step = ctx.run(
            "call",
            () => {
              tries++;
              throw new Error("service down");
            },
            { initialIntervalMs: 100, maxIntervalMs: 100, maxAttempts: 1_000 },
          );
          step.then(
            () => (settled = true),
            () => (settled = true),
          );
          return step;
        },
      },
    });
    const app = new MemoryApp({ objects: [def] }, { clock });
    await app.start();
    app.send("Down/1", "call");
    await waitFor(() => tries === 1, "the first try");
    await clock.advance(100);
    await waitFor(() => tries === 2, "the second try");
    const changelogBefore = app.log.partitions("m.changelog").flat().length;

    await app.runtime.stop(); // closes the processors; a new owner would take over the invocation
    await clock.advance(10_000); // a hundred retry intervals
    expect(tries).toBe(2);
    expect(settled).toBe(false);
    expect(app.log.partitions("m.changelog").flat().length).toBe(changelogBefore);
  });
});
