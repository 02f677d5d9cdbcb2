/**
 * The engine's control socket: a Unix stream socket that tools outside the process (`linerate ls`, `stats`, `top`,
 * `doctor --engine`) ask for info, stats and warnings. It runs on the main thread, unref'd (it never keeps the process
 * alive), and reads the same `stats()` snapshot the API reads, when asked: the lcores do nothing for it.
 * Protocol: src/control/protocol.ts and docs/control.md.
 * @module
 */
import { chmodSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { LinerateError } from '../errors.js';
import type { ChannelFill } from '../handler/handlers.js';
import type { HostStats, NeighborEntry } from '../host/host.js';
import type { EngineStats, LcoreStats } from '../stats.js';
import type { EngineWarning } from '../watchdog.js';
import {
  LineSplitter,
  MAX_CLIENTS,
  MAX_PENDING_REPLY_BYTES,
  MAX_QUEUED_REQUESTS,
  MAX_REQUEST_BYTES,
  PROTOCOL_VERSION,
  RECENT_WARNINGS,
  requestProblem,
  type ControlEvent,
  type ControlReply,
  type ControlRequest,
} from './protocol.js';

/** What an engine tells about itself (`info`). */
export interface ControlInfo {
  protocol: number;
  version: string;
  pid: number;
  name: string;
  /** The process: its title and script (process.argv[1]). */
  process: { title: string; script: string; node: string };
  state: string;
  /** When the engine last started (Date.now()). */
  startedAt: number;
  uptimeSeconds: number;
  lcores: { index: number; cpu: number }[];
  ports: { name: string; driver: string; rxQueues: number; rss: string; mtu: number; mac: string }[];
  drivers: string[];
  mempool: { mbufs: number; hugepages: boolean; pageKind: string };
  commands: string[];
  /** Control clients connected now (this one included). */
  clients: number;
}

/** An lcore as `stats` reports it: the engine's counters plus the CPU time its thread received. */
export interface ControlLcoreStats extends LcoreStats {
  /** CPU time the lcore thread has run in this start, ns: the first field of /proc/self/task/TID/schedstat (Documentation/scheduler/sched-stats.rst); absent when unreadable. */
  runNs?: number;
}

/** The `stats` reply: {@link EngineStats} and what only the engine's process can see. */
export interface ControlStats extends Omit<EngineStats, 'lcores'> {
  lcores: ControlLcoreStats[];
  /** Fill of every handler ring (lcore to JS), read from its shared-memory head and tail. */
  handlerRings: ChannelFill[];
  /** Host-layer counters, by port (docs/host.md). */
  hosts: Record<string, HostStats>;
  /** The warnings active now. */
  warnings: EngineWarning[];
}

/** What the server reads from its engine. @internal */
export interface ControlSource {
  name: string;
  info(): Omit<ControlInfo, 'protocol' | 'version' | 'pid' | 'name' | 'process' | 'commands' | 'clients' | 'startedAt' | 'uptimeSeconds'>;
  stats(): EngineStats;
  channelFills(): ChannelFill[];
  hosts(): { port: string; stats: HostStats }[];
  neighbors(): { port: string; entries: NeighborEntry[] }[];
  warnings(): EngineWarning[];
}

/** What a command handler gets besides its args. */
export interface ControlContext<E = unknown> {
  /** The engine the socket belongs to. */
  engine: E;
  /** Writes one line (an object, JSON-encoded) to the client: for commands that stream after their reply. false when the client is gone or too slow. */
  write(line: object): boolean;
  /** Runs fn when the client disconnects (or the engine stops). */
  onClose(fn: () => void): void;
  /**
   * Takes the connection over for a byte stream (a capture's pcapng for `linerate capture -w -`): once this command's
   * reply line is written, `then(socket)` is called and the connection is the command's: the engine reads no more
   * requests from it and writes nothing else. The command writes (minding `write()`'s result: backpressure is its job
   * now) and ends it. It counts as a client until closed; the engine's stop ends it. A command that throws is not
   * detached (its error reply is written and the connection stays a control connection).
   */
  detach(then: (socket: Socket) => void): void;
}

/** A control command: its result (JSON-serialisable) is the reply; a thrown LinerateError is an error reply with its code. */
export type ControlCommand<E = unknown> = (args: Record<string, unknown>, ctx: ControlContext<E>) => unknown;

const extraCommands = new Map<string, ControlCommand<never>>();

/**
 * Adds a command to every engine's control socket (those started from now on and those running). For modules such as
 * capture; names must not clash with the built-in ones.
 * @throws LinerateError INVALID_OPTION when the name is taken or not a plain word
 */
export function registerCommand<E = unknown>(name: string, fn: ControlCommand<E>): void {
  if (!/^[a-z][a-z0-9-]{0,31}$/.test(name) || BUILTIN.includes(name) || extraCommands.has(name)) {
    throw new LinerateError('INVALID_OPTION', `registerCommand: '${name}' is taken or not a lower-case word (taken: ${[...BUILTIN, ...extraCommands.keys()].join(', ')})`);
  }
  extraCommands.set(name, fn as ControlCommand<never>);
}

/** Removes a command added by {@link registerCommand}. */
export function unregisterCommand(name: string): void {
  extraCommands.delete(name);
}

const BUILTIN = ['commands', 'info', 'stats', 'handlers', 'warnings', 'neighbors', 'subscribe'];

let version: string | undefined;
function linerateVersion(): string {
  if (version !== undefined) return version;
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      const j = JSON.parse(readFileSync(new URL(p, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (j.name === 'linerate' && j.version) return (version = j.version);
    } catch {
      // the next layout (dist/src/control vs src/control)
    }
  }
  return (version = 'unknown');
}

/** CPU time thread `tid` has run, ns (schedstat's first field), or undefined when unreadable. */
function runNs(tid: number): number | undefined {
  try {
    const v = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Sockets of every server listening in this process, unlinked at process exit (kill -9 leaves them to `linerate ls`). */
const live = new Set<string>();
let exitHook = false;
function removeAtExit(path: string): void {
  live.add(path);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        unlinkSync(p);
      } catch {
        // gone already
      }
    }
  });
}

/** Whether a server in this process listens on `path`. @internal */
export function listening(path: string): boolean {
  return live.has(path);
}

interface Client {
  socket: Socket;
  closers: (() => void)[];
  subscribed: boolean;
  /** A command took the connection over (ControlContext.detach): no more lines either way. */
  detached: boolean;
  /** The taker, called once the reply is written. */
  afterReply?: (socket: Socket) => void;
}

/** One engine's control socket. @internal */
export class ControlServer<E = unknown> {
  private server: Server | undefined;
  private readonly clients = new Set<Client>();
  private readonly recent: { event: 'warning' | 'warningCleared'; at: number; warning: EngineWarning }[] = [];
  private startedAt = 0;

  constructor(
    private readonly engine: E,
    private readonly src: ControlSource,
    readonly path: string,
  ) {}

  /** Starts listening. A socket file left at the path (a dead process that had our pid) is replaced. */
  async listen(): Promise<void> {
    this.startedAt = Date.now();
    try {
      unlinkSync(this.path);
    } catch {
      // nothing there
    }
    const server = createServer({ allowHalfOpen: false }, (s) => this.accept(s));
    server.maxConnections = MAX_CLIENTS + 1; // one over, to say why (accept() refuses it politely)
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => {}); // a failed accept must not crash the application
    server.unref();
    // The directory is 0700 already; the socket itself answers only its owner too.
    chmodSync(this.path, 0o600);
    this.server = server;
    removeAtExit(this.path);
  }

  /** Stops listening, tells subscribers, disconnects every client and removes the socket file. */
  close(): void {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const c of this.clients) {
      if (c.subscribed) this.write(c, { event: 'stopped', data: {} } satisfies ControlEvent);
      c.socket.end();
      // A client that never closes its end is cut off after a second.
      setTimeout(() => c.socket.destroy(), 1000).unref();
      this.drop(c);
    }
    server.close();
    live.delete(this.path);
    try {
      unlinkSync(this.path);
    } catch {
      // removed by someone else
    }
  }

  /** A warning was raised or cleared: kept for `warnings`, and sent to subscribers. */
  observe(event: 'warning' | 'warningCleared', warning: EngineWarning): void {
    this.recent.push({ event, at: Date.now(), warning: { ...warning } });
    if (this.recent.length > RECENT_WARNINGS) this.recent.shift();
    for (const c of this.clients) if (c.subscribed) this.write(c, { event, data: warning } satisfies ControlEvent);
  }

  private accept(socket: Socket): void {
    socket.unref();
    socket.setEncoding('utf8');
    if (this.clients.size >= MAX_CLIENTS) {
      socket.end(JSON.stringify({ id: null, ok: false, error: { code: 'TOO_MANY_CLIENTS', message: `this engine serves ${MAX_CLIENTS} control clients at once; close one (linerate top, stats --watch) and retry` } }) + '\n');
      return;
    }
    const client: Client = { socket, closers: [], subscribed: false, detached: false };
    this.clients.add(client);
    const lines = new LineSplitter(MAX_REQUEST_BYTES);
    let queue = Promise.resolve();
    let waiting = 0;
    socket.on('data', (chunk: string) => {
      if (client.detached) return; // the command that took it over reads, if anything
      const got = lines.push(chunk);
      if (!got) {
        this.write(client, { id: null, ok: false, error: { code: 'BAD_REQUEST', message: `a request line is at most ${MAX_REQUEST_BYTES} bytes` } });
        socket.end();
        this.drop(client);
        return;
      }
      // One request at a time per client, answered in order. A client that sends faster than it is answered is
      // not read from (TCP-like backpressure through the socket buffer) until its backlog halves.
      for (const line of got) {
        waiting++;
        queue = queue
          .then(() => this.answer(client, line))
          .catch(() => {})
          .then(() => {
            if (--waiting <= MAX_QUEUED_REQUESTS / 2 && socket.isPaused()) socket.resume();
          });
      }
      if (waiting > MAX_QUEUED_REQUESTS) socket.pause();
    });
    socket.on('error', () => this.drop(client));
    socket.on('close', () => this.drop(client));
  }

  private drop(c: Client): void {
    if (!this.clients.delete(c)) return;
    for (const fn of c.closers.splice(0)) {
      try {
        fn();
      } catch {
        // a command's cleanup must not break the others
      }
    }
  }

  /** Writes one line; a client that lets more than MAX_PENDING_REPLY_BYTES pile up unread is cut off. */
  private write(c: Client, obj: object): boolean {
    if (c.socket.destroyed || !c.socket.writable) return false;
    if (c.socket.writableLength > MAX_PENDING_REPLY_BYTES) {
      c.socket.destroy();
      this.drop(c);
      return false;
    }
    return c.socket.write(JSON.stringify(obj) + '\n');
  }

  private async answer(c: Client, line: string): Promise<void> {
    // Lines that arrived before a takeover are not answered into the command's byte stream.
    if (!this.clients.has(c) || c.detached) return;
    let req: ControlRequest;
    try {
      req = JSON.parse(line) as ControlRequest;
    } catch {
      this.write(c, { id: null, ok: false, error: { code: 'BAD_REQUEST', message: 'a request is one line of JSON: {"id": 1, "cmd": "info"}' } } satisfies ControlReply);
      return;
    }
    const problem = requestProblem(req);
    const id = (req as { id?: number | string })?.id ?? null;
    if (problem) {
      this.write(c, { id, ok: false, error: { code: 'BAD_REQUEST', message: problem } } satisfies ControlReply);
      return;
    }
    try {
      const result = await this.run(c, req.cmd, req.args ?? {});
      this.write(c, { id, ok: true, result: result ?? null } satisfies ControlReply);
      const taker = c.afterReply;
      if (taker) {
        c.afterReply = undefined;
        c.detached = true;
        c.subscribed = false;
        taker(c.socket);
      }
    } catch (e) {
      c.afterReply = undefined;
      const err = e as { code?: unknown; message?: unknown };
      const code = typeof err?.code === 'string' ? err.code : 'COMMAND_FAILED';
      this.write(c, { id, ok: false, error: { code, message: String(err?.message ?? e) } } satisfies ControlReply);
    }
  }

  private run(c: Client, cmd: string, args: Record<string, unknown>): unknown {
    switch (cmd) {
      case 'commands':
        return this.commands();
      case 'info':
        return this.info();
      case 'stats':
        return this.stats();
      case 'warnings':
        return { active: this.src.warnings(), recent: this.recent };
      case 'handlers':
        return this.handlers();
      case 'neighbors': {
        // ip neigh: every host port's table, or the one named by args.port.
        const all = this.src.neighbors();
        if (args.port === undefined) return Object.fromEntries(all.map((h) => [h.port, h.entries]));
        const one = all.find((h) => h.port === args.port);
        if (!one) throw new LinerateError('INVALID_PORT', `no host on port ${JSON.stringify(args.port)}; hosts: ${all.map((h) => h.port).join(', ') || 'none'}`);
        return { [one.port]: one.entries };
      }
      case 'subscribe':
        c.subscribed = true;
        return { events: ['warning', 'warningCleared', 'stopped'], active: this.src.warnings() };
    }
    const fn = extraCommands.get(cmd) as ControlCommand<E> | undefined;
    if (!fn) throw new LinerateError('UNKNOWN_COMMAND', `unknown command '${cmd}'; this engine knows: ${this.commands().join(', ')}`);
    return fn(args, {
      engine: this.engine,
      write: (o) => !c.detached && !c.afterReply && this.write(c, o),
      onClose: (f) => c.closers.push(f),
      detach: (then) => {
        c.afterReply = then;
      },
    });
  }

  /**
   * The JS handlers: per port with one, its counters (bursts, packets, errors, workers that exited) and its
   * pipeline rings' fill per queue (a host socket's rings too, told apart by their key); per host, its sockets' counters.
   */
  private handlers(): { ports: Record<string, { handler: unknown; rings: ChannelFill[] }>; sockets: Record<string, unknown[]> } {
    let rings: ChannelFill[] = [];
    try {
      rings = this.src.channelFills();
    } catch {
      // no channels while stopped
    }
    const s = this.src.stats();
    const ports: Record<string, { handler: unknown; rings: ChannelFill[] }> = {};
    for (const [name, p] of Object.entries(s.ports)) {
      if (p.handler) ports[name] = { handler: p.handler, rings: rings.filter((r) => r.port === name) };
    }
    const sockets: Record<string, unknown[]> = {};
    for (const h of this.src.hosts()) sockets[h.port] = h.stats.sockets;
    return { ports, sockets };
  }

  private commands(): string[] {
    return [...BUILTIN, ...extraCommands.keys()];
  }

  private info(): ControlInfo {
    return {
      protocol: PROTOCOL_VERSION,
      version: linerateVersion(),
      pid: process.pid,
      name: this.src.name,
      process: { title: process.title, script: process.argv[1] ?? '', node: process.version },
      startedAt: this.startedAt,
      uptimeSeconds: (Date.now() - this.startedAt) / 1000,
      ...this.src.info(),
      commands: this.commands(),
      clients: this.clients.size,
    };
  }

  private stats(): ControlStats {
    const s = this.src.stats();
    const lcores = s.lcores.map((l) => {
      const ns = l.tid > 0 ? runNs(l.tid) : undefined;
      return ns === undefined ? { ...l } : { ...l, runNs: ns };
    });
    const hosts: Record<string, HostStats> = {};
    for (const h of this.src.hosts()) hosts[h.port] = h.stats;
    let handlerRings: ChannelFill[] = [];
    try {
      handlerRings = this.src.channelFills();
    } catch {
      // no channels while stopped
    }
    return { ...s, lcores, handlerRings, hosts, warnings: this.src.warnings() };
  }
}
