/**
 * bench/soak's worker: the UDP echo (examples/udp-echo-handler) plus this
 * worker's own V8 heap and garbage collections, written to its result counters
 * for the main thread to sample:
 *   counters[0]  V8 heap used (bytes), refreshed about once a second
 *   counters[1]  garbage collections so far
 * An inline worker's thread stays in the poll loop and never runs its event
 * loop, so neither a timer nor a PerformanceObserver fires there: the heap is
 * read from the handler (at most once a second), and collections are counted
 * with v8.GCProfiler (GC callbacks, no event loop), restarted at each read.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';
import type { DatagramBatch, WorkerContext } from '../src/index.js';

let counters: Float64Array | undefined;
let profiler: GCProfiler | undefined;
let next = 0;

function sample(): void {
  const c = counters!;
  c[0] = getHeapStatistics().used_heap_size;
  if (profiler) {
    const r = profiler.stop() as { statistics?: unknown[] } | undefined;
    c[1]! += r?.statistics?.length ?? 0;
    profiler.start();
  }
}

export function init(_data: unknown, ctx: WorkerContext): void {
  counters = ctx.counters;
  profiler = new GCProfiler();
  profiler.start();
  sample();
}

export function stop(): void {
  profiler?.stop();
  profiler = undefined;
}

export default function soakEcho(b: DatagramBatch): void {
  for (let i = 0; i < b.count; i++) b.reply(i, b.payloadLength(i));
  const now = performance.now();
  if (now >= next) {
    next = now + 1000;
    sample();
  }
}
