/**
 * A digital twin of a factory device: every reading updates the twin's state machine
 * (ok → alarm → ok), opening a maintenance ticket once per alarm episode, and re-arms a
 * heartbeat: a delayed message to itself that, if no newer reading came in the meantime,
 * marks the device offline and opens a ticket once per offline episode. The ticket calls are
 * durable steps: after a crash a ticket is not opened twice for the same episode.
 *
 * The heartbeat is a delayed send rather than a `ctx.sleep`: a sleeping exclusive handler
 * would hold the device's key, so no reading could get in. Every reading bumps `epoch` and
 * sends a check carrying that epoch; a check whose epoch is not the current one was
 * superseded by a later reading and does nothing. So no timer ever needs cancelling.
 */
import { object, shared, stateOf, type ObjectContext, type SharedObjectContext } from "../../index.js";

export interface Reading {
  temp: number;
  at: string;
}

export interface TwinConfig {
  /** Readings above this are an alarm (default 80). */
  limit: number;
  /** Offline when no reading arrives for this long, ms (default DEFAULT_HEARTBEAT_MS). */
  heartbeatMs?: number;
}

export type TwinState = {
  status: "ok" | "alarm";
  online: boolean;
  limit: number;
  heartbeatMs: number;
  /** Counts readings; the heartbeat check armed by reading n carries epoch n. */
  epoch: number;
  last: Reading;
  readings: number;
  /** The open alarm ticket (cleared when the temperature is back under the limit). */
  ticket: string;
  alarms: number;
  /** The open offline ticket (cleared by the next reading). */
  offlineTicket: string;
  offlines: number;
};

export const DEFAULT_LIMIT = 80;
export const DEFAULT_HEARTBEAT_MS = 60_000;

/** Stand-in for an external ticketing API: in a real app, an HTTP call. */
export const tickets = {
  opened: [] as string[],
  async open(device: string, reason: string): Promise<string> {
    const id = `T-${device}-${tickets.opened.length + 1}`;
    tickets.opened.push(`${id} (${reason})`);
    return id;
  },
};

export type ReportResult = { status: "ok" | "alarm"; ticket?: string; backOnline?: true };
export type HeartbeatResult = "superseded" | "already-offline" | "went-offline";

// The handlers that send to `device` itself are declared with explicit types: TypeScript cannot
// infer the type of `device` from an initializer that uses `device`.
type TwinContext = ObjectContext<TwinState>;

async function report(ctx: TwinContext, r: Reading): Promise<ReportResult> {
  const limit = (await ctx.get("limit")) ?? DEFAULT_LIMIT;
  const status = (await ctx.get("status")) ?? "ok";
  const epoch = ((await ctx.get("epoch")) ?? 0) + 1;
  ctx.set("last", r);
  ctx.set("readings", ((await ctx.get("readings")) ?? 0) + 1);
  ctx.set("epoch", epoch);
  ctx.send(device, ctx.key).heartbeatCheck({ epoch }, { delay: (await ctx.get("heartbeatMs")) ?? DEFAULT_HEARTBEAT_MS });
  const backOnline = (await ctx.get("online")) === false;
  if (backOnline) {
    ctx.set("online", true);
    ctx.clear("offlineTicket");
  }
  const seen = backOnline ? { backOnline: true as const } : {};
  if (r.temp > limit && status === "ok") {
    const ticket = await ctx.run("open-ticket", () => tickets.open(ctx.key, `${r.temp}°C at ${r.at}`));
    ctx.set("status", "alarm");
    ctx.set("ticket", ticket);
    ctx.set("alarms", ((await ctx.get("alarms")) ?? 0) + 1);
    return { status: "alarm", ticket, ...seen };
  }
  if (r.temp <= limit && status === "alarm") {
    ctx.set("status", "ok");
    ctx.clear("ticket");
  }
  return { status: r.temp > limit ? "alarm" : "ok", ...seen };
}

/**
 * Runs `heartbeatMs` after the reading that armed it. Idempotent by state: a check of an
 * older epoch, or one for a twin already offline, changes nothing, so at most one offline
 * ticket is opened per silence (the step's journal covers a crash while opening it).
 */
async function heartbeatCheck(ctx: TwinContext, check: { epoch: number }): Promise<HeartbeatResult> {
  if (check.epoch !== (await ctx.get("epoch"))) return "superseded";
  if ((await ctx.get("online")) === false) return "already-offline";
  const last = await ctx.get("last");
  const silentMs = (await ctx.get("heartbeatMs")) ?? DEFAULT_HEARTBEAT_MS;
  const ticket = await ctx.run("open-offline-ticket", () =>
    tickets.open(ctx.key, `offline: no reading for ${silentMs / 1000} s after ${last?.at ?? "the last one"}`),
  );
  ctx.set("online", false);
  ctx.set("offlineTicket", ticket);
  ctx.set("offlines", ((await ctx.get("offlines")) ?? 0) + 1);
  return "went-offline";
}

export const device = object({
  name: "Device",
  state: stateOf<TwinState>(),
  handlers: {
    configure: async (ctx, cfg: TwinConfig) => {
      ctx.set("limit", cfg.limit);
      if (cfg.heartbeatMs !== undefined) ctx.set("heartbeatMs", cfg.heartbeatMs);
    },
    report,
    heartbeatCheck,
    status: shared(async (ctx: SharedObjectContext<TwinState>) => ({
      device: ctx.key,
      status: (await ctx.get("status")) ?? "ok",
      online: (await ctx.get("online")) ?? true,
      last: await ctx.get("last"),
      readings: (await ctx.get("readings")) ?? 0,
      alarms: (await ctx.get("alarms")) ?? 0,
      ticket: await ctx.get("ticket"),
      offlines: (await ctx.get("offlines")) ?? 0,
      offlineTicket: await ctx.get("offlineTicket"),
    })),
  },
});
