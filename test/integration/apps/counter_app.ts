/**
 * A runtime process for the crash and fencing tests: `Counter.add` does two ctx.run steps
 * and a state update. Started as a child process (so it can be SIGKILLed / SIGSTOPped);
 * prints the lifecycle events of child_lifecycle.ts on stdout.
 *
 * env: KVO_APP, KVO_BOOTSTRAP_SERVERS, KVO_INSTANCE_ID, KVO_PARTITIONS, STEP_DELAY_MS
 */
import { randomUUID } from "node:crypto";
import { createRuntime, object } from "../../../index.js";
import { childRuntimeOptions, runChild } from "./child_lifecycle.js";

const stepDelay = Number(process.env.STEP_DELAY_MS ?? 0);
const pause = () => (stepDelay > 0 ? new Promise((r) => setTimeout(r, stepDelay)) : undefined);

export const counter = object({
  name: "Counter",
  handlers: {
    add: async (ctx, input: { seq: number }) => {
      // A value unique to each execution of the step: later steps must see the recorded one.
      const token = await ctx.run("token", async () => (await pause(), randomUUID()));
      const echoed = await ctx.run("echo", async () => (await pause(), token));
      const count = ((await ctx.get<number>("count")) ?? 0) + 1;
      ctx.set("count", count);
      if (input.seq !== count) ctx.set(`order-violation-${input.seq}`, count);
      return { count, token, echoed };
    },
  },
});

await runChild(createRuntime({ ...childRuntimeOptions(), objects: [counter] }));
