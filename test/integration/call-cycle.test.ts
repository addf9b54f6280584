/**
 * Call cycles on the real broker: `CycleA/1` calls `CycleB/2`, which calls back into `CycleA/1`
 * exclusively. A/1 is held by the chain (it waits for B), so that call could only deadlock: it
 * must fail at once, at the call, with the terminal `call_cycle` whose message names the chain.
 *
 * 1. B lets it through: B fails with `call_cycle`, A's call rethrows it (same code), A fails,
 *    and the client gets InvocationFailedError `call_cycle` naming both keys.
 * 2. B catches it: inside the handler it is a TerminalError with code `call_cycle`; B returns
 *    that and A completes normally with it.
 * Afterwards both keys serve the next call (nothing stays locked). A deadlock would hang until
 * the client's timeout; the time each outcome took is printed (not asserted tightly: a
 * loaded machine is slow, a deadlock never ends).
 */
import { afterEach, describe, expect, it } from "vitest";
import { connectClient, createRuntime, object, TerminalError, type ObjectContext } from "../../index.js";
import { InvocationFailedError } from "../../connectors/client/errors.js";
import { bootstrapServers } from "./support/endpoints.js";
import { uniqueName } from "./support/unique.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** What B saw when its call back into A failed. */
interface Caught {
  isTerminalError: boolean;
  code: string | undefined;
  message: string;
}

// A and B call each other: each definition names the other only inside a handler, which
// runs after both exist. Explicit return types keep their inferred types from depending on
// each other.
const cycleA = object({
  name: "CycleA",
  handlers: {
    start: async (ctx: ObjectContext, input: { catchIt: boolean }): Promise<Caught | string> => ctx.object(cycleB, "2").relay(input),
    reenter: async (): Promise<string> => "re-entered A (a cycle was allowed)",
    ping: async (ctx: ObjectContext): Promise<string> => `A/${ctx.key} free`,
  },
});

const cycleB = object({
  name: "CycleB",
  handlers: {
    relay: async (ctx: ObjectContext, input: { catchIt: boolean }): Promise<Caught | string> => {
      if (!input.catchIt) return await ctx.object(cycleA, "1").reenter();
      try {
        return await ctx.object(cycleA, "1").reenter();
      } catch (e) {
        return { isTerminalError: e instanceof TerminalError, code: (e as TerminalError).code, message: (e as Error).message };
      }
    },
    ping: async (ctx: ObjectContext): Promise<string> => `B/${ctx.key} free`,
  },
});

describe("call cycles", () => {
  it("fails A/1 → B/2 → A/1 at the call with call_cycle naming the chain, fast, and frees both keys", async () => {
    const app = uniqueName("kvo-call-cycle");
    const runtime = createRuntime({
      app,
      objects: [cycleA, cycleB],
      partitions: 4,
      // A deadlock must not be broken by an attempt timeout within the client's timeout.
      attemptTimeoutMs: 120_000,
      kafka: { brokers: bootstrapServers(), instanceId: "it-0", sessionTimeoutMs: 6_000 },
    });
    await runtime.start();
    cleanups.push(() => runtime.stop());
    const client = await connectClient({ app, brokers: bootstrapServers(), timeoutMs: 30_000 });
    cleanups.push(() => client.close());

    // 1. Uncaught: the failure travels back up the chain to the client.
    let t = Date.now();
    const failure = await client
      .object(cycleA, "1")
      .start({ catchIt: false })
      .then(
        (v) => ({ resolved: v }),
        (e: unknown) => e,
      );
    const uncaughtMs = Date.now() - t;
    expect(failure).toBeInstanceOf(InvocationFailedError);
    expect(failure).toMatchObject({ code: "call_cycle" });
    const message = (failure as Error).message;
    expect(message).toContain("CycleA/1");
    expect(message).toContain("CycleB/2");

    // 2. Caught in B: a TerminalError with the code, at the call.
    t = Date.now();
    const caught = (await client.object(cycleA, "1").start({ catchIt: true })) as Caught;
    const caughtMs = Date.now() - t;
    expect(caught).toMatchObject({ isTerminalError: true, code: "call_cycle" });
    expect(caught.message).toContain("CycleA/1");
    expect(caught.message).toContain("CycleB/2");

    // Nothing stays locked.
    expect(await client.object(cycleA, "1").ping()).toBe("A/1 free");
    expect(await client.object(cycleB, "2").ping()).toBe("B/2 free");

    console.log(`call-cycle: uncaught outcome after ${uncaughtMs} ms, caught outcome after ${caughtMs} ms; message: ${message}`);
    // A sanity bound, not a performance figure: a deadlock would last until a timeout (30 s
    // client, 120 s attempt); the cycle is found without waiting for anything.
    expect(Math.max(uncaughtMs, caughtMs)).toBeLessThan(15_000);
  });
});
