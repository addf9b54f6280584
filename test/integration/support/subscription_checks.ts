/**
 * Workload and exact-outcome checks shared by the tests that drive `Acc.ingest`
 * (apps/subscription_app.ts) through crashes and freezes: a per-key sequenced source
 * workload written by another system, and the checks that each of its records ran exactly
 * once, in its key's order.
 */
import { expect } from "vitest";
import { connectClient } from "../../../index.js";
import type { AccSummary, IngestOutput } from "../apps/subscription_app.js";
import type { ChildEvent } from "./child_runtime.js";
import { bootstrapServers } from "./endpoints.js";
import { readTopic, type ReadRecord } from "./kafka_tools.js";
import { SourceProducer } from "./source_topics.js";

/** The amount record `seq` of key `k` adds: varied, so a lost or doubled record changes the total. */
export const amount = (k: number, seq: number): number => ((k * 31 + seq * 7) % 97) + 1;

/** Sum of the amounts of records 1..upTo of key `k`. */
export function expectedTotal(k: number, upTo: number): number {
  let sum = 0;
  for (let seq = 1; seq <= upTo; seq++) sum += amount(k, seq);
  return sum;
}

/** runtime.stats().subscriptions[i] as a child prints it. */
export interface SubscriptionStats {
  name: string;
  topic: string;
  groupId: string;
  state: string;
  relayed: number;
  filtered: number;
  deadLettered: number;
  skippedDuplicates: number;
  partitions: Array<{ partition: number; nextOffset: number | null; highWatermark: number | null; lag: number | null }>;
}

export const subscriptionStats = (e: ChildEvent | undefined): SubscriptionStats | undefined =>
  (e?.subscriptions as SubscriptionStats[] | undefined)?.[0];

/**
 * Another system writes records 1..perKey of keys k0..k<keys-1> as JSON `{ seq, amount }`: one
 * batch per seq, interleaved over keys, in per-key order, pausing `pause()` ms after each batch.
 */
export async function produceSequenced(topic: string, keys: number, perKey: number, pause: () => number): Promise<void> {
  const producer = await new SourceProducer().connect();
  try {
    for (let seq = 1; seq <= perKey; seq++) {
      const batch = Array.from({ length: keys }, (_, k) => ({
        key: `k${k}`,
        value: Buffer.from(JSON.stringify({ seq, amount: amount(k, seq) })),
      }));
      await producer.send(topic, batch);
      await new Promise((r) => setTimeout(r, pause()));
    }
  } finally {
    await producer.close();
  }
}

export type OutputRecord = ReadRecord & { out: IngestOutput };

/**
 * Reads the output topic (read_committed) until `total` source records have their output
 * record (then 3 s more, for duplicates), or until nothing new arrived for `stallMs` (then the
 * checks say what is missing).
 */
export async function readOutputs(output: string, total: number, stallMs: number): Promise<OutputRecord[]> {
  const positions = new Set<string>();
  let parsed = 0;
  let lastProgress = Date.now();
  const records = await readTopic(
    output,
    (rs) => {
      if (parsed < rs.length) lastProgress = Date.now();
      for (; parsed < rs.length; parsed++) {
        const out = JSON.parse(rs[parsed]!.value!.toString()) as IngestOutput;
        positions.add(`${out.sourcePartition}:${out.sourceOffset}`);
      }
      return positions.size >= total || Date.now() - lastProgress > stallMs;
    },
    { timeoutMs: 240_000, settleMs: 3_000 },
  );
  return records.map((r) => ({ ...r, out: JSON.parse(r.value!.toString()) as IngestOutput }));
}

/**
 * Exactly one output record per source record (`ends`: end offset of each source partition,
 * whose offsets 0..end-1 are all data records) and, per key, the records in sequence order
 * with the running count and total, from one source partition in offset order.
 */
export function expectExactlyOnceInOrder(outputs: OutputRecord[], ends: Map<number, number>, keys: number, perKey: number): void {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const r of outputs) {
    const position = `${r.out.sourcePartition}:${r.out.sourceOffset}`;
    if (seen.has(position)) duplicates.push(position);
    seen.add(position);
  }
  expect(duplicates.slice(0, 10), "source records that ran twice (first 10)").toEqual([]);
  const missing: string[] = [];
  for (const [partition, end] of ends)
    for (let offset = 0; offset < end; offset++) if (!seen.has(`${partition}:${offset}`)) missing.push(`${partition}:${offset}`);
  expect(missing.slice(0, 10), "source records without output (first 10)").toEqual([]);
  expect(outputs.length).toBe(keys * perKey);

  // Each key's records are in one output partition, read in offset order.
  const byKey = new Map<string, IngestOutput[]>();
  for (const r of outputs) {
    const list = byKey.get(r.key ?? "") ?? [];
    list.push(r.out);
    byKey.set(r.key ?? "", list);
  }
  for (let k = 0; k < keys; k++) {
    const mine = byKey.get(`k${k}`) ?? [];
    expect(
      mine.map((o) => o.seq),
      `seq order of k${k}`,
    ).toEqual(Array.from({ length: perKey }, (_, i) => i + 1));
    expect(
      mine.map((o) => [o.count, o.total]),
      `count and total of k${k}`,
    ).toEqual(mine.map((o) => [o.seq, expectedTotal(k, o.seq)]));
    expect(new Set(mine.map((o) => o.sourcePartition)).size, `source partitions of k${k}`).toBe(1);
    expect(
      mine.every((o, i) => i === 0 || o.sourceOffset > mine[i - 1]!.sourceOffset),
      `source offsets of k${k} increase`,
    ).toBe(true);
  }
}

/** `Acc.summary` of keys k0..k<keys-1>, through KVO's client. */
export async function summaries(app: string, keys: number): Promise<AccSummary[]> {
  const client = await connectClient({ app, brokers: bootstrapServers(), timeoutMs: 60_000 });
  try {
    return (await Promise.all(Array.from({ length: keys }, (_, k) => client.call("Acc", `k${k}`, "summary")))) as AccSummary[];
  } finally {
    await client.close();
  }
}

/** Every key's state: exact count and total, no order violation seen. */
export function expectExactStates(states: AccSummary[], keys: number, perKey: number): void {
  for (let k = 0; k < keys; k++) {
    expect(states[k], `state of k${k}`).toEqual({
      count: perKey,
      total: expectedTotal(k, perKey),
      lastSeq: perKey,
      violations: 0,
      firstViolation: null,
    } satisfies AccSummary);
  }
}
