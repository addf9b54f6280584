/**
 * The object the subscription benchmark drives: `Device.reading` applies the rule of
 * workload.ts (threshold with hysteresis, rate of change over the last readings, a
 * maintenance counter; the peer's n/sum/last/alerts too) to its one state value and emits one
 * record per alert to the alerts topic, in the invocation's transaction.
 *
 * Every alert carries the source record's timestamp (ctx.request.source.timestamp; for
 * readings written straight to `<app>.invocations`, which have no source record, the time the
 * bench produced the reading), so the bench can measure the latency from source record to
 * committed effect.
 */
import { avro, object, type EmitFormat } from "../../../index.js";
import {
  ALERT_SCHEMA,
  applyReading,
  HANDLER,
  initialState,
  OBJECT,
  SOURCE_TS_HEADER,
  STATE_NAME,
  type Alert,
  type Reading,
  type RuleState,
} from "./workload.js";

export type EgressFormat = "avro" | "json";

export function deviceObject(alertsTopic: string, egress: EgressFormat) {
  const format: EmitFormat = egress === "avro" ? avro({ schema: ALERT_SCHEMA }) : "json";
  return object({
    name: OBJECT,
    handlers: {
      [HANDLER]: async (ctx, reading: Reading) => {
        const before = (await ctx.get<RuleState>(STATE_NAME)) ?? initialState();
        const { state, alerts } = applyReading(before, reading.temp);
        ctx.set(STATE_NAME, state);
        const sourceTs = ctx.request.source?.timestamp ?? reading.at;
        for (const kind of alerts) {
          const alert: Alert = { deviceId: reading.deviceId, kind, temp: reading.temp, seq: reading.seq, sourceTs };
          ctx.emit(alertsTopic, { key: reading.deviceId, value: alert, headers: { [SOURCE_TS_HEADER]: String(sourceTs) } }, { format });
        }
      },
    },
  });
}
