/**
 * The router, as a per-customer object fed by the `orders` topic (subscription key
 * { field: "customerId" }): it drops orders it has seen (the upstream sends at least once),
 * checks that each customer's orders arrive in `seq` order, keeps the customer's totals and
 * routes each new order by its region to `orders.<region>`. The state change and the routed
 * record commit in one Kafka transaction: no order is lost, routed twice or counted twice.
 */
import { object, shared, stateOf, TerminalError, type SharedObjectContext } from "../../index.js";
import { REGIONS, regionTopic, type Order } from "./orders.js";

/** How many order ids a customer remembers for deduplication (a re-send older than this would pass). */
export const REMEMBERED_ORDERS = 1_000;

type Totals = {
  orders: number;
  amountCents: number;
  lastSeq: number;
  /** Re-sent orders dropped. */
  duplicates: number;
  /** Orders whose `seq` was not the one after the last: arrived out of order, or one is missing before it. */
  outOfOrder: number;
};
type CustomerState = { seen: string[]; totals: Totals };

const NO_TOTALS: Totals = { orders: 0, amountCents: 0, lastSeq: 0, duplicates: 0, outOfOrder: 0 };

export const customer = object({
  name: "Customer",
  state: stateOf<CustomerState>(),
  handlers: {
    place: async (ctx, order: Order) => {
      if (!REGIONS.includes(order.region)) throw new TerminalError(`order ${order.orderId}: unknown region "${order.region}"`);
      const seen = (await ctx.get("seen")) ?? [];
      const totals = (await ctx.get("totals")) ?? NO_TOTALS;
      if (seen.includes(order.orderId)) {
        ctx.set("totals", { ...totals, duplicates: totals.duplicates + 1 });
        return "duplicate";
      }
      ctx.set("seen", [...seen, order.orderId].slice(-REMEMBERED_ORDERS));
      ctx.set("totals", {
        orders: totals.orders + 1,
        amountCents: totals.amountCents + Math.round(order.amount * 100),
        lastSeq: Math.max(totals.lastSeq, order.seq),
        duplicates: totals.duplicates,
        outOfOrder: totals.outOfOrder + (order.seq === totals.lastSeq + 1 ? 0 : 1),
      });
      ctx.emit(regionTopic(order.region), { key: order.orderId, value: order });
      return "routed";
    },
    totals: shared(async (ctx: SharedObjectContext<CustomerState>) => ({ customer: ctx.key, ...((await ctx.get("totals")) ?? NO_TOTALS) })),
  },
});
