/**
 * Exactness check of a run (test/bench/backlog/verify.ts does the reading): every device's
 * state in the changelog must be what the rule makes of the readings produced
 * (workload.ts ReadingSource), and no invocation or journal may be left in flight.
 */
import { isDeepStrictEqual } from "node:util";
import { verifyObjectStates, type AppChangelog, type Verdict } from "../backlog/verify.js";
import { deviceId, OBJECT, STATE_NAME, type ReadingSource, type RuleState } from "./workload.js";

export type { Verdict };

export function verifyChangelog(changelog: AppChangelog, source: ReadingSource): Promise<Verdict> {
  return verifyObjectStates<RuleState>(changelog, {
    object: OBJECT,
    stateName: STATE_NAME,
    keys: source.keys,
    keyOf: (k) => deviceId(k, source.keys),
    expected: (k) => source.expected(k),
    same: (got, want) => isDeepStrictEqual(got, want),
  });
}
