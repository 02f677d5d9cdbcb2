/**
 * Packet capture, the tcpdump equivalent (issue 13, docs/operations.md "Capture").
 *
 * The data path runs the filter (classic BPF, checked and interpreted natively on
 * the lcore: native/pipeline/capture/) and copies what it accepts into a ring of
 * fixed-size records per queue. This side drains those rings on a timer, off
 * the data path, and writes pcapng (./pcapng.ts). A full ring loses copies,
 * counted in `dropped`, never traffic; a slow output stream makes the rings fill
 * rather than memory grow.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { LinerateError, native } from '../errors.js';
import { loadAddon, type NativeEngineHandle } from '../native.js';
import { enhancedPacket, interfaceDescription, interfaceStatistics, sectionHeader } from './pcapng.js';

/** Options of {@link Engine.capture}. */
export interface CaptureOptions {
  /** A pcap-filter(7) expression (`udp port 53 and host 198.18.0.9`), compiled by the host's libpcap. */
  filter?: string;
  /** Raw classic BPF instead of `filter`: the text `tcpdump -ddd EXPR` prints ("N,code jt jf k,..."). */
  bpf?: string;
  /** Which frames: received ('rx'), transmitted ('tx', as handed to the driver), or both. Default 'both'. */
  direction?: 'rx' | 'tx' | 'both';
  /**
   * Only the frames received on this rx queue (0 .. rxQueues − 1; default: every queue). Received frames only:
   * transmit queues belong to lcores, not to rx queues, so `queue` needs `direction: 'rx'` (its default then).
   */
  queue?: number;
  /** Bytes kept of each frame (default 65535; a record holds at most the mempool's data room). */
  snaplen?: number;
  /** Where the pcapng goes: a file path, or a stream (not ended by the capture). Without it, packets are only counted. */
  file?: string | Writable;
  /** Stop after this many packets written. */
  count?: number;
  /** Stop after this many seconds. */
  seconds?: number;
  /** Records per queue and direction in the capture ring (a power of two; default 1024). */
  ringSize?: number;
  /** How often the rings are drained, in ms (default 10). */
  drainMs?: number;
}

/** A capture's counters. */
export interface CaptureStats {
  /** Frames the filter looked at. */
  seen: number;
  /** Frames the filter accepted. */
  accepted: number;
  /** Frames the filter rejected. */
  filtered: number;
  /** Accepted frames whose copy was lost because the capture ring was full (the traffic itself is untouched). */
  dropped: number;
  /** Packets written to the output. */
  written: number;
}

/** @internal What a capture needs of its engine and port. */
export interface CaptureTarget {
  nat: NativeEngineHandle;
  portId: number;
  portName: string;
  driver: string;
  /** The port's rx queues (for the `queue` option). */
  rxQueues: number;
  onEnd: () => void;
}

const RECORD_HEADER = 24; // CaptureRecord (native/pipeline/capture/capture.h)

/** Compiles `filter` or parses `bpf` into the native program layout (null: accept everything). */
export function compileCaptureProgram(o: Pick<CaptureOptions, 'filter' | 'bpf' | 'snaplen'>): Uint32Array | null {
  if (o.filter !== undefined && o.bpf !== undefined) throw new LinerateError('INVALID_OPTION', 'capture: give filter or bpf, not both');
  const addon = loadAddon();
  if (o.bpf !== undefined) return native(() => addon.captureParseBpf!(o.bpf!));
  if (o.filter === undefined || o.filter.trim() === '') return null;
  return native(() => addon.captureCompile!(o.filter!, o.snaplen ?? 65535));
}

function check(o: CaptureOptions, rxQueues: number): void {
  const int = (k: keyof CaptureOptions, lo: number, hi: number) => {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi)) {
      throw new LinerateError('INVALID_OPTION', `capture ${k} must be an integer from ${lo} to ${hi}, got ${String(v)}`);
    }
  };
  int('snaplen', 1, 262144);
  int('count', 1, Number.MAX_SAFE_INTEGER);
  int('ringSize', 2, 1 << 20);
  int('drainMs', 1, 10000);
  if (o.ringSize !== undefined && (o.ringSize & (o.ringSize - 1)) !== 0) {
    throw new LinerateError('INVALID_OPTION', `capture ringSize must be a power of two, got ${o.ringSize}`);
  }
  if (o.seconds !== undefined && !(typeof o.seconds === 'number' && o.seconds > 0)) {
    throw new LinerateError('INVALID_OPTION', `capture seconds must be a positive number, got ${String(o.seconds)}`);
  }
  if (o.direction !== undefined && !['rx', 'tx', 'both'].includes(o.direction)) {
    throw new LinerateError('INVALID_OPTION', `capture direction must be 'rx', 'tx' or 'both', got '${String(o.direction)}'`);
  }
  if (o.queue !== undefined) {
    if (!Number.isInteger(o.queue) || o.queue < 0 || o.queue >= rxQueues) {
      throw new LinerateError('INVALID_OPTION', `capture queue must be an rx queue of the port, 0 to ${rxQueues - 1}, got ${String(o.queue)}`);
    }
    if (o.direction !== undefined && o.direction !== 'rx') {
      throw new LinerateError('INVALID_OPTION', `capture queue selects received frames: use direction 'rx' (transmit queues belong to lcores, not to rx queues), got '${o.direction}'`);
    }
  }
}

/**
 * A running capture, from {@link Engine.capture}. It ends on `stop()`, after
 * `count` packets or `seconds`, or when the engine stops; `done` resolves then,
 * with the final counters, once the output has everything (the statistics block
 * included).
 */
export class Capture {
  /** Resolves when the capture has ended and its output is complete; rejects with CAPTURE_OUTPUT when the output failed. */
  readonly done: Promise<CaptureStats>;
  private written = 0;
  private ended = false;
  private stopping: Promise<CaptureStats> | undefined;
  private readonly buf: Uint8Array;
  private readonly recordSize: number;
  private readonly out: Writable | undefined;
  private readonly ownStream: boolean;
  private readonly timer: NodeJS.Timeout;
  private readonly deadline: NodeJS.Timeout | undefined;
  private readonly startNs: bigint;
  private blocked = false;
  private resolveDone!: (s: CaptureStats) => void;
  private rejectDone!: (e: Error) => void;
  private streamError: Error | undefined;

  /** @internal */
  constructor(
    private readonly t: CaptureTarget,
    private readonly options: CaptureOptions,
  ) {
    check(options, t.rxQueues);
    const prog = compileCaptureProgram(options);
    const dir = options.direction ?? (options.queue !== undefined ? 'rx' : 'both');
    const snaplen = options.snaplen ?? 65535;
    this.recordSize = native(() =>
      t.nat.captureStart(t.portId, prog, {
        snaplen,
        rx: dir !== 'tx',
        tx: dir !== 'rx',
        ...(options.queue !== undefined ? { rxQueue: options.queue } : {}),
        ringSize: options.ringSize ?? 1024,
      }),
    );
    this.startNs = BigInt(Date.now()) * 1_000_000n;
    this.buf = new Uint8Array(this.recordSize * 256);
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.done.catch(() => {}); // surfaced through stop() and `done` for whoever awaits them
    const file = options.file;
    this.ownStream = typeof file === 'string';
    this.out = typeof file === 'string' ? createWriteStream(file) : file;
    this.out?.on('error', (e: Error) => {
      this.streamError ??= e;
      this.end();
    });
    this.out?.on('drain', () => (this.blocked = false));
    this.write(sectionHeader());
    const filterText = options.filter ?? (options.bpf !== undefined ? `(cBPF) ${options.bpf}` : undefined);
    this.write(interfaceDescription({ name: t.portName, description: `linerate port ${t.portName} (${t.driver})`, snaplen, filter: filterText }));
    this.timer = setInterval(() => this.drain(), options.drainMs ?? 10);
    this.deadline = options.seconds !== undefined ? setTimeout(() => this.end(), options.seconds * 1000) : undefined;
  }

  /** The counters so far (native ones read without locks, plus what was written). */
  stats(): CaptureStats {
    const s = native(() => this.t.nat.captureStats(this.t.portId)) ?? { seen: 0, accepted: 0, filtered: 0, dropped: 0 };
    return { ...s, written: this.written };
  }

  /** Ends the capture: detaches it from the data path, writes what is left and the statistics block, closes a file it opened. */
  stop(): Promise<CaptureStats> {
    // finish() runs from a microtask, so `stopping` is set before it drains (a drain that reaches `count` calls stop()).
    this.stopping ??= Promise.resolve().then(() => this.finish());
    return this.stopping;
  }

  /** stop() from inside (stream error, count, seconds): its outcome reaches callers through `done`. */
  private end(): void {
    this.stop().catch(() => {});
  }

  private async finish(): Promise<CaptureStats> {
    clearInterval(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    try {
      native(() => this.t.nat.captureStop(this.t.portId));
    } catch {
      // the engine is closed already: its last records are gone with it
    }
    this.blocked = false;
    try {
      while (!this.ended && this.drainOnce() > 0);
    } catch {
      // closed engine
    }
    const s = this.stats();
    this.write(interfaceStatistics({ interfaceId: 0, timestampNs: BigInt(Date.now()) * 1_000_000n, startNs: this.startNs,
      received: s.seen, accepted: s.accepted, dropped: s.dropped, delivered: this.written }));
    this.ended = true;
    this.t.onEnd();
    if (this.out && this.ownStream) await new Promise<void>((res) => this.out!.end(res));
    if (this.streamError) {
      const e = new LinerateError('CAPTURE_OUTPUT', `capture output: ${this.streamError.message}; check that the file's directory exists and is writable`, { cause: this.streamError });
      this.rejectDone(e);
      throw e;
    }
    this.resolveDone(s);
    return s;
  }

  private write(b: Uint8Array): void {
    if (this.out && !this.streamError && !this.out.write(b)) this.blocked = true;
  }

  private drain(): void {
    try {
      // A stream that wants no more makes the rings fill (counted drops) instead of memory grow.
      for (let i = 0; i < 64 && !this.blocked && !this.ended && this.drainOnce() > 0; i++);
    } catch (e) {
      this.streamError ??= e as Error;
      this.end();
    }
  }

  /** One native drain into buf; writes the records; returns how many. */
  private drainOnce(): number {
    const bytes = this.t.nat.captureDrain(this.t.portId, this.buf);
    const dv = new DataView(this.buf.buffer, this.buf.byteOffset, bytes);
    let n = 0;
    for (let at = 0; at < bytes; at += this.recordSize) {
      if (this.options.count !== undefined && this.written >= this.options.count) break;
      const capLen = dv.getUint32(at + 12, true);
      this.write(
        enhancedPacket({
          interfaceId: 0,
          timestampNs: dv.getBigUint64(at, true),
          originalLength: dv.getUint32(at + 8, true),
          data: this.buf.subarray(at + RECORD_HEADER, at + RECORD_HEADER + capLen),
          direction: dv.getUint8(at + 18) === 1 ? 'in' : 'out',
          queue: dv.getUint16(at + 16, true),
        }),
      );
      this.written++;
      n++;
    }
    if (this.options.count !== undefined && this.written >= this.options.count && !this.stopping) this.end();
    return n;
  }
}
