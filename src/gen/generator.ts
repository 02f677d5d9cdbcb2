/**
 * Generator: a scriptable UDP load generator on a linerate host (docs/gen.md).
 * It sends requests to one server at a fixed rate (or as fast as it can), over
 * many flows (source ports), stamps each one, matches the responses and reports
 * sent, received, lost, late, reordered and latency percentiles, per interval
 * and per run.
 *
 * The data path runs in an inline worker that owns the port's queue
 * (sender.ts): it paces, builds, stamps and receives with no allocation per
 * packet. This side, on the calling thread, starts runs and reads the shared
 * counters and histogram.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setEnvironmentData } from 'node:worker_threads';
import { LinerateError } from '../errors.js';
import { parseIp } from '../host/address.js';
import type { Host, HostSocket } from '../host/host.js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { COUNT, CTL, envKey, newShared, PARAM, STAMP_BYTES, STATE, type GenShared } from './shared.js';

/** Options of {@link createGenerator}. */
export interface GeneratorOptions {
  /** The server: 'ADDR:PORT' ('198.18.0.2:7', '[fd00:198:18::2]:7'). */
  to: string;
  /** Request payload; the stamp is written over it at `stampOffset`. Default: `size` bytes of a fixed pattern. */
  template?: Uint8Array;
  /** Payload size without a template. Default 64. */
  size?: number;
  /** A module that writes each request's payload instead of a template: its `export` (default 'default') is a {@link PayloadWriter}. */
  payloadModule?: URL | string;
  payloadExport?: string;
  /** Where in the payload the stamp goes (16 bytes: run tag, sequence number, send time). The server must return these bytes unchanged. Default 0. */
  stampOffset?: number;
  /** Flows: source ports srcPort .. srcPort + flows − 1, used in turn. Default 1. */
  flows?: number;
  /** First source port. Default 40000. */
  srcPort?: number;
  /** Most requests sent in one go (1..32). Default 32. */
  burst?: number;
  /** CPU of the generator's worker (it spins there). Default: the engine's first lcore CPU. */
  cpu?: number;
}

/** Options of {@link Generator.run}. Give `seconds`, `count` or both. */
export interface RunOptions {
  /** Requests per second; 0 (default): as fast as the port takes them. */
  rate?: number;
  /** Sending time in seconds. */
  seconds?: number;
  /** Requests to send. */
  count?: number;
  /** A response later than this is counted as late (it still counts as received). Default 1000 ms. */
  lateMs?: number;
  /** After sending, how long at most to wait for the last responses (less when every request is answered). Default 200 ms. */
  drainMs?: number;
  /** Interval of the {@link GeneratorInterval} reports ('interval' events). Default 1000 ms; 0: none. */
  intervalMs?: number;
}

/** One interval of a run (the 'interval' event). */
export interface GeneratorInterval {
  /** Seconds since the run started (end of this interval). */
  t: number;
  sent: number;
  received: number;
  sentPps: number;
  receivedPps: number;
  late: number;
  reordered: number;
  latency: LatencySummary;
}

/** What a run measured (Generator.run's result); JSON-ready. */
export interface GeneratorReport {
  to: string;
  /** Offered rate (requests/s); 0: as fast as possible. */
  rate: number;
  flows: number;
  payloadBytes: number;
  burst: number;
  /** Sending time in seconds (worker clock). */
  seconds: number;
  sent: number;
  /** Requests per second actually sent, over the sending time. */
  sentPps: number;
  /** sentPps against rate, in % (0 when unpaced). */
  rateErrorPct: number;
  received: number;
  receivedPps: number;
  /** Sent and never answered (by the end of the drain wait). */
  lost: number;
  lossPct: number;
  late: number;
  reordered: number;
  duplicates: number;
  /** Responses to an earlier run (arrived after its drain). */
  stale: number;
  /** Datagrams without this generator's stamp. */
  foreign: number;
  /** Requests not sent for want of a free mbuf. */
  noMbuf: number;
  /** Requests the pacer skipped because the worker fell more than a burst behind. */
  behind: number;
  /** Most requests sent in one poll (≤ burst). */
  maxBurst: number;
  latency: LatencySummary;
}

let counter = 0;

/** Where the compiled sender module is (next to this file, or in dist/ when this runs from TypeScript sources). */
function senderUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  const sibling = join(dirname(here), 'sender.js');
  if (!here.endsWith('.ts') && existsSync(sibling)) return pathToFileURL(sibling);
  let dir = dirname(here);
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'dist', 'src', 'gen', 'sender.js');
    if (existsSync(candidate)) return pathToFileURL(candidate);
  }
  throw new LinerateError('ADDON_LOAD', 'cannot find the generator worker module (dist/src/gen/sender.js); build it with: npm run build:ts');
}

/** 'ADDR:PORT' or '[ADDR]:PORT'. */
export function parseTarget(to: string): { address: string; port: number; family: 4 | 6; bytes: Uint8Array } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(to) ?? /^([^:]+):(\d+)$/.exec(to);
  if (!m) throw new LinerateError('INVALID_OPTION', `generator: to must be 'ADDR:PORT' or '[IPv6]:PORT', got ${JSON.stringify(to)}`);
  const port = Number(m[2]);
  if (!(port >= 1 && port <= 65535)) throw new LinerateError('INVALID_OPTION', `generator: the port in '${to}' must be in 1..65535`);
  const ip = parseIp(m[1], 'generator: to');
  return { address: m[1]!, port, family: ip.family, bytes: ip.bytes };
}

const intIn = (v: unknown, min: number, max: number, what: string, dflt: number): number => {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new LinerateError('INVALID_OPTION', `generator: ${what} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return v;
};

/** The default payload: a recognisable pattern ('linerate gen ' repeated). */
function pattern(size: number): Uint8Array {
  const p = Buffer.from('linerate gen ');
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = p[i % p.length]!;
  return out;
}

/**
 * A load generator on a host's port. Create it before `engine.start()` (it adds
 * an inline UDP socket, which must be the host's only socket, on ports
 * srcPort .. srcPort + flows − 1); then `run()` as often as needed while the
 * engine runs. Emits 'interval' ({@link GeneratorInterval}) during runs.
 */
export class Generator extends EventEmitter {
  readonly socket: HostSocket;
  readonly target: ReturnType<typeof parseTarget>;
  private readonly ctl: Int32Array;
  private readonly par: Float64Array;
  private readonly cnt: Float64Array;
  private readonly hist: LatencyHistogram;
  private readonly cfg: GenShared;
  private runs = 0;
  private resolved = false;
  private running = false;

  constructor(
    readonly host: Host,
    readonly options: GeneratorOptions,
  ) {
    super();
    const o = options ?? ({} as GeneratorOptions);
    this.target = parseTarget(o.to);
    const queues = host.port.options.rxQueues ?? 1;
    if (queues !== 1) throw new LinerateError('INVALID_OPTION', `generator: the port needs one rx queue (one worker sends and matches), it has ${queues}`);
    const flows = intIn(o.flows, 1, 65535, 'flows', 1);
    const srcPort = intIn(o.srcPort, 1, 65535, 'srcPort', 40000);
    if (srcPort + flows - 1 > 65535) throw new LinerateError('INVALID_OPTION', `generator: srcPort ${srcPort} + flows ${flows} runs past port 65535`);
    const burst = intIn(o.burst, 1, 32, 'burst', 32);
    const stampOffset = intIn(o.stampOffset, 0, 1400, 'stampOffset', 0);
    const writerRoom = this.target.family === 4 ? 1472 : 1452; // a 1500-byte MTU
    let template: Uint8Array;
    if (o.template !== undefined) {
      if (!(o.template instanceof Uint8Array)) throw new LinerateError('INVALID_OPTION', 'generator: template must be a Uint8Array');
      template = Uint8Array.from(o.template);
    } else template = pattern(intIn(o.size, STAMP_BYTES, writerRoom, 'size', 64));
    if (template.length > writerRoom) throw new LinerateError('INVALID_OPTION', `generator: the template (${template.length} bytes) is longer than ${writerRoom} bytes`);
    if (stampOffset + STAMP_BYTES > template.length && !o.payloadModule)
      throw new LinerateError('INVALID_OPTION', `generator: the stamp (${STAMP_BYTES} bytes at offset ${stampOffset}) does not fit a ${template.length}-byte payload`);
    let payloadModule: string | null = null;
    if (o.payloadModule !== undefined) {
      payloadModule = o.payloadModule instanceof URL ? o.payloadModule.href : pathToFileURL(o.payloadModule).href;
    }
    const id = `${process.pid}-${counter++}`;
    const shared = newShared();
    this.cfg = {
      ...shared,
      template,
      stampOffset,
      family: this.target.family,
      dst4: this.target.family === 4 ? ((this.target.bytes[0]! << 24) | (this.target.bytes[1]! << 16) | (this.target.bytes[2]! << 8) | this.target.bytes[3]!) >>> 0 : 0,
      dst6: this.target.family === 6 ? this.target.bytes : null,
      dstPort: this.target.port,
      srcPort,
      flows,
      burst,
      payloadModule,
      payloadExport: o.payloadExport ?? 'default',
      writerRoom,
    };
    // Handed to the worker when the engine starts it (environment data is cloned into new workers; the SharedArrayBuffers stay shared).
    setEnvironmentData(envKey(id), this.cfg as never);
    this.ctl = new Int32Array(shared.control);
    this.par = new Float64Array(shared.params);
    this.cnt = new Float64Array(shared.counters);
    this.hist = new LatencyHistogram(new Float64Array(shared.histogram), new Float64Array(shared.histogramTotals));
    const module = new URL(senderUrl());
    module.searchParams.set('gen', id);
    this.socket = host.udpInWorkers({
      port: srcPort,
      ports: flows,
      module,
      mode: 'inline',
      pollEmpty: true,
      ...(o.cpu !== undefined ? { cpus: [o.cpu] } : {}),
    });
  }

  /** Payload bytes of each request (template or size; a payload module's lengths are its own). */
  get payloadBytes(): number {
    return this.cfg.template.length;
  }

  /**
   * Makes sure the next hop to the server is resolved (a probe datagram, then
   * waiting for the neighbour table), so that a run does not lose its first
   * requests to resolution.
   * @throws LinerateError NEIGHBOR_UNRESOLVED
   */
  async resolve(timeoutMs = 3000): Promise<void> {
    if (this.resolved) return;
    const fam = this.target.family;
    const want = [this.target.bytes, ...(this.host.gateway(fam) ? [parseIp(this.host.gateway(fam), 'gateway').bytes] : [])];
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
    const ok = () =>
      this.host.neighbors().some((n) => n.family === fam && n.state !== 'incomplete' && n.state !== 'failed' && want.some((w) => same(parseIp(n.ip, 'neighbor').bytes, w)));
    const until = Date.now() + timeoutMs;
    let lastProbe = 0;
    while (!ok()) {
      if (Date.now() > until) {
        throw new LinerateError('NEIGHBOR_UNRESOLVED', `generator: ${this.target.address} (or its gateway) did not answer ARP/neighbour solicitation within ${timeoutMs} ms; check that the server is up and on the host's network (host.neighbors(), host.stats().probesOut)`);
      }
      if (Date.now() - lastProbe > 500) {
        lastProbe = Date.now();
        this.socket.send(Buffer.from('lr-gen: arp'), this.target.port, this.target.address); // shorter than a stamp: never mistaken for one
      }
      await sleep(5);
    }
    this.resolved = true;
  }

  /**
   * One run: sends at `rate` for `seconds` and/or `count` requests, waits
   * `drainMs` for the last responses, and reports. Emits 'interval' every
   * `intervalMs` meanwhile.
   * @throws LinerateError INVALID_OPTION, ENGINE_STOPPED, NEIGHBOR_UNRESOLVED, HANDLER_FAILED (the worker does not run)
   */
  async run(options: RunOptions): Promise<GeneratorReport> {
    const o = options ?? {};
    if (this.running) throw new LinerateError('INVALID_OPTION', 'generator: a run is under way');
    const rate = o.rate ?? 0;
    if (typeof rate !== 'number' || !(rate >= 0) || !Number.isFinite(rate)) throw new LinerateError('INVALID_OPTION', `generator: rate must be a number ≥ 0, got ${JSON.stringify(o.rate)}`);
    const seconds = o.seconds ?? 0;
    const count = o.count ?? 0;
    if (!(seconds >= 0) || !(count >= 0) || !Number.isInteger(count)) throw new LinerateError('INVALID_OPTION', 'generator: seconds must be ≥ 0 and count a whole number ≥ 0');
    if (seconds === 0 && count === 0) throw new LinerateError('INVALID_OPTION', 'generator: give seconds, count or both');
    const lateMs = o.lateMs ?? 1000;
    const drainMs = o.drainMs ?? 200;
    const intervalMs = o.intervalMs ?? 1000;
    this.running = true;
    try {
      await this.resolve();
      const runId = ++this.runs;
      this.par[PARAM.RATE] = rate;
      this.par[PARAM.COUNT] = count;
      this.par[PARAM.DURATION_NS] = seconds * 1e9;
      this.par[PARAM.LATE_NS] = lateMs * 1e6;
      this.par[PARAM.PREV_TAG] = this.par[PARAM.TAG]!;
      let tag = 0;
      while (tag === 0 || tag === this.par[PARAM.PREV_TAG]) tag = (Math.random() * 0x100000000) >>> 0;
      this.par[PARAM.TAG] = tag;
      Atomics.store(this.ctl, CTL.HALT, 0);
      Atomics.store(this.ctl, CTL.RUN, runId);
      const until = Date.now() + 5000;
      while (Atomics.load(this.ctl, CTL.STARTED) !== runId) {
        if (Date.now() > until) throw new LinerateError('HANDLER_FAILED', 'generator: its worker did not start the run within 5 s; is the engine running (engine.start()) and the worker alive (engine "error" events)?');
        await sleep(1);
      }
      const t0 = performance.now();
      const prevCnt = new Float64Array(COUNT.SIZE);
      const curCnt = new Float64Array(COUNT.SIZE);
      const prev = new LatencyHistogram();
      const cur = new LatencyHistogram();
      const diff = new LatencyHistogram();
      let prevT = t0;
      let nextTick = t0 + intervalMs;
      while (Atomics.load(this.ctl, CTL.STATE) !== STATE.DONE) {
        await sleep(Math.max(1, Math.min(20, intervalMs > 0 ? nextTick - performance.now() : 20)));
        const now = performance.now();
        if (intervalMs > 0 && now >= nextTick && this.listenerCount('interval') > 0) {
          curCnt.set(this.cnt);
          cur.copyFrom(this.hist);
          diff.setDifference(cur, prev);
          const dt = (now - prevT) / 1000;
          const iv: GeneratorInterval = {
            t: round((now - t0) / 1000, 3),
            sent: curCnt[COUNT.SENT]! - prevCnt[COUNT.SENT]!,
            received: curCnt[COUNT.RECEIVED]! - prevCnt[COUNT.RECEIVED]!,
            sentPps: Math.round((curCnt[COUNT.SENT]! - prevCnt[COUNT.SENT]!) / dt),
            receivedPps: Math.round((curCnt[COUNT.RECEIVED]! - prevCnt[COUNT.RECEIVED]!) / dt),
            late: curCnt[COUNT.LATE]! - prevCnt[COUNT.LATE]!,
            reordered: curCnt[COUNT.REORDERED]! - prevCnt[COUNT.REORDERED]!,
            latency: diff.summary(),
          };
          prevCnt.set(curCnt);
          prev.copyFrom(cur);
          prevT = now;
          this.emit('interval', iv);
        }
        if (intervalMs > 0) while (nextTick <= now) nextTick += intervalMs;
      }
      const drainEnd = performance.now() + drainMs;
      while (performance.now() < drainEnd && this.cnt[COUNT.RECEIVED]! < this.cnt[COUNT.SENT]!) await sleep(Math.min(5, drainMs));
      return this.report(rate);
    } finally {
      this.running = false;
    }
  }

  /** Ends the current run's sending now (run() then drains and reports). */
  halt(): void {
    Atomics.store(this.ctl, CTL.HALT, 1);
  }

  private report(rate: number): GeneratorReport {
    const c = Float64Array.from(this.cnt);
    const seconds = (c[COUNT.END_NS]! - c[COUNT.START_NS]!) / 1e9;
    const sent = c[COUNT.SENT]!;
    const received = c[COUNT.RECEIVED]!;
    const sentPps = seconds > 0 ? sent / seconds : 0;
    return {
      to: this.options.to,
      rate,
      flows: this.cfg.flows,
      payloadBytes: this.cfg.template.length,
      burst: this.cfg.burst,
      seconds: round(seconds, 4),
      sent,
      sentPps: Math.round(sentPps),
      rateErrorPct: rate > 0 ? round((100 * (sentPps - rate)) / rate, 3) : 0,
      received,
      receivedPps: Math.round(seconds > 0 ? received / seconds : 0),
      lost: sent - received,
      lossPct: sent > 0 ? round((100 * (sent - received)) / sent, 4) : 0,
      late: c[COUNT.LATE]!,
      reordered: c[COUNT.REORDERED]!,
      duplicates: c[COUNT.DUPLICATES]!,
      stale: c[COUNT.STALE]!,
      foreign: c[COUNT.FOREIGN]!,
      noMbuf: c[COUNT.NO_MBUF]!,
      behind: c[COUNT.BEHIND]!,
      maxBurst: c[COUNT.MAX_BURST]!,
      latency: this.hist.summary(),
    };
  }
}

/** A {@link Generator} on `host` (create it before engine.start()). */
export function createGenerator(host: Host, options: GeneratorOptions): Generator {
  return new Generator(host, options);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d: number) => Number(v.toFixed(d));
