/**
 * Rolling restart, on the real broker: two runtime processes share the load; each in turn is
 * stopped gracefully (SIGTERM: finish the open commit, hand partitions back, leave the group)
 * and replaced while invocations are in flight. Nothing is lost or duplicated and per-key
 * order holds across every hand-over.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ChildRuntime } from "./support/child_runtime.js";
import { counterInvocations, expectExactCounts, expectExactReplies } from "./support/counter_checks.js";
import { createTopic, produceInvocations } from "./support/kafka_tools.js";
import { uniqueName } from "./support/unique.js";

const KEYS = 40;
const PER_KEY = 60;
const TOTAL = KEYS * PER_KEY;
const children: ChildRuntime[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((c) => c.stop()));
});

function start(app: string, instance: string): ChildRuntime {
  const child = new ChildRuntime(app, "counter_app.ts", { KVO_PARTITIONS: "4", STEP_DELAY_MS: "20", KVO_INSTANCE_ID: instance });
  children.push(child);
  return child;
}

describe("rolling restart", () => {
  it("hands partitions over gracefully twice under load with exact counts and one reply each", async () => {
    const app = uniqueName("kvo-roll");
    const replies = `${app}.replies`;
    await createTopic(replies);
    let a = start(app, "roll-a");
    let b = start(app, "roll-b");
    await a.waitFor((e) => e.event === "started", "A started");
    await b.waitFor((e) => e.event === "started", "B started");

    // Per-key sequence numbers 1..PER_KEY, in two halves: one produced before each hand-over,
    // so that each stop meets invocations in flight.
    const half = (from: number, to: number) => counterInvocations(KEYS, from, to, replies);

    const stopped: Array<{ code: number | null; inFlightBefore: number }> = [];
    for (const slot of ["a", "b"] as const) {
      const old = slot === "a" ? a : b;
      await produceInvocations(`${app}.invocations`, slot === "a" ? half(1, PER_KEY / 2) : half(PER_KEY / 2 + 1, PER_KEY));
      const busy = await old.waitForNext((e) => e.event === "stats" && Number(e.inFlight) > 0, `${slot} has work in flight`);
      const inFlightBefore = Number(busy.inFlight);
      const code = await old.stop();
      stopped.push({ code, inFlightBefore });
      expect(old.last("stopped"), `${slot} ran its graceful stop`).toBeDefined();
      const fresh = start(app, `roll-${slot}`);
      await fresh.waitFor((e) => e.event === "started", `${slot} restarted`);
      if (slot === "a") a = fresh;
      else b = fresh;
    }
    expect(stopped.map((s) => s.code)).toEqual([0, 0]);
    expect(stopped.every((s) => s.inFlightBefore > 0)).toBe(true);

    await expectExactReplies(replies, TOTAL);
    // A graceful hand-over is not a fencing event.
    expect(children.every((c) => Number(c.last("stats")?.fenced ?? 0) === 0)).toBe(true);

    await Promise.all(children.splice(0).map((c) => c.stop()));
    await expectExactCounts(`${app}.changelog`, KEYS, PER_KEY);
  }, 600_000);
});
