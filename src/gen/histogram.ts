/**
 * A latency histogram in the manner of HdrHistogram: log-linear buckets in one
 * typed array, so recording a value is a few integer operations and never
 * allocates. Values are integers in nanoseconds.
 *
 * Layout: values below 128 have a bucket each (1 ns wide). Above, every power of
 * two [2^e, 2^(e+1)) is cut into 64 equal buckets, so a bucket is at most 1/64
 * (1.6%) of its values wide: the relative precision HdrHistogram calls two
 * significant digits. The last power of two ends at 2^32 ns (4.3 s); larger
 * values land in the last bucket (and still set `max` exactly).
 */

/** Sub-buckets per power of two: 2^6. */
const SUB_BITS = 6;
const SUB = 1 << SUB_BITS;
/** Number of buckets: 128 linear ones, then 64 per power of two from 2^7 to 2^31 (25 of them). */
export const HISTOGRAM_BUCKETS = SUB * (32 - SUB_BITS + 1);

/** Bucket of a value (ns, clamped to 0 .. 2^32 - 1). */
export function bucketOf(ns: number): number {
  if (!(ns > 0)) return 0;
  const v = ns >= 4294967295 ? 4294967295 : ns >>> 0;
  if (v < 2 * SUB) return v;
  const shift = 31 - Math.clz32(v) - SUB_BITS; // 1 .. 25
  return shift * SUB + (v >>> shift);
}

/** Lowest value of a bucket. */
export function bucketLow(i: number): number {
  if (i < 2 * SUB) return i;
  const shift = (i >>> SUB_BITS) - 1;
  return ((i & (SUB - 1)) + SUB) * 2 ** shift;
}

/** Highest value of a bucket (inclusive). */
export function bucketHigh(i: number): number {
  if (i < 2 * SUB) return i;
  const shift = (i >>> SUB_BITS) - 1;
  return ((i & (SUB - 1)) + SUB + 1) * 2 ** shift - 1;
}

/** Percentiles a report carries, in µs. */
export interface LatencySummary {
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/**
 * Counts per bucket plus exact count, sum, min and max. `counts` may live in a
 * SharedArrayBuffer: one thread records, another reads (a snapshot read while
 * recording goes on is off by the values recorded meanwhile, nothing worse).
 */
export class LatencyHistogram {
  /** counts[i]: values in bucket i. Float64 so that no count wraps. */
  readonly counts: Float64Array<ArrayBufferLike>;
  /** [count, sum ns, min ns, max ns]. */
  readonly totals: Float64Array<ArrayBufferLike>;

  constructor(counts: Float64Array<ArrayBufferLike> = new Float64Array(HISTOGRAM_BUCKETS), totals: Float64Array<ArrayBufferLike> = new Float64Array(4)) {
    if (counts.length !== HISTOGRAM_BUCKETS) throw new RangeError(`a latency histogram has ${HISTOGRAM_BUCKETS} buckets, got ${counts.length}`);
    if (totals.length !== 4) throw new RangeError('totals needs 4 slots');
    this.counts = counts;
    this.totals = totals;
    if (totals[0] === 0) totals[2] = Infinity;
  }

  /** Records one value in ns. */
  record(ns: number): void {
    this.counts[bucketOf(ns)]++;
    const t = this.totals;
    t[0]++;
    t[1] += ns;
    if (ns < t[2]) t[2] = ns;
    if (ns > t[3]) t[3] = ns;
  }

  reset(): void {
    this.counts.fill(0);
    this.totals[0] = 0;
    this.totals[1] = 0;
    this.totals[2] = Infinity;
    this.totals[3] = 0;
  }

  get count(): number {
    return this.totals[0];
  }

  /**
   * The value at percentile p (0..100): the highest value of the bucket that
   * holds it (HdrHistogram's "highest equivalent value"), never above the
   * maximum recorded. 0 when empty.
   */
  percentile(p: number): number {
    const total = this.totals[0];
    if (total === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * total));
    let seen = 0;
    const c = this.counts;
    for (let i = 0; i < c.length; i++) {
      seen += c[i];
      if (seen >= rank) return Math.min(bucketHigh(i), this.totals[3]);
    }
    return this.totals[3];
  }

  /** count, min, mean, p50, p90, p99, p99.9 and max, in µs (3 decimals). */
  summary(): LatencySummary {
    const us = (ns: number) => Math.round(ns) / 1000;
    const n = this.totals[0];
    return {
      count: n,
      minUs: n ? us(this.totals[2]) : 0,
      meanUs: n ? us(this.totals[1] / n) : 0,
      p50Us: us(this.percentile(50)),
      p90Us: us(this.percentile(90)),
      p99Us: us(this.percentile(99)),
      p999Us: us(this.percentile(99.9)),
      maxUs: us(this.totals[3]),
    };
  }

  /**
   * this = a − b, bucket by bucket: an interval from two snapshots of one
   * histogram. Its min and max are known to a bucket only (the lowest and
   * highest non-empty bucket, within a's min and max).
   */
  setDifference(a: LatencyHistogram, b: LatencyHistogram): void {
    let lo = -1, hi = -1;
    for (let i = 0; i < this.counts.length; i++) {
      const d = a.counts[i] - b.counts[i];
      this.counts[i] = d;
      if (d > 0) {
        if (lo < 0) lo = i;
        hi = i;
      }
    }
    this.totals[0] = a.totals[0] - b.totals[0];
    this.totals[1] = a.totals[1] - b.totals[1];
    this.totals[2] = lo < 0 ? Infinity : Math.max(bucketLow(lo), a.totals[2]);
    this.totals[3] = hi < 0 ? 0 : Math.min(bucketHigh(hi), a.totals[3]);
  }

  /** Copies another histogram into this one. */
  copyFrom(o: LatencyHistogram): void {
    this.counts.set(o.counts);
    this.totals.set(o.totals);
  }
}
