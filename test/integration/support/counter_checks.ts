/**
 * Workload and exact-outcome checks shared by the tests that drive `Counter.add`
 * (apps/counter_app.ts) through crashes, fencing and hand-overs.
 */
import { expect } from "vitest";
import { codecs } from "../../../runtime/codec/records.js";
import { H } from "../../../runtime/invocation/headers.js";
import { readCompacted, readTopic, type InvocationSpec, type ReadRecord } from "./kafka_tools.js";

/** `Counter/k<k>`.add({ seq }) for seq in [from, to] and every key, interleaved over keys. */
export function counterInvocations(keys: number, from: number, to: number, replyTo: string): InvocationSpec[] {
  const specs: InvocationSpec[] = [];
  for (let seq = from; seq <= to; seq++) {
    for (let k = 0; k < keys; k++)
      specs.push({ key: `Counter/k${k}`, handler: "add", input: { seq }, replyTo, correlationId: `k${k}:${seq}` });
  }
  return specs;
}

/**
 * Reads replies until every invocation answered, then checks: exactly one reply each, all
 * successful, each one's count equal to its per-key sequence number (arrival order), and the
 * later step saw the token the first step recorded. Returns the replies.
 */
export async function expectExactReplies(replies: string, total: number): Promise<ReadRecord[]> {
  const records = await readTopic(replies, (rs) => new Set(rs.map((r) => r.headers[H.correlationId])).size >= total, {
    timeoutMs: 240_000,
    settleMs: 3_000,
  });
  expect(records.length).toBe(total);
  expect(new Set(records.map((r) => r.headers[H.correlationId])).size).toBe(total);
  expect(records.filter((r) => r.headers[H.status] !== "ok")).toEqual([]);
  for (const r of records) {
    const out = JSON.parse(r.value!.toString()) as { count: number; token: string; echoed: string };
    expect(out.echoed).toBe(out.token);
    expect(out.count, r.headers[H.correlationId]).toBe(Number(r.headers[H.correlationId]!.split(":")[1]));
  }
  return records;
}

/** Every key's committed count equals perKey, and no order violation was recorded. */
export async function expectExactCounts(
  changelog: string,
  keys: number,
  perKey: number,
): Promise<Awaited<ReturnType<typeof readCompacted>>> {
  const compacted = await readCompacted(changelog);
  for (let k = 0; k < keys; k++) {
    const v = compacted.latest.get(JSON.stringify(["st", "Counter", `k${k}`, "count"]));
    expect(v, `count of k${k}`).toBeDefined();
    expect(JSON.parse(codecs.stateValue.decode(v!).value.toString()), `count of k${k}`).toBe(perKey);
  }
  expect([...compacted.latest.keys()].filter((k) => k.includes("order-violation"))).toEqual([]);
  return compacted;
}
