/**
 * bench/soak's verdict: the least-squares slope of each sampled series over the
 * second half of the run (the first half holds the warm-up: JIT, pools filling,
 * neighbour entries), per minute, against a limit per kind of series. A series
 * whose slope is above its limit is growing: a leak. Pure functions, so the
 * verdict is tested without a soak (test/soak.test.ts).
 */

/** One sampled series: `values[i]` at `t[i]` seconds. */
export interface Series {
  name: string;
  /** What the limit is in, for the report. */
  unit: string;
  /** Largest slope (unit per minute) that is not a leak. */
  limitPerMin: number;
  t: number[];
  values: number[];
}

export interface Verdict {
  name: string;
  unit: string;
  slopePerMin: number;
  limitPerMin: number;
  first: number;
  last: number;
  leak: boolean;
}

/** Ordinary least squares slope of y over x (0 with fewer than two distinct x). */
export function slope(x: number[], y: number[]): number {
  const n = Math.min(x.length, y.length);
  if (n < 2) return 0;
  let sx = 0, sy = 0;
  for (let i = 0; i < n; i++) {
    sx += x[i]!;
    sy += y[i]!;
  }
  const mx = sx / n, my = sy / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (x[i]! - mx) * (y[i]! - my);
    den += (x[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The slope of the second half of `s`, per minute, and whether it is above the limit. */
export function judge(s: Series): Verdict {
  const from = Math.floor(s.t.length / 2);
  const t = s.t.slice(from), v = s.values.slice(from);
  const perMin = slope(t, v) * 60;
  return {
    name: s.name,
    unit: s.unit,
    slopePerMin: Number(perMin.toPrecision(4)),
    limitPerMin: s.limitPerMin,
    first: v[0] ?? NaN,
    last: v[v.length - 1] ?? NaN,
    leak: perMin > s.limitPerMin,
  };
}

/**
 * Limits per kind of series, per minute. A leak of one object per packet at the
 * soak's lowest rate (5,000/s) grows by 300,000 a minute: these limits are far
 * below any per-packet leak and above the noise of a healthy run (V8's heap saws
 * up and down by megabytes between collections; RSS moves with the allocator).
 */
export const LIMITS = {
  /** mbufs in use, by owner. */
  mbufs: 32,
  rssBytes: 8 * 2 ** 20,
  heapBytes: 4 * 2 ** 20,
  fds: 0.5,
  /** Collections per second: the rate must not climb. */
  gcPerS: 2,
  /** Drops per second, by reason: the drop rate must not climb. */
  dropsPerS: 5,
} as const;
