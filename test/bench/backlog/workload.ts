/**
 * The backlog workload, shared by the producer and the exactness check: record i goes to key
 * `device-<i % K>` with value `{"v": x}`, x drawn from java.util.Random(42).nextInt(101) —
 * the same keys and the same values, in the same order, as the Kafka Streams peer writes
 * (../shared/peers/kafka-streams, PeerApp.produce), so both sides do identical work.
 */

/** The object and handler the bench invokes (test/bench/backlog/app.ts hosts them). */
export const OBJECT = "Device";
export const HANDLER = "record";
/** Name of the one state value each Device keeps. */
export const STATE_NAME = "s";
export const SEED = 42;
/** Values are 0..100, as in the peer; above this one counts as an alert. */
export const VALUE_BOUND = 101;
export const ALERT_ABOVE = 90;

/** What the handler keeps per key: n+=1; sum+=v; last=v; if v>90 alerts+=1. */
export interface DeviceState {
  n: number;
  sum: number;
  last: number;
  alerts: number;
}

export const deviceKey = (i: number, keys: number): string => `device-${i % keys}`;

/**
 * java.util.Random (a 48-bit linear congruential generator), exact for nextInt(bound). The
 * 48-bit seed is kept as two 24-bit halves so every product stays below 2^53 (exact in a
 * double): BigInt would make producing a million values several times slower.
 */
export class JavaRandom {
  private static readonly MUL_HI = 0x5de; // 0x5DEECE66D >> 24
  private static readonly MUL_LO = 0xece66d; // 0x5DEECE66D & 0xFFFFFF
  private static readonly TWO_24 = 0x1000000;
  private hi: number;
  private lo: number;

  constructor(seed: number) {
    // (seed ^ 0x5DEECE66D) & (2^48 - 1), for a seed below 2^31
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 31)
      throw new RangeError(`JavaRandom: seed must be an integer in [0, 2^31), got ${seed}`);
    this.hi = (Math.floor(seed / JavaRandom.TWO_24) ^ JavaRandom.MUL_HI) & 0xffffff;
    this.lo = ((seed % JavaRandom.TWO_24) ^ JavaRandom.MUL_LO) & 0xffffff;
  }

  /** Java's next(31): seed = seed * 0x5DEECE66D + 0xB mod 2^48; returns its top 31 bits. */
  private next31(): number {
    const { hi, lo } = this;
    const low = lo * JavaRandom.MUL_LO + 0xb; // < 2^48 + 11
    this.lo = low % JavaRandom.TWO_24;
    // hi*MUL_LO < 2^48, lo*MUL_HI < 2^35, carry < 2^24: the sum stays exact
    this.hi = (hi * JavaRandom.MUL_LO + lo * JavaRandom.MUL_HI + Math.floor(low / JavaRandom.TWO_24)) % JavaRandom.TWO_24;
    return Math.floor((this.hi * JavaRandom.TWO_24 + this.lo) / 2 ** 17);
  }

  /** Java's nextInt(bound) for a bound that is not a power of two (rejection of the top). */
  nextInt(bound: number): number {
    const m = bound - 1;
    // powers of two take another path in Java (a multiply-shift); the workload never uses one
    if (!Number.isInteger(bound) || bound < 3 || (bound & m) === 0)
      throw new RangeError(`JavaRandom.nextInt: only bounds >= 3 that are not powers of two are implemented, got ${bound}`);
    for (;;) {
      const u = this.next31();
      const r = u % bound;
      // Java rejects when u - r + m overflows a signed 32-bit int
      if (u - r + m <= 0x7fffffff) return r;
    }
  }
}

/** Expected state per key, accumulated while the backlog is produced. */
export class ExpectedStates {
  readonly n: Int32Array;
  readonly sum: Float64Array;
  readonly last: Int32Array;
  readonly alerts: Int32Array;

  constructor(readonly keys: number) {
    this.n = new Int32Array(keys);
    this.sum = new Float64Array(keys);
    this.last = new Int32Array(keys);
    this.alerts = new Int32Array(keys);
  }

  add(keyIndex: number, v: number): void {
    this.n[keyIndex]! += 1;
    this.sum[keyIndex]! += v;
    this.last[keyIndex] = v;
    if (v > ALERT_ABOVE) this.alerts[keyIndex]! += 1;
  }

  of(keyIndex: number): DeviceState {
    return { n: this.n[keyIndex]!, sum: this.sum[keyIndex]!, last: this.last[keyIndex]!, alerts: this.alerts[keyIndex]! };
  }
}
