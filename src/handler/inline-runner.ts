/**
 * Inline mode: this thread owns an rx queue and polls it itself, run to
 * completion: rx, the handler, tx. One native call per burst: txRx() transmits
 * the burst just handled and receives the next (a call across the boundary costs
 * a few hundred cycles; two per burst were ~10 cycles per packet). Runs in a
 * worker pinned to the queue's CPU; the loop is synchronous and checks a shared
 * stop flag between bursts.
 */
import { PacketBatch, batchControl, type BatchControl, type MbufSource } from './batch.js';
import { checkPoolFits } from './options.js';
import type { Handler } from './channel-consumer.js';
import { runHandler } from './run-handler.js';
import { WORKER_COUNTERS } from './worker-api.js';

/** @internal */
export interface NativeInlineQueue {
  rx(out: Uint32Array, n: number): number;
  alloc(out: Uint32Array, n: number): number;
  tx(): void;
  /** The array txRx() receives into (referenced by the native side). Absent in addons built before it. */
  bindRx?(out: Uint32Array): void;
  /** tx() for the burst held, then rx() of up to n packets into the bound array: one call per burst. */
  txRx?(n: number): number;
}

/** Shared counters of an inline worker (float64 in a SharedArrayBuffer): batches, packets, errors, error drops. */
export const INLINE_COUNTERS = 4;

export class InlineRunner implements MbufSource {
  readonly batch: PacketBatch;
  private readonly ctl: BatchControl;
  private readonly one = new Uint32Array(1);
  /** txRx() is there (an addon built before it has only rx() and tx(): two calls per burst). */
  private readonly fused: boolean;

  constructor(
    private readonly q: NativeInlineQueue,
    pool: ArrayBuffer,
    poolInfo: { slotSize: number; headroom: number; dataRoom: number; burst: number },
    portIds: ReadonlyMap<string, number>,
    private readonly port: number,
    private readonly queue: number,
    private readonly handler: Handler,
    private readonly counters: Float64Array,
    private readonly onError: (e: unknown) => void,
    /** Call the handler after empty polls too (a sender that paces itself: HostUdpWorkerOptions.pollEmpty). */
    private readonly pollEmpty = false,
  ) {
    checkPoolFits('handler', pool.byteLength);
    this.batch = new PacketBatch(pool, poolInfo.slotSize, poolInfo.headroom, poolInfo.dataRoom, poolInfo.burst * 2, portIds);
    this.ctl = batchControl(this.batch);
    this.fused = typeof q.txRx === 'function' && typeof q.bindRx === 'function';
    if (this.fused) q.bindRx!(this.ctl.indices);
  }

  take(): number {
    return this.q.alloc(this.one, 1) === 1 ? this.one[0] : -1;
  }

  /**
   * One burst; returns the packets handled (with pollEmpty, also the ones the
   * handler allocated). The burst stays held on the native side until the next
   * step() (or finish()) transmits it, right after this returns: no wait comes
   * in between.
   */
  step(burst: number): number {
    const ctl = this.ctl;
    const n = this.fused ? this.q.txRx!(burst) : this.q.rx(ctl.indices, burst);
    if (n === 0 && !this.pollEmpty) return 0;
    // The native side keeps its own list of what this burst holds (InlineQueue's
    // held list): tx() applies verdicts to those mbufs only, whatever JS says.
    ctl.load(n, this.port, this.queue, this);
    runHandler(this.handler, this.batch, ctl, this.counters, this.onError);
    if (!this.fused) this.q.tx();
    return ctl.count();
  }

  /**
   * Polls until stop[0] becomes non-zero. `adaptive`: after a run of empty polls
   * the thread waits on the stop flag for up to 50 µs instead of spinning.
   */
  loop(burst: number, stop: Int32Array, adaptive: boolean): void {
    let empty = 0;
    const c = this.counters;
    try {
      while (Atomics.load(stop, 0) === 0) {
        // The heartbeat: a handler that never returns stops it, and the watchdog raises WORKER_STALLED. One plain
        // store a turn (this thread is its only writer; the parent reads it once an interval).
        c[WORKER_COUNTERS.POLLS]++;
        if (this.step(burst) > 0) {
          empty = 0;
        } else if (adaptive && ++empty > 1024) {
          // An empty step() transmitted everything: nothing waits here.
          Atomics.wait(stop, 0, 0, 0.05);
        }
      }
    } finally {
      this.finish();
    }
  }

  /** Transmits the last burst handled (step() leaves it held). */
  finish(): void {
    this.q.tx();
  }
}
