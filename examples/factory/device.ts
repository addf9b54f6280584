/**
 * A device twin fed by the gateway's topic (subscribe({ topic: "factory.readings", to:
 * [device, "report"] })): each reading runs the alert rules on the device's durable state and
 * emits its alerts to `factory.alerts` as Avro, in the same transaction as the state change.
 */
import { avro, object, shared, stateOf, type SharedObjectContext } from "../../index.js";
import { applyReading, initialRules, type DeviceRules } from "./rules.js";
import { ALERTS_TOPIC, alertSchema, type Reading } from "./schemas.js";

type DeviceState = { rules: DeviceRules; last: Reading };

const alertFormat = avro({ schema: alertSchema });

export const device = object({
  name: "Device",
  state: stateOf<DeviceState>(),
  handlers: {
    report: async (ctx, reading: Reading) => {
      const { state, alerts } = applyReading((await ctx.get("rules")) ?? initialRules(), reading);
      ctx.set("rules", state);
      ctx.set("last", reading);
      for (const alert of alerts) ctx.emit(ALERTS_TOPIC, { key: ctx.key, value: alert }, { format: alertFormat });
      return alerts.length;
    },
    state: shared(async (ctx: SharedObjectContext<DeviceState>) => ({
      device: ctx.key,
      rules: (await ctx.get("rules")) ?? initialRules(),
      last: (await ctx.get("last")) ?? null,
    })),
  },
});
