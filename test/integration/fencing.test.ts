/**
 * Zombie fencing, on the real broker: two runtime processes share the app's group; one is
 * SIGSTOPped until its partitions move to the other, then SIGCONTed with work in flight.
 * Whatever the paused process still had must never commit: final counts stay exact and every
 * invocation replies exactly once.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ChildRuntime, type ChildEvent } from "./support/child_runtime.js";
import { counterInvocations, expectExactCounts, expectExactReplies } from "./support/counter_checks.js";
import { createTopic, produceInvocations } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";

const KEYS = 40;
const PER_KEY = 40;
const TOTAL = KEYS * PER_KEY;
const children: ChildRuntime[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
});

const owned = (e: ChildEvent | undefined): number[] => (e?.partitions as number[] | undefined) ?? [];

describe("zombie fencing", () => {
  it("a paused member whose partitions moved never commits again; counts stay exact", async () => {
    const app = uniqueName("kvo-fence");
    const replies = `${app}.replies`;
    await createTopic(replies);
    const env = { KVO_PARTITIONS: "4", STEP_DELAY_MS: "30" };
    const a = new ChildRuntime(app, "counter_app.ts", { ...env, KVO_INSTANCE_ID: "fence-a" });
    children.push(a);
    await a.waitFor((e) => e.event === "started", "A started");
    const b = new ChildRuntime(app, "counter_app.ts", { ...env, KVO_INSTANCE_ID: "fence-b" });
    children.push(b);
    await b.waitFor((e) => e.event === "started", "B started");

    const specs = counterInvocations(KEYS, 1, PER_KEY, replies);
    // Both members own partitions and have work in flight before A is paused.
    await a.waitFor((e) => e.event === "stats" && owned(e).length > 0 && owned(e).length < 4, "A owns part of the partitions");
    await b.waitFor((e) => e.event === "stats" && owned(e).length > 0, "B owns partitions");
    await produceInvocations(`${app}.invocations`, specs);
    await a.waitFor((e) => e.event === "stats" && (e.inFlight as number) > 0, "A has invocations in flight");

    a.kill("SIGSTOP");
    const stoppedAt = Date.now();
    await b.waitFor((e) => e.event === "stats" && owned(e).length === 4 && (e.completed as number) > 0, "B takes over all partitions", 60_000);
    a.kill("SIGCONT");
    // A wakes with stale work and a stale generation; give it time to try.
    await new Promise((r) => setTimeout(r, 3_000));

    await expectExactReplies(replies, TOTAL);

    // A woke with uncommitted work under a stale generation: the broker refused its commit.
    await a.waitFor((e) => e.event === "stats" && (e.fenced as number) > 0, "A reports that its commit was fenced", 30_000);
    expect(Date.now() - stoppedAt).toBeGreaterThan(6_000);

    await Promise.all(children.splice(0).map((c) => c.stop()));
    await expectExactCounts(`${app}.changelog`, KEYS, PER_KEY);
  }, 600_000);
});
