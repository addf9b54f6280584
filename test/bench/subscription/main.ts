/**
 * Subscription benchmark: `npm run bench -- subscription [options]`.
 *
 * How fast one runtime process turns the records of a subscribed topic into effects, what
 * that costs in memory and transaction time, and the latency of an effect at a steady rate.
 * The workload (workload.ts): N Avro readings (Confluent wire format, schema registered in the
 * Schema Registry) over K devices on a source topic of P partitions; a subscription
 * (`value: avro()`, record key = device id) feeds `Device.reading` (device.ts), a rule with
 * state (threshold with hysteresis, rate of change over the last readings, a maintenance
 * counter) that emits one record per alert to an alerts topic (Avro with --egress avro, the
 * default, else JSON).
 *
 * Per run:
 *  1. direct (unless --no-direct): the same N readings written as JSON invocations straight
 *     to `<app>.invocations` and drained by the same handler, without a subscription: the
 *     difference to 2 is what the subscription's transactional hop costs (relay consumer,
 *     Avro decode, one more transaction and read_committed read of `<app>.invocations`).
 *  2. subscription: the N readings produced to the source topic first (outside KVO, a plain
 *     producer), then the runtime process starts and drains them.
 *  3. latency (unless --e2e-seconds 0), on the same runtime process: readings at a steady
 *     --rate for --e2e-seconds; alerts/readings ≈ 0.2, each alert gives one sample.
 * Afterwards (untimed) every device's state is read back from the changelog with the
 * runtime's restore path and compared with the rule applied by the bench, and the alerts
 * read read_committed are counted per kind ("exact").
 *
 * Figures:
 *   per_s        N / secs; secs runs from the first invocation's end to the moment the app's
 *                committed offsets on `<app>.invocations` cover all N invocations (committed
 *                in the transaction with their state and alerts; as the backlog suite and the
 *                Kafka Streams peer measure). For the subscription this waits first for the
 *                relay's group to cover the source topic, then for the runtime's group.
 *   rss_max_mb   largest RSS of the runtime process during the drain (relay included),
 *                sampled every 200 ms from /proc; heap_used_at_end_mb its JS heap when drained,
 *                heap_live_at_end_mb the same after a forced GC (what is still reachable; RSS
 *                above it is mostly garbage V8 has not collected yet, see README "Backlogs");
 *                heap_total_max_mb and external_max_mb: the largest V8 heap and memory outside
 *                it held by JS objects (Buffers), sampled every 500 ms in the process; RSS
 *                beyond both is native (librdkafka queues, allocator)
 *   max_txn_ms   stats().maxCommitMs of the runtime at the end of the drain (its longest
 *                transaction); p50_txn_ms from its "commit.done" events
 *   e2e_p50_ms, e2e_p99_ms  source record timestamp (set by the paced producer when it hands
 *                the record to its client) → the alert the handler emitted for it is returned
 *                to a read_committed consumer in this process (alerts_reader.ts). That is the
 *                time until the effect is committed and visible downstream: producer linger,
 *                relay transaction, runtime consumption, handler, runtime transaction, fetch.
 *                Only readings that raise an alert give a sample (they are picked by value,
 *                not by timing). e2e_tail_s: from the last paced reading acknowledged to the
 *                last alert read; about one latency when the process keeps up with --rate,
 *                much more when it does not (then the percentiles are queueing and grow with
 *                --e2e-seconds). With --direct-e2e the direct scenario gets the same phase,
 *                with invocations written straight to `<app>.invocations`: the hop's latency.
 *   child_cpu_pct, broker_cpu_pct, machine_busy_pct  as in the backlog suite; cpu_us_per_record:
 *                the runtime process's CPU (all its threads) during the drain per record
 *   relay_secs   (subscription) first invocation's end → the relay's group covers the source
 *                topic: the relay's own drain, the processors finish secs - relay_secs later
 *   relayed_again  records the relay relayed a second time after one of its transactions was
 *                aborted (e.g. fenced); fenced: the runtime's fenced commits. Both 0 normally;
 *                "exact" still requires every effect exactly once.
 *
 * The Kafka Streams peer (--peer) drains the same keys and values with its state-only update
 * (n, sum, last, alerts per key, one output per input); Device.reading does that update too,
 * plus the rule and ~0.2 Avro alerts per reading, and reads Avro: the ratio is KVO's cost of
 * this workload against the peer's simpler one, not like for like.
 *
 * Options:
 *   --n N (1000000)  --k K (10000)  --runs R (1; medians of R runs)  --partitions P (6)
 *   --peer            also run ../shared/peers/kafka-streams/run.sh N K (R times) and print
 *                     {"scenario":"subscription-vs-kafka-streams", kvo_per_s, kafka_streams_per_s, ratio, rss_max_mb}
 *   --no-direct       skip the direct scenario (and the hop-cost line)
 *   --direct-e2e      run the latency phase in the direct scenario too
 *   --egress avro|json (avro)  format of the alerts
 *   --rate R (5000)  --e2e-seconds S (20; 0 skips the latency phase)
 *   --cpu-prof [dir]  run the subscription scenario's runtime under `node --cpu-prof` (default dir
 *                     .kvo/profiles/subscription-<time>) and print its top self-time functions during
 *                     the drain (profiling slows it; the direct scenario is not profiled)
 *   --runtime-options JSON  merged into createRuntime's options
 *   --stall-timeout S (300)  fail when nothing was committed for S seconds
 *   --keep            keep the run's topics (deleted by default)
 */
import { KafkaJS } from "@confluentinc/kafka-javascript";
import { benchBrokers } from "../brokers.js";
import { medianRows, round } from "../stats.js";
import { DrainWatch } from "../backlog/drain_watch.js";
import { compareWithKafkaStreams } from "../backlog/peer.js";
import { log, type Row } from "./measure.js";
import { parseArgs } from "./options.js";
import { runDirect, runSubscription, Scenario } from "./scenarios.js";

const print = (row: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(row) + "\n");

/** The row of several runs of `scenario`: per field, the median over the runs (see medianRows). */
const medians = (scenario: string, rows: Row[]): Row => ({ scenario, runs: rows.length, ...medianRows(rows) });

export async function main(args: string[]): Promise<void> {
  const o = parseArgs(args);
  const brokers = await benchBrokers();
  const watch = await DrainWatch.connect(brokers);
  const admin = new KafkaJS.Kafka({ kafkaJS: { brokers, logLevel: KafkaJS.logLevel.NOTHING } }).admin();
  await admin.connect();
  const subRows: Row[] = [];
  const directRows: Row[] = [];
  const stamp = Date.now().toString(36);
  try {
    for (let run = 1; run <= o.runs; run++) {
      // one run's rows go to stdout when medians of several follow, else to stderr
      const show = (row: Row): void => (o.runs > 1 ? print(row) : log(JSON.stringify(row)));
      if (o.direct) {
        const row = await runDirect(new Scenario(`bench-sub-direct-${stamp}-${run}`, brokers, o, watch, admin), run);
        directRows.push(row);
        show(row);
      }
      const row = await runSubscription(new Scenario(`bench-sub-${stamp}-${run}`, brokers, o, watch, admin), run);
      subRows.push(row);
      show(row);
    }
  } finally {
    await admin.disconnect();
    await watch.close();
  }
  const sub = medians("subscription", subRows);
  print(sub);
  if (o.direct) {
    const direct = medians("subscription-direct", directRows);
    print(direct);
    const subPerS = sub.per_s as number;
    const directPerS = direct.per_s as number;
    print({
      scenario: "subscription-hop-cost",
      n: o.records,
      k: o.keys,
      runs: o.runs,
      subscription_per_s: subPerS,
      direct_per_s: directPerS,
      ratio: round(subPerS / directPerS, 3),
      // the hop's cost per record on this machine: 1/rate through the subscription - 1/rate direct
      hop_us_per_record: round(1e6 / subPerS - 1e6 / directPerS, 1),
      subscription_rss_max_mb: sub.rss_max_mb!,
      direct_rss_max_mb: direct.rss_max_mb!,
      subscription_max_txn_ms: sub.max_txn_ms!,
      direct_max_txn_ms: direct.max_txn_ms!,
    });
  }

  if (o.peer) {
    const comparison = await compareWithKafkaStreams(brokers, "subscription-vs-kafka-streams", o, sub.per_s as number, { log, print });
    print({
      ...comparison,
      rss_max_mb: sub.rss_max_mb!,
    });
  }
  const all = [...subRows, ...directRows];
  if (!all.every((r) => r.exact === true)) throw new Error("a run is not exact (see the problems above)");
}
