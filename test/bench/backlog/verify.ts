/**
 * Exactness check of a drained backlog, untimed and after the runtime has stopped: reads
 * the app's changelog read_committed with the runtime's own restore path (what a restarted
 * process would rebuild) and compares every key's state with what was produced. Every key
 * must have n equal to the number of its records, and sum, last and alerts must match too;
 * no invocation or journal may be left in flight.
 */
import { createKafkaTransport } from "../../../connectors/kafka/transport.js";
import type { TopicNames } from "../../../runtime/runtime.js";
import { PartitionState } from "../../../runtime/partition/state.js";
import { deviceKey, OBJECT, STATE_NAME, type DeviceState, type ExpectedStates } from "./workload.js";

export interface Verdict {
  exact: boolean;
  changelogRecords: number;
  /** Up to 3 descriptions of what differs, and how many more there are. */
  problems: string[];
  seconds: number;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export async function verifyChangelog(
  brokers: string[],
  app: string,
  topics: TopicNames,
  partitions: number,
  expected: ExpectedStates,
): Promise<Verdict> {
  const started = performance.now();
  const transport = createKafkaTransport({
    brokers,
    clientId: `kvo-bench-backlog-verify`,
    groupId: app,
    inputTopic: topics.invocations,
    changelogTopic: topics.changelog,
    transactionalId: `kvo-bench-backlog-verify-unused`,
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
  if (inFlight > 0) note(`${inFlight} invocations or journals are still in the changelog (in flight after the drain)`);

  for (let k = 0; k < expected.keys; k++) {
    if (expected.n[k] === 0) continue; // fewer records than keys
    const key = deviceKey(k, expected.keys);
    const bytes = states.map((s) => s.objectState(OBJECT, key)?.get(STATE_NAME)).find((b) => b !== undefined);
    const want = expected.of(k);
    if (!bytes) {
      note(`${OBJECT}/${key}: no state in the changelog, expected ${JSON.stringify(want)}`);
      continue;
    }
    const got = JSON.parse(bytes.toString("utf8")) as DeviceState;
    if (got.n !== want.n || got.sum !== want.sum || got.last !== want.last || got.alerts !== want.alerts) {
      note(`${OBJECT}/${key}: state ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  }
  if (wrong > problems.length) problems.push(`… ${wrong - problems.length} more`);
  return { exact: wrong === 0, changelogRecords, problems, seconds: (performance.now() - started) / 1000 };
}
