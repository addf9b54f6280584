/**
 * Exactness check of a drained run, untimed and after the runtime has stopped: reads the
 * app's changelog read_committed with the runtime's own restore path (what a restarted process
 * would rebuild) and compares every key's state with what was produced; no invocation or
 * journal may be left in flight. `verifyObjectStates` is the general check (the subscription
 * bench uses it with its own state shape); `verifyChangelog` is the backlog's: every key must
 * have n equal to the number of its records, and sum, last and alerts must match too.
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

/** What one state value of an object must be, per key index. */
export interface ExpectedObjectStates<S> {
  object: string;
  stateName: string;
  keys: number;
  keyOf(k: number): string;
  /** null: the key got no records (fewer records than keys), so it has no state. */
  expected(k: number): S | null;
  same(got: S, want: S): boolean;
}

/** Which app's changelog to read: its topics, on `partitions` partitions. */
export interface AppChangelog {
  brokers: string[];
  app: string;
  topics: TopicNames;
  partitions: number;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export async function verifyObjectStates<S>(
  { brokers, app, topics, partitions }: AppChangelog,
  expect: ExpectedObjectStates<S>,
): Promise<Verdict> {
  const started = performance.now();
  const transport = createKafkaTransport({
    brokers,
    clientId: `kvo-bench-verify`,
    groupId: app,
    inputTopic: topics.invocations,
    changelogTopic: topics.changelog,
    transactionalId: `kvo-bench-verify-unused`,
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

  for (let k = 0; k < expect.keys; k++) {
    const want = expect.expected(k);
    if (want === null) continue;
    const key = expect.keyOf(k);
    const bytes = states.map((s) => s.objectState(expect.object, key)?.get(expect.stateName)).find((b) => b !== undefined);
    if (!bytes) {
      note(`${expect.object}/${key}: no state in the changelog, expected ${JSON.stringify(want)}`);
      continue;
    }
    const got = JSON.parse(bytes.toString("utf8")) as S;
    if (!expect.same(got, want)) note(`${expect.object}/${key}: state ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
  if (wrong > problems.length) problems.push(`… ${wrong - problems.length} more`);
  return { exact: wrong === 0, changelogRecords, problems, seconds: (performance.now() - started) / 1000 };
}

export function verifyChangelog(changelog: AppChangelog, expected: ExpectedStates): Promise<Verdict> {
  return verifyObjectStates<DeviceState>(changelog, {
    object: OBJECT,
    stateName: STATE_NAME,
    keys: expected.keys,
    keyOf: (k) => deviceKey(k, expected.keys),
    expected: (k) => (expected.n[k] === 0 ? null : expected.of(k)),
    same: (got, want) => got.n === want.n && got.sum === want.sum && got.last === want.last && got.alerts === want.alerts,
  });
}
