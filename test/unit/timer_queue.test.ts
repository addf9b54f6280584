import { describe, expect, it } from "vitest";
import { TimerQueue } from "../../runtime/partition/timer_queue.js";
import { StepClock } from "../support/step_clock.js";

describe("TimerQueue", () => {
  it("fires each entry once, in due order, never before its time, with one clock timer", () => {
    const clock = new StepClock(1_000);
    const fired: string[] = [];
    const queue = new TimerQueue(clock, (id) => fired.push(`${id}@${clock.now()}`));
    queue.add("c", 1_300);
    queue.add("a", 1_100);
    queue.add("b", 1_200);
    queue.add("gone", 1_150);
    queue.remove("gone");
    queue.add("moved", 1_050);
    queue.add("moved", 1_250);
    clock.advance(99);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual(["a@1100"]);
    clock.advance(300);
    expect(fired).toEqual(["a@1100", "b@1400", "moved@1400", "c@1400"]);
    expect(queue.size).toBe(0);
  });

  it("fires a burst of due entries in slices, each after the previous slice's commit", async () => {
    const clock = new StepClock(1_000);
    let fired = 0;
    const commits: Array<() => void> = [];
    const queue = new TimerQueue(
      clock,
      () => fired++,
      () => new Promise<void>((resolve) => commits.push(resolve)),
      500,
    );
    for (let i = 0; i < 1_200; i++) queue.add(`t${i}`, 1_010);
    clock.advance(10);
    expect(fired).toBe(500);
    commits.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(fired).toBe(1_000);
    commits.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(fired).toBe(1_200);
    expect(commits).toHaveLength(0);
  });
});
