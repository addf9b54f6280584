/**
 * Commit-path benchmark: today's commit scheme (A, one transactional producer per process,
 * offsets of every owned partition in every transaction, KIP-447) against Kafka's EOS v1
 * scheme (B, one transactional producer per input partition, offsets only in transactions
 * that consume input, partitions committing in parallel), side by side in one run, with the
 * runtime's own TransactionalProducer and GroupConsumer (connectors/kafka) on the real broker.
 * See schemes.ts and docs/commit-path.md.
 *
 * `npm run bench -- commitpath [--reps 3] [--scenarios seq,raw,tput,takeover]
 *   [--invocations 300] [--partitions 6] [--in-flight 64] [--seconds 10]`
 *
 * Scenarios (each repeated, schemes alternating which goes first; one JSON object per
 * scenario on stdout with the medians over repetitions and every repetition under `runs`):
 *   seq       sequential 3-step invocations on one partition (1 transaction with offsets +
 *             3 step transactions each), A and B alternating invocation by invocation:
 *             per-invocation p50/p99/mean and per-transaction p50/mean by kind
 *   raw       one producer, one record per transaction, step-only vs with offsets of 1 and of
 *             all partitions, in rotating blocks of 10: per-transaction p50/p99/mean
 *   tput      `--partitions` partitions × `--in-flight` invocations of the 3-step shape:
 *             invocations/s in a `--seconds` window after 3 s of warm-up; producers, broker
 *             connections, threads and memory at steady state
 *   takeover  B's assignment cost (initTransactions per partition) and its fencing
 *             (a zombie's open transaction aborted by the new owner's producer)
 *
 * Uses KVO_BOOTSTRAP_SERVERS, else 127.0.0.1:9092 (start it with `npm run infra:up`). Every
 * run creates its own topics and group and deletes them afterwards.
 */
import { kafkaRoundTrip } from "../../../compose/infra/kafka.js";
import { median } from "../stats.js";
import { RAW_BLOCK, order, r2, rawRun, seqRun, takeoverRun, tputRun, type Row, type ScenarioArgs } from "./scenarios.js";
import { SCHEMES, type SchemeName } from "./schemes.js";
import { STEPS } from "./workload.js";

const SCENARIOS = ["seq", "raw", "tput", "takeover"] as const;
type Scenario = (typeof SCENARIOS)[number];

const log = (msg: string): void => {
  process.stderr.write(`[bench commitpath] ${msg}\n`);
};

interface Args extends ScenarioArgs {
  reps: number;
  scenarios: Scenario[];
}

function parseArgs(args: string[]): Args {
  const get = (flag: string, fallback: number): number => {
    const i = args.indexOf(flag);
    if (i < 0) return fallback;
    const v = Number(args[i + 1]);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${flag} needs a positive integer, got "${args[i + 1] ?? ""}"`);
    return v;
  };
  const i = args.indexOf("--scenarios");
  const scenarios = (i >= 0 ? (args[i + 1] ?? "").split(",") : [...SCENARIOS]) as Scenario[];
  for (const s of scenarios) {
    if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}"; known: ${SCENARIOS.join(", ")}`);
  }
  return {
    reps: get("--reps", 3),
    scenarios,
    invocations: get("--invocations", 300),
    partitions: get("--partitions", 6),
    inFlight: get("--in-flight", 64),
    seconds: get("--seconds", 10),
  };
}

/** Medians over repetitions of every numeric field; "k/n" for a boolean field (how many runs were true). */
function medians(runs: Record<string, number | string | boolean>[]): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const k of Object.keys(runs[0] ?? {})) {
    const vals = runs.map((r) => r[k]);
    const nums = vals.filter((v): v is number => typeof v === "number");
    if (nums.length) out[k] = r2(median(nums));
    else if (vals.every((v) => typeof v === "boolean")) out[k] = `${vals.filter((v) => v === true).length}/${vals.length}`;
  }
  return out;
}

function emit(scenario: string, extra: Record<string, unknown>, bySchemes: Map<SchemeName, Row[]>, ratioKeys: string[]): void {
  const out: Record<string, unknown> = { suite: "commitpath", scenario, ...extra };
  const med = new Map<SchemeName, Record<string, number | string>>();
  for (const [scheme, runs] of bySchemes) {
    med.set(scheme, medians(runs));
    out[scheme] = { ...medians(runs), runs };
  }
  const A = med.get("A");
  const B = med.get("B");
  if (A && B) for (const k of ratioKeys) out[`B_over_A_${k}`] = r2(Number(B[k] ?? Number.NaN) / Number(A[k] ?? Number.NaN));
  process.stdout.write(JSON.stringify(out) + "\n");
}

export async function main(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  const bootstrap = process.env.KVO_BOOTSTRAP_SERVERS ?? "127.0.0.1:9092";
  if (!(await kafkaRoundTrip(bootstrap, 15_000))) {
    throw new Error(`no Kafka answers at ${bootstrap}: start it with \`npm run infra:up\` or set KVO_BOOTSTRAP_SERVERS`);
  }
  const brokers = bootstrap.split(",");
  const common = { broker: bootstrap, reps: a.reps };

  for (const scenario of a.scenarios) {
    if (scenario === "raw" || scenario === "takeover") {
      const runs: Row[] = [];
      for (let rep = 1; rep <= a.reps; rep++) {
        log(`${scenario} rep ${rep}/${a.reps}`);
        const r: Row = scenario === "raw" ? await rawRun(brokers, a) : await takeoverRun(brokers, a);
        log(`  ${JSON.stringify(r)}`);
        runs.push(r);
      }
      const extra =
        scenario === "raw"
          ? { transactions_per_kind: Math.ceil(a.invocations / (RAW_BLOCK - 1)) * (RAW_BLOCK - 1), partitions: a.partitions }
          : { partitions: a.partitions };
      const fencing =
        scenario === "takeover"
          ? { zombie_fenced: `${runs.filter((r) => r.zombie_commit === "producer-fenced").length}/${runs.length}` }
          : {};
      process.stdout.write(
        JSON.stringify({ suite: "commitpath", scenario, ...common, ...extra, ...medians(runs), ...fencing, runs }) + "\n",
      );
      continue;
    }
    const bySchemes = new Map<SchemeName, Row[]>(SCHEMES.map((s) => [s, []]));
    for (let rep = 1; rep <= a.reps; rep++) {
      if (scenario === "seq") {
        log(`seq rep ${rep}/${a.reps} (A and B interleaved)`);
        for (const [scheme, r] of await seqRun(brokers, a)) {
          log(`  ${scheme}: ${JSON.stringify(r)}`);
          bySchemes.get(scheme)?.push(r);
        }
        continue;
      }
      for (const scheme of order(rep)) {
        log(`${scenario} rep ${rep}/${a.reps} scheme ${scheme}`);
        const r = await tputRun(brokers, scheme, a);
        log(`  ${JSON.stringify(r)}`);
        bySchemes.get(scheme)?.push(r);
      }
    }
    if (scenario === "seq") {
      emit("seq", { ...common, steps: STEPS, invocations: a.invocations }, bySchemes, ["p50_ms", "p99_ms", "mean_ms"]);
    } else {
      emit(
        "tput",
        { ...common, steps: STEPS, partitions: a.partitions, in_flight_per_partition: a.inFlight, window_s: a.seconds },
        bySchemes,
        ["invocations_per_s", "p50_ms", "p99_ms"],
      );
    }
  }
}
