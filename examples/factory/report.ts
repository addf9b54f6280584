/** What the factory demo prints: the alerts a downstream consumer read, and a few twins. */
import type { KvoClient } from "../../index.js";
import { device } from "./device.js";
import type { DeviceOutcome } from "./model.js";
import { ALERTS_TOPIC, type Alert } from "./schemas.js";

export function printAlerts(alerts: readonly Alert[]): void {
  const byKind = new Map<string, number>();
  for (const a of alerts) byKind.set(a.kind, (byKind.get(a.kind) ?? 0) + 1);
  const devices = new Set(alerts.map((a) => a.deviceId)).size;
  console.log(`${ALERTS_TOPIC} (read_committed, Avro decoded via the registry): ${alerts.length} alerts from ${devices} devices`);
  console.log(`  ${[...byKind].map(([kind, n]) => `${kind} ${n}`).join(", ")}`);
  console.log("  first of each kind:");
  for (const kind of byKind.keys()) {
    const a = alerts.find((x) => x.kind === kind)!;
    console.log(`    ${clock(a.ts)} ${a.deviceId} ${a.kind.padEnd(16)} ${a.message}`);
  }
}

/**
 * Asks three twins for their state (a shared handler, through the typed client): one still
 * overheated, one that cooled down, one that only needed maintenance. Returns the devices
 * whose state differs from the model's.
 */
export async function printTwins(client: KvoClient, model: Map<string, DeviceOutcome>): Promise<string[]> {
  const outcomes = [...model.entries()];
  const samples = [
    outcomes.find(([, o]) => o.state.overheated),
    outcomes.find(([, o]) => !o.state.overheated && o.alerts.some((a) => a.kind === "OVERHEAT_CLEARED")),
    outcomes.find(([, o]) => o.alerts.every((a) => a.kind === "MAINTENANCE_DUE")),
  ];
  const differing: string[] = [];
  console.log("twins (Device.state through the typed client):");
  for (const [id, expected] of samples.filter((s) => s !== undefined)) {
    const { rules, last } = await client.object(device, id).state();
    const same = JSON.stringify(rules) === JSON.stringify(expected.state);
    if (!same) differing.push(id);
    const status = rules.overheated ? "OVERHEATED" : "ok";
    console.log(
      `  ${id}: ${status.padEnd(10)} last ${last?.value ?? "-"}°C at ${last ? clock(last.ts) : "-"}, ${rules.readings} readings, ` +
        `${rules.sinceMaintenance} since maintenance, alerts [${expected.alerts.map((a) => a.kind).join(", ")}]` +
        (same ? "" : "  ≠ model!"),
    );
  }
  return differing;
}

function clock(ts: number): string {
  return new Date(ts).toISOString().slice(11, 16);
}
