/**
 * Exactness check of a run (test/bench/backlog/verify.ts does the reading): every device's
 * state in the changelog must be what the rule makes of the readings produced
 * (workload.ts ReadingSource), and no invocation or journal may be left in flight.
 */
import { isDeepStrictEqual } from "node:util";
import type { TopicNames } from "../../../runtime/runtime.js";
import { verifyObjectStates, type Verdict } from "../backlog/verify.js";
import { deviceId, OBJECT, STATE_NAME, type ReadingSource, type RuleState } from "./workload.js";

export type { Verdict };

export function verifyChangelog(
  brokers: string[],
  app: string,
  topics: TopicNames,
  partitions: number,
  source: ReadingSource,
): Promise<Verdict> {
  return verifyObjectStates<RuleState>(brokers, app, topics, partitions, {
    object: OBJECT,
    stateName: STATE_NAME,
    keys: source.keys,
    keyOf: (k) => deviceId(k, source.keys),
    expected: (k) => source.expected(k),
    same: (got, want) => isDeepStrictEqual(got, want),
  });
}
