/**
 * What a handler worker's module sees besides its batches: the start data, the
 * context given to its hooks, and the shared counters it returns results
 * through. The module contract is in docs/handlers.md ("Worker modules").
 */

/**
 * The context a worker module's `init(data, ctx)` and `stop(ctx)` get (and may keep for the handler).
 *
 * @example
 * ```js
 * // zone-worker.js, run by engine.handleInWorkers(port, { module: './zone-worker.js', data: { zone }, counters: 2 })
 * export async function init(data, ctx) {
 *   const zone = new Map(data.zone);             // built once per worker, before the engine starts
 *   return (batch) => {                          // the handler (synchronous)
 *     for (let i = 0; i < batch.count; i++) { ctx.counters[0]++; batch.reply(i); }
 *   };
 * }
 * export function stop(ctx) { ctx.post({ queue: ctx.queue, answered: ctx.counters[0] }); }
 * ```
 */
export interface WorkerContext {
  /** Name of the port this worker handles. */
  readonly port: string;
  /** Rx queue of the port this worker handles (one worker per queue). */
  readonly queue: number;
  readonly mode: 'pipeline' | 'inline';
  /** `HandleInWorkersOptions.data`, structured-cloned into this worker (undefined when none was given). */
  readonly data: unknown;
  /**
   * This worker's result counters: `HandleInWorkersOptions.counters` float64 slots in shared memory, zero at first.
   * The worker is their only writer; the parent reads them live with `engine.workerCounters(port)[queue]`, during
   * and after the run (they persist across stop and start). Plain `+=` is enough: there is one writer, and
   * aligned float64 stores are not torn on the platforms linerate runs on (x86-64, arm64).
   */
  readonly counters: Float64Array;
  /**
   * Sends a structured-cloneable value to the parent, where the engine emits it as
   * `'workerMessage'` with `(message, { port, queue })`. For results that are not counters (a summary at stop,
   * a sample). Not for per-packet use: each message is a copy and a wake-up of the main thread. Messages posted
   * before `stop()` resolves (from the stop hook too) are all emitted by the time it resolves.
   */
  post(message: unknown): void;
}

/** The optional exports of a worker module, besides the handler. */
export interface WorkerModule {
  /**
   * Runs once per worker before the engine starts (`engine.start()` waits for it, up to 30 s, and rejects with
   * `HANDLER_FAILED` and its error when it throws). May be async. If it returns a function, that is the handler;
   * otherwise the module's default export (or `export`) is.
   */
  init?(data: unknown, ctx: WorkerContext): unknown;
  /**
   * Runs once per worker at `engine.stop()`, after its last burst (and before the engine takes back its mbufs).
   * May be async; stop() waits up to 2 s for the worker in all, then terminates it.
   */
  stop?(ctx: WorkerContext): unknown;
}

/** Slots of the engine's own per-worker counters (float64, shared): batches, packets, errors, error drops (inline
 * workers), error reports the worker's rate limit held back (every mode), and an inline worker's poll loop turns
 * (its heartbeat: the watchdog's WORKER_STALLED). @internal */
export const WORKER_COUNTERS = { SIZE: 6, ERRORS_UNREPORTED: 4, POLLS: 5 } as const;

/** At most this many result counters per worker (`HandleInWorkersOptions.counters`). @internal */
export const MAX_USER_COUNTERS = 65536;
