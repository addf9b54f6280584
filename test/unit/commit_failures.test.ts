import { describe, expect, it } from "vitest";
import { KvoError, object } from "../../index.js";
import { MemoryApp } from "../support/memory_app.js";
import { waitFor } from "../support/wait.js";

describe("failing commits", () => {
  it("retries the same batch, reports each failure and how long commits have failed, then recovers", async () => {
    const o = object({ name: "C", handlers: { add: async (ctx, n: number) => ((await ctx.get<number>("v")) ?? 0) + n } });
    const app = new MemoryApp({ objects: [o] });
    await app.start();
    const failures: Array<{ code: string; attempt: number }> = [];
    app.runtime.on("commit.failed", (e) => failures.push({ code: e.code, attempt: e.attempt }));

    const realCommit = app.transport.commit.bind(app.transport);
    let refuse = true;
    app.transport.commit = async (batch) => {
      if (refuse) throw new KvoError("broker unavailable", { code: "kafka_retryable", retryable: true });
      return realCommit(batch);
    };
    const corr = app.send("C/1", "add", 5);
    await waitFor(() => failures.length >= 2, "two failed commits");
    expect(app.runtime.stats().commitFailingForMs).toBeGreaterThan(0);
    expect(app.replies()).toHaveLength(0);

    refuse = false;
    expect((await app.reply(corr)).value).toBe(5);
    expect(failures.slice(0, 2)).toEqual([
      { code: "kafka_retryable", attempt: 1 },
      { code: "kafka_retryable", attempt: 2 },
    ]);
    await waitFor(() => app.runtime.stats().commitFailingForMs === 0, "commits healthy again");
    expect(app.replies()).toHaveLength(1);
    await app.runtime.stop();
  });
});
