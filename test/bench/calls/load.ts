/**
 * Closed-loop load through the Kafka client, as the Restate peer's load.mjs does over HTTP:
 * each of `inFlight` workers sends a call and sends the next one when its outcome is back.
 * Keys cycle `k0 … k<keys-1>` by call number (the peer's shapes: 50 keys sequential, 1,000
 * keys with 64 in flight), so one worker never waits behind another on the same key when
 * keys ≥ in-flight calls.
 */
import type { KvoClient } from "../../../connectors/client/kafka_client.js";

export interface Sample<T> {
  /** Client-observed ms from send to outcome (produce, the invocation, the reply topic). */
  e2eMs: number;
  output: T;
}

export interface LoadResult<T> {
  samples: Array<Sample<T>>;
  /** Completed calls per second over the whole load. */
  perSecond: number;
}

export type Call<T> = (client: KvoClient, key: string) => Promise<T>;

/** Stops a load after `count` calls, or when `untilMs` (performance.now()) has passed. */
export type Limit = { count: number } | { untilMs: number };

export async function closedLoop<T>(
  client: KvoClient,
  call: Call<T>,
  inFlight: number,
  keys: number,
  limit: Limit,
): Promise<LoadResult<T>> {
  const samples: Array<Sample<T>> = [];
  const more = (i: number): boolean => ("count" in limit ? i < limit.count : performance.now() < limit.untilMs);
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (!more(i)) return;
      const t0 = performance.now();
      const output = await call(client, `k${i % keys}`);
      samples.push({ e2eMs: performance.now() - t0, output });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { samples, perSecond: samples.length / ((performance.now() - started) / 1000) };
}
