/**
 * A client of an engine's control socket, and the discovery the tools share: list the engines of this host (probing
 * each socket, removing those of dead processes) and pick one by pid or name.
 * @module
 */
import { unlinkSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { LinerateError } from '../errors.js';
import { controlDir, isSocket, listSockets, pidAlive, type SocketEntry } from './dir.js';
import { LineSplitter, type ControlEvent, type ControlReply } from './protocol.js';
import type { ControlInfo, ControlStats } from './server.js';

/** Longest reply line a client accepts (a stats reply of many ports and queues is far below it). */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** A connection to one engine's control socket. */
export class ControlClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly lines = new LineSplitter(MAX_REPLY_BYTES);
  private closedError: Error | undefined;
  /** Called with each event line of a `subscribe` stream. */
  onEvent: ((e: ControlEvent) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
    private readonly timeoutMs: number,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.data(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('the engine closed the connection')));
  }

  /**
   * Connects to the socket at `path`.
   * @throws LinerateError CONTROL_FAILED (the error's cause keeps the errno: ECONNREFUSED for a dead engine's socket)
   */
  static connect(path: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const s = connect(path);
      const t = setTimeout(() => {
        s.destroy();
        reject(new LinerateError('CONTROL_FAILED', `no answer from ${path} within ${timeoutMs} ms; is the engine's main thread blocked? (linerate ls)`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(t);
        s.removeAllListeners('error');
        resolve(new ControlClient(s, path, timeoutMs));
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(new LinerateError('CONTROL_FAILED', `cannot connect to ${path}: ${e.message} (linerate ls lists the running engines)`, { cause: e }));
      });
    });
  }

  /**
   * Sends one request and resolves with its result.
   * @throws LinerateError with the reply's code (UNKNOWN_COMMAND, ...), or CONTROL_FAILED when there is no answer
   */
  request<T = unknown>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(new LinerateError('CONTROL_FAILED', `${this.path}: ${this.closedError.message}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new LinerateError('CONTROL_FAILED', `'${cmd}' got no answer from ${this.path} within ${this.timeoutMs} ms; is the engine's main thread blocked?`));
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(t);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      this.socket.write(JSON.stringify({ id, cmd, ...(args ? { args } : {}) }) + '\n');
    });
  }

  info(): Promise<ControlInfo> {
    return this.request<ControlInfo>('info');
  }

  stats(): Promise<ControlStats> {
    return this.request<ControlStats>('stats');
  }

  close(): void {
    this.socket.destroy();
  }

  private data(chunk: string): void {
    const lines = this.lines.push(chunk);
    if (!lines) return this.fail(new Error(`a reply line longer than ${MAX_REPLY_BYTES} bytes`));
    for (const line of lines) {
      let msg: ControlReply | ControlEvent;
      try {
        msg = JSON.parse(line) as ControlReply | ControlEvent;
      } catch {
        continue; // not ours to crash on
      }
      if ('event' in msg) {
        const fn = this.onEvent;
        // One 'stopped' per stream: the connection closing afterwards says nothing new.
        if (msg.event === 'stopped') this.onEvent = undefined;
        fn?.(msg);
        continue;
      }
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) {
        // A reply to no request: the engine refused the connection (too many clients) or the line.
        if (!msg.ok) this.fail(new LinerateError('CONTROL_FAILED', `${msg.error.code}: ${msg.error.message}`));
        continue;
      }
      this.pending.delete(msg.id as number);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new LinerateError(msg.error.code as never, msg.error.message));
    }
  }

  private fail(e: Error): void {
    this.closedError ??= e;
    for (const p of this.pending.values()) p.reject(e instanceof LinerateError ? e : new LinerateError('CONTROL_FAILED', `${this.path}: ${e.message}`));
    this.pending.clear();
    this.onEvent?.({ event: 'stopped', data: { reason: e.message } });
    this.onEvent = undefined;
  }
}

/** Only sockets are ever removed: a file that merely has a socket's name is not ours to delete. */
/** A running engine found in the control directory. */
export interface RunningEngine extends SocketEntry {
  info: ControlInfo;
}

/**
 * The engines running on this host: every socket of the control directory that answers `info`. A socket whose
 * process is gone (kill -9, a crash) is removed; one that exists but does not answer is skipped.
 */
export async function listEngines(dir = controlDir(), timeoutMs = 2000): Promise<RunningEngine[]> {
  const out: RunningEngine[] = [];
  for (const entry of listSockets(dir)) {
    let c: ControlClient | undefined;
    try {
      c = await ControlClient.connect(entry.path, timeoutMs);
      out.push({ ...entry, info: await c.info() });
    } catch (e) {
      const errno = ((e as LinerateError).cause as NodeJS.ErrnoException | undefined)?.code;
      // Nobody listens and its process is gone: a stale socket. (A live pid that refuses is left alone: it may be
      // a socket being set up.)
      if ((errno === 'ECONNREFUSED' || errno === 'ENOENT') && !pidAlive(entry.pid) && isSocket(entry.path)) {
        try {
          unlinkSync(entry.path);
        } catch {
          // removed meanwhile
        }
      }
    } finally {
      c?.close();
    }
  }
  return out;
}

/**
 * The engine `which` names (a pid or a name), or the only one running when `which` is undefined.
 * @throws LinerateError ENGINE_NOT_FOUND, ENGINE_AMBIGUOUS (the message lists the engines)
 */
export async function findEngine(which: string | undefined, dir = controlDir()): Promise<RunningEngine> {
  const all = await listEngines(dir);
  const list = () => all.map((e) => `${e.pid} ${e.name}`).join(', ');
  if (which === undefined) {
    if (all.length === 1) return all[0]!;
    if (all.length === 0) throw new LinerateError('ENGINE_NOT_FOUND', `no linerate engine is running (control directory ${dir}); start one, or set LINERATE_CONTROL_DIR to where it listens`);
    throw new LinerateError('ENGINE_AMBIGUOUS', `${all.length} engines are running; name one by pid or name: ${list()}`);
  }
  // pid-name (the socket's name) picks one engine of a process that has several.
  const exact = all.filter((e) => `${e.pid}-${e.name}` === which);
  const byPid = /^\d+$/.test(which) ? all.filter((e) => e.pid === Number(which)) : [];
  const match = exact.length ? exact : byPid.length ? byPid : all.filter((e) => e.name === which);
  if (match.length === 1) return match[0]!;
  if (match.length === 0) throw new LinerateError('ENGINE_NOT_FOUND', `no running engine has pid or name '${which}'${all.length ? `; running: ${list()}` : ` (none runs; control directory ${dir})`}`);
  throw new LinerateError('ENGINE_AMBIGUOUS', `several engines are named '${which}'; name one as pid-name: ${match.map((e) => `${e.pid}-${e.name}`).join(', ')}`);
}
