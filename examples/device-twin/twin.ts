/**
 * A digital twin of a factory device: every reading updates the twin's state machine
 * (ok → alarm → ok), opening a maintenance ticket once per alarm episode. The ticket call is
 * a durable step: after a crash it is not opened twice for the same episode.
 */
import { object, shared, stateOf, type SharedObjectContext } from "../../index.js";

export interface Reading {
  temp: number;
  at: string;
}

export type TwinState = {
  status: "ok" | "alarm";
  limit: number;
  last: Reading;
  readings: number;
  ticket: string;
  alarms: number;
};

/** Stand-in for an external ticketing API: in a real app, an HTTP call. */
export const tickets = {
  opened: [] as string[],
  async open(device: string, reading: Reading): Promise<string> {
    const id = `T-${device}-${tickets.opened.length + 1}`;
    tickets.opened.push(`${id} (${reading.temp}°C at ${reading.at})`);
    return id;
  },
};

export const device = object({
  name: "Device",
  state: stateOf<TwinState>(),
  handlers: {
    configure: async (ctx, cfg: { limit: number }) => {
      ctx.set("limit", cfg.limit);
    },
    report: async (ctx, r: Reading) => {
      const limit = (await ctx.get("limit")) ?? 80;
      const status = (await ctx.get("status")) ?? "ok";
      ctx.set("last", r);
      ctx.set("readings", ((await ctx.get("readings")) ?? 0) + 1);
      if (r.temp > limit && status === "ok") {
        const ticket = await ctx.run("open-ticket", () => tickets.open(ctx.key, r));
        ctx.set("status", "alarm");
        ctx.set("ticket", ticket);
        ctx.set("alarms", ((await ctx.get("alarms")) ?? 0) + 1);
        return { status: "alarm" as const, ticket };
      }
      if (r.temp <= limit && status === "alarm") {
        ctx.set("status", "ok");
        ctx.clear("ticket");
      }
      return { status: r.temp > limit ? ("alarm" as const) : ("ok" as const) };
    },
    status: shared(async (ctx: SharedObjectContext<TwinState>) => ({
      device: ctx.key,
      status: (await ctx.get("status")) ?? "ok",
      last: await ctx.get("last"),
      readings: (await ctx.get("readings")) ?? 0,
      alarms: (await ctx.get("alarms")) ?? 0,
      ticket: await ctx.get("ticket"),
    })),
  },
});
