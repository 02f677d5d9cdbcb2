/**
 * Statistics as the engine reports them, and a meter that turns two snapshots
 * into rates. Counters are cumulative since Engine.create.
 */
import type { RawInfo, RawStats } from './native.js';

/** Per rx queue counters. */
export interface RxQueueStats {
  packets: number;
  bytes: number;
  /** Packets not received because the mempool was empty. */
  nombuf: number;
  /** Software RSS: dropped because this queue's ring was full (its lcore is behind). */
  ringFull: number;
}

/** Per tx queue counters (one tx queue per lcore). */
export interface TxQueueStats {
  packets: number;
  bytes: number;
  /** Dropped because the driver did not take them (its queue or wire was full). */
  full: number;
  /** Dropped by a stage because they were too short to parse. */
  malformed: number;
  /**
   * Dropped by echo because they were sent to a group (broadcast or multicast) destination MAC, such as an ARP
   * request: echoed, that address would become the reply's source, which must be an individual address.
   */
  groupDst: number;
}

/** Counters of one port. */
export interface PortStats {
  name: string;
  driver: string;
  linkUp: boolean;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /**
   * Drops by reason. `malformed`: too short to parse; `groupDst`: an echo port's frames to a broadcast or multicast
   * MAC (never echoed); `handlerRingFull`: the JS consumer fell behind; `handlerError`: bursts of a handler that threw;
   * `unmatched`: refused by a handler's match with no native path.
   */
  drops: { txFull: number; noMbuf: number; rssRingFull: number; malformed: number; groupDst: number; handlerRingFull: number; handlerError: number; unmatched: number };
  /** Sum of drops. */
  dropped: number;
  /** Driver-specific counters (pcap records read, write errors, ...). */
  xstats: Record<string, number>;
  /** Mbufs the driver holds right now (on a wire, on descriptors). */
  heldMbufs: number;
  queues: { rx: RxQueueStats[]; tx: TxQueueStats[] };
  /** The port's JS handler, when it has one. */
  handler?: HandlerStats;
}

/** Counters of a port's JS handler. */
export interface HandlerStats {
  mode: 'pipeline' | 'inline';
  /** Bursts and packets the handler was called with. */
  batches: number;
  packets: number;
  /** Handler calls that threw, or returned a promise (their bursts were dropped). */
  errors: number;
  /**
   * Of `errors`, those not emitted as `'error'` events: a worker sends at most one per 100 ms (a handler that throws
   * on every burst would flood the main thread), and says in the next event's `suppressed` how many it held back.
   */
  errorsUnreported: number;
  /** Verdicts applied. */
  replied: number;
  forwarded: number;
  dropped: number;
  /**
   * Mbufs that came back unusable (dropped): a verdict naming a port that does not exist, a packet that does not fit
   * its mbuf (a header rewritten past its room), or an index the handler did not hold (returned twice, or never given).
   */
  badVerdict: number;
  /** Pipeline mode: mbufs a consumer took and never gave back (a worker that died mid-burst), recovered at stop(). */
  unreturned: number;
  /** Pipeline mode: times a sleeping consumer was woken by the doorbell. */
  doorbells: number;
  /** Worker threads of this handler that exited before stop(). */
  workersExited: number;
}

/** Counters of one lcore. */
export interface LcoreStats {
  index: number;
  cpu: number;
  /** Share of loop time spent in polls that moved packets, since creation, 0..100. */
  busyPercent: number;
  packets: number;
  loops: number;
  /** Adaptive idle: times the lcore slept in short steps (nanosleep up to `maxSleepUs`). */
  sleeps: number;
  /**
   * Adaptive idle: true while the lcore runs with every queue it polls able to wake it (vfio MSI-X interrupts, af_xdp
   * and af_packet sockets), so it blocks until a packet arrives instead of sleeping in steps.
   */
  waitsOnFds: boolean;
  /** Adaptive idle: times the lcore blocked until a packet arrived (or `maxWaitUs` passed). */
  waits: number;
  /** Of `waits`: ended by a queue's wake-up (an interrupt: a packet arrived). */
  wakeups: number;
  /** Of `waits`: ended by `maxWaitUs` with no wake-up. */
  waitTimeouts: number;
  /** Busy cycles per packet moved (TSC cycles), 0 when idle. */
  cyclesPerPacket: number;
  tasks: number;
  /** The lcore thread's kernel id while it runs (0 when stopped or polling nothing): for top -H, ps -L, /proc/self/task/TID. */
  tid: number;
}

/** Where the mempool's mbufs are. `free + inUse.total === size` at every snapshot (modulo concurrent movement). */
export interface MempoolStats {
  size: number;
  hugepages: boolean;
  pageKind: '4K' | '2M' | '1G';
  /** Non-empty when the pool is not on hugepages or not locked: why, and what to run. */
  warning: string;
  free: { total: number; pool: number; caches: number };
  /** driver: on wires and descriptors; rings: software-RSS rings; js: handler channels; host: held by host neighbour tables while resolving; inFlight: in an lcore burst, a tx buffer or a handler. */
  inUse: { total: number; driver: number; rings: number; js: number; host: number; inFlight: number };
  allocFailures: number;
  /** Frees the full free ring could not take: only an mbuf freed twice makes one, so anything but 0 is a bug to report. */
  freeOverflows: number;
}

export interface EngineStats {
  /** Monotonic time of the snapshot, nanoseconds. */
  timeNs: number;
  tscHz: number;
  ports: Record<string, PortStats>;
  lcores: LcoreStats[];
  mempool: MempoolStats;
}

const sum = <T>(xs: T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);

/** @internal */
export function shapeStats(raw: RawStats, info: RawInfo, extra: (port: string) => { batches: number; packets: number; errors: number; errorDrops: number; errorsUnreported: number; workersExited: number } | undefined = () => undefined): EngineStats {
  const ports: Record<string, PortStats> = {};
  for (const p of raw.ports) {
    const rx = p.rx.map((q) => ({ packets: q.packets, bytes: q.bytes, nombuf: q.nombuf ?? 0, ringFull: q.ringFull ?? 0 }));
    const tx = p.tx.map((q) => ({ packets: q.packets, bytes: q.bytes, full: q.full ?? 0, malformed: q.malformed ?? 0, groupDst: q.groupDst ?? 0 }));
    const h = p.handler;
    const js = extra(p.name);
    const handler: HandlerStats | undefined = h.present
      ? {
          mode: h.inline ? 'inline' : 'pipeline',
          batches: h.batches + (js?.batches ?? 0),
          packets: h.packets + (js?.packets ?? 0),
          errors: h.errors + (js?.errors ?? 0),
          errorsUnreported: js?.errorsUnreported ?? 0,
          replied: h.replied,
          forwarded: h.forwarded,
          dropped: h.dropped,
          badVerdict: h.badVerdict,
          unreturned: h.unreturned ?? 0,
          doorbells: h.doorbells,
          workersExited: js?.workersExited ?? 0,
        }
      : undefined;
    const drops = {
      txFull: sum(tx, (q) => q.full),
      noMbuf: sum(rx, (q) => q.nombuf),
      rssRingFull: sum(rx, (q) => q.ringFull),
      malformed: sum(tx, (q) => q.malformed),
      groupDst: sum(tx, (q) => q.groupDst),
      handlerRingFull: h.toJsFull,
      handlerError: h.errorDrops + (js?.errorDrops ?? 0),
      unmatched: h.unmatched,
    };
    ports[p.name] = {
      name: p.name,
      driver: p.driver,
      linkUp: p.linkUp,
      rxPackets: sum(rx, (q) => q.packets),
      rxBytes: sum(rx, (q) => q.bytes),
      txPackets: sum(tx, (q) => q.packets),
      txBytes: sum(tx, (q) => q.bytes),
      drops,
      dropped: Object.values(drops).reduce((a, b) => a + b, 0),
      xstats: p.xstats,
      heldMbufs: p.heldMbufs,
      queues: { rx, tx },
      handler,
    };
  }
  const lcores = raw.lcores.map((l) => ({
    index: l.index,
    cpu: l.cpu,
    busyPercent: l.cycles ? (100 * l.busyCycles) / l.cycles : 0,
    packets: l.packets,
    loops: l.loops,
    sleeps: l.sleeps,
    // (?? : an addon built before these counters existed has none)
    waitsOnFds: l.waitsOnFds ?? false,
    waits: l.waits ?? 0,
    wakeups: l.wakeups ?? 0,
    waitTimeouts: l.waitTimeouts ?? 0,
    cyclesPerPacket: l.packets ? l.busyCycles / l.packets : 0,
    tasks: l.tasks,
    tid: l.tid ?? 0,
  }));
  const pool = raw.pool;
  const free = pool.freeRing + pool.freeCaches;
  return {
    timeNs: raw.timeNs,
    tscHz: raw.tscHz,
    ports,
    lcores,
    mempool: {
      size: pool.size,
      hugepages: info.mempool.hugepages,
      pageKind: info.mempool.pageKind,
      warning: info.mempool.warning,
      free: { total: free, pool: pool.freeRing, caches: pool.freeCaches },
      inUse: { total: pool.size - free, driver: pool.driver, rings: pool.rings, js: pool.js, host: pool.host ?? 0, inFlight: pool.inFlight },
      allocFailures: pool.allocFailures,
      freeOverflows: pool.freeOverflows ?? 0,
    },
  };
}

/** Rates of one port between two snapshots. */
export interface PortRates {
  rxMpps: number;
  txMpps: number;
  /** Transmit rate on the wire: frame bytes + 24 bytes of preamble, FCS and inter-frame gap per packet. */
  txGbps: number;
  rxGbps: number;
  dropsPerSecond: number;
}

/** Turns successive snapshots into per-port rates. */
export class RateMeter {
  private last: EngineStats | undefined;

  /** Rates since the previous call (empty on the first). */
  update(now: EngineStats): Record<string, PortRates> {
    const prev = this.last;
    this.last = now;
    const out: Record<string, PortRates> = {};
    if (!prev) return out;
    const dt = (now.timeNs - prev.timeNs) / 1e9;
    if (dt <= 0) return out;
    for (const [name, p] of Object.entries(now.ports)) {
      const q = prev.ports[name];
      if (!q) continue;
      const rxp = p.rxPackets - q.rxPackets;
      const txp = p.txPackets - q.txPackets;
      out[name] = {
        rxMpps: rxp / dt / 1e6,
        txMpps: txp / dt / 1e6,
        rxGbps: ((p.rxBytes - q.rxBytes + 24 * rxp) * 8) / dt / 1e9,
        txGbps: ((p.txBytes - q.txBytes + 24 * txp) * 8) / dt / 1e9,
        dropsPerSecond: (p.dropped - q.dropped) / dt,
      };
    }
    return out;
  }
}
