/**
 * The object the backlog benchmark drains: `Device.record` is a state-only handler doing per
 * key exactly what the Kafka Streams peer's processor does: n+=1; sum+=v; last=v;
 * if v>90 alerts+=1, kept as one state value (the peer keeps one 4-long value per key), with
 * no reply and no steps.
 */
import { object } from "../../../index.js";
import { ALERT_ABOVE, HANDLER, OBJECT, STATE_NAME, type DeviceState } from "./workload.js";

export const device = object({
  name: OBJECT,
  handlers: {
    [HANDLER]: async (ctx, input: { v: number }) => {
      const s = (await ctx.get<DeviceState>(STATE_NAME)) ?? { n: 0, sum: 0, last: 0, alerts: 0 };
      const v = input.v;
      ctx.set(STATE_NAME, { n: s.n + 1, sum: s.sum + v, last: v, alerts: s.alerts + (v > ALERT_ABOVE ? 1 : 0) });
    },
  },
});
