/**
 * Helpers shared by bench/handler and bench/handler-latency: arguments,
 * min/median/max, thread CPU time (schedstat), moving Node's threads off the
 * measured CPU (as bench/fwd does), and the handler module's shared state.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BroadcastChannel } from 'node:worker_threads';
import { BENCH_CHANNEL, F64, I32, type HandlerHello } from './handler-module.js';

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function spread(xs: number[], digits = 3): Spread | null {
  const v = xs.filter(Number.isFinite);
  if (!v.length) return null;
  return { min: round(Math.min(...v), digits), median: round(median(v), digits), max: round(Math.max(...v), digits) };
}

export function fmtSpread(s: Spread | null, digits = 2): string {
  return s ? `${s.min.toFixed(digits)} / ${s.median.toFixed(digits)} / ${s.max.toFixed(digits)}` : '-';
}

/** Parses a number option: integer or not, in [min, max]; exits with status 2 otherwise. */
export function numberArg(bench: string, usage: string, name: string, v: string, min: number, max: number, integer: boolean): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    console.error(`${bench}: --${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'\n${usage}`);
    process.exit(2);
  }
  return n;
}

/** CPU list of this process when it started ("0-1"), as taskset takes it. */
export function allowedCpuList(): string {
  const m = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? m[1] : '';
}

export function expandCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

/** Absolute path of an executable on PATH, if any. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

const taskset = onPath('taskset');

/**
 * Moves every thread of this process to `cpus`, except the lcores (lr-lcore-N)
 * and the threads in `keep` (an inline worker pinned to the measured CPU). Best
 * effort (taskset from util-linux); returns how many threads moved.
 */
export function pinOtherThreads(cpus: string, keep: ReadonlySet<string> = new Set()): number {
  if (!cpus || !taskset) return 0;
  let moved = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (keep.has(tid)) continue;
    let comm = '';
    try {
      comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
    } catch {
      continue; // the thread ended
    }
    if (comm.startsWith('lr-lcore')) continue;
    if (spawnSync(taskset, ['-p', '-c', cpus, tid], { stdio: 'ignore' }).status === 0) moved++;
  }
  return moved;
}

/** Field `i` of a thread's /proc schedstat (0: ns on a CPU, 1: ns runnable but waiting for one), or NaN. */
function schedstat(tid: string | undefined, i: number): number {
  if (tid === undefined || tid === '') return NaN;
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[i]);
  } catch {
    return NaN;
  }
}

/** Nanoseconds of CPU time of a thread of this process (schedstat), NaN when it is gone. */
export const threadCpuNs = (tid: string | undefined): number => schedstat(tid, 0);

/** Nanoseconds the thread spent runnable but waiting for a CPU: the time it was descheduled. */
export const threadWaitNs = (tid: string | undefined): number => schedstat(tid, 1);

/** The thread of this process named `name`, or undefined. */
export function findThread(name: string): string | undefined {
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name) return tid;
    } catch {
      // gone
    }
  }
  return undefined;
}

export function loadAvg(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/** A handler module's shared state (bench/handler-module.ts), seen from the bench. */
export class HandlerProbe {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private seq = 0;
  readonly tid: string;

  constructor(h: HandlerHello) {
    this.i32 = new Int32Array(h.sab);
    this.f64 = new Float64Array(h.sab);
    this.tid = h.tid;
    this.seq = Atomics.load(this.i32, I32.ACK);
  }

  get packets(): number {
    return this.f64[F64.PACKETS];
  }
  get udp9(): number {
    return this.f64[F64.UDP9];
  }

  /**
   * Asks the handler for a snapshot of its thread (taken at its next burst):
   * V8 used heap bytes, GC count since import, packets handled. Undefined when
   * no burst came within timeoutMs.
   */
  async snapshot(timeoutMs = 5000): Promise<{ heapUsed: number; heapTotal: number; gcs: number; packets: number } | undefined> {
    const want = ++this.seq;
    Atomics.store(this.i32, I32.REQUEST, want);
    const deadline = performance.now() + timeoutMs;
    while (Atomics.load(this.i32, I32.ACK) !== want) {
      if (performance.now() > deadline) return undefined;
      await sleep(1);
    }
    return { heapUsed: this.f64[F64.SNAP_HEAP], heapTotal: this.f64[F64.SNAP_HEAP_TOTAL], gcs: this.f64[F64.SNAP_GCS], packets: this.f64[F64.SNAP_PACKETS] };
  }
}

/** Collects the hellos handler modules post from workers (one per worker start). */
export class HelloListener {
  private readonly bc = new BroadcastChannel(BENCH_CHANNEL);
  private readonly got: HandlerHello[] = [];

  constructor() {
    this.bc.onmessage = (ev: unknown) => {
      const m = (ev as { data: HandlerHello }).data;
      if (m?.type === 'hello') this.got.push(m);
    };
    this.bc.unref();
  }

  /** Forgets what came so far (call before starting the engine whose worker you want). */
  reset(): void {
    this.got.length = 0;
  }

  /** The next hello, waiting up to timeoutMs. */
  async next(timeoutMs = 10_000): Promise<HandlerHello | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (!this.got.length) {
      if (performance.now() > deadline) return undefined;
      await sleep(5);
    }
    return this.got.shift();
  }

  close(): void {
    this.bc.close();
  }
}
