/**
 * The subscription workload: factory readings and the rule that turns them into alerts,
 * shared by the producers, the handler (device.ts) and the exactness checks.
 *
 * Reading i belongs to device `device-<i % K>` and carries x drawn from
 * java.util.Random(42).nextInt(101), the same keys and values in the same order as the Kafka
 * Streams peer (../shared/peers/kafka-streams) and the backlog suite, so `--peer` compares
 * the same input. The rule is a pure function of (state, reading): the handler applies it,
 * and the bench applies it again while producing to know every key's final state and how
 * many alerts must come out.
 */
import { JavaRandom, SEED, VALUE_BOUND } from "../backlog/workload.js";

export const OBJECT = "Device";
export const HANDLER = "reading";
/** Name of the one state value each Device keeps. */
export const STATE_NAME = "s";

/** The source records' Avro schema (registered under `<source topic>-value`). */
export const READING_SCHEMA = {
  type: "record",
  name: "Reading",
  namespace: "kvo.bench.factory",
  fields: [
    { name: "deviceId", type: "string" },
    { name: "seq", type: "long" },
    { name: "temp", type: "int" },
    { name: "at", type: "long" },
  ],
} as const;

/** A reading as the handler receives it (decoded Avro, or the same JSON when written directly). */
export interface Reading {
  deviceId: string;
  /** Index of the reading in the whole run (0-based). */
  seq: number;
  /** 0..100, the peer's value. */
  temp: number;
  /** When the bench produced it, ms since epoch. */
  at: number;
}

export const ALERT_KINDS = ["high", "cleared", "rising", "maintenance"] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

/** The alerts' Avro schema (ctx.emit with avro({ schema }), subject `<alerts topic>-value`). */
export const ALERT_SCHEMA = {
  type: "record",
  name: "Alert",
  namespace: "kvo.bench.factory",
  fields: [
    { name: "deviceId", type: "string" },
    { name: "kind", type: { type: "enum", name: "AlertKind", symbols: [...ALERT_KINDS] } },
    { name: "temp", type: "int" },
    { name: "seq", type: "long" },
    /** The source record's Kafka timestamp (the e2e latency starts there). */
    { name: "sourceTs", type: "long" },
  ],
} as const;

export interface Alert {
  deviceId: string;
  kind: AlertKind;
  temp: number;
  seq: number;
  sourceTs: number;
}

/** Header of every alert with the source record's timestamp (ms), readable without decoding. */
export const SOURCE_TS_HEADER = "bench-source-ts";

// The rule's thresholds.
/** Above this the device enters the alarm state ("high"); n/sum/last/alerts are the peer's fields. */
export const HIGH_ABOVE = 90;
/** Hysteresis: an alarm clears only below this ("cleared"). */
export const CLEAR_BELOW = 70;
/** Readings kept for the rate of change. */
export const RATE_WINDOW = 4;
/** "rising" when the mean rise per reading over the window exceeds this. */
export const RISING_PER_READING = 20;
/** Readings above this count as stress; every MAINTENANCE_AFTER of them asks for maintenance. */
export const STRESS_ABOVE = 80;
export const MAINTENANCE_AFTER = 10;

/** What a Device keeps (one JSON state value). */
export interface RuleState {
  // the peer's per-key update: n+=1; sum+=v; last=v; if v>90 alerts+=1
  n: number;
  sum: number;
  last: number;
  alerts: number;
  /** In the alarm state (entered above HIGH_ABOVE, left below CLEAR_BELOW). */
  alarm: boolean;
  /** The last RATE_WINDOW readings, oldest first. */
  recent: number[];
  /** Stress readings since the last maintenance request. */
  stress: number;
  /** Maintenance requests so far. */
  maintenance: number;
}

export const initialState = (): RuleState => ({
  n: 0,
  sum: 0,
  last: 0,
  alerts: 0,
  alarm: false,
  recent: [],
  stress: 0,
  maintenance: 0,
});

/** The rule: the next state and the alerts (0..3) one reading raises. Does not modify `s`. */
export function applyReading(s: RuleState, temp: number): { state: RuleState; alerts: AlertKind[] } {
  const alerts: AlertKind[] = [];
  let alarm = s.alarm;
  if (!alarm && temp > HIGH_ABOVE) {
    alarm = true;
    alerts.push("high");
  } else if (alarm && temp < CLEAR_BELOW) {
    alarm = false;
    alerts.push("cleared");
  }
  const oldest = s.recent[0];
  if (s.recent.length === RATE_WINDOW && oldest !== undefined && (temp - oldest) / RATE_WINDOW > RISING_PER_READING) alerts.push("rising");
  const recent = s.recent.length === RATE_WINDOW ? [...s.recent.slice(1), temp] : [...s.recent, temp];
  let stress = s.stress + (temp > STRESS_ABOVE ? 1 : 0);
  let maintenance = s.maintenance;
  if (stress >= MAINTENANCE_AFTER) {
    stress = 0;
    maintenance++;
    alerts.push("maintenance");
  }
  const state: RuleState = {
    n: s.n + 1,
    sum: s.sum + temp,
    last: temp,
    alerts: s.alerts + (temp > HIGH_ABOVE ? 1 : 0),
    alarm,
    recent,
    stress,
    maintenance,
  };
  return { state, alerts };
}

export const deviceId = (i: number, keys: number): string => `device-${i % keys}`;

/**
 * The reading sequence (the peer's values) and what the rule must make of it: every key's
 * state and the number of alerts per kind. Readings are drawn in order by `next()`, across
 * both phases of a run, so the second phase continues the first one's state.
 */
export class ReadingSource {
  private readonly random = new JavaRandom(SEED);
  private readonly states: RuleState[];
  readonly alertCounts: Record<AlertKind, number> = { high: 0, cleared: 0, rising: 0, maintenance: 0 };
  /** Readings drawn so far (the next reading's seq). */
  drawn = 0;

  constructor(readonly keys: number) {
    this.states = Array.from({ length: keys }, initialState);
  }

  /** The next reading (at = now), applying the rule to the expected state. */
  next(at: number): Reading {
    const seq = this.drawn++;
    const temp = this.random.nextInt(VALUE_BOUND);
    const k = seq % this.keys;
    const { state, alerts } = applyReading(this.states[k]!, temp);
    this.states[k] = state;
    for (const a of alerts) this.alertCounts[a]++;
    return { deviceId: deviceId(k, this.keys), seq, temp, at };
  }

  get totalAlerts(): number {
    return ALERT_KINDS.reduce((n, kind) => n + this.alertCounts[kind], 0);
  }

  /** Expected state of key index k (null when it got no reading). */
  expected(k: number): RuleState | null {
    const s = this.states[k]!;
    return s.n === 0 ? null : s;
  }
}
