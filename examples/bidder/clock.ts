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
 * from process.hrtime.bigint() (the same clock, absolute), so monoUs() agrees
 * across threads and processes to well under a microsecond.
 */
const originUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;

/** Now, in µs of CLOCK_MONOTONIC (a float; whole µs are what the wire carries). No allocation. */
export function monoUs(): number {
  return originUs + performance.now() * 1000;
}
