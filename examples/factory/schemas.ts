/**
 * The factory's topics and Avro schemas. The gateway writes readings with `readingSchema`
 * (registered under `factory.readings-value`); the Device objects write alerts with
 * `alertSchema` (under `factory.alerts-value`).
 */
export const READINGS_TOPIC = "factory.readings";
export const ALERTS_TOPIC = "factory.alerts";

/** One message from the gateway: a sensor value, or a maintenance event (sensor "maintenance"). */
export interface Reading {
  deviceId: string;
  sensor: "temperature" | "maintenance";
  value: number;
  /** ms since epoch */
  ts: number;
}

export const readingSchema = {
  type: "record",
  name: "Reading",
  namespace: "kvo.examples.factory",
  fields: [
    { name: "deviceId", type: "string" },
    { name: "sensor", type: "string" },
    { name: "value", type: "double" },
    { name: "ts", type: "long" },
  ],
} as const;

export type AlertKind = "OVERHEAT" | "OVERHEAT_CLEARED" | "RAPID_RISE" | "MAINTENANCE_DUE";

export interface Alert {
  deviceId: string;
  kind: AlertKind;
  /** The temperature (or, for MAINTENANCE_DUE, the reading count) that raised it. */
  value: number;
  /** Timestamp of the reading that raised it. */
  ts: number;
  message: string;
}

export const alertSchema = {
  type: "record",
  name: "Alert",
  namespace: "kvo.examples.factory",
  fields: [
    { name: "deviceId", type: "string" },
    { name: "kind", type: { type: "enum", name: "AlertKind", symbols: ["OVERHEAT", "OVERHEAT_CLEARED", "RAPID_RISE", "MAINTENANCE_DUE"] } },
    { name: "value", type: "double" },
    { name: "ts", type: "long" },
    { name: "message", type: "string" },
  ],
} as const;
