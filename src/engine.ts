import { EventEmitter } from 'node:events';
import { LinerateError, native } from './errors.js';
import type { Handler, SyncHandler } from './handler/run-handler.js';
import { HandlerSet, type ErrorSource } from './handler/handlers.js';
import { addWorkerSet, checkWorkerOptions, moduleUrl, sharedCpuWarning } from './handler/worker-setup.js';
import { Capture, type CaptureOptions } from './capture/capture.js';
import { loadAddon, type AttachedEngineHandle, type HostInfo, type NativeEngineHandle, type RawInfo } from './native.js';
import {
  parseMac,
  nativeDriverOptions,
  validateMatch,
  validateHandleOptions,
  checkPoolFits,
  resolveEngineOptions,
  validatePortOptions,
  type EngineOptions,
  type ForwardOptions,
  type ExceptionPathOptions,
  type HandleOptions,
  type HandleInWorkersOptions,
  type PortOptions,
} from './options.js';
import { Port, type PortInfo } from './port.js';
import { Host, type HostEngine, type PreparedWorkers } from './host/host.js';
import { resolveHostOptions, type HostOptions, type HostUdpWorkerOptions } from './host/options.js';
import type { DatagramContext } from './host/datagram-batch.js';
import { shapeStats, type EngineStats } from './stats.js';
import { Watchdog, resolveWarningOptions, type EngineWarning } from './watchdog.js';
import { registerCommand, type ControlServer, type ControlSource } from './control/server.js';
import { captureControlCommand } from './capture/control-command.js';
import { openControl } from './control/open.js';
import { defaultEngineName } from './control/dir.js';

/** Engines created in this process: the default name of the next. */
let engineCount = 0;

export type { EngineWarning, EngineWarningCode, WarningOptions } from './watchdog.js';

/** The mempool as set up: memory kind and layout (part of {@link EngineInfo}). */
export interface MempoolInfo {
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
}

/** What an engine was set up with: memory, cores, ports. */
export interface EngineInfo {
  mempool: MempoolInfo;
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
 * Events:
 * - `'error'` `(err, { port, queue, suppressed })`: a handler threw, or returned a promise (`HANDLER_ASYNC`, once per
 *   handler). Its burst was dropped and counted. `suppressed`: the worker's errors held back since its previous event
 *   (a worker sends at most one per 100 ms; all are counted in `stats().ports[p].handler.errorsUnreported`). Without a
 *   listener the first is printed to stderr and the engine goes on.
 * - `'warning'` `(warning: EngineWarning)`: a condition started (link down, nothing received, every packet dropped,
 *   mempool nearly empty, an lcore descheduled, a handler behind, a worker dead, inline workers sharing a CPU); see
 *   {@link EngineWarning} and docs/operations.md. Without a listener the first of each code is printed to stderr.
 * - `'warningCleared'` `(warning: EngineWarning)`: that condition ended (or the engine stopped).
 * - `'workerExit'` `({ port, queue, code })`: a handler worker ended before stop().
 * - `'workerMessage'` `(message, { port, queue })`: a worker module called `ctx.post(message)`.
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
export class Engine extends EventEmitter {
  private readonly ports = new Map<string, Port>();
  private _state: EngineState = 'stopped';
  private infoCache: RawInfo | undefined;
  private attachedHandle: AttachedEngineHandle | undefined;
  private warnedNoErrorListener = false;
  private closing: Promise<void> | undefined;
  private readonly handlers: HandlerSet;
  private readonly hosts = new Map<string, Host>();
  private readonly watchdog: Watchdog;
  private control: ControlServer<Engine> | undefined;
  /** The name tools show and the control socket carries: options.name, else the script's name (`l2fwd`, then `l2fwd-1`, ...). */
  readonly name: string;
  private readonly captures = new Set<Capture>();

  private constructor(
    private readonly nat: NativeEngineHandle,
    private readonly options: EngineOptions,
  ) {
    super();
    this.name = options.name ?? defaultEngineName(engineCount++);
    this.handlers = new HandlerSet(
      () => this.attached(),
      () => this.nat.id(),
      () => new Map([...this.ports.values()].map((p) => [p.name, p.id])),
      {
        error: (err, where) => this.handlerError(err, where),
        workerExit: (info) => {
          this.watchdog.workerDied(info);
          this.emit('workerExit', info);
        },
        workerMessage: (message, where) => this.emit('workerMessage', message, where),
      },
    );
    this.watchdog = new Watchdog(
      {
        stats: () => this.stats(),
        channelFills: () => this.handlers.channelFills(),
        inlineHeartbeats: () => this.handlers.inlineHeartbeats(),
        portOptions: (name) => this.ports.get(name)?.options,
        busyIdle: () => this.options.idle !== 'adaptive',
        emit: (event, w) => this.emit(event, w),
        observe: (event, w) => this.control?.observe(event, w),
        hasWarningListener: () => this.listenerCount('warning') > 0,
      },
      resolveWarningOptions(options.warnings),
    );
  }

  /**
   * Creates an engine: validates the options, then allocates the mempool
   * (hugepages when available unless `hugepages: 'off'`). Nothing runs until start().
   * @throws LinerateError INVALID_OPTION, UNKNOWN_OPTION, CPU_UNAVAILABLE, HUGEPAGES_UNAVAILABLE, MEMORY_UNAVAILABLE, ADDON_LOAD
   */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const addon = loadAddon();
    const host = addon.hostInfo();
    const resolved = resolveEngineOptions(options, host.allowedCpus);
    resolveWarningOptions(options.warnings);
    const handle = native(() => new addon.NativeEngine(resolved.cpus, resolved.native));
    return new Engine(handle, { ...options, lcores: resolved.cpus });
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
    const id = native(() => this.nat.addPort(name, driver, nativeDriverOptions(driverOptions), rxQueues ?? 1, rss?.key, rss?.symmetric ?? false));
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
    native(() => this.nat.forward(from.id, to.id, mode, dst));
    this.watchdog.polls(from.name);
  }

  /**
   * Sends every packet the port receives back to its sender: Ethernet addresses
   * swapped, and for IPv4/IPv6 UDP the addresses and ports too (checksums stay valid).
   * A frame to a broadcast or multicast MAC (an ARP request, say) is not echoed, as
   * its reply would carry that group address as its source: it is dropped and
   * counted in `stats().ports[name].drops.groupDst`. Runts count as `drops.malformed`.
   * @throws LinerateError PORT_BUSY, INVALID_PORT, PORT_CLOSED, ENGINE_RUNNING
   */
  echo(port: Port): void {
    this.assertStopped('set up echo');
    this.own(port);
    native(() => this.nat.echo(port.id));
    this.watchdog.polls(port.name);
  }

  /**
   * The exception path to the kernel. Packets `port` receives that its data path does not claim (ARP, ICMP, ICMPv6,
   * and with `match` everything that does not match it) are transmitted on `tap`, a `tap` port (the kernel receives
   * them as if on a NIC), and what the kernel sends on `tap` goes out of `port` unchanged. Give the TAP device the
   * port's MAC and the server's addresses, and the kernel answers ARP and ping while the data path stays in user
   * space. `tap` must have no other consumer. See docs/drivers/tap.md.
   * @throws LinerateError PORT_BUSY, INVALID_PORT, INVALID_OPTION, ENGINE_RUNNING
   */
  exceptionPath(port: Port, tap: Port, options: ExceptionPathOptions = {}): void {
    this.assertStopped('set up an exception path');
    this.own(port);
    this.own(tap);
    const keep = validateMatch(options.match);
    native(() => this.nat.exceptionPath(port.id, tap.id, keep));
    this.watchdog.polls(port.name);
  }

  /**
   * Starts the lcores: each polls its queues and runs bursts to completion.
   * @throws LinerateError CPU_UNAVAILABLE, ENGINE_RUNNING, ENGINE_CLOSED
   */
  async start(): Promise<void> {
    this.assertStopped('start');
    // Consumers attach (and handler workers load) before any packet flows.
    try {
      await this.handlers.beforeStart();
    } catch (e) {
      await this.handlers.beforeStop();
      await this.handlers.afterStop();
      throw e;
    }
    try {
      native(() => this.nat.start());
    } catch (e) {
      await this.handlers.beforeStop();
      await this.handlers.afterStop();
      throw e;
    }
    this._state = 'running';
    this.handlers.afterStart();
    // The socket first: it keeps the warnings the watchdog's first look raises.
    this.control = await openControl(this, this.controlSource(), this.options.control);
    this.watchdog.start();
    // Only lcores that run tasks take CPU time (one with none is not started).
    const shared = sharedCpuWarning(this.handlers, this.options.lcores ?? [], native(() => this.nat.stats()).lcores.filter((l) => l.tasks > 0).map((l) => l.index));
    if (shared) this.watchdog.raise(shared);
  }

  /**
   * Captures a port's traffic to pcapng (docs/operations.md, "Capture"): the
   * filter (a pcap-filter expression through the host's libpcap, or raw cBPF)
   * runs on the lcore, and only what it accepts is copied, through a bounded
   * ring, to the output. Needs a running engine; one capture per port at a time.
   * Costs nothing on the data path while no capture runs.
   * @throws LinerateError ENGINE_STOPPED, CAPTURE_BUSY, CAPTURE_FILTER_INVALID, CAPTURE_BPF_INVALID, LIBPCAP_MISSING, INVALID_OPTION
   */
  capture(port: Port, options: CaptureOptions = {}): Capture {
    this.own(port);
    this.assertOpen('capture');
    if (this._state !== 'running') {
      throw new LinerateError('ENGINE_STOPPED', `port '${port.name}': a capture needs a running engine; call engine.start() first`);
    }
    const c: Capture = new Capture(
      { nat: this.nat, portId: port.id, portName: port.name, driver: port.options.driver, rxQueues: port.options.rxQueues ?? 1, onEnd: () => this.captures.delete(c) },
      options,
    );
    this.captures.add(c);
    return c;
  }

  /**
   * Stops the lcores, waits for them, and returns every mbuf to the pool
   * (tx buffers, rings and driver queues are emptied). Stopping a stopped engine does nothing.
   */
  async stop(): Promise<void> {
    if (this._state === 'closed') throw new LinerateError('ENGINE_CLOSED', 'cannot stop: the engine is closed');
    if (this._state !== 'running') return;
    this.watchdog.stop(); // clears the active warnings, which subscribers still see
    // Captures end with the engine; their files get what was captured and the statistics block.
    await Promise.allSettled([...this.captures].map((c) => c.stop()));
    this.control?.close();
    this.control = undefined;
    // Handlers first: they give back what they hold, then the lcores stop and
    // the engine takes back every mbuf (including any a dead worker left).
    await this.handlers.beforeStop();
    native(() => this.nat.stop());
    this._state = 'stopped';
    await this.handlers.afterStop();
  }

  /**
   * Stops if running, closes the ports (flushing output files) and releases the
   * mempool's memory. The engine and its ports cannot be used afterwards.
   * Closing a closed engine does nothing (like stop(), and like Node's `destroy()`),
   * so cleanup code may call it without tracking whether it ran already.
   */
  close(): Promise<void> {
    // One close for every caller: a second close() while the first is stopping waits for it.
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this._state === 'closed') return;
    this.infoCache ??= native(() => this.nat.info());
    await this.stop();
    native(() => this.nat.close());
    this._state = 'closed';
  }

  /** Counters of every port, lcore and the mempool. Cheap: read without locks from the lcores' counters. */
  stats(): EngineStats {
    this.assertOpen('read stats');
    return shapeStats(native(() => this.nat.stats()), this.rawInfo(), (p) => this.handlers.counters(p));
  }

  /**
   * The warnings active now: conditions the watchdog found (or start() raised) that have not ended. Empty while
   * the engine is stopped. See {@link EngineWarning} and docs/operations.md.
   */
  warnings(): EngineWarning[] {
    return this.watchdog.list();
  }

  /**
   * Every host of this engine, by port name (for collectors such as linerate/metrics).
   * @internal
   */
  hostList(): Host[] {
    return [...this.hosts.values()];
  }

  /** What was set up: memory kind (hugepages or not, and why), cores, ports and drivers. */
  info(): EngineInfo {
    this.assertOpen('read info');
    const raw = this.rawInfo();
    return { mempool: raw.mempool, lcores: raw.cpus, tscHz: raw.tscHz, burst: raw.burst, ports: raw.ports };
  }

  /**
   * Runs `handler` on the main thread for the packets `port` receives that
   * match `options.match` (all of them without a match). The lcore polling the
   * port hands them over through a shared-memory ring, zero-copy; the handler
   * sets a verdict per packet (reply, forward, drop) and the lcore carries it out.
   * Packets that do not match take the port's native path (forward/echo), or
   * are dropped and counted when it has none. When idle the consumer sleeps
   * (no CPU) and the lcore wakes it when packets arrive.
   *
   * The handler must be synchronous (see {@link Handler}): one that returns a
   * promise does not compile here, and at run time has every burst dropped and
   * one `HANDLER_ASYNC` error emitted.
   * @throws LinerateError PORT_BUSY (one handler per port), INVALID_OPTION (also: a pool larger than a typed array
   *   can cover on this Node, 4 GiB on Node 20), ENGINE_RUNNING
   */
  handle<H extends Handler>(port: Port, options: HandleOptions, handler: SyncHandler<H>): void;
  handle<H extends Handler>(port: Port, handler: SyncHandler<H>): void;
  handle(port: Port, a: HandleOptions | Handler, b?: Handler): void {
    const options = typeof a === 'function' ? {} : a;
    const handler = typeof a === 'function' ? a : b;
    this.assertStopped('add a handler');
    this.own(port);
    if (typeof handler !== 'function') throw new LinerateError('INVALID_OPTION', `handle: the handler must be a function`);
    const match = validateMatch(options.match);
    const { ringSize, coalesceUs } = validateHandleOptions('handle', options);
    this.checkPoolFitsHandlers('handle');
    native(() => this.nat.handle(port.id, match, false, ringSize));
    this.watchdog.polls(port.name);
    this.handlers.addMain(port.id, port.name, port.options.rxQueues ?? 1, handler, coalesceUs);
  }

  /**
   * Runs a handler in worker threads, one per rx queue of the port (with RSS,
   * handlers scale over cores). `module` is an ES module: its default export
   * (or `export`) is the handler, the same `(batch) => void` as for handle();
   * it may export `init(data, ctx)` (run before the engine starts; may return
   * the handler) and `stop(ctx)` (run at stop). `data` reaches every worker;
   * results come back through `ctx.counters` ({@link Engine.workerCounters})
   * and `ctx.post()` (the `'workerMessage'` event). See docs/handlers.md, "Worker modules".
   *
   * - `mode: 'pipeline'` (default): lcores poll; each worker consumes its queue's ring.
   * - `mode: 'inline'`: no lcore polls the port; each worker pins itself to a CPU
   *   (`cpus`, else one no lcore uses) and calls rx/tx itself, one native call per burst each way.
   *
   * A worker that dies is reported ('workerExit'); its queue's packets are then
   * dropped and counted, and what it held returns to the pool at stop().
   * @throws LinerateError INVALID_OPTION, CPU_UNAVAILABLE (a `cpus` entry this process may not run on), PORT_BUSY, ENGINE_RUNNING
   */
  handleInWorkers(port: Port, options: HandleInWorkersOptions): void {
    this.assertStopped('add a handler');
    this.own(port);
    const mode = options.mode ?? 'pipeline';
    if (mode !== 'pipeline' && mode !== 'inline') throw new LinerateError('INVALID_OPTION', `handleInWorkers: mode must be 'pipeline' or 'inline'`);
    const url = moduleUrl('handleInWorkers', options.module);
    const match = validateMatch(options.match);
    const workers = checkWorkerOptions('handleInWorkers', port, mode, options, this.handlers, this.options.lcores ?? []);
    const { ringSize, coalesceUs } = validateHandleOptions('handleInWorkers', options);
    this.checkPoolFitsHandlers('handleInWorkers');
    native(() => this.nat.handle(port.id, match, mode === 'inline', ringSize));
    this.watchdog.polls(port.name);
    addWorkerSet(this.handlers, this.options.idle === 'adaptive', port, port.id, { url, mode, exportName: options.export, w: workers }, coalesceUs);
  }

  /**
   * Makes `port` a host: it owns the given IPv4/IPv6 addresses, answers ARP,
   * neighbour discovery and ping natively, and serves UDP sockets
   * ({@link Host.udp}, {@link Host.udpInWorkers}). The port needs no other
   * consumer; an exception path (a tap) gets what the host does not serve. See docs/host.md.
   * @throws LinerateError INVALID_OPTION, UNKNOWN_OPTION, PORT_BUSY, ENGINE_RUNNING
   */
  host(port: Port, options: HostOptions): Host {
    this.assertStopped('set up a host');
    this.own(port);
    if (this.hosts.has(port.name)) throw new LinerateError('PORT_BUSY', `port '${port.name}' is a host already; one host per port`);
    const cfg = resolveHostOptions(options);
    native(() => this.nat.host(port.id, cfg));
    this.watchdog.polls(port.name);
    const h = new Host(port, cfg, this.hostEngine());
    this.hosts.set(port.name, h);
    return h;
  }

  private hostEngine(): HostEngine {
    return {
      nat: this.nat,
      assertStopped: (what) => this.assertStopped(what),
      assertRunning: (what) => {
        this.assertOpen(what);
        if (this._state !== 'running') throw new LinerateError('ENGINE_STOPPED', `cannot ${what}: the engine is not running; call engine.start() first`);
      },
      slotSize: () => this.rawInfo().mempool.slotSize,
      ringOptions: (scope, o) => {
        this.checkPoolFitsHandlers(scope);
        return validateHandleOptions(scope, o);
      },
      addMain: (port, key, handler, coalesceUs) => this.handlers.addMain(port.id, port.name, port.options.rxQueues ?? 1, handler as Handler, coalesceUs, key),
      prepareWorkers: (port: Port, o: HostUdpWorkerOptions) => {
        const mode = o.mode ?? 'pipeline';
        return { url: moduleUrl('host.udpInWorkers', o.module), mode, exportName: o.export, w: checkWorkerOptions('host.udpInWorkers', port, mode, o, this.handlers, this.options.lcores ?? []) };
      },
      addWorkers: (port: Port, key: number, prepared: PreparedWorkers, datagram: DatagramContext, coalesceUs: number) => {
        addWorkerSet(this.handlers, this.options.idle === 'adaptive', port, key, prepared, coalesceUs, datagram);
      },
    };
  }

  /**
   * The result counters of a port's handler workers: one live Float64Array per
   * worker (rx queue order), the same shared memory the module writes as
   * `ctx.counters`. Read them while the engine runs or after it stopped; they
   * keep their values across stop and start. Empty for a port without workers.
   *
   * @example
   * ```ts
   * engine.handleInWorkers(port, { module: './counting-worker.js', counters: 1 });
   * await engine.start();
   * // ... later:
   * const answered = engine.workerCounters(port).reduce((sum, c) => sum + c[0], 0);
   * ```
   */
  workerCounters(port: Port): Float64Array[] {
    this.own(port);
    return this.handlers.userCounters(port.name);
  }

  /**
   * Transmits new packets on a port from the calling thread (copies them into
   * mbufs; serialised with other send() calls, not with the lcores, which use
   * their own tx queues). Returns how many were sent: fewer when the pool is
   * exhausted or the port's queue is full (counted in its tx stats).
   * @throws LinerateError ENGINE_STOPPED, FRAME_TOO_LARGE
   */
  send(port: Port, frames: Uint8Array[]): number {
    this.assertOpen('send');
    this.own(port);
    if (this._state !== 'running') throw new LinerateError('ENGINE_STOPPED', `cannot send on port '${port.name}': the engine is not running; call engine.start() first`);
    return native(() => this.nat.send(port.id, frames));
  }

  /**
   * Resolves when every polled port is a finite source that has run dry (a pcap
   * file read once, a null port with a count), or a ring port with nothing waiting
   * on its wire (a wire carries only what this engine's ports send, so it is done
   * when they are), and the packets they gave have left
   * the pipeline, or after `timeoutMs` (then resolves false). Whether they have
   * left takes two looks 5 ms apart, so a dry source is confirmed even with
   * `timeoutMs` 0 (a poll: false only when a source is still giving, or its
   * packets are still moving).
   */
  async whenSourcesDone(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let lastMoved = -1;
    for (;;) {
      if (this._state !== 'running') return native(() => this.nat.sourcesDone());
      let firstLook = false;
      if (native(() => this.nat.sourcesDone())) {
        // Let the lcores drain what is in flight: wait until counters stop moving
        // and every mbuf is free or held by a driver (tx buffers flush within drainUs).
        const s = this.stats();
        const moved = Object.values(s.ports).reduce((a, p) => a + p.rxPackets + p.txPackets + p.dropped, 0);
        // ...and nothing waits for a JS handler (a main thread or a worker that has not had its turn yet).
        if (moved === lastMoved && s.mempool.inUse.inFlight === 0 && s.mempool.inUse.rings === 0 && this.handlers.waiting() === 0) return true;
        firstLook = lastMoved === -1;
        lastMoved = moved;
      }
      // Past the deadline, still take the second look a dry source needs.
      if (Date.now() >= deadline && !firstLook) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** What the control socket (docs/control.md) reads: the same stats() and warnings() as the API. */
  private controlSource(): ControlSource {
    return {
      name: this.name,
      info: () => {
        const raw = this.rawInfo();
        return {
          state: this._state,
          lcores: raw.cpus.map((cpu, index) => ({ index, cpu })),
          ports: raw.ports.map((p) => ({ name: p.name, driver: p.driver, rxQueues: p.rxQueues, rss: p.rss, mtu: p.mtu, mac: p.mac })),
          drivers: [...new Set(raw.ports.map((p) => p.driver))],
          mempool: { mbufs: raw.mempool.mbufs, hugepages: raw.mempool.hugepages, pageKind: raw.mempool.pageKind },
        };
      },
      stats: () => this.stats(),
      channelFills: () => this.handlers.channelFills(),
      hosts: () => this.hostList().map((h) => ({ port: h.port.name, stats: h.stats() })),
      neighbors: () => this.hostList().map((h) => ({ port: h.port.name, entries: h.neighbors() })),
      warnings: () => this.warnings(),
    };
  }

  private checkPoolFitsHandlers(scope: string): void {
    const mp = this.rawInfo().mempool;
    checkPoolFits(scope, mp.mbufs * mp.slotSize, mp.slotSize);
  }

  private attached(): AttachedEngineHandle {
    this.attachedHandle ??= native(() => loadAddon().attach(this.nat.id()));
    return this.attachedHandle;
  }

  private handlerError(err: Error, where: ErrorSource): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', err, where);
    } else if (!this.warnedNoErrorListener) {
      // A data plane must not crash because one handler threw: without an
      // 'error' listener the first error is printed, and the rest are counted.
      this.warnedNoErrorListener = true;
      console.error(`linerate: a handler on port '${where.port}' queue ${where.queue} threw (its burst was dropped; add engine.on('error', ...) to see every error):`, err);
    }
  }

  /**
   * Changes driver options of a port while it may run (af_xdp: dropRules). Use {@link Port.setDropRules}.
   * @internal
   */
  setPortOptions(port: Port, options: Record<string, unknown>): void {
    this.assertOpen('change port options');
    this.own(port);
    native(() => this.nat.setPortOptions(port.id, options));
  }

  private rawInfo(): RawInfo {
    this.infoCache ??= native(() => this.nat.info());
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

// `linerate capture --engine`: a capture on a running engine, from another shell (src/capture/control-command.ts).
registerCommand<Engine>('capture', captureControlCommand);
