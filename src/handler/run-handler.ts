/**
 * Runs a handler over one loaded burst: the part of a burst's life that the
 * pipeline consumer and the inline runner share.
 */
import type { BatchControl, PacketBatch } from './batch.js';
import type { Handler } from './channel-consumer.js';

/**
 * Calls the handler, then writes the verdicts back (`ctl.store()`) and counts
 * the burst. A handler that throws loses its burst: every packet dropped and
 * counted, the error to `onError`; the caller goes on. `counters` (float64,
 * shared with stats): [0] bursts, [1] packets received, [2] handler errors,
 * [3] packets dropped for them.
 */
export function runHandler(handler: Handler, batch: PacketBatch, ctl: BatchControl, counters: Float64Array, onError: (e: unknown) => void): void {
  const received = ctl.count();
  try {
    handler(batch);
  } catch (e) {
    ctl.dropAll();
    counters[2]++;
    counters[3] += ctl.count();
    onError(e);
  }
  ctl.store();
  counters[0]++;
  counters[1] += received;
}
