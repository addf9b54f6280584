/**
 * Regression: a retried commit must carry the offsets its batch was cut with.
 *
 * The defect: the group committer copied the current consumed positions on every attempt, so
 * a retry also committed the offsets of records ingested during its backoff, whose invocation
 * records were still in the next, uncommitted batch. A crash right after that retry applied
 * lost those inputs for good: the restarted process resumed after them and found no
 * invocation record.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { object } from "../../index.js";
import { H } from "../../runtime/invocation/headers.js";
import { Runtime } from "../../runtime/runtime.js";
import { MemoryLog } from "../support/memory_log.js";
import { quietLogger } from "../support/memory_app.js";
import { FaultScript, FaultyTransport, type TransportEvent } from "../support/faulty_transport.js";
import { ManualClock, VirtualClock, VirtualTime } from "../support/virtual_clock.js";

const APP = "cro";
const INPUT = `${APP}.invocations`;
const CHANGELOG = `${APP}.changelog`;
const REPLIES = "replies";

/** setImmediate hops until `condition` holds; fails after `budget` hops (global timers are faked here). */
async function hopsUntil(condition: () => boolean, what: string, budget = 5_000): Promise<void> {
  for (let i = 0; i < budget; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`still waiting for ${what} after ${budget} event-loop turns`);
}

function send(log: MemoryLog, key: string, corr: string, input: number): void {
  log.append(INPUT, {
    key: Buffer.from(key),
    value: Buffer.from(JSON.stringify(input)),
    headers: { [H.handler]: Buffer.from("add"), [H.replyTo]: Buffer.from(REPLIES), [H.correlationId]: Buffer.from(corr) },
  });
  log.notify();
}

const replied = (log: MemoryLog) => log.partitions(REPLIES)[0]!.map((r) => r.headers[H.correlationId]!.toString());

afterEach(() => {
  vi.useRealTimers();
});

describe("a retried commit", () => {
  it("re-sends the offsets its batch was cut with, so inputs that arrived during the backoff survive a crash after the retry", async () => {
    // The retry backoff must stay open while B arrives. It runs on the injected clock; the
    // global setTimeout is held too, for committers that still use it.
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const log = new MemoryLog();
    log.createTopic(REPLIES, 1);
    const ran: string[] = [];
    const account = object({
      name: "Acc",
      handlers: {
        add: async (ctx, n: number) => {
          ran.push(ctx.key);
          const v = ((await ctx.get<number>("v")) ?? 0) + n;
          ctx.set("v", v);
          return v;
        },
      },
    });
    const options = { app: APP, partitions: 1, objects: [account], logger: quietLogger };

    // Process 1: its first commit fails (nothing applied); the retry applies, then it dies.
    const commits: Array<Extract<TransportEvent, { type: "commit" }>> = [];
    const script = new FaultScript([
      { delayTicks: 0, outcome: "retryable" },
      { delayTicks: 0, outcome: "crashAfter" },
    ]);
    const first = new FaultyTransport(log, INPUT, CHANGELOG, script, 1, (e) => e.type === "commit" && commits.push(e));
    const clock = new ManualClock();
    const runtime1 = new Runtime({ ...options, clock }, first);
    await runtime1.start();

    send(log, "Acc/a", "A", 1);
    await hopsUntil(() => commits.length === 1, "the first commit (A's batch) to fail");
    send(log, "Acc/b", "B", 2); // arrives during the retry backoff
    await hopsUntil(() => ran.includes("b"), "B to be ingested and run");
    expect(commits.length, "the retry waits for its backoff").toBe(1);

    clock.fire(5_000); // ends the backoff: A's batch is committed again, then the process dies
    vi.advanceTimersByTime(5_000);
    await hopsUntil(() => first.dead, "the retried commit to apply");
    expect
      .soft(
        commits.map((c) => c.offsets),
        "the retry carries exactly the offsets of the failed attempt (A's batch does not hold B)",
      )
      .toEqual(["0:1", "0:1"]);

    // Process 2 on the same log: B must be consumed again and answered.
    vi.useRealTimers();
    const second = new FaultyTransport(log, INPUT, CHANGELOG, new FaultScript(), 2);
    const runtime2 = new Runtime({ ...options, clock: new VirtualClock(new VirtualTime()) }, second);
    await runtime2.start();
    await hopsUntil(() => replied(log).includes("A"), "A's reply");
    await hopsUntil(
      () => replied(log).includes("B"),
      "B's reply after the restart (lost input: the group offset moved past B while its invocation record never committed)",
      2_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; committed offset ${log.groupOffsets.get(0)}, replies ${JSON.stringify(replied(log))}`);
    });
    expect(replied(log).sort()).toEqual(["A", "B"]);
    await runtime2.stop();
  });
});
