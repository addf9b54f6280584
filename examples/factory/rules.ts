/**
 * The alert rules of one device, as a pure function of its state and the next reading. The
 * Device object applies it to its durable state; the demo applies it to the whole simulated
 * stream in-process, as the model the alerts read from Kafka must match (every reading applied
 * exactly once, in order per device).
 */
import type { Alert, Reading } from "./schemas.js";

export const RULES = {
  /** OVERHEAT when a temperature goes above this... */
  highC: 90,
  /** ...and OVERHEAT_CLEARED only when it falls below this (hysteresis: no flapping in between). */
  lowC: 75,
  /** RAPID_RISE when the temperature rose by more than `riseC` over the last `window` readings. */
  window: 5,
  riseC: 12,
  /** MAINTENANCE_DUE once when this many readings arrived since the last maintenance. */
  maintenanceAfter: 15,
} as const;

export type DeviceRules = {
  overheated: boolean;
  /** Inside a rapid rise already alerted: the next RAPID_RISE needs the rise to end first. */
  rising: boolean;
  /** The last `RULES.window` temperatures, oldest first. */
  recent: number[];
  sinceMaintenance: number;
  readings: number;
  alerts: number;
};

export function initialRules(): DeviceRules {
  return { overheated: false, rising: false, recent: [], sinceMaintenance: 0, readings: 0, alerts: 0 };
}

export function applyReading(before: DeviceRules, reading: Reading): { state: DeviceRules; alerts: Alert[] } {
  const state: DeviceRules = { ...before, recent: [...before.recent] };
  const alerts: Alert[] = [];
  const alert = (kind: Alert["kind"], value: number, message: string): void => {
    alerts.push({ deviceId: reading.deviceId, kind, value, ts: reading.ts, message });
  };
  if (reading.sensor === "maintenance") {
    state.sinceMaintenance = 0;
    return { state, alerts };
  }
  const t = reading.value;
  state.readings += 1;

  if (!state.overheated && t > RULES.highC) {
    state.overheated = true;
    alert("OVERHEAT", t, `${t.toFixed(1)}°C is above ${RULES.highC}°C`);
  } else if (state.overheated && t < RULES.lowC) {
    state.overheated = false;
    alert("OVERHEAT_CLEARED", t, `${t.toFixed(1)}°C is below ${RULES.lowC}°C`);
  }

  state.recent = [...state.recent, t].slice(-RULES.window);
  const rise = state.recent.length === RULES.window ? t - state.recent[0]! : 0;
  if (rise > RULES.riseC && !state.rising) {
    alert("RAPID_RISE", t, `+${rise.toFixed(1)}°C over the last ${RULES.window} readings`);
  }
  state.rising = rise > RULES.riseC;

  state.sinceMaintenance += 1;
  if (state.sinceMaintenance === RULES.maintenanceAfter) {
    alert("MAINTENANCE_DUE", state.sinceMaintenance, `${RULES.maintenanceAfter} readings since the last maintenance`);
  }
  state.alerts += alerts.length;
  return { state, alerts };
}
