import { LinerateError, native } from './errors.js';
import { loadAddon, type HostInfo, type NativeEngineHandle, type RawInfo } from './native.js';
import {
  parseMac,
  resolveEngineOptions,
  validatePortOptions,
  type EngineOptions,
  type ForwardOptions,
  type PortOptions,
} from './options.js';
import { Port, type PortInfo } from './port.js';
import { shapeStats, type EngineStats } from './stats.js';

/** What an engine was set up with: memory, cores, ports. */
export interface EngineInfo {
  mempool: {
    /** true when the pool sits on hugepages. */
    hugepages: boolean;
    pageKind: '4K' | '2M' | '1G';
    /** How the memory was obtained ("MAP_HUGETLB 2MiB", "hugetlbfs /dev/hugepages", "4KiB anonymous"). */
    source: string;
    locked: boolean;
    /** Why the pool is not on (locked) hugepages, and what to run; empty when it is. */
    warning: string;
    bytes: number;
    mbufs: number;
    slotSize: number;
    headroom: number;
    dataRoom: number;
    mbufHeaderSize: number;
    mbufLayoutVersion: number;
  };
  /** CPUs of the lcores, in lcore order. */
  lcores: number[];
  tscHz: number;
  burst: number;
  ports: PortInfo[];
}

/** Lifecycle of an engine. */
export type EngineState = 'stopped' | 'running' | 'closed';

/**
 * A linerate engine: one mempool, ports, and lcores (pinned poll threads) that
 * move packets between them. Configure it (addPort, forward, echo), start it,
 * read stats while it runs, stop and close it.
 *
 * @example
 * ```ts
 * const engine = await Engine.create({ lcores: [1], mempool: { mbufs: 65536, hugepages: 'auto' } });
 * const a = engine.addPort('a', { driver: 'null', packetSize: 64 });
 * const b = engine.addPort('b', { driver: 'null' });
 * engine.forward(a, b, { mode: 'io' });
 * await engine.start();
 * console.log(engine.stats().ports.b.txPackets);
 * await engine.stop();
 * await engine.close();
 * ```
 */
export class Engine {
  private readonly ports = new Map<string, Port>();
  private _state: EngineState = 'stopped';
  private infoCache: RawInfo | undefined;

  private constructor(private readonly handle: NativeEngineHandle) {}

  /**
   * Creates an engine: validates the options, then allocates the mempool
   * (hugepages when available unless `hugepages: 'off'`). Nothing runs until start().
   * @throws LinerateError INVALID_OPTION, UNKNOWN_OPTION, CPU_UNAVAILABLE, HUGEPAGES_UNAVAILABLE, MEMORY_UNAVAILABLE, ADDON_LOAD
   */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const addon = loadAddon();
    const host = addon.hostInfo();
    const resolved = resolveEngineOptions(options, host.allowedCpus);
    const handle = native(() => new addon.NativeEngine(resolved.cpus, resolved.native));
    return new Engine(handle);
  }

  /** Facts about the host that matter to linerate: allowed CPUs, free hugepages, drivers. */
  static hostInfo(): HostInfo {
    return loadAddon().hostInfo();
  }

  /** 'stopped' after create and stop(), 'running' after start(), 'closed' after close(). */
  get state(): EngineState {
    return this._state;
  }

  /**
   * Adds a port. Drivers open here, so a missing file or a bad option fails now.
   * @throws LinerateError UNKNOWN_DRIVER, UNKNOWN_OPTION, INVALID_OPTION, WIRE_FULL, PCAP_*, FRAME_TOO_LARGE, ENGINE_RUNNING
   */
  addPort(name: string, options: PortOptions): Port {
    this.assertStopped('add a port');
    validatePortOptions(name, options, loadAddon().hostInfo().drivers);
    if (this.ports.has(name)) throw new LinerateError('INVALID_OPTION', `a port named '${name}' exists already`);
    const { driver, rxQueues, rss, ...driverOptions } = options;
    const id = native(() => this.handle.addPort(name, driver, driverOptions, rxQueues ?? 1, rss?.key, rss?.symmetric ?? false));
    const port = new Port(this, id, name, Object.freeze({ ...options }));
    this.ports.set(name, port);
    this.infoCache = undefined;
    return port;
  }

  /** The port with that name, if any. */
  port(name: string): Port | undefined {
    return this.ports.get(name);
  }

  /**
   * Forwards everything `from` receives out of `to`: unchanged (`mode: 'io'`),
   * or with MACs rewritten (`mode: 'mac'`, as DPDK's l2fwd). One consumer per port.
   * @throws LinerateError PORT_BUSY, INVALID_PORT, PORT_CLOSED, ENGINE_RUNNING
   */
  forward(from: Port, to: Port, options: ForwardOptions = {}): void {
    this.assertStopped('set up forwarding');
    this.own(from);
    this.own(to);
    const mode = options.mode ?? 'io';
    if (mode !== 'io' && mode !== 'mac') throw new LinerateError('INVALID_OPTION', `forward: mode must be 'io' or 'mac', got '${String(mode)}'`);
    const dst = options.dstMac !== undefined ? parseMac(options.dstMac, 'forward: dstMac') : Uint8Array.of(2, 0, 0, 0, 0, to.id & 0xff);
    native(() => this.handle.forward(from.id, to.id, mode, dst));
  }

  /**
   * Sends every packet the port receives back to its sender: Ethernet addresses
   * swapped, and for IPv4/IPv6 UDP the addresses and ports too (checksums stay valid).
   * @throws LinerateError PORT_BUSY, INVALID_PORT, PORT_CLOSED, ENGINE_RUNNING
   */
  echo(port: Port): void {
    this.assertStopped('set up echo');
    this.own(port);
    native(() => this.handle.echo(port.id));
  }

  /**
   * Starts the lcores: each polls its queues and runs bursts to completion.
   * @throws LinerateError CPU_UNAVAILABLE, ENGINE_RUNNING, ENGINE_CLOSED
   */
  async start(): Promise<void> {
    this.assertStopped('start');
    native(() => this.handle.start());
    this._state = 'running';
  }

  /**
   * Stops the lcores, waits for them, and returns every mbuf to the pool
   * (tx buffers, rings and driver queues are emptied). Stopping a stopped engine does nothing.
   */
  async stop(): Promise<void> {
    if (this._state === 'closed') throw new LinerateError('ENGINE_CLOSED', 'cannot stop: the engine is closed');
    if (this._state !== 'running') return;
    native(() => this.handle.stop());
    this._state = 'stopped';
  }

  /**
   * Stops if running, closes the ports (flushing output files) and releases the
   * mempool's memory. The engine and its ports cannot be used afterwards.
   * @throws LinerateError ENGINE_CLOSED when called twice
   */
  async close(): Promise<void> {
    if (this._state === 'closed') throw new LinerateError('ENGINE_CLOSED', 'the engine is closed already');
    this.infoCache ??= native(() => this.handle.info());
    native(() => this.handle.close());
    this._state = 'closed';
  }

  /** Counters of every port, lcore and the mempool. Cheap: read without locks from the lcores' counters. */
  stats(): EngineStats {
    this.assertOpen('read stats');
    return shapeStats(native(() => this.handle.stats()), this.rawInfo());
  }

  /** What was set up: memory kind (hugepages or not, and why), cores, ports and drivers. */
  info(): EngineInfo {
    this.assertOpen('read info');
    const raw = this.rawInfo();
    return { mempool: raw.mempool, lcores: raw.cpus, tscHz: raw.tscHz, burst: raw.burst, ports: raw.ports };
  }

  /**
   * Resolves when every polled port is a finite source that has run dry (a pcap
   * file read once, a null port with a count) and the packets it gave have left
   * the pipeline, or after `timeoutMs` (then resolves false).
   */
  async whenSourcesDone(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let lastMoved = -1;
    for (;;) {
      if (this._state !== 'running') return native(() => this.handle.sourcesDone());
      if (native(() => this.handle.sourcesDone())) {
        // Let the lcores drain what is in flight: wait until counters stop moving
        // and every mbuf is free or held by a driver (tx buffers flush within drainUs).
        const s = this.stats();
        const moved = Object.values(s.ports).reduce((a, p) => a + p.rxPackets + p.txPackets + p.dropped, 0);
        if (moved === lastMoved && s.mempool.inUse.inFlight === 0 && s.mempool.inUse.rings === 0) return true;
        lastMoved = moved;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  private rawInfo(): RawInfo {
    this.infoCache ??= native(() => this.handle.info());
    return this.infoCache;
  }

  private own(port: Port): void {
    if (!(port instanceof Port) || port.engine !== this || this.ports.get(port.name) !== port) {
      throw new LinerateError('INVALID_PORT', `port ${port instanceof Port ? `'${port.name}'` : String(port)} does not belong to this engine`);
    }
  }

  private assertOpen(what: string): void {
    if (this._state === 'closed') throw new LinerateError('ENGINE_CLOSED', `cannot ${what}: the engine is closed; create a new one with Engine.create()`);
  }

  private assertStopped(what: string): void {
    this.assertOpen(what);
    if (this._state === 'running') throw new LinerateError('ENGINE_RUNNING', `cannot ${what} while the engine runs; call engine.stop() first`);
  }
}
