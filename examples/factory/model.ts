/**
 * The expected outcome, computed in-process: the rules applied once to each reading, device by
 * device in send order. What KVO produced through Kafka must equal it exactly.
 */
import { applyReading, initialRules, type DeviceRules } from "./rules.js";
import type { Alert, Reading } from "./schemas.js";

export interface DeviceOutcome {
  state: DeviceRules;
  alerts: Alert[];
}

export function runModel(readings: readonly Reading[]): Map<string, DeviceOutcome> {
  const devices = new Map<string, DeviceOutcome>();
  for (const reading of readings) {
    const before = devices.get(reading.deviceId) ?? { state: initialRules(), alerts: [] };
    const { state, alerts } = applyReading(before.state, reading);
    devices.set(reading.deviceId, { state, alerts: [...before.alerts, ...alerts] });
  }
  return devices;
}

/** Whether every device's alerts (in order) are those of the model, and the first difference. */
export function compareAlerts(model: Map<string, DeviceOutcome>, actual: readonly Alert[]): { equal: boolean; difference?: string } {
  const byDevice = new Map<string, Alert[]>();
  for (const alert of actual) {
    const list = byDevice.get(alert.deviceId) ?? [];
    list.push(alert);
    byDevice.set(alert.deviceId, list);
  }
  for (const deviceId of new Set([...model.keys(), ...byDevice.keys()])) {
    const expected = (model.get(deviceId)?.alerts ?? []).map(describe);
    const got = (byDevice.get(deviceId) ?? []).map(describe);
    if (expected.join("\n") !== got.join("\n")) {
      return { equal: false, difference: `${deviceId}: expected [${expected.join(", ")}], got [${got.join(", ")}]` };
    }
  }
  return { equal: true };
}

function describe(alert: Alert): string {
  return `${alert.kind}@${new Date(alert.ts).toISOString().slice(11, 16)}=${alert.value}`;
}
