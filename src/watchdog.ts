/**
 * The engine's watchdog: no silent failure. A timer on the main thread (unref'd, so it never keeps the process
 * alive) reads the engine's counters once per interval while it runs, the same `stats()` an operator reads, so the
 * data path pays nothing, and raises a warning when a condition starts and clears it when it ends:
 *
 * - `LINK_DOWN`: a port's link is down (no carrier, interface down, a ring wire with no peer).
 * - `NO_RX`: a polled port with its link up received nothing for `idleRxSeconds`.
 * - `ALL_DROPPED`: packets arrived, none left, and some were dropped: every received packet is being dropped.
 * - `MEMPOOL_LOW`: the mempool's free mbufs fell below `mempoolLowWater` of its size.
 * - `LCORE_DESCHEDULED`: an lcore got less than `minCpuShare` of the CPU time it asked for (schedstat).
 * - `HANDLER_RING_FULL`: a handler's to-JS ring is more than `handlerRingFill` full (the handler is behind).
 * - `WORKER_DIED`: a handler worker ended before stop() (raised at once, from the worker's exit).
 * - `WORKER_STALLED`: an inline handler worker has not returned from its handler for `workerStallSeconds` (its poll
 *   loop's turn count, a heartbeat it bumps every turn, stood still).
 * - `CPU_SHARED`: inline workers share a CPU with an lcore or each other (raised at start()).
 *
 * See docs/operations.md.
 * @module
 */
import { readFileSync } from 'node:fs';
import { LinerateError } from './errors.js';
import type { ChannelFill } from './handler/handlers.js';
import type { PortOptions } from './options.js';
import type { EngineStats } from './stats.js';

/** What a warning is about. */
export type EngineWarningCode =
  | 'CPU_SHARED'
  | 'LINK_DOWN'
  | 'NO_RX'
  | 'ALL_DROPPED'
  | 'MEMPOOL_LOW'
  | 'LCORE_DESCHEDULED'
  | 'HANDLER_RING_FULL'
  | 'WORKER_DIED'
  | 'WORKER_STALLED';

/**
 * A condition worth a look that does not stop the engine, emitted as `'warning'` when it starts and as
 * `'warningCleared'` (the same object) when it ends; {@link Engine.warnings} lists those active now. Without a
 * `'warning'` listener, the first warning of each code is printed to stderr as `linerate: warning: <message>`.
 *
 * - `CPU_SHARED`: inline handler workers share a CPU with an lcore or with each other (`cpus` lists them).
 * - `LINK_DOWN`: `port`'s link is down.
 * - `NO_RX`: `port` (polled, link up) received nothing for `value` seconds.
 * - `ALL_DROPPED`: in the last interval packets arrived, none were transmitted, and `value` were dropped.
 * - `MEMPOOL_LOW`: only `value` (a fraction, 0..1) of the mempool's mbufs are free.
 * - `LCORE_DESCHEDULED`: `lcore` (on `cpus[0]`) ran `value` (a fraction) of the time it asked for.
 * - `HANDLER_RING_FULL`: the ring to `port` queue `queue`'s handler is `value` (a fraction) full.
 * - `WORKER_DIED`: the handler worker of `port` queue `queue` exited with code `value`.
 * - `WORKER_STALLED`: the inline handler worker of `port` queue `queue` has been inside one call of its handler for
 *   `value` seconds (it polls its own queue, so nothing is received there meanwhile).
 */
export interface EngineWarning {
  code: EngineWarningCode;
  message: string;
  /** Identifies the condition (code and where): one active warning per key. */
  key: string;
  /** When it was raised (Date.now()). */
  since: number;
  port?: string;
  queue?: number;
  lcore?: number;
  cpus?: number[];
  /** The measurement behind it (see each code). */
  value?: number;
}

/** Thresholds of the watchdog ({@link EngineOptions.warnings}). */
export interface WarningOptions {
  /** Run the watchdog (default true). false: only CPU_SHARED and WORKER_DIED, which need no polling, are raised. */
  enabled?: boolean;
  /** How often the counters are read, in milliseconds, 100..60000. Default 1000. */
  intervalMs?: number;
  /** A polled port with its link up that receives nothing this long raises NO_RX, in seconds (> 0). Default 10. */
  idleRxSeconds?: number;
  /** MEMPOOL_LOW below this fraction of free mbufs (0..1); cleared at twice it. Default 0.05. */
  mempoolLowWater?: number;
  /** LCORE_DESCHEDULED when an lcore ran less than this fraction of the time it asked for (0..1). Default 0.5. */
  minCpuShare?: number;
  /** HANDLER_RING_FULL above this fill of a handler ring (0..1); cleared below two thirds of it. Default 0.75. */
  handlerRingFill?: number;
  /** WORKER_STALLED when an inline worker's handler has not returned for this long, in seconds (> 0). Default 5. */
  workerStallSeconds?: number;
}

/** @internal */
export type ResolvedWarningOptions = Required<WarningOptions>;

/** Checks {@link WarningOptions}; throws INVALID_OPTION or UNKNOWN_OPTION. @internal */
export function resolveWarningOptions(o: WarningOptions | undefined): ResolvedWarningOptions {
  const r: ResolvedWarningOptions = { enabled: true, intervalMs: 1000, idleRxSeconds: 10, mempoolLowWater: 0.05, minCpuShare: 0.5, handlerRingFill: 0.75, workerStallSeconds: 5 };
  if (o === undefined) return r;
  if (o === null || typeof o !== 'object') throw new LinerateError('INVALID_OPTION', `Engine.create: option 'warnings' must be an object`);
  const ranges: Record<keyof WarningOptions, [number, number] | 'bool'> = {
    enabled: 'bool',
    intervalMs: [100, 60_000],
    idleRxSeconds: [0.001, 86_400],
    mempoolLowWater: [0, 1],
    minCpuShare: [0, 1],
    handlerRingFill: [0, 1],
    workerStallSeconds: [0.001, 86_400],
  };
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    const range = ranges[k as keyof WarningOptions];
    if (!range) throw new LinerateError('UNKNOWN_OPTION', `warnings: option '${k}' is not known (known: ${Object.keys(ranges).join(', ')})`);
    if (range === 'bool') {
      if (typeof v !== 'boolean') throw new LinerateError('INVALID_OPTION', `warnings: option '${k}' must be a boolean, got ${String(v)}`);
    } else if (typeof v !== 'number' || !Number.isFinite(v) || v < range[0] || v > range[1]) {
      throw new LinerateError('INVALID_OPTION', `warnings: option '${k}' must be a number in [${range[0]}, ${range[1]}], got ${String(v)}`);
    }
    (r as unknown as Record<string, unknown>)[k] = v;
  }
  return r;
}

/** What the watchdog needs from its engine. @internal */
export interface WatchdogSource {
  stats(): EngineStats;
  channelFills(): ChannelFill[];
  /** Running inline workers and their poll loop turns so far. */
  inlineHeartbeats(): { port: string; queue: number; polls: number }[];
  portOptions(name: string): PortOptions | undefined;
  busyIdle(): boolean;
  emit(event: 'warning' | 'warningCleared', w: EngineWarning): void;
  /** Sees every warning raised and cleared, listener or not (the control socket keeps the recent ones). */
  observe?(event: 'warning' | 'warningCleared', w: EngineWarning): void;
  hasWarningListener(): boolean;
}

/** CPU time a thread has run, in nanoseconds: the first field of /proc/self/task/TID/schedstat (Documentation/scheduler/sched-stats.rst). */
function runTimeNs(tid: number): number | undefined {
  try {
    const v = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined; // the thread ended, or a kernel without CONFIG_SCHED_INFO
  }
}

/** A port whose rx is a finite or occasional source: silence there is expected, not a failure. */
function quietByDesign(o: PortOptions | undefined): boolean {
  if (!o) return true;
  if (o.driver === 'pcap') return o.mode !== 'loop';
  if (o.driver === 'null') return (o.count ?? 0) > 0;
  // A tap receives what the kernel sends (ARP, replies), which may be nothing for a long time.
  return o.driver === 'tap';
}

interface Sample {
  atMs: number;
  stats: EngineStats;
  runNs: Map<number, number>;
}

/** @internal */
export class Watchdog {
  private readonly active = new Map<string, EngineWarning>();
  private readonly printed = new Set<EngineWarningCode>();
  private readonly polled = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private last: Sample | undefined;
  private lastRx = new Map<string, { packets: number; atMs: number }>();
  private lastBeat = new Map<string, { polls: number; atMs: number }>();
  private startedMs = 0;

  constructor(
    private readonly src: WatchdogSource,
    readonly options: ResolvedWarningOptions,
  ) {}

  /** `port` has an rx consumer (forward, echo, handler, host, exception path): silence on it is worth a warning. */
  polls(port: string): void {
    this.polled.add(port);
  }

  /** The warnings active now. */
  list(): EngineWarning[] {
    return [...this.active.values()].map((w) => ({ ...w }));
  }

  start(): void {
    this.stopTimer();
    this.last = undefined;
    this.lastRx.clear();
    this.lastBeat.clear();
    this.startedMs = performance.now();
    if (!this.options.enabled) return;
    this.timer = setInterval(() => this.tick(), this.options.intervalMs);
    this.timer.unref();
    this.tick();
  }

  /** At engine stop: no more checks, and every active warning ends (its condition cannot last past the run). */
  stop(): void {
    this.stopTimer();
    for (const key of [...this.active.keys()]) this.clear(key);
  }

  /** Raises `w` unless a warning with its key is active already. */
  raise(w: Omit<EngineWarning, 'since'>): void {
    if (this.active.has(w.key)) return;
    const full: EngineWarning = { ...w, since: Date.now() };
    this.active.set(w.key, full);
    this.src.observe?.('warning', { ...full });
    if (this.src.hasWarningListener()) {
      this.src.emit('warning', { ...full });
    } else if (!this.printed.has(w.code)) {
      // Without a listener, one line per kind of trouble: enough to be seen, never a flood.
      this.printed.add(w.code);
      console.error(`linerate: warning: ${w.message}`);
    }
  }

  /** A handler worker ended before stop(): raised at once (a dead worker stays dead until the engine stops). */
  workerDied(info: { port: string; queue: number; code: number }): void {
    this.raise({
      code: 'WORKER_DIED',
      key: `WORKER_DIED:${info.port}:${info.queue}`,
      port: info.port,
      queue: info.queue,
      value: info.code,
      message:
        `the handler worker of port '${info.port}' queue ${info.queue} exited (code ${info.code}); that queue's packets are dropped ` +
        `and counted until the engine restarts. Look for process.exit() or an uncaught error in the worker module ('workerExit' and 'error' events).`,
    });
  }

  clear(key: string): void {
    const w = this.active.get(key);
    if (!w) return;
    this.active.delete(key);
    this.src.observe?.('warningCleared', { ...w });
    this.src.emit('warningCleared', { ...w });
  }

  private set(on: boolean, w: Omit<EngineWarning, 'since'>): void {
    if (on) this.raise(w);
    else this.clear(w.key);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look at the counters. Never throws: the watchdog must not become the failure. */
  private tick(): void {
    let stats: EngineStats;
    try {
      stats = this.src.stats();
    } catch {
      this.stopTimer(); // closed under us
      return;
    }
    const now = performance.now();
    const runNs = new Map<number, number>();
    for (const l of stats.lcores) {
      if (l.tid > 0) {
        const ns = runTimeNs(l.tid);
        if (ns !== undefined) runNs.set(l.index, ns);
      }
    }
    const cur: Sample = { atMs: now, stats, runNs };
    this.checkPorts(stats, now);
    this.checkMempool(stats);
    this.checkHandlerRings();
    this.checkInlineWorkers(now);
    if (this.last) {
      this.checkDrops(this.last.stats, stats);
      this.checkLcores(this.last, cur);
    }
    this.last = cur;
  }

  private checkPorts(s: EngineStats, now: number): void {
    const idleMs = this.options.idleRxSeconds * 1000;
    for (const p of Object.values(s.ports)) {
      this.set(!p.linkUp, {
        code: 'LINK_DOWN',
        key: `LINK_DOWN:${p.name}`,
        port: p.name,
        message:
          `port '${p.name}' (${p.driver}): link down, nothing can be received or sent. Check the cable or the peer ` +
          `(ip link show; for veth both ends must be up: ip link set <peer> up; for a ring port the wire's other end must be added).`,
      });
      const seen = this.lastRx.get(p.name);
      if (!seen || seen.packets !== p.rxPackets) this.lastRx.set(p.name, { packets: p.rxPackets, atMs: seen ? now : this.startedMs });
      const since = this.lastRx.get(p.name)!.atMs;
      const idle = p.linkUp && this.polled.has(p.name) && !quietByDesign(this.src.portOptions(p.name)) && now - since >= idleMs;
      this.set(idle, {
        code: 'NO_RX',
        key: `NO_RX:${p.name}`,
        port: p.name,
        value: Math.round((now - since) / 1000),
        message:
          `port '${p.name}' (${p.driver}) is up and polled but received nothing for ${Math.round((now - since) / 1000)} s. ` +
          `Check that traffic reaches it (the peer sends, addresses and VLAN match, the NIC is the right one: linerate doctor; ` +
          `an af_xdp/af_packet interface: ip -s link show <if>).`,
      });
    }
  }

  private checkDrops(prev: EngineStats, s: EngineStats): void {
    let rx = 0, tx = 0, dropped = 0;
    const byReason: string[] = [];
    for (const p of Object.values(s.ports)) {
      const q = prev.ports[p.name];
      if (!q) continue;
      rx += p.rxPackets - q.rxPackets + (p.drops.noMbuf - q.drops.noMbuf);
      tx += p.txPackets - q.txPackets;
      dropped += p.dropped - q.dropped;
      for (const [reason, n] of Object.entries(p.drops)) {
        const d = n - q.drops[reason as keyof typeof q.drops];
        if (d > 0) byReason.push(`${p.name}.${reason} ${d}`);
      }
    }
    this.set(rx > 0 && tx === 0 && dropped > 0, {
      code: 'ALL_DROPPED',
      key: 'ALL_DROPPED',
      value: dropped,
      message:
        `every received packet is being dropped: ${rx} arrived, none were transmitted, ${dropped} dropped (${byReason.join(', ')}). ` +
        `See stats().ports[name].drops: txFull means the output cannot take them (link, wire, peer), noMbuf an exhausted mempool, ` +
        `handlerRingFull a handler that is behind (docs/operations.md).`,
    });
  }

  private checkMempool(s: EngineStats): void {
    const low = this.options.mempoolLowWater;
    const free = s.mempool.size ? s.mempool.free.total / s.mempool.size : 1;
    const key = 'MEMPOOL_LOW';
    const u = s.mempool.inUse;
    if (free < low || (this.active.has(key) && free < 2 * low)) {
      this.raise({
        code: 'MEMPOOL_LOW',
        key,
        value: free,
        message:
          `the mempool is nearly empty: ${s.mempool.free.total} of ${s.mempool.size} mbufs free (${(100 * free).toFixed(1)}%). ` +
          `In use: driver ${u.driver}, rings ${u.rings}, js ${u.js}, host ${u.host}, in flight ${u.inFlight}. ` +
          `Raise mempool.mbufs in Engine.create, or find the holder (a handler keeping packets, a full wire or ring).`,
      });
    } else {
      this.clear(key);
    }
  }

  private checkLcores(prev: Sample, cur: Sample): void {
    const wallNs = (cur.atMs - prev.atMs) * 1e6;
    if (wallNs <= 0) return;
    for (const l of cur.stats.lcores) {
      const key = `LCORE_DESCHEDULED:${l.index}`;
      const before = prev.runNs.get(l.index);
      const after = cur.runNs.get(l.index);
      const p = prev.stats.lcores.find((x) => x.index === l.index);
      if (before === undefined || after === undefined || !p || l.tasks === 0) {
        this.clear(key);
        continue;
      }
      // A busy-polling lcore asks for all of its CPU; an adaptive one for the time it spent in busy polls.
      const asked = this.src.busyIdle() ? 1 : Math.min(1, busyNs(l, p, cur.stats.tscHz) / wallNs);
      const got = (after - before) / wallNs;
      const share = asked > 0 ? got / asked : 1;
      const starved = asked >= 0.2 && share < this.options.minCpuShare;
      this.set(starved, {
        code: 'LCORE_DESCHEDULED',
        key,
        lcore: l.index,
        cpus: [l.cpu],
        value: share,
        message:
          `lcore ${l.index} on CPU ${l.cpu} ran ${(100 * share).toFixed(0)}% of the time it asked for (schedstat): another thread ` +
          `or process runs on its CPU and takes turns with it (latency in milliseconds, drops). Find it with: ps -eLo pid,tid,psr,pcpu,comm | awk '$3==${l.cpu}'; ` +
          `isolate the CPU (isolcpus=, cpuset) or give the lcore another one (docs/tuning.md).`,
      });
    }
  }

  /**
   * An inline worker runs its handler on the thread that polls its queue: a handler that never returns (an endless
   * loop, a blocking call) stops the queue, and neither a ring nor an exit shows it. Its poll loop's turn count is
   * the heartbeat: unchanged for workerStallSeconds (after the loop began) is a stall.
   */
  private checkInlineWorkers(now: number): void {
    let beats: { port: string; queue: number; polls: number }[];
    try {
      beats = this.src.inlineHeartbeats();
    } catch {
      return;
    }
    const stallMs = this.options.workerStallSeconds * 1000;
    const seen = new Set<string>();
    for (const b of beats) {
      const key = `WORKER_STALLED:${b.port}:${b.queue}`;
      seen.add(key);
      const last = this.lastBeat.get(key);
      if (!last || last.polls !== b.polls || b.polls === 0) this.lastBeat.set(key, { polls: b.polls, atMs: now });
      const since = this.lastBeat.get(key)!.atMs;
      const stalled = b.polls > 0 && now - since >= stallMs;
      this.set(stalled, {
        code: 'WORKER_STALLED',
        key,
        port: b.port,
        queue: b.queue,
        value: Math.round((now - since) / 1000),
        message:
          `the inline handler worker of port '${b.port}' queue ${b.queue} has not returned from its handler for ${Math.round((now - since) / 1000)} s; ` +
          `it polls that queue itself, so nothing is received there (the device or kernel drops what arrives: ip -s link show, ethtool -S). ` +
          `Look for an endless loop or a blocking call (Atomics.wait, a sync read) in the handler; engine.stop() terminates the worker after 2 s.`,
      });
    }
    for (const key of [...this.lastBeat.keys()]) {
      if (!seen.has(key)) {
        this.lastBeat.delete(key);
        this.clear(key);
      }
    }
  }

  private checkHandlerRings(): void {
    const limit = this.options.handlerRingFill;
    let fills: ChannelFill[];
    try {
      fills = this.src.channelFills();
    } catch {
      return;
    }
    for (const f of fills) {
      const key = `HANDLER_RING_FULL:${f.port}:${f.key}:${f.queue}`;
      const fill = f.capacity ? f.count / f.capacity : 0;
      const on = fill > limit || (this.active.has(key) && fill > (2 * limit) / 3);
      this.set(on, {
        code: 'HANDLER_RING_FULL',
        key,
        port: f.port,
        queue: f.queue,
        value: fill,
        message:
          `the handler of port '${f.port}' queue ${f.queue} is behind: its ring is ${(100 * fill).toFixed(0)}% full (${f.count} of ${f.capacity}); ` +
          `when it is full, packets are dropped (drops.handlerRingFull). Make the handler faster, run it in workers over more rx queues ` +
          `(handleInWorkers with rxQueues), or raise ringSize for bursts.`,
      });
    }
  }
}

/** Time an lcore spent in polls that moved packets between two snapshots, in nanoseconds. */
function busyNs(l: EngineStats['lcores'][number], p: EngineStats['lcores'][number], tscHz: number): number {
  // LcoreStats has no busy cycle count of its own: cyclesPerPacket * packets is exactly it (src/stats.ts).
  const now = l.cyclesPerPacket * l.packets;
  const before = p.cyclesPerPacket * p.packets;
  return tscHz > 0 ? ((now - before) / tscHz) * 1e9 : 0;
}
