/**
 * What the generator's main-thread side (generator.ts) and its worker side
 * (sender.ts, the inline worker's handler) share: the configuration, handed over
 * once through worker_threads environment data before the engine starts, and
 * SharedArrayBuffers for commands, counters and the latency histogram.
 * @internal
 */
import { HISTOGRAM_BUCKETS } from './histogram.js';

/** Control words (Int32Array). */
export const CTL = {
  /** Bumped by the main thread to start a run; the worker starts when it sees a new value. */
  RUN: 0,
  /** Set by the main thread to end the current run's sending early. */
  HALT: 1,
  /** The worker's state: IDLE, SENDING, DONE. */
  STATE: 2,
  /** The RUN value the worker last started. */
  STARTED: 3,
  SIZE: 8,
} as const;
export const STATE = { IDLE: 0, SENDING: 1, DONE: 2 } as const;

/** Parameters of a run (Float64Array), written by the main thread before it bumps CTL.RUN. */
export const PARAM = {
  /** Packets per second; 0: as fast as possible. */
  RATE: 0,
  /** Packets to send; 0: no limit. */
  COUNT: 1,
  /** Sending time in ns; 0: no limit. */
  DURATION_NS: 2,
  /** A response whose latency is above this (ns) is late. */
  LATE_NS: 3,
  /** Tag written into every stamp of this run (a 32-bit number). */
  TAG: 4,
  /** The previous run's tag: its late responses are stale, not foreign. */
  PREV_TAG: 5,
  SIZE: 8,
} as const;

/** Counters of the current run (Float64Array), written by the worker only. */
export const COUNT = {
  SENT: 0,
  /** Stamped responses of this run, each sequence number once. */
  RECEIVED: 1,
  LATE: 2,
  /** Responses whose sequence number is below one received before. */
  REORDERED: 3,
  DUPLICATES: 4,
  /** Responses stamped by an earlier run. */
  STALE: 5,
  /** Datagrams that carry no stamp of this generator. */
  FOREIGN: 6,
  /** alloc() found no free mbuf. */
  NO_MBUF: 7,
  /** Packets the pacer skipped because the worker fell behind by more than a burst (it never sends a bigger burst to catch up). */
  BEHIND: 8,
  /** Largest number of packets sent in one poll. */
  MAX_BURST: 9,
  /** Worker clock (ns, performance.now()) when the run started and when its sending ended. */
  START_NS: 10,
  END_NS: 11,
  SIZE: 16,
} as const;

/** The stamp in every request's payload, at `stampOffset`: tag u32, sequence u32, send time f64 (ns, little-endian). */
export const STAMP_BYTES = 16;

/** What the worker gets, through worker_threads.setEnvironmentData. */
export interface GenShared {
  control: SharedArrayBuffer;
  params: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  histogram: SharedArrayBuffer;
  histogramTotals: SharedArrayBuffer;
  /** Request payload template (the stamp is written over it at stampOffset). */
  template: Uint8Array;
  stampOffset: number;
  family: 4 | 6;
  /** Destination address: an IPv4 number, or 16 bytes. */
  dst4: number;
  dst6: Uint8Array | null;
  dstPort: number;
  /** First source port and how many (flows): flow f sends from srcPort + f. */
  srcPort: number;
  flows: number;
  burst: number;
  /** A module that writes payloads: its export is a {@link PayloadWriter}. */
  payloadModule: string | null;
  payloadExport: string;
  /** The most a payload module may write (bytes). */
  writerRoom: number;
}

/**
 * Writes request `seq` of flow `flow` into `bytes` at `offset` (room for
 * `room` bytes) and returns its length. Runs in the generator's worker for every
 * packet: it must not allocate. The generator writes its stamp afterwards at
 * stampOffset, which must lie inside the returned length.
 */
export type PayloadWriter = (bytes: Uint8Array, offset: number, room: number, seq: number, flow: number) => number;

export function newShared(): Pick<GenShared, 'control' | 'params' | 'counters' | 'histogram' | 'histogramTotals'> {
  return {
    control: new SharedArrayBuffer(4 * CTL.SIZE),
    params: new SharedArrayBuffer(8 * PARAM.SIZE),
    counters: new SharedArrayBuffer(8 * COUNT.SIZE),
    histogram: new SharedArrayBuffer(8 * HISTOGRAM_BUCKETS),
    histogramTotals: new SharedArrayBuffer(8 * 4),
  };
}

/** The environment-data key of generator `id`. */
export const envKey = (id: string) => `linerate.gen.${id}`;
