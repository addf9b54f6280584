/**
 * Exactness check of a run, untimed and after the runtime has stopped: reads the app's
 * changelog read_committed with the runtime's own restore path (what a restarted process
 * would rebuild) and compares every device's state with what the rule makes of the readings
 * produced (workload.ts ReadingSource). No invocation or journal may be left in flight.
 * Adapted from test/bench/backlog/verify.ts (another state shape).
 */
import { isDeepStrictEqual } from "node:util";
import { createKafkaTransport } from "../../../connectors/kafka/transport.js";
import type { TopicNames } from "../../../runtime/runtime.js";
import { PartitionState } from "../../../runtime/partition/state.js";
import { deviceId, OBJECT, STATE_NAME, type ReadingSource, type RuleState } from "./workload.js";

export interface Verdict {
  exact: boolean;
  changelogRecords: number;
  /** Up to 3 descriptions of what differs, and how many more there are. */
  problems: string[];
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export async function verifyChangelog(
  brokers: string[],
  app: string,
  topics: TopicNames,
  partitions: number,
  source: ReadingSource,
): Promise<Verdict> {
  const transport = createKafkaTransport({
    brokers,
    clientId: "kvo-bench-subscription-verify",
    groupId: app,
    inputTopic: topics.invocations,
    changelogTopic: topics.changelog,
    transactionalId: "kvo-bench-subscription-verify-unused",
    logger: quiet,
  });
  const states: PartitionState[] = [];
  let changelogRecords = 0;
  try {
    for (let p = 0; p < partitions; p++) {
      const state = new PartitionState();
      await transport.readChangelog(p, (record) => {
        changelogRecords++;
        if (record.key) state.apply(record.key.toString("utf8"), record.value);
      });
      states.push(state);
    }
  } finally {
    await transport.stop();
  }

  const problems: string[] = [];
  let wrong = 0;
  const note = (problem: string): void => {
    wrong++;
    if (problems.length < 3) problems.push(problem);
  };
  const inFlight = states.reduce((n, s) => n + s.invocations.size + s.journals.size, 0);
  if (inFlight > 0) note(`${inFlight} invocations or journals are still in the changelog (in flight after the run)`);

  for (let k = 0; k < source.keys; k++) {
    const want = source.expected(k);
    if (want === null) continue; // fewer readings than keys
    const key = deviceId(k, source.keys);
    const bytes = states.map((s) => s.objectState(OBJECT, key)?.get(STATE_NAME)).find((b) => b !== undefined);
    if (!bytes) {
      note(`${OBJECT}/${key}: no state in the changelog, expected ${JSON.stringify(want)}`);
      continue;
    }
    const got = JSON.parse(bytes.toString("utf8")) as RuleState;
    if (!isDeepStrictEqual(got, want)) note(`${OBJECT}/${key}: state ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
  if (wrong > problems.length) problems.push(`… ${wrong - problems.length} more`);
  return { exact: wrong === 0, changelogRecords, problems };
}
