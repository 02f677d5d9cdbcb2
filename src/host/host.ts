/**
 * Host and HostSocket: the TypeScript face of the host layer (docs/host.md).
 * A Host is a port that owns addresses; its UDP sockets run handlers over
 * bursts of datagrams, on the main thread or in workers, pipeline or inline.
 */
import { EventEmitter } from 'node:events';
import { LinerateError, native } from '../errors.js';
import type { Port } from '../port.js';
import { formatIp, parseIp } from './address.js';
import { datagramHandler, type DatagramContext, type DatagramHandler } from './datagram-batch.js';
import { checkPortCount, checkUdpPort, type HostUdpOptions, type HostUdpWorkerOptions, type NativeHostConfig } from './options.js';

/** Counters of a host (sums over every lcore and worker), by what happened. See docs/host.md for each. */
export interface HostCounters {
  arpRequestsIn: number; arpRepliesOut: number; arpRepliesIn: number; arpOther: number; arpBad: number;
  ndSolicitsIn: number; ndAdvertsOut: number; ndAdvertsIn: number; ndBad: number; ndOther: number;
  icmpEchoIn: number; icmpEchoOut: number; icmp6EchoIn: number; icmp6EchoOut: number; icmpOther: number; icmpBadCsum: number;
  ipBadHeader: number; ipBadCsum: number; ipBadLength: number; ipFragments: number; ipOptions: number; ipExtHeaders: number; ipOtherProto: number;
  notOurs: number; vlanMismatch: number; malformed: number;
  udpIn: number; udpBadCsum: number; udpBadLength: number; udpNoListener: number; icmpUnreachOut: number; udpRingFull: number;
  udpReplies: number; udpSends: number; udpBadSend: number; noRoute: number;
  toKernel: number; neighborMisses: number; probesOut: number; heldSent: number; announcesOut: number;
}

/** One socket's counters. */
export interface HostSocketStats {
  port: number;
  mode: 'pipeline' | 'inline';
  /** Datagrams delivered to the handler. */
  rx: number;
  replies: number;
  sends: number;
  /** Datagrams the handler dropped (or gave no verdict). */
  dropped: number;
  /** Delivered while the handler's ring was full: dropped (raise ringSize, or add workers). */
  ringFull: number;
  badVerdicts: number;
  /**
   * The handler's own counters, by family and label value, when the
   * application named them with {@link HostSocket.labelCounters}: e.g.
   * `{ dns_responses_total: { NOERROR: 10, NXDOMAIN: 2 } }`.
   */
  counters?: Record<string, Record<string, number>>;
}

/**
 * One family of a socket handler's counters ({@link HostSocket.labelCounters}):
 * a Prometheus-style name, its help text, the label its slots differ by, and
 * which slot of the counter array holds which label value.
 */
export interface SocketCounterFamily {
  /** Metric name, [a-zA-Z_:][a-zA-Z0-9_:]* (e.g. `dns_responses_total`). */
  name: string;
  help: string;
  /** The label name, [a-zA-Z_][a-zA-Z0-9_]* (e.g. `rcode`). */
  label: string;
  /** Label value to slot index into what `read()` returns. */
  slots: Record<string, number>;
}

/** {@link HostSocket.labelCounters}. */
export interface SocketCounterSpec {
  /**
   * Returns the handler's counters now: for udpInWorkers, usually the sum of
   * `engine.workerCounters(port)` (each worker's `ctx.counters`); for a
   * main-thread handler, its own array. Called at every stats() and scrape.
   */
  read: () => ArrayLike<number>;
  families: SocketCounterFamily[];
}

/** The neighbour table's counters. */
export interface HostNeighborStats {
  entries: number;
  /** Packets waiting for their next hop to resolve right now. */
  held: number;
  resolved: number;
  /** Packets dropped because their next hop did not resolve (hold queue full, no answer, table full). */
  holdDrops: number;
  expired: number;
  unreachable: number;
  tableFull: number;
  evicted: number;
  probes: number;
  refreshProbes: number;
}

/** {@link Host.stats}. */
export interface HostStats extends HostCounters {
  sockets: HostSocketStats[];
  neighbors: HostNeighborStats;
}

/** One entry of {@link Host.neighbors}. */
export interface NeighborEntry {
  ip: string;
  family: 4 | 6;
  mac: string;
  state: 'incomplete' | 'reachable' | 'stale' | 'failed' | 'static';
  /** Since the entry was last confirmed or changed. */
  ageMs: number;
  held: number;
  probes: number;
}

/** What a Host needs from its engine. @internal */
export interface HostEngine {
  nat: {
    hostUdp(port: number, udpPort: number, inline: boolean, ringSize: number): number;
    hostUdpAlias(port: number, socket: number, udpPort: number): void;
    hostStats(port: number): { counters: HostCounters; sockets: HostSocketStats[]; neighbors: HostNeighborStats };
    hostNeighbors(port: number): NeighborEntry[];
    hostSend(port: number, socket: number, payload: Uint8Array, address: Uint8Array, dstPort: number): boolean;
  };
  assertStopped(what: string): void;
  assertRunning(what: string): void;
  slotSize(): number;
  ringOptions(scope: string, o: HostUdpOptions): { ringSize: number; coalesceUs: number };
  addMain(port: Port, key: number, handler: (raw: never) => unknown, coalesceUs: number): void;
  /** Checks the worker options before anything native is made. */
  prepareWorkers(port: Port, options: HostUdpWorkerOptions): PreparedWorkers;
  addWorkers(port: Port, key: number, prepared: PreparedWorkers, datagram: DatagramContext, coalesceUs: number): void;
}

/** Worker options, checked. @internal */
export interface PreparedWorkers {
  url: string;
  mode: 'pipeline' | 'inline';
  exportName: string | undefined;
  w: { counters: number; data: unknown; cpus: number[] };
}

/** A handler key: names a socket's channels to the native side (native/pipeline/engine.h). @internal */
export function socketKey(port: number, socket: number): number {
  return port + (socket + 1) * 65536;
}

/**
 * A UDP socket of a {@link Host}. With a handler, bursts of datagrams go to it
 * (the fast path). Without one, each datagram is emitted as a
 * `'message'` event `(msg: Buffer, rinfo: { address, family, port, size })`,
 * the way `dgram` does: one Buffer and one object per datagram, so a slow path
 * for low rates and tools.
 */
export class HostSocket extends EventEmitter {
  /** @internal */
  constructor(
    private readonly host: Host,
    /** The socket's index in its host. */
    readonly index: number,
    /** The UDP port it serves. */
    readonly port: number,
    readonly mode: 'pipeline' | 'inline',
    private readonly engine: HostEngine,
  ) {
    super();
  }

  private counterSpec: SocketCounterSpec | undefined;

  /**
   * Names the handler's own counters so that {@link Host.stats} (as
   * `sockets[i].counters`) and linerate/metrics (one metric per family, labels
   * `port`, `udp_port` and the family's label) show them. The host layer cannot
   * see what a handler counts; the application says where it is and what each
   * slot means. Call it before collectMetrics() for the families to be registered.
   * @throws LinerateError INVALID_OPTION (a bad name, label or slot)
   */
  labelCounters(spec: SocketCounterSpec): void {
    if (typeof spec?.read !== 'function' || !Array.isArray(spec.families)) throw new LinerateError('INVALID_OPTION', 'labelCounters: give { read: () => counters, families: [...] }');
    for (const f of spec.families) {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(String(f?.name))) throw new LinerateError('INVALID_OPTION', `labelCounters: family name must match [a-zA-Z_:][a-zA-Z0-9_:]*, got ${String(f?.name)}`);
      if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(String(f.label)) || f.label === 'port' || f.label === 'udp_port') {
        throw new LinerateError('INVALID_OPTION', `labelCounters: ${f.name}: label must match [a-zA-Z_][a-zA-Z0-9_]* and not be port or udp_port, got ${String(f.label)}`);
      }
      for (const [k, v] of Object.entries(f.slots ?? {})) {
        if (!Number.isInteger(v) || v < 0) throw new LinerateError('INVALID_OPTION', `labelCounters: ${f.name}: slot of ${k} must be a whole number, got ${String(v)}`);
      }
    }
    this.counterSpec = { read: spec.read, families: spec.families.map((f) => ({ ...f, slots: { ...f.slots } })) };
  }

  /** The families given to labelCounters (none by default). */
  counterFamilies(): readonly SocketCounterFamily[] {
    return this.counterSpec?.families ?? [];
  }

  /** The labelled counters now, or undefined without labelCounters. @internal */
  readLabelled(): Record<string, Record<string, number>> | undefined {
    const spec = this.counterSpec;
    if (!spec) return undefined;
    const c = spec.read();
    const out: Record<string, Record<string, number>> = {};
    for (const f of spec.families) {
      const m: Record<string, number> = {};
      for (const [k, i] of Object.entries(f.slots)) m[k] = Number(c[i] ?? 0);
      out[f.name] = m;
    }
    return out;
  }

  /**
   * Sends one datagram from this socket to `address`:`port`, from any thread's
   * control path (copies the payload; not for millions per second: a handler's
   * batch.alloc()/sendTo() is). Returns false when it could not be queued: no
   * free mbuf, no route, or the next hop's hold queue is full (counted in
   * host.stats()). The first datagram to a new peer waits (held) while the host
   * resolves it.
   * @throws LinerateError ENGINE_STOPPED, INVALID_OPTION (bad address, a family the host has no address of), FRAME_TOO_LARGE
   */
  send(payload: Uint8Array | string, port: number, address: string): boolean {
    this.engine.assertRunning('send');
    checkUdpPort(port, 'send');
    const dst = parseIp(address, 'send: address');
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    return native(() => this.engine.nat.hostSend(this.host.port.id, this.index, bytes, dst.bytes, port));
  }

  /** This socket's counters. */
  stats(): HostSocketStats {
    return this.host.stats().sockets[this.index];
  }
}

/**
 * A port that owns IPv4/IPv6 addresses (created by {@link Engine.host}). It
 * answers ARP, neighbour discovery and ping natively and serves UDP sockets.
 */
export class Host {
  private readonly sockets: HostSocket[] = [];

  /** @internal */
  constructor(
    /** The port this host sits on. */
    readonly port: Port,
    private readonly cfg: NativeHostConfig,
    private readonly engine: HostEngine,
  ) {}

  /** The gateway of a family (HostOptions.gateway4 / gateway6), as text, or undefined. */
  gateway(family: 4 | 6): string | undefined {
    const g = family === 4 ? this.cfg.gateway4 : this.cfg.gateway6;
    return g ? formatIp(g, 0, family) : undefined;
  }

  /** 'linerate' or 'kernel' (HostOptions.owner). */
  get owner(): 'linerate' | 'kernel' {
    return this.cfg.owner;
  }

  /**
   * A UDP socket on `options.port`, its handler on the main thread: it gets
   * bursts of datagrams (a {@link DatagramBatch}) and answers with
   * batch.reply(i, length) or batch.sendTo(...). Without a handler the socket
   * emits dgram-like 'message' events (allocates per datagram).
   * @throws LinerateError INVALID_OPTION, PORT_BUSY (the port has a socket already), ENGINE_RUNNING
   */
  udp(options: HostUdpOptions, handler?: DatagramHandler): HostSocket {
    this.engine.assertStopped('add a UDP socket');
    const port = checkUdpPort(options?.port, 'host.udp');
    const count = checkPortCount(port, options.ports, 'host.udp');
    if (handler !== undefined && typeof handler !== 'function') throw new LinerateError('INVALID_OPTION', 'host.udp: the handler must be a function');
    const { ringSize, coalesceUs } = this.engine.ringOptions('host.udp', options);
    const index = native(() => this.engine.nat.hostUdp(this.port.id, port, false, ringSize));
    this.alias(index, port, count);
    const sock = new HostSocket(this, index, port, 'pipeline', this.engine);
    const ctx = this.context(index, port);
    const h = handler ?? messageHandler(sock);
    this.engine.addMain(this.port, socketKey(this.port.id, index), datagramHandler(h, ctx) as (raw: never) => unknown, coalesceUs);
    this.sockets.push(sock);
    return sock;
  }

  /**
   * A UDP socket whose handler runs in worker threads, one per rx queue of the
   * port: `module`'s default export (or `export`) is the {@link DatagramHandler}.
   * `mode: 'inline'` workers poll their queues themselves (then this must be the
   * host's only socket).
   * @throws LinerateError INVALID_OPTION, PORT_BUSY, ENGINE_RUNNING
   */
  udpInWorkers(options: HostUdpWorkerOptions): HostSocket {
    this.engine.assertStopped('add a UDP socket');
    const port = checkUdpPort(options?.port, 'host.udpInWorkers');
    const count = checkPortCount(port, options.ports, 'host.udpInWorkers');
    const mode = options.mode ?? 'pipeline';
    if (mode !== 'pipeline' && mode !== 'inline') throw new LinerateError('INVALID_OPTION', `host.udpInWorkers: mode must be 'pipeline' or 'inline'`);
    const { ringSize, coalesceUs } = this.engine.ringOptions('host.udpInWorkers', options);
    if (options.pollEmpty !== undefined && typeof options.pollEmpty !== 'boolean') throw new LinerateError('INVALID_OPTION', 'host.udpInWorkers: pollEmpty must be a boolean');
    if (options.pollEmpty && mode !== 'inline') throw new LinerateError('INVALID_OPTION', "host.udpInWorkers: pollEmpty needs mode 'inline'");
    const prepared = this.engine.prepareWorkers(this.port, options);
    const index = native(() => this.engine.nat.hostUdp(this.port.id, port, mode === 'inline', ringSize));
    this.alias(index, port, count);
    const sock = new HostSocket(this, index, port, mode, this.engine);
    const ctx = this.context(index, port);
    if (options.pollEmpty) ctx.pollEmpty = true;
    this.engine.addWorkers(this.port, socketKey(this.port.id, index), prepared, ctx, coalesceUs);
    this.sockets.push(sock);
    return sock;
  }

  /** Counters: ARP/ND/ICMP in and out, drops by reason, per socket, and the neighbour table's. */
  stats(): HostStats {
    const s = native(() => this.engine.nat.hostStats(this.port.id));
    const sockets = s.sockets.map((x, i) => {
      const labelled = this.sockets.find((k) => k.index === i)?.readLabelled();
      return labelled ? { ...x, counters: labelled } : x;
    });
    return { ...s.counters, sockets, neighbors: s.neighbors };
  }

  /** The UDP sockets made so far, in the order made. */
  socketList(): readonly HostSocket[] {
    return this.sockets;
  }

  /** The neighbour table: every entry with its state and age. */
  neighbors(): NeighborEntry[] {
    return native(() => this.engine.nat.hostNeighbors(this.port.id));
  }

  private alias(socket: number, first: number, count: number): void {
    for (let p = first + 1; p < first + count; p++) native(() => this.engine.nat.hostUdpAlias(this.port.id, socket, p));
  }

  private context(socket: number, localPort: number): DatagramContext {
    return {
      slotSize: this.engine.slotSize(),
      socket,
      localPort,
      l3: this.cfg.vlan ? 18 : 14,
      defaultFamily: this.cfg.ipv4 ? 4 : 6,
      families: { 4: !!this.cfg.ipv4, 6: !!this.cfg.ipv6 },
    };
  }
}

/** The dgram-shaped slow path: every datagram as a Buffer and an rinfo object. */
function messageHandler(sock: HostSocket): DatagramHandler {
  return (b) => {
    if (sock.listenerCount('message') === 0) return;
    for (let i = 0; i < b.count; i++) {
      const off = b.payloadOffset(i), len = b.payloadLength(i);
      const msg = Buffer.from(b.bytes.subarray(off, off + len));
      sock.emit('message', msg, { address: b.srcAddress(i), family: b.family(i) === 4 ? 'IPv4' : 'IPv6', port: b.srcPort(i), size: len });
    }
  };
}
