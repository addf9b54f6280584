/**
 * The invocation shape whose commits are measured, without a runtime: a "3-step handler" is
 * one transaction that consumes its input record (the `inv` changelog record plus the
 * partition's new consumed offset), then one transaction per `ctx.run` step (its `jnl`
 * changelog record), each awaited before the next, as `ctx.run` waits for its commit.
 * Record sizes are those of a small invocation and journal (a few hundred bytes).
 */
import type { OutboundRecord } from "../../../runtime/log/log.js";
import type { Layout } from "./schemes.js";

export const STEPS = 3;

function changelogRecord(topic: string, partition: number, kind: "inv" | "jnl", id: string, bytes: number): OutboundRecord {
  return {
    topic,
    partition,
    key: Buffer.from(JSON.stringify([kind, id])),
    value: Buffer.alloc(bytes, 0x61),
  };
}

/** Runs one invocation arriving at `offset` of input `partition`; resolves after its last step committed. */
export async function invoke(l: Layout, changelog: string, partition: number, offset: number, steps = STEPS): Promise<void> {
  const c = l.committerFor(partition);
  const id = `p${partition}-o${offset}`;
  await c.write(changelogRecord(changelog, partition, "inv", id, 200), { partition, next: BigInt(offset + 1) });
  for (let s = 1; s <= steps; s++) await c.write(changelogRecord(changelog, partition, "jnl", id, 100 + 60 * s));
}

export interface Concurrent {
  /** Invocations completed inside the measurement window. */
  completed: number;
  seconds: number;
  /** Invocation latencies inside the window, ms, ascending. */
  latencies: number[];
}

/**
 * `inFlight` invocations per partition, each replaced by the next as soon as it completes,
 * for warmupMs + windowMs; counts those that complete inside the window. `midWindow` is
 * called once, in the middle of the window (resource sampling at steady state).
 */
export async function concurrent(
  l: Layout,
  changelog: string,
  partitions: number[],
  inFlight: number,
  warmupMs: number,
  windowMs: number,
  midWindow: () => void,
): Promise<Concurrent> {
  const next = new Map(partitions.map((p) => [p, 0]));
  const start = performance.now();
  const windowStart = start + warmupMs;
  const windowEnd = windowStart + windowMs;
  let completed = 0;
  const latencies: number[] = [];
  const mid = setTimeout(midWindow, warmupMs + windowMs / 2);
  const worker = async (p: number): Promise<void> => {
    while (performance.now() < windowEnd) {
      const offset = next.get(p) ?? 0;
      next.set(p, offset + 1);
      const t0 = performance.now();
      await invoke(l, changelog, p, offset);
      const t1 = performance.now();
      if (t0 >= windowStart && t1 <= windowEnd) latencies.push(t1 - t0);
      if (t1 >= windowStart && t1 <= windowEnd) completed++;
    }
  };
  try {
    await Promise.all(partitions.flatMap((p) => Array.from({ length: inFlight }, () => worker(p))));
  } finally {
    clearTimeout(mid);
  }
  return { completed, seconds: windowMs / 1000, latencies: latencies.sort((a, b) => a - b) };
}
