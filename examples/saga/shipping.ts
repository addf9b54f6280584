/**
 * Shipping, a keyless service: books a carrier for an order. A region no carrier serves is a
 * TerminalError (code `undeliverable`): retrying cannot help, so the caller gets it at once
 * and compensates.
 */
import { service, TerminalError } from "../../index.js";

export interface ShipRequest {
  orderId: string;
  region: string;
}

export const SERVED_REGIONS = ["eu", "us", "apac"];

/** Stand-in for a carrier's booking API. */
export const carrier = {
  async book(req: ShipRequest): Promise<string> {
    if (!SERVED_REGIONS.includes(req.region)) {
      throw new TerminalError(`no carrier serves region "${req.region}"`, { code: "undeliverable" });
    }
    return `TRK-${req.region.toUpperCase()}-${req.orderId}`;
  },
};

export const shipping = service({
  name: "Shipping",
  handlers: {
    ship: async (ctx, req: ShipRequest) => ({ tracking: await ctx.run("book-carrier", () => carrier.book(req)) }),
  },
});
