/**
 * The payment of one order (key: the order id): `charge` takes the money once, `refund` gives
 * it back once. Both are idempotent by state, so a saga may repeat them safely, and each
 * gateway call is a durable step: after a crash it is not made twice.
 */
import { object, shared, stateOf, type SharedObjectContext } from "../../index.js";

export type PaymentState = {
  status: "charged" | "refunded";
  customer: string;
  amountCents: number;
  chargeId: string;
  refundReason: string;
};

export interface ChargeRequest {
  customer: string;
  amountCents: number;
}

/** Stand-in for a payment provider's API: in a real app, HTTP calls with the charge id as idempotency key. */
export const gateway = {
  charges: [] as string[],
  refunds: [] as string[],
  async charge(orderId: string, req: ChargeRequest): Promise<string> {
    const id = `ch-${orderId}`;
    gateway.charges.push(`${id} ${req.customer} ${euros(req.amountCents)}`);
    return id;
  },
  async refund(chargeId: string, amountCents: number): Promise<void> {
    gateway.refunds.push(`${chargeId} ${euros(amountCents)}`);
  },
};

export const payment = object({
  name: "Payment",
  state: stateOf<PaymentState>(),
  handlers: {
    charge: async (ctx, req: ChargeRequest) => {
      const charged = await ctx.get("chargeId");
      if (charged !== null) return { chargeId: charged };
      const chargeId = await ctx.run("charge", () => gateway.charge(ctx.key, req));
      ctx.set("status", "charged");
      ctx.set("customer", req.customer);
      ctx.set("amountCents", req.amountCents);
      ctx.set("chargeId", chargeId);
      return { chargeId };
    },
    refund: async (ctx, req: { reason: string }) => {
      const chargeId = await ctx.get("chargeId");
      const amountCents = (await ctx.get("amountCents")) ?? 0;
      if (chargeId === null || (await ctx.get("status")) !== "charged") return { refunded: false };
      await ctx.run("refund", () => gateway.refund(chargeId, amountCents));
      ctx.set("status", "refunded");
      ctx.set("refundReason", req.reason);
      return { refunded: true };
    },
    get: shared(async (ctx: SharedObjectContext<PaymentState>) => ({
      order: ctx.key,
      status: await ctx.get("status"),
      amountCents: await ctx.get("amountCents"),
      refundReason: await ctx.get("refundReason"),
    })),
  },
});

export function euros(cents: number): string {
  return `€${(cents / 100).toFixed(2)}`;
}
