/**
 * Exactness checks of a scenario: the alerts read read_committed against the rule, the
 * runtime's counters, and every device's state in the changelog (verify.ts).
 */
import type { AlertsReader } from "./alerts_reader.js";
import type { Options } from "./options.js";
import type { ChildStats } from "./runtime_process.js";
import type { ScenarioTopics } from "./topics.js";
import { verifyChangelog } from "./verify.js";
import { ALERT_KINDS, type ReadingSource } from "./workload.js";
import { log } from "./measure.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Reads the alerts and checks them against the rule; returns the problems found. */
export async function checkAlerts(reader: AlertsReader, source: ReadingSource, stallMs: number): Promise<string[]> {
  const problems: string[] = [];
  try {
    await reader.until(source.totalAlerts, stallMs);
    await sleep(1000); // one more second: an alert too many would show up now
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (reader.count !== source.totalAlerts) problems.push(`${reader.count} alerts read, ${source.totalAlerts} expected`);
  if (reader.duplicates > 0) problems.push(`${reader.duplicates} duplicate alerts`);
  for (const kind of ALERT_KINDS)
    if (reader.byKind[kind] !== source.alertCounts[kind])
      problems.push(`${reader.byKind[kind]} "${kind}" alerts, ${source.alertCounts[kind]} expected`);
  return problems;
}

/** Checks the runtime's counters and the changelog; returns the problems found. */
export async function checkRuntime(
  brokers: string[],
  app: string,
  topics: ScenarioTopics,
  o: Options,
  source: ReadingSource,
  stats: ChildStats,
): Promise<string[]> {
  const problems: string[] = [];
  if (stats.failed > 0) problems.push(`${stats.failed} invocations failed`);
  if (stats.completed !== source.drawn) problems.push(`${stats.completed} invocations completed, ${source.drawn} readings produced`);
  const sub = stats.subscriptions?.[0];
  if (sub) {
    // more is not wrong: `relayed` also counts records of relay transactions that were aborted
    // (e.g. fenced) and relayed again; the effects (changelog, alerts) say whether any ran twice
    if (sub.relayed < source.drawn) problems.push(`the relay relayed ${sub.relayed} of ${source.drawn} readings`);
    if (sub.deadLettered > 0) problems.push(`the relay dead-lettered ${sub.deadLettered} readings`);
  }
  const verdict = await verifyChangelog({ brokers, app, topics: topics.app, partitions: o.partitions }, source);
  log(`${app}: changelog read back (${verdict.changelogRecords} records): ${verdict.exact ? "exact" : verdict.problems.join("; ")}`);
  return [...problems, ...verdict.problems];
}
