/** Statistics shared by the benchmark suites. */

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] ?? Number.NaN;
}

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? (v[mid] ?? Number.NaN) : ((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2;
}

export const round = (x: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * The row of several runs of one scenario, field by field over all the runs' fields: a number
 * is the median (rounded to `digits`), a boolean holds only when it held in every run, a string
 * lists its distinct values joined with " | ". A field missing from some runs is taken over the
 * runs that have it. `scenario` and `run` name a row rather than measure it and are left out:
 * the caller says what the result is.
 */
export function medianRows<V extends number | boolean | string>(rows: ReadonlyArray<Record<string, V>>, digits = 2): Record<string, V> {
  const out: Record<string, V> = {};
  for (const k of new Set(rows.flatMap((r) => Object.keys(r)))) {
    if (k === "scenario" || k === "run") continue;
    const values = rows.map((r) => r[k]).filter((v): v is V => v !== undefined);
    const first = values[0];
    // each case yields a value of the field's own type, so the result is still a V
    if (typeof first === "number") out[k] = round(median(values as number[]), digits) as V;
    else if (typeof first === "boolean") out[k] = values.every((v) => v === true) as V;
    else if (first !== undefined) out[k] = [...new Set(values)].join(" | ") as V;
  }
  return out;
}
