/**
 * The seeded workload of calls-sigkill.test.ts (apps/calls_app.ts): call chains A → B → C,
 * delayed sends and sleeps, with their keys, delays and sleep times drawn from one seeded
 * random source, and cut into waves that are produced one after another while the runtime is
 * killed and restarted.
 */
import type { ChainInput, SendPlan } from "../apps/calls_app.js";
import type { InvocationSpec } from "./kafka_tools.js";

export interface CallsWorkloadSize {
  chains: number;
  sends: number;
  naps: number;
  /** Keys per object. */
  chainKeys: number;
  senderKeys: number;
  receiverKeys: number;
  sleeperKeys: number;
  /** Delayed sends per Sender.schedule invocation. */
  sendsPerSchedule: number;
  /** Delay of a send and length of a sleep: uniform in [minMs, maxMs]. */
  minMs: number;
  maxMs: number;
}

export interface ChainPlan extends ChainInput {
  aKey: string;
}

export interface ScheduleBatch {
  senderKey: string;
  sends: SendPlan[];
}

export interface NapPlan {
  id: number;
  key: string;
  ms: number;
}

export interface CallsWorkload {
  chains: ChainPlan[];
  schedules: ScheduleBatch[];
  naps: NapPlan[];
}

/** Draws the whole workload from `random` (so a seed replays it). */
export function planCallsWorkload(random: () => number, size: CallsWorkloadSize): CallsWorkload {
  const pick = (prefix: string, keys: number) => `${prefix}${Math.floor(random() * keys)}`;
  const duration = () => size.minMs + Math.floor(random() * (size.maxMs - size.minMs + 1));
  const chains = Array.from({ length: size.chains }, (_, chain) => ({
    chain,
    aKey: pick("a", size.chainKeys),
    bKey: pick("b", size.chainKeys),
    cKey: pick("c", size.chainKeys),
  }));
  const schedules: ScheduleBatch[] = [];
  for (let id = 0; id < size.sends; id += size.sendsPerSchedule) {
    const sends = Array.from({ length: Math.min(size.sendsPerSchedule, size.sends - id) }, (_, i) => ({
      id: id + i,
      receiverKey: pick("r", size.receiverKeys),
      delayMs: duration(),
    }));
    schedules.push({ senderKey: pick("s", size.senderKeys), sends });
  }
  const naps = Array.from({ length: size.naps }, (_, id) => ({ id, key: pick("n", size.sleeperKeys), ms: duration() }));
  return { chains, schedules, naps };
}

/** Part `wave` (0-based) of `waves` equal parts of `items`. */
function slice<T>(items: T[], wave: number, waves: number): T[] {
  const per = Math.ceil(items.length / waves);
  return items.slice(wave * per, (wave + 1) * per);
}

/**
 * The invocation records of wave `wave`: its chains (replying to `replyTo`, correlation id
 * `chain:<n>`), schedules and naps, interleaved so that all three kinds start together.
 */
export function waveInvocations(workload: CallsWorkload, wave: number, waves: number, replyTo: string): InvocationSpec[] {
  const kinds: InvocationSpec[][] = [
    slice(workload.chains, wave, waves).map((c) => ({
      key: `ChainA/${c.aKey}`,
      handler: "start",
      input: { chain: c.chain, bKey: c.bKey, cKey: c.cKey } satisfies ChainInput,
      replyTo,
      correlationId: `chain:${c.chain}`,
    })),
    slice(workload.schedules, wave, waves).map((s) => ({ key: `Sender/${s.senderKey}`, handler: "schedule", input: { sends: s.sends } })),
    slice(workload.naps, wave, waves).map((n) => ({ key: `Sleeper/${n.key}`, handler: "nap", input: { id: n.id, ms: n.ms } })),
  ];
  const out: InvocationSpec[] = [];
  for (let i = 0; kinds.some((k) => i < k.length); i++) for (const k of kinds) if (i < k.length) out.push(k[i]!);
  return out;
}
