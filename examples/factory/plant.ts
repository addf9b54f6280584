/**
 * The simulated plant behind the gateway: what each device measures, minute by minute. Seeded,
 * so every run sends the same stream. Most devices run steady; some overheat and cool down
 * (OVERHEAT, RAPID_RISE, OVERHEAT_CLEARED), some overheat and stay warm between the two
 * thresholds (no OVERHEAT_CLEARED: hysteresis), and some get a maintenance visit on the way.
 */
import { seededRandom, type SeededRandom } from "../shared/seeded_random.js";
import type { Reading } from "./schemas.js";

export interface PlantOptions {
  devices: number;
  readingsPerDevice: number;
  seed: number;
}

const START = Date.UTC(2026, 10, 27, 6, 0);
const MINUTE = 60_000;

type Profile = "steady" | "overheat" | "warm";

/** The gateway's stream in send order: minute by minute, every device's reading of that minute. */
export function simulatePlant(options: PlantOptions): Reading[] {
  const random = seededRandom(options.seed);
  const devices = Array.from({ length: options.devices }, (_, i) => {
    const roll = random.next();
    const profile: Profile = roll < 0.7 ? "steady" : roll < 0.85 ? "overheat" : "warm";
    return {
      id: `dev-${String(i + 1).padStart(4, "0")}`,
      temperatures: temperatures(random, profile, options.readingsPerDevice),
      maintenanceAt: random.chance(0.4) ? random.int(2, options.readingsPerDevice - 2) : -1,
    };
  });
  const stream: Reading[] = [];
  for (let minute = 0; minute < options.readingsPerDevice; minute++) {
    const ts = START + minute * MINUTE;
    for (const d of devices) {
      if (d.maintenanceAt === minute) stream.push({ deviceId: d.id, sensor: "maintenance", value: 0, ts: ts - MINUTE / 2 });
      stream.push({ deviceId: d.id, sensor: "temperature", value: d.temperatures[minute]!, ts });
    }
  }
  return stream;
}

function temperatures(random: SeededRandom, profile: Profile, count: number): number[] {
  const base = random.int(55, 68);
  const episodeStart = random.int(3, Math.max(3, count - 12));
  const values: number[] = [];
  let t = base;
  for (let i = 0; i < count; i++) {
    const sinceEpisode = i - episodeStart;
    if (profile !== "steady" && sinceEpisode >= 0 && sinceEpisode < 5)
      t += random.int(6, 9); // heating up fast
    else if (profile === "overheat" && sinceEpisode >= 5)
      t = Math.max(base, t - random.int(6, 10)); // cooling down
    else if (profile === "warm" && sinceEpisode >= 5)
      t = random.int(78, 88); // warm, between the thresholds
    else t = base + random.int(-2, 2);
    values.push(Math.round((t + random.next()) * 10) / 10);
  }
  return values;
}
