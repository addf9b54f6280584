/**
 * A stale process must never fence its live successor. Process A runs with instanceId X and is
 * SIGSTOPped with transactions in flight for longer than transaction.timeout.ms; meanwhile
 * its successor B starts with the same instanceId X (what an orchestrator does when it
 * replaces a hung pod) and takes over. When A wakes up, its transaction ends "fenced", which
 * librdkafka reports the same way for a coordinator timeout (broker outage) and for a
 * successor: A must find out which, and stop, instead of initialising its producer again
 * (which would fence B). B keeps working: never fenced, exact counts, one reply each.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ChildRuntime } from "./support/child_runtime.js";
import { counterInvocations, expectExactCounts, expectExactReplies } from "./support/counter_checks.js";
import { createTopic, produceInvocations } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";

const KEYS = 40;
const PER_KEY = 30;
const children: ChildRuntime[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
});

describe("stale instance", () => {
  it("a process paused past the transaction timeout stops when a successor took its instanceId", async () => {
    const app = uniqueName("kvo-stale");
    const replies = `${app}.replies`;
    await createTopic(replies);
    const env = { KVO_PARTITIONS: "4", STEP_DELAY_MS: "20", KVO_INSTANCE_ID: "slot-0" };
    const a = new ChildRuntime(app, "counter_app.ts", env);
    children.push(a);
    await a.waitFor((e) => e.event === "stats" && (e.partitions as number[]).length === 4, "A owns all partitions");
    await produceInvocations(`${app}.invocations`, counterInvocations(KEYS, 1, PER_KEY, replies));
    await a.waitFor((e) => e.event === "stats" && (e.completed as number) > 50, "A is busy");

    a.kill("SIGSTOP"); // with transactions in flight: group commit keeps one open under load
    await new Promise((r) => setTimeout(r, 1_000));
    const b = new ChildRuntime(app, "counter_app.ts", env);
    children.push(b);
    await b.waitFor(
      (e) => e.event === "stats" && (e.partitions as number[]).length === 4 && (e.completed as number) > 0,
      "B takes over",
      60_000,
    );
    // past transaction.timeout.ms (10 s) since A stopped: its open transaction was aborted
    await new Promise((r) => setTimeout(r, 11_000));
    a.kill("SIGCONT");

    const closed = await a.waitFor((e) => e.event === "closed", "A stops by itself", 60_000);
    expect(closed.code).toBe("fenced");
    await expectExactReplies(replies, KEYS * PER_KEY);
    const bStats = b.last("stats")!;
    expect(bStats.fenced, "the live successor was never fenced").toBe(0);
    expect(
      b.events.some((e) => e.event === "closed"),
      "the successor keeps running",
    ).toBe(false);
    await Promise.all(children.splice(0).map((c) => c.stop()));
    await expectExactCounts(`${app}.changelog`, KEYS, PER_KEY);
  }, 300_000);
});
