/**
 * The upstream order system, simulated and seeded: customers place numbered orders (`seq`
 * counts up per customer), interleaved across customers, and now and then an order is sent a
 * second time a little later, as an at-least-once producer does after a timeout.
 */
import { seededRandom } from "../shared/seeded_random.js";

export const REGIONS = ["eu", "us", "apac"] as const;
export type Region = (typeof REGIONS)[number];

export const ORDERS_TOPIC = "orders";

/** The per-region topic orders of `region` are routed to. */
export function regionTopic(region: Region): string {
  return `${ORDERS_TOPIC}.${region}`;
}

export interface Order {
  orderId: string;
  customerId: string;
  region: Region;
  /** In the currency's main unit, two decimals. */
  amount: number;
  /** 1, 2, 3, ... per customer, in the order the customer placed them. */
  seq: number;
}

export interface OrderStreamOptions {
  customers: number;
  ordersPerCustomer: number;
  /** Probability that an order is re-sent (once) a few records later. */
  duplicateRate: number;
  seed: number;
}

/** `sent`: what the upstream writes, duplicates included; `unique`: each order once, in send order. */
export function simulateOrders(options: OrderStreamOptions): { sent: Order[]; unique: Order[] } {
  const random = seededRandom(options.seed);
  const customers = Array.from({ length: options.customers }, (_, i) => ({
    id: `cust-${String(i + 1).padStart(3, "0")}`,
    home: random.pick(REGIONS),
    placed: 0,
  }));
  const unique: Order[] = [];
  const sent: Order[] = [];
  const resends: Array<{ order: Order; due: number }> = [];
  let open = customers.filter((c) => c.placed < options.ordersPerCustomer);
  while (open.length > 0) {
    const c = random.pick(open);
    c.placed += 1;
    const order: Order = {
      orderId: `ord-${String(unique.length + 1).padStart(5, "0")}`,
      customerId: c.id,
      region: random.chance(0.9) ? c.home : random.pick(REGIONS),
      amount: random.int(500, 25_000) / 100,
      seq: c.placed,
    };
    unique.push(order);
    sent.push(order);
    if (random.chance(options.duplicateRate)) resends.push({ order, due: sent.length + random.int(1, 30) });
    for (const r of resends.filter((r) => r.due <= sent.length)) sent.push(r.order);
    resends.splice(0, resends.length, ...resends.filter((r) => r.due > sent.length));
    open = customers.filter((c) => c.placed < options.ordersPerCustomer);
  }
  for (const r of resends) sent.push(r.order);
  return { sent, unique };
}
