/**
 * Cancelling a caller that waits on a call, on the real broker. `Caller/<tag>.go` calls
 * `Callee/<tag>.wait`, which waits on an awakeable nobody resolves (or on a 10-minute sleep).
 * The caller is cancelled through the client (its id from CallOptions.onSent) while both wait.
 *
 * Then: the caller's wait rejects with `cancelled` inside its handler, so its catch and
 * finally run and make new calls (`Ledger/<tag>.compensate`); the cancellation reaches the
 * callee, whose wait rejects with `cancelled` too (it records that in the ledger the same
 * way); the caller ends failed with code `cancelled`; both keys serve the next call. In the
 * awakeable case, a late resolution of the callee's awakeable changes nothing: it is
 * dead-lettered as `unknown_awakeable` (the callee's invocation is over).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectClient,
  createRuntime,
  object,
  shared,
  type KvoClient,
  type ObjectContext,
  type Runtime,
  type SharedObjectContext,
} from "../../index.js";
import { InvocationFailedError } from "../../connectors/client/errors.js";
import { H } from "../../runtime/invocation/headers.js";
import { bootstrapServers } from "./support/endpoints.js";
import { readTopic } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";

/** Header of an awakeable resolution record (docs/record-format.md); kept on its DLQ copy. */
const AWAKEABLE_HEADER = "kvo-awakeable";

type WaitMode = "awakeable" | "sleep";

/** In-process observations: tags whose callee is about to wait, and the callee's awakeable ids. */
const waiting = new Set<string>();
const awakeableIds = new Map<string, string>();

const codeOf = (e: unknown) => (e as { code?: string }).code ?? "(no code)";

/** Compensation and observation target: an append-only list of events per tag. */
const ledger = object({
  name: "Ledger",
  handlers: {
    compensate: async (ctx: ObjectContext, input: { event: string }): Promise<void> => {
      ctx.set("events", [...((await ctx.get<string[]>("events")) ?? []), input.event]);
    },
    events: shared(async (ctx: SharedObjectContext): Promise<string[]> => (await ctx.get<string[]>("events")) ?? []),
  },
});

const callee = object({
  name: "Callee",
  handlers: {
    wait: async (ctx: ObjectContext, input: { tag: string; mode: WaitMode }): Promise<string> => {
      try {
        if (input.mode === "awakeable") {
          const { id, promise } = ctx.awakeable<string>();
          await ctx.run("publish", () => {
            awakeableIds.set(input.tag, id);
            waiting.add(input.tag);
          });
          return `resolved: ${await promise}`;
        }
        await ctx.run("about to sleep", () => void waiting.add(input.tag));
        await ctx.sleep(600_000);
        return "slept";
      } catch (e) {
        await ctx.object(ledger, input.tag).compensate({ event: `callee caught ${codeOf(e)}` });
        throw e;
      }
    },
    ping: async (ctx: ObjectContext): Promise<string> => `Callee/${ctx.key} free`,
  },
});

const caller = object({
  name: "Caller",
  handlers: {
    go: async (ctx: ObjectContext, input: { tag: string; mode: WaitMode }): Promise<string> => {
      try {
        return await ctx.object(callee, input.tag).wait(input);
      } catch (e) {
        await ctx.object(ledger, input.tag).compensate({ event: `caller caught ${codeOf(e)}` });
        throw e;
      } finally {
        await ctx.object(ledger, input.tag).compensate({ event: "caller finally" });
      }
    },
    ping: async (ctx: ObjectContext): Promise<string> => `Caller/${ctx.key} free`,
  },
});

/** Polls `probe` until it returns a value; `what` (evaluated at the timeout) says what was awaited and seen. */
async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: () => string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let app: string;
let runtime: Runtime;
let client: KvoClient;

beforeAll(async () => {
  app = uniqueName("kvo-cancel-propagation");
  runtime = createRuntime({
    app,
    objects: [ledger, callee, caller],
    partitions: 4,
    kafka: { brokers: bootstrapServers(), instanceId: "it-0", sessionTimeoutMs: 6_000 },
  });
  await runtime.start();
  client = await connectClient({ app, brokers: bootstrapServers(), timeoutMs: 30_000 });
});

afterAll(async () => {
  await client?.close();
  await runtime?.stop();
});

describe("cancellation of a caller waiting on a call", () => {
  it.each<WaitMode>(["awakeable", "sleep"])(
    "cancels the callee (waiting on %s), runs the caller's compensation, and fails the caller with cancelled",
    async (mode) => {
      const tag = `t-${mode}`;
      let id: string | undefined;
      const t0 = Date.now();
      const outcome = client
        .object(caller, tag, { onSent: (sent) => (id = sent) })
        .go({ tag, mode })
        .then(
          (v) => ({ resolved: v }),
          (e: unknown) => e,
        );
      await until(
        () => (id !== undefined && waiting.has(tag) ? true : undefined),
        () => `the callee of ${tag} to wait (caller id ${id ?? "not sent yet"})`,
      );
      // Let the callee's wait (awakeable / sleep entry) be journaled before cancelling.
      await new Promise((r) => setTimeout(r, 500));

      expect(await client.cancel(id!)).toBe(true);
      const error = await outcome;
      const cancelledAfterMs = Date.now() - t0;
      expect(error).toBeInstanceOf(InvocationFailedError);
      expect(error).toMatchObject({ code: "cancelled", invocationId: id });

      // The caller's catch and finally ran (in that order) and their calls completed; the
      // callee saw the cancellation as a rejected wait and compensated too.
      let seen: string[] = [];
      const events = await until(
        async () => {
          seen = await client.object(ledger, tag).events();
          return seen.length >= 3 ? seen : undefined;
        },
        () => `three ledger events of ${tag}; seen ${JSON.stringify(seen)}`,
      );
      expect([...events].sort()).toEqual(["callee caught cancelled", "caller caught cancelled", "caller finally"]);
      expect(events.indexOf("caller caught cancelled")).toBeLessThan(events.indexOf("caller finally"));

      // Neither key stays locked.
      expect(await client.object(caller, tag).ping()).toBe(`Caller/${tag} free`);
      expect(await client.object(callee, tag).ping()).toBe(`Callee/${tag} free`);

      if (mode === "awakeable") {
        // The callee is over: a late resolution of its awakeable is dead-lettered, nothing runs.
        const awakeableId = awakeableIds.get(tag)!;
        await client.resolveAwakeable(awakeableId, "too late");
        const dlq = await readTopic(`${app}.dlq`, (rs) => rs.some((r) => r.headers[AWAKEABLE_HEADER] === awakeableId), {
          timeoutMs: 20_000,
          settleMs: 500,
        });
        const copy = dlq.find((r) => r.headers[AWAKEABLE_HEADER] === awakeableId)!;
        expect(copy.headers[H.errorCode]).toBe("unknown_awakeable");
      }
      // No further compensation or outcome showed up meanwhile.
      expect(await client.object(ledger, tag).events()).toEqual(events);
      console.log(
        `cancel-propagation (${mode}): caller failed with cancelled ${cancelledAfterMs} ms after the call; ledger ${JSON.stringify(events)}`,
      );
    },
  );
});
