/**
 * What the router demo prints, each checked against the stream the upstream sent: every
 * distinct order routed once to its region's topic, each customer's totals over its distinct
 * orders, every re-sent order dropped, and each customer's orders handled in `seq` order.
 * Each check returns its problems (empty: as expected).
 */
import type { KvoClient } from "../../index.js";
import { readCommitted } from "../shared/plain_kafka.js";
import { customer } from "./customer.js";
import { REGIONS, regionTopic, type Order } from "./orders.js";

/** Reads the region topics as a downstream consumer would (read_committed). */
export async function checkRegions(brokers: string[], unique: readonly Order[]): Promise<string[]> {
  const problems: string[] = [];
  console.log("per region (read_committed):");
  const routed = await Promise.all(
    REGIONS.map(async (region) => {
      const expected = unique.filter((o) => o.region === region).map((o) => o.orderId);
      const records = await readCommitted(brokers, regionTopic(region), { expected: expected.length });
      return { topic: regionTopic(region), expected, got: records.map((r) => (JSON.parse(r.value.toString()) as Order).orderId) };
    }),
  );
  for (const { topic, expected, got } of routed) {
    const same = got.length === expected.length && [...got].sort().join() === [...expected].sort().join();
    if (!same) problems.push(`${topic}: ${got.length} orders, expected each of its ${expected.length} distinct orders once`);
    console.log(`  ${topic.padEnd(12)} ${got.length} orders${same ? "" : `  ≠ expected ${expected.length}!`}`);
  }
  return problems;
}

/** Asks every customer for its totals (a shared handler, through the typed client). */
export async function checkCustomers(client: KvoClient, sent: readonly Order[], unique: readonly Order[]): Promise<string[]> {
  const problems: string[] = [];
  const ids = [...new Set(unique.map((o) => o.customerId))].sort();
  const totals = await Promise.all(ids.map((id) => client.object(customer, id).totals()));
  for (const t of totals) {
    const mine = unique.filter((o) => o.customerId === t.customer);
    const cents = mine.reduce((sum, o) => sum + Math.round(o.amount * 100), 0);
    if (t.orders !== mine.length || t.amountCents !== cents) {
      problems.push(`${t.customer}: ${t.orders} orders / ${t.amountCents} cents, expected ${mine.length} / ${cents}`);
    }
  }
  console.log("per customer (Customer.totals through the typed client):");
  for (const t of totals.slice(0, 3)) {
    const total = (t.amountCents / 100).toFixed(2);
    console.log(`  ${t.customer}: ${t.orders} orders, total ${total}, last seq ${t.lastSeq}, duplicates dropped ${t.duplicates}`);
  }
  const resent = sent.length - unique.length;
  const dropped = totals.reduce((n, t) => n + t.duplicates, 0);
  if (dropped !== resent) problems.push(`${dropped} duplicates dropped, ${resent} were re-sent`);
  console.log(`duplicates dropped: ${dropped} (of ${resent} re-sent)`);
  const disordered = totals.filter((t) => t.outOfOrder > 0).map((t) => t.customer);
  if (disordered.length > 0) problems.push(`orders out of seq order for ${disordered.join(", ")}`);
  console.log(`in order per customer: ${disordered.length === 0 ? "yes" : "NO"}`);
  return problems;
}
