/**
 * Runs a handler over one loaded burst: the part of a burst's life that the
 * pipeline consumer and the inline runner share.
 */
import { LinerateError } from '../errors.js';
import type { BatchControl, PacketBatch } from './batch.js';

/**
 * A packet handler: called once per burst, **synchronously**. It reads and rewrites the burst's packets in place
 * and gives each a verdict (`batch.reply(i)`, `batch.forward(i, port)`, `batch.drop(i)`) before it returns.
 *
 * Why synchronous: the batch's views (`offset(i)`, `length(i)`, `bytes`) point into mbufs that go back to the engine
 * the moment the handler returns; the verdicts are read then too. Code after an `await` would run on buffers that
 * already carry other packets, and its verdicts would come too late. So a handler that returns a promise (an
 * `async` function, or one that returns a thenable) does not type-check with `engine.handle()`, and at run time its
 * every burst is dropped and counted (`drops.handlerError`) and a `HANDLER_ASYNC` error is emitted once. Slow work
 * (a lookup, a database call) belongs outside: copy what it needs out of the packet, and send its result later
 * (`engine.send()`, or `batch.alloc()` in a later call).
 */
export type Handler = (batch: PacketBatch) => void;

/**
 * `H` when it is a synchronous handler; for one that returns a promise, a type no function satisfies, so that
 * `engine.handle(port, async (b) => ...)` fails to compile, with this message in the error.
 */
export type SyncHandler<H> = H &
  (H extends (...args: never[]) => PromiseLike<unknown> ? { 'a handler must be synchronous (no async, no promise returned): see HANDLER_ASYNC in docs/errors.md': never } : unknown);

/** Handlers already reported as returning a promise (in this thread): HANDLER_ASYNC is emitted once for each. */
const reportedAsync = new WeakSet<object>();

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/**
 * Calls the handler, then writes the verdicts back (`batch.store()`) and counts
 * the burst. A handler that throws loses its burst: every packet dropped and
 * counted, the error to `onError`; the caller goes on. A handler that returns a
 * promise loses its burst the same way (whatever it did before its first await
 * is undone: the rest would run on recycled mbufs), and `onError` gets one
 * HANDLER_ASYNC error per handler. `counters` (float64, shared with stats):
 * [0] bursts, [1] packets received, [2] handler errors, [3] packets dropped for them.
 */
export function runHandler(handler: Handler, batch: PacketBatch, ctl: BatchControl, counters: Float64Array, onError: (e: unknown) => void): void {
  const received = ctl.count();
  try {
    // The declared type says void; JavaScript callers (and casts) can still hand us an async function.
    const result: unknown = handler(batch);
    if (result !== undefined && isThenable(result)) refuseAsync(handler, result, ctl, counters, onError);
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

function refuseAsync(handler: Handler, result: PromiseLike<unknown>, ctl: BatchControl, counters: Float64Array, onError: (e: unknown) => void): void {
  ctl.dropAll();
  counters[2]++;
  counters[3] += ctl.count();
  // Its rejection (if any) has nowhere useful to go, and must not become an unhandled rejection that ends the process.
  result.then(undefined, () => {});
  if (reportedAsync.has(handler)) return;
  reportedAsync.add(handler);
  onError(
    new LinerateError(
      'HANDLER_ASYNC',
      `the packet handler${handler.name ? ` '${handler.name}'` : ''} returned a promise (an async function?): handlers must be synchronous. ` +
        'A burst lives only until the handler returns (its mbufs then go back to the engine, and its verdicts are read), so work after an await ' +
        'would touch recycled buffers. Every burst it handles is dropped (drops.handlerError); this is reported once. ' +
        'Make the handler a plain function; copy what slow work needs out of the packet and send its result later (engine.send(), or batch.alloc() in a later call).',
    ),
  );
}
