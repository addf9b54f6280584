/**
 * A runtime process for the awakeable crash test (awakeable-restart.test.ts). Started as a
 * child process so the test can SIGKILL it while an invocation waits on an awakeable.
 *
 * `Approval.wait` creates an awakeable, publishes its id and awaits it:
 *  - the id leaves the process through a durable step whose action prints
 *    `{"event":"awakeable","key","id"}` (before the step is committed: what an external
 *    system would see first), and the handler prints `{"event":"awakeable-committed","key","id"}`
 *    once the step returned (ctx.run returns only committed results, so the awakeable entry,
 *    journaled before the step, is committed too; printed again by every replay);
 *  - the completion is stored in state (`outcome`, and `finished`: how many times the code after
 *    the await committed) and returned. A rejection is caught and stored as well (a failed
 *    invocation's state writes are discarded), with whether it was a TerminalError.
 * `Approval.status` (shared) reads that state back.
 *
 * Prints one JSON line per event on stdout: awakeable, awakeable-committed, and the lifecycle
 * events of child_lifecycle.ts (started, stats every 500 ms, closed, stopped).
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID, KVO_PARTITIONS, PUBLISH_DELAY_MS (how long
 * the publishing step waits after printing the id before it returns; default 0)
 */
import { createRuntime, object, shared, stateOf, TerminalError } from "../../../index.js";
import { childRuntimeOptions, emit, runChild } from "./child_lifecycle.js";

/** What `Approval.wait` records and returns. */
export type ApprovalOutcome =
  { resolved: true; value: unknown } | { resolved: false; terminal: boolean; code: string | undefined; message: string };

type ApprovalState = { outcome: ApprovalOutcome; finished: number; awakeableId: string };

const publishDelayMs = Number(process.env.PUBLISH_DELAY_MS ?? 0);
export const approval = object({
  name: "Approval",
  state: stateOf<ApprovalState>(),
  handlers: {
    wait: async (ctx): Promise<ApprovalOutcome> => {
      const { id, promise } = ctx.awakeable();
      const published = await ctx.run("publish", async () => {
        emit({ event: "awakeable", key: ctx.key, id });
        // Keeps the step uncommitted for a while after the id is out (PUBLISH_DELAY_MS).
        if (publishDelayMs > 0) await new Promise((r) => setTimeout(r, publishDelayMs));
        return id;
      });
      emit({ event: "awakeable-committed", key: ctx.key, id: published });
      ctx.set("awakeableId", published);
      let outcome: ApprovalOutcome;
      try {
        outcome = { resolved: true, value: await promise };
      } catch (e) {
        const error = e as Error & { code?: string };
        outcome = { resolved: false, terminal: e instanceof TerminalError, code: error.code, message: error.message };
      }
      ctx.set("outcome", outcome);
      ctx.set("finished", ((await ctx.get("finished")) ?? 0) + 1);
      return outcome;
    },
    status: shared<ApprovalState>(async (ctx) => ({
      awakeableId: await ctx.get("awakeableId"),
      outcome: await ctx.get("outcome"),
      finished: (await ctx.get("finished")) ?? 0,
    })),
  },
});

await runChild(createRuntime({ ...childRuntimeOptions(), objects: [approval] }));
