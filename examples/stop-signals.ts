/**
 * Whether SIGINT or SIGTERM has come (each is caught once; a second one ends
 * the process as usual): the examples' serving loops end on it. No imports, so
 * examples that do not load linerate (examples/bidder/dgram.ts) use it too.
 */
export function stopSignals(): () => boolean {
  let stopping = false;
  process.once('SIGINT', () => (stopping = true));
  process.once('SIGTERM', () => (stopping = true));
  return () => stopping;
}
