/**
 * One run of the KVO scenarios on a fresh app (its own topics) and runtime process:
 * call-seq, call-c64 and sleep100-seq, one row each.
 */
import { deleteAppTopics } from "../app_topics.js";
import { KvoClient } from "../../../connectors/client/kafka_client.js";
import { percentile, round } from "../stats.js";
import { caller, NAP_MS, type GoOutput, type NapOutput } from "./handlers.js";
import { closedLoop, type Call, type Sample } from "./load.js";
import type { Options } from "./options.js";
import { RuntimeProcess } from "./runtime_process.js";

export type Row = Record<string, number>;

export interface RunRows {
  callSeq: Row;
  callC64: Row;
  sleepSeq: Row;
}

export const log = (line: string): void => void process.stderr.write(`[calls] ${line}\n`);

/** The peer's shapes (../shared/peers/restate/run.sh): 50 keys sequential, 1,000 with 64 in flight. */
const SEQ_KEYS = 50;
const C64_KEYS = 1_000;
const IN_FLIGHT = 64;

const go: Call<GoOutput> = (client, key) => client.object(caller, key).go(1);
const timedNap: Call<NapOutput> = (client, key) => client.object(caller, key).timedNap();
const nap: Call<void> = (client, key) => client.object(caller, key).nap();

/** p50 and p99 of `values` as `<name>_p50_ms`, `<name>_p99_ms`. */
function p50p99(name: string, values: number[]): Row {
  const sorted = [...values].sort((a, b) => a - b);
  return { [`${name}_p50_ms`]: round(percentile(sorted, 50), 2), [`${name}_p99_ms`]: round(percentile(sorted, 99), 2) };
}

const e2e = <T>(samples: Array<Sample<T>>): number[] => samples.map((s) => s.e2eMs);

export async function runOnce(app: string, brokers: string[], o: Options): Promise<RunRows> {
  const runtime = new RuntimeProcess(app, brokers, o.partitions);
  let client: KvoClient | undefined;
  try {
    await runtime.next("ready");
    // the first calls wait for the group's partition assignment
    client = await KvoClient.connect({ app, brokers, timeoutMs: 60_000 });
    log(`${app}: warming up`);
    await closedLoop(client, go, 4, SEQ_KEYS, { count: 100 });
    await closedLoop(client, timedNap, 1, SEQ_KEYS, { count: 5 });

    log(`${app}: call-seq, ${o.calls} calls`);
    const seq = await closedLoop(client, go, 1, SEQ_KEYS, { count: o.calls });
    const callSeq: Row = {
      n: seq.samples.length,
      ...p50p99(
        "call",
        seq.samples.map((s) => s.output.callMs),
      ),
      ...p50p99("e2e", e2e(seq.samples)),
      per_s: round(seq.perSecond, 1),
    };

    log(`${app}: call-c64, ${IN_FLIGHT} in flight for ${o.seconds} s`);
    const before = await runtime.stats();
    const c64 = await closedLoop(client, go, IN_FLIGHT, C64_KEYS, { untilMs: performance.now() + o.seconds * 1000 });
    const after = await runtime.stats();
    const callC64: Row = {
      in_flight: IN_FLIGHT,
      calls: c64.samples.length,
      per_s: round(c64.perSecond, 1),
      ...p50p99("e2e", e2e(c64.samples)),
      ...p50p99(
        "call",
        c64.samples.map((s) => s.output.callMs),
      ),
      // each call is two invocations (Caller.go, Callee.bump) and their records
      commits_per_call: round((after.commits - before.commits) / c64.samples.length, 3),
    };

    log(`${app}: sleep100-seq, ${o.sleeps} timed naps, then ${o.sleeps} plain naps`);
    const timed = await closedLoop(client, timedNap, 1, SEQ_KEYS, { count: o.sleeps });
    const plain = await closedLoop(client, nap, 1, SEQ_KEYS, { count: o.sleeps });
    const sleepSeq: Row = {
      n: timed.samples.length,
      ...p50p99(
        "lateness",
        timed.samples.map((s) => s.output.latenessMs),
      ),
      ...p50p99(
        "timer_lateness",
        timed.samples.map((s) => s.output.timerLatenessMs),
      ),
      ...p50p99(
        "e2e_minus_100",
        e2e(plain.samples).map((ms) => ms - NAP_MS),
      ),
    };
    const failed = (await runtime.stats()).failed;
    if (failed > 0) throw new Error(`${failed} invocations failed in the runtime process (its stderr is above)`);
    return { callSeq, callC64, sleepSeq };
  } finally {
    await client?.close();
    await runtime.stop();
  }
}

/** Deletes the app's topics and consumer group (best effort). */
export function cleanup(app: string, brokers: string[]): Promise<void> {
  return deleteAppTopics(app, brokers, log);
}
