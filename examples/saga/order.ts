/**
 * The order saga as a workflow (key: the order id): approval for large orders → payment →
 * shipping; when shipping fails, the payment is refunded (the compensation). `run` executes
 * once per order id: submitting the same order again returns the first run's outcome.
 *
 * Every business end (shipped, refunded, expired) is *returned*, not thrown: a failed
 * invocation leaves state unchanged (all-or-nothing), and the saga wants its end recorded for
 * `status`. Only a cancellation is rethrown, after compensating.
 */
import { TerminalError, TimeoutError, stateOf, workflow, type WorkflowContext, type WorkflowSharedContext } from "../../index.js";
import { euros, payment } from "./payment.js";
import { shipping } from "./shipping.js";

export interface Order {
  customer: string;
  amountCents: number;
  region: string;
}

/** Orders from this amount wait for a manual approval. */
export const APPROVAL_FROM_CENTS = 50_000;
/** How long a large order waits for its approval before it expires (nothing is charged). */
export const APPROVAL_TIMEOUT_MS = 5_000;

export interface Approval {
  by: string;
}

export type OrderStatus = "awaiting-approval" | "paid" | "shipped" | "refunded" | "expired";

export type OrderOutcome =
  | { order: string; status: "shipped"; tracking: string; approvedBy?: string }
  | { order: string; status: "refunded"; reason: string }
  | { order: string; status: "expired"; reason: string };

type OrderState = { status: OrderStatus; amountCents: number; tracking: string; reason: string };

/** The durable promise a large order's run waits on; `approve` resolves it. */
const APPROVAL = "approval";

async function run(ctx: WorkflowContext<OrderState>, order: Order): Promise<OrderOutcome> {
  ctx.set("amountCents", order.amountCents);
  let approvedBy: string | undefined;
  if (order.amountCents >= APPROVAL_FROM_CENTS) {
    ctx.set("status", "awaiting-approval");
    try {
      approvedBy = (await ctx.promise<Approval>(APPROVAL).get().orTimeout(APPROVAL_TIMEOUT_MS)).by;
    } catch (error) {
      if (!(error instanceof TimeoutError)) throw error;
      const reason = `${euros(order.amountCents)} needs an approval, none within ${APPROVAL_TIMEOUT_MS / 1000} s; nothing charged`;
      return end(ctx, { order: ctx.key, status: "expired", reason });
    }
  }

  await ctx.object(payment, ctx.key).charge({ customer: order.customer, amountCents: order.amountCents });
  ctx.set("status", "paid");

  let tracking: string;
  try {
    ({ tracking } = await ctx.service(shipping).ship({ orderId: ctx.key, region: order.region }));
  } catch (error) {
    // Calls fail only with TerminalErrors (the callee retried what could be retried).
    if (!(error instanceof TerminalError)) throw error;
    await ctx.object(payment, ctx.key).refund({ reason: `${error.code}: ${error.message}` });
    if (error.code === "cancelled") throw error;
    return end(ctx, { order: ctx.key, status: "refunded", reason: `shipping failed (${error.code}: ${error.message}), payment refunded` });
  }
  ctx.set("tracking", tracking);
  return end(ctx, { order: ctx.key, status: "shipped", tracking, ...(approvedBy === undefined ? {} : { approvedBy }) });
}

function end(ctx: WorkflowContext<OrderState>, outcome: OrderOutcome): OrderOutcome {
  ctx.set("status", outcome.status);
  if (outcome.status !== "shipped") ctx.set("reason", outcome.reason);
  return outcome;
}

export const orderWorkflow = workflow({
  name: "Order",
  state: stateOf<OrderState>(),
  run,
  handlers: {
    /** The order's state (what its run has recorded) and its approval, if any. */
    status: async (ctx: WorkflowSharedContext<OrderState>) => ({
      order: ctx.key,
      status: (await ctx.get("status")) ?? "running",
      approval: await ctx.promise<Approval>(APPROVAL).peek(),
      tracking: await ctx.get("tracking"),
      reason: await ctx.get("reason"),
    }),
    /** Approves a large order: its run, waiting on the promise, goes on (the first approval counts). */
    approve: async (ctx: WorkflowSharedContext<OrderState>, approval: Approval) => {
      ctx.promise<Approval>(APPROVAL).resolve(approval);
    },
  },
});
