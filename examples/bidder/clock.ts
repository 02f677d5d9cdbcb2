/**
 * The bidder's clock: microseconds on the host's monotonic clock
 * (CLOCK_MONOTONIC, the clock behind libuv's uv_hrtime, process.hrtime and
 * performance.now()). Requests carry their send time and deadline on it, so
 * sender and bidder must share it: they run on one host (the netns bed, a
 * machine and its load generator). Across hosts it means nothing; a deployment
 * over a network would put a synchronised wall clock (PTP) in the same field.
 *
 * performance.now() reads uv_hrtime without allocating, but from an origin of
 * its own per thread; the offset to the absolute clock is read once per thread
 * from process.hrtime.bigint() (the same clock, absolute), between two
 * performance.now() reads, so monoUs() agrees across threads and processes to
 * about a microsecond. (The first performance.now() of a thread loads
 * perf_hooks, which takes milliseconds: it must not fall between the reads.)
 */
function calibrate(): number {
  performance.now(); // the first use loads perf_hooks (milliseconds): not inside a paired read
  let origin = 0;
  let window = Infinity;
  // The pair of reads that took least time pins the offset best (a preemption between them would skew it).
  for (let i = 0; i < 8; i++) {
    const before = performance.now();
    const abs = Number(process.hrtime.bigint()) / 1000;
    const after = performance.now();
    if (after - before < window) {
      window = after - before;
      origin = abs - (before + after) * 500;
    }
  }
  return origin;
}
const originUs = calibrate();

/** Now, in µs of CLOCK_MONOTONIC (a float; whole µs are what the wire carries). No allocation. */
export function monoUs(): number {
  return originUs + performance.now() * 1000;
}
