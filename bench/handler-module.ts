/**
 * The handler of bench/handler and bench/handler-latency: for every packet it
 * reads the Ethernet type (after one 802.1Q tag) and, for IPv4/IPv6 UDP, the
 * destination port, swaps the MAC addresses, and forwards the packet to port b
 * (port id 1: the bench adds `a` first, then `b`). No allocation per packet or
 * per burst.
 *
 * It also measures its own thread, for the bench's heap and GC figures (the
 * inline worker never returns to its event loop, so nothing can be asked of it
 * by message): at import it allocates a SharedArrayBuffer and posts it, with its
 * thread id (from /proc/thread-self), on the BroadcastChannel
 * `linerate-bench-handler`. Per burst it adds its packets to that buffer; when the
 * bench raises the request word, the next burst takes a snapshot: V8's
 * used_heap_size of this isolate (v8.getHeapStatistics()) and the number of GCs
 * of this isolate so far (a v8.GCProfiler started at import: GC callbacks
 * recorded inside V8, no event loop needed), then acknowledges. The snapshot
 * allocates a little (the profiler's result); two per measurement window.
 */
import { readlinkSync } from 'node:fs';
import v8 from 'node:v8';
import { BroadcastChannel, isMainThread } from 'node:worker_threads';
import type { PacketBatch } from '../src/index.js';

export const BENCH_CHANNEL = 'linerate-bench-handler';

/** Int32 words of the shared buffer. */
export const I32 = { REQUEST: 0, ACK: 1 } as const;
/** Float64 slots of the shared buffer. */
export const F64 = { PACKETS: 1, BATCHES: 2, UDP9: 3, SNAP_HEAP: 4, SNAP_GCS: 5, SNAP_PACKETS: 6, SNAP_HEAP_TOTAL: 7 } as const;

/** What the module posts once, on import. */
export interface HandlerHello {
  type: 'hello';
  sab: SharedArrayBuffer;
  tid: string;
  main: boolean;
}

const PORT_B = 1;
const sab = new SharedArrayBuffer(64);
const i32 = new Int32Array(sab);
const f64 = new Float64Array(sab);
let lastRequest = 0;
let gcs = 0;
let profiler = new v8.GCProfiler();
profiler.start();

function threadId(): string {
  try {
    return readlinkSync('/proc/thread-self').split('/').pop() ?? '';
  } catch {
    return '';
  }
}

/** This thread's state, for the bench when the handler runs on its main thread. */
export const hello: HandlerHello = { type: 'hello', sab, tid: threadId(), main: isMainThread };

if (!isMainThread) {
  const bc = new BroadcastChannel(BENCH_CHANNEL);
  bc.postMessage(hello);
  bc.unref();
}

function snapshot(): void {
  gcs += profiler.stop().statistics.length;
  profiler = new v8.GCProfiler();
  profiler.start();
  const h = v8.getHeapStatistics();
  f64[F64.SNAP_HEAP] = h.used_heap_size;
  f64[F64.SNAP_HEAP_TOTAL] = h.total_heap_size;
  f64[F64.SNAP_GCS] = gcs;
  f64[F64.SNAP_PACKETS] = f64[F64.PACKETS];
}

export default function handler(batch: PacketBatch): void {
  const u8 = batch.bytes;
  const n = batch.count;
  let udp9 = 0;
  for (let i = 0; i < n; i++) {
    const o = batch.offset(i);
    let type = (u8[o + 12] << 8) | u8[o + 13];
    let l3 = o + 14;
    if (type === 0x8100) {
      type = (u8[o + 16] << 8) | u8[o + 17];
      l3 += 4;
    }
    let dport = -1;
    if (type === 0x0800) {
      if (u8[l3 + 9] === 17) {
        const l4 = l3 + ((u8[l3] & 0x0f) << 2);
        dport = (u8[l4 + 2] << 8) | u8[l4 + 3];
      }
    } else if (type === 0x86dd && u8[l3 + 6] === 17) {
      dport = (u8[l3 + 42] << 8) | u8[l3 + 43];
    }
    if (dport === 9) udp9++;
    // Swap destination and source MAC.
    const d0 = u8[o], d1 = u8[o + 1], d2 = u8[o + 2], d3 = u8[o + 3], d4 = u8[o + 4], d5 = u8[o + 5];
    u8[o] = u8[o + 6];
    u8[o + 1] = u8[o + 7];
    u8[o + 2] = u8[o + 8];
    u8[o + 3] = u8[o + 9];
    u8[o + 4] = u8[o + 10];
    u8[o + 5] = u8[o + 11];
    u8[o + 6] = d0;
    u8[o + 7] = d1;
    u8[o + 8] = d2;
    u8[o + 9] = d3;
    u8[o + 10] = d4;
    u8[o + 11] = d5;
    batch.forward(i, PORT_B);
  }
  f64[F64.PACKETS] += n;
  f64[F64.BATCHES]++;
  f64[F64.UDP9] += udp9;
  const req = i32[I32.REQUEST];
  if (req !== lastRequest) {
    lastRequest = req;
    snapshot();
    Atomics.store(i32, I32.ACK, req);
  }
}
