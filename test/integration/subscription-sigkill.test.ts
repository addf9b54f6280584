/**
 * Subscriptions exactly-once under SIGKILL, on the real broker. Another system (a plain
 * kafkajs producer: JSON values, no KVO headers) writes 20,000 records over 200 keys, each
 * value carrying the key's sequence number, to a 4-partition topic. A runtime in a child
 * process (apps/subscription_app.ts, 3 partitions) subscribes object `Acc` to it; every
 * record adds to its key's count and total and emits one output record. The child is
 * SIGKILLed at seeded random moments (at least 5 times) while it ingests and restarted.
 *
 * 1. Every source record ran exactly once and in its key's order: one output record per
 *    source record for a read_committed reader (none twice, none missing), per key in sequence
 *    order, with the running count and total; the state (read through KVO's client) has the
 *    exact count and total and no order violation.
 * 2. After everything was processed, the subscription's consumer group is rewound to the
 *    earliest offsets (as an operator would) and the runtime started again: it reads the
 *    whole topic again and runs nothing (the relay's high-water offsets), so the output topic
 *    and the state do not change. The app keeps invocation outcomes only 1 s
 *    (idempotencyRetentionMs), so deduplication by invocation id cannot hide a relay that
 *    re-sends what it already relayed.
 *
 * The kill schedule comes from a seed printed at the start; replay it with
 *   KVO_IT_SEED=<seed> npx vitest run test/integration/subscription-sigkill.test.ts
 */
import { randomInt } from "node:crypto";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { AccSummary } from "./apps/subscription_app.js";
import { ChildRuntime } from "./support/child_runtime.js";
import { createTopic, readTopic } from "./support/kafka_tools.js";
import { committedOffsets, endOffsets, resetGroupToEarliest, seededRandom } from "./support/source_topics.js";
import {
  expectExactlyOnceInOrder,
  expectExactStates,
  produceSequenced,
  readOutputs,
  subscriptionStats,
  summaries,
} from "./support/subscription_checks.js";
import { uniqueName } from "./support/unique.js";

const KEYS = 200;
const PER_KEY = 100;
const TOTAL = KEYS * PER_KEY;
const KILLS = 5;
const SOURCE_PARTITIONS = 4;
const APP_PARTITIONS = 3;
const SEED = Number(process.env.KVO_IT_SEED ?? randomInt(2 ** 31));
const random = seededRandom(SEED);

/** What the first test leaves for the second: the app, its topics and what it wrote. */
interface Processed {
  app: string;
  source: string;
  output: string;
  name: string;
  groupId: string;
  summaries: AccSummary[];
}
let processed: Processed | undefined;

let current: ChildRuntime | null = null;
afterEach(async () => {
  // The second test restarts the child itself; a child left by a failed test is stopped.
  if (processed === undefined) {
    await current?.stop();
    current = null;
  }
});
afterAll(async () => {
  await current?.stop();
  current = null;
});

function start(p: Pick<Processed, "app" | "source" | "output" | "name">): ChildRuntime {
  current = new ChildRuntime(p.app, "subscription_app.ts", {
    KVO_INSTANCE_ID: "sub-crash-0",
    KVO_PARTITIONS: String(APP_PARTITIONS),
    SOURCE_TOPIC: p.source,
    OUTPUT_TOPIC: p.output,
    SUBSCRIPTION_NAME: p.name,
    IDEMPOTENCY_RETENTION_MS: "1000",
  });
  return current;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("subscriptions exactly-once under SIGKILL", () => {
  it("runs every source record once, in per-key order, across 5+ SIGKILLs of the runtime", async () => {
    console.log(`subscription-sigkill: seed ${SEED} (replay: KVO_IT_SEED=${SEED})`);
    const app = uniqueName("kvo-sub-crash");
    const run = { app, source: `${app}.source`, output: `${app}.out`, name: "acc-feed", groupId: `${app}.sub.acc-feed` };
    await createTopic(run.source, SOURCE_PARTITIONS);
    await createTopic(run.output, 3);
    let child = start(run);
    await child.waitFor((e) => e.event === "started", "first start");

    // Another system writes while the runtime ingests: seq 1..100 of every key, one batch per
    // seq, interleaved over keys, in per-key order.
    let producedAll = false;
    // ~45 s in all: the kills land while records keep coming.
    const producing = produceSequenced(run.source, KEYS, PER_KEY, () => 250 + 400 * random()).finally(() => {
      producedAll = true;
    });

    let kills = 0;
    let killsWhileIngesting = 0;
    while (kills < KILLS || !producedAll) {
      // Let the relay get going after the (re)start, then kill at a seeded random moment.
      await child.waitForNext((e) => e.event === "stats" && subscriptionStats(e)?.state === "running", "subscription running");
      await sleep(300 + 2_500 * random());
      const sub = subscriptionStats(child.last("stats"));
      const lag = sub?.partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0) ?? 0;
      if (!producedAll || lag > 0 || Number(child.last("stats")?.inFlight) > 0) killsWhileIngesting++;
      await child.killHard();
      kills++;
      child = start(run);
      await child.waitFor((e) => e.event === "started", `restart after kill ${kills}`);
      if (kills >= 12) break; // enough; let it finish
    }
    await producing;
    expect(producedAll).toBe(true);
    console.log(`subscription-sigkill: ${kills} kills, ${killsWhileIngesting} while ingesting`);
    expect(kills).toBeGreaterThanOrEqual(KILLS);
    expect(killsWhileIngesting).toBeGreaterThanOrEqual(KILLS);

    const ends = await endOffsets(run.source);
    expect([...ends.values()].reduce((a, b) => a + b, 0)).toBe(TOTAL);

    // Exactly one output record per source record for a read_committed reader, each key's
    // in sequence order with the running count and total.
    expectExactlyOnceInOrder(await readOutputs(run.output, TOTAL, 30_000), ends, KEYS, PER_KEY);

    // The state, through KVO's client: exact counts and totals, no order violation seen.
    const states = await summaries(app, KEYS);
    expectExactStates(states, KEYS, PER_KEY);
    processed = { ...run, summaries: states };
  }, 300_000);

  it("runs nothing again after the subscription's group is rewound to the earliest offsets", async (context) => {
    if (processed === undefined) return context.skip("the first test did not complete");
    const run = processed;
    let child = current!;

    // The relay committed its source offsets up to the end.
    const ends = await endOffsets(run.source);
    await waitForCommittedEnd(run.groupId, run.source, ends);

    expect(await child.stop()).toBe(0);
    await resetGroupToEarliest(run.groupId, run.source);
    const rewound = await committedOffsets(run.groupId, run.source);
    for (const [partition] of ends) expect(rewound.get(partition), `rewound offset of partition ${partition}`).toBe(0);

    // Start again: the relay reads all 20,000 records again, and must skip every one.
    child = start(run);
    await child.waitFor((e) => e.event === "started", "start after the reset");
    await waitForCommittedEnd(run.groupId, run.source, ends);
    const caughtUp = await child.waitForNext((e) => {
      const sub = subscriptionStats(e);
      return (
        e.event === "stats" &&
        sub !== undefined &&
        sub.partitions.length === SOURCE_PARTITIONS &&
        sub.partitions.every((p) => p.lag === 0 && p.nextOffset === ends.get(p.partition))
      );
    }, "lag 0 after the reset");
    // Give anything that was relayed time to run (and show up) before looking.
    await sleep(5_000);
    const last = child.last("stats")!;
    const sub = subscriptionStats(last)!;
    console.log(`subscription-sigkill: after the reset ${JSON.stringify({ ...sub, partitions: undefined })}`);

    // What a user sees: no new output record, the same state.
    const outputs = await readTopic(run.output, (rs) => rs.length >= TOTAL, { timeoutMs: 60_000, settleMs: 3_000 });
    expect(outputs.length, "output records after the reset").toBe(TOTAL);
    expect(await summaries(run.app, KEYS)).toEqual(run.summaries);
    // What the runtime says: every record read again was skipped, none relayed or run.
    expect(Number(last.completed), "invocations completed after the reset").toBe(0);
    expect(subscriptionStats(caughtUp)!.relayed).toBe(0);
    expect(sub.relayed).toBe(0);
    expect(sub.skippedDuplicates).toBe(TOTAL);
  }, 180_000);
});

/** Waits until `groupId` committed the end offset of every partition. */
async function waitForCommittedEnd(groupId: string, topic: string, ends: Map<number, number>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const committed = await committedOffsets(groupId, topic);
    if ([...ends].every(([p, end]) => committed.get(p) === end)) return;
    if (Date.now() > deadline)
      throw new Error(
        `group ${groupId} did not commit the end offsets of ${topic} within ${timeoutMs} ms: ` +
          `committed ${JSON.stringify([...committed])}, ends ${JSON.stringify([...ends])}`,
      );
    await sleep(500);
  }
}
