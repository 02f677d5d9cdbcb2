/**
 * Where control sockets live and what they are called. One directory per user (the sockets answer only their owner:
 * directory 0700, socket 0600), one socket per running engine, named `<pid>-<name>.sock` so that `linerate ls` can
 * tell a live engine from one that died (kill -9 leaves its socket behind) without connecting first.
 * @module
 */
import { lstatSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LinerateError } from '../errors.js';

/** The environment variable that overrides the control directory (for tests, containers, several users' tools). */
export const CONTROL_DIR_ENV = 'LINERATE_CONTROL_DIR';

/** An engine name: what goes between the pid and `.sock`. */
export const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * The control directory: `$LINERATE_CONTROL_DIR`; else for root `/run/linerate`; else `$XDG_RUNTIME_DIR/linerate`
 * (the per-user runtime directory, XDG Base Directory Specification); else `<tmpdir>/linerate-<uid>`.
 * Root does not follow XDG_RUNTIME_DIR: a root login shell has one (/run/user/0) and a service started by systemd
 * does not, and `linerate ls` in the one must find the engines of the other.
 */
export function controlDir(env: NodeJS.ProcessEnv = process.env, uid = process.getuid?.() ?? -1): string {
  if (env[CONTROL_DIR_ENV]) return env[CONTROL_DIR_ENV]!;
  if (uid === 0) return '/run/linerate';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'linerate');
  return join(tmpdir(), `linerate-${uid}`);
}

/**
 * Creates the directory (0700) when missing, and refuses one that another user owns or others may write to: in a
 * shared /tmp, someone else could otherwise plant a socket where our tools would talk to it, or remove ours.
 * @throws LinerateError CONTROL_FAILED
 */
export function ensureControlDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new LinerateError('CONTROL_FAILED', `cannot create the control directory ${dir}: ${(e as Error).message}; set ${CONTROL_DIR_ENV} to a directory you own, or Engine.create({ control: false })`);
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new LinerateError('CONTROL_FAILED', `the control directory ${dir} is not a directory; remove it, or set ${CONTROL_DIR_ENV}`);
  if (uid !== undefined && st.uid !== uid) {
    throw new LinerateError('CONTROL_FAILED', `the control directory ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}); remove it, or set ${CONTROL_DIR_ENV} to a directory you own`);
  }
  // Never chmod a directory we did not make (LINERATE_CONTROL_DIR=/tmp would lock everyone else out): refuse it.
  if (st.mode & 0o022) {
    throw new LinerateError('CONTROL_FAILED', `others may write to the control directory ${dir} (mode ${(st.mode & 0o777).toString(8)}); chmod 700 ${dir}, or set ${CONTROL_DIR_ENV} to a directory only you can write`);
  }
}

/**
 * The name of an engine not given one: the process's script without directory and extension (`l2fwd` for
 * `node dist/examples/l2fwd.js`), its directory's for a `main` or `index` script (`dns` for dns/main.js), `node`
 * without a script; then `-<index>` for the second engine of the process and on.
 */
export function defaultEngineName(index: number, script = process.argv[1]): string {
  const parts = (script ?? '').split('/');
  let file = parts.pop()!.replace(/\.[cm]?[jt]s$/, '');
  // dns/main.js says more by its directory than by its file.
  if ((file === 'main' || file === 'index') && parts.length && parts[parts.length - 1]) file = parts[parts.length - 1]!;
  const base = file.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 48) || 'node';
  return index === 0 ? base : `${base}-${index}`;
}

/** The socket of engine `name` in process `pid`. */
export function socketName(pid: number, name: string): string {
  return `${pid}-${name}.sock`;
}

/** A socket found in the control directory. */
export interface SocketEntry {
  path: string;
  pid: number;
  name: string;
}

/** The `<pid>-<name>.sock` entries of `dir` (none when it does not exist). */
export function listSockets(dir: string): SocketEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: SocketEntry[] = [];
  for (const f of names.sort()) {
    const m = /^(\d+)-(.+)\.sock$/.exec(f);
    if (m && NAME_RE.test(m[2]!)) out.push({ path: join(dir, f), pid: Number(m[1]), name: m[2]! });
  }
  return out.sort((a, b) => a.pid - b.pid || a.name.localeCompare(b.name));
}

/** Whether `path` is a Unix socket (not a file or link someone put there under a socket's name). */
export function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Removes the sockets of processes that are gone (kill -9 or a crash leaves
 * them: exit handlers do not run), so a restarted service leaves no trace of
 * the one before. A live pid's socket is left alone, and so is anything that
 * is not a socket. Returns the paths removed.
 */
export function removeStaleSockets(dir: string): string[] {
  const removed: string[] = [];
  for (const entry of listSockets(dir)) {
    if (pidAlive(entry.pid) || !isSocket(entry.path)) continue;
    try {
      unlinkSync(entry.path);
      removed.push(entry.path);
    } catch {
      // removed meanwhile
    }
  }
  return removed;
}

/** Whether process `pid` exists (signal 0 checks without sending; EPERM means it exists but is another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Where an engine's control socket goes ({@link EngineOptions.control}). */
export interface ControlOptions {
  /** The directory (default: {@link controlDir}); the socket is `<dir>/<pid>-<name>.sock`. */
  dir?: string;
  /** The socket's full path, instead (then `linerate ls` finds it only when it is in the control directory). */
  path?: string;
}

/** Checks `control` and `name` of Engine.create. @internal */
export function checkControlOptions(control: unknown, name: unknown): void {
  if (name !== undefined && (typeof name !== 'string' || !NAME_RE.test(name))) {
    throw new LinerateError('INVALID_OPTION', `Engine.create: option 'name' must be 1 to 64 letters, digits, '.', '_' or '-' (it names the control socket), got ${JSON.stringify(name)}`);
  }
  if (control === undefined || control === false) return;
  if (control === null || typeof control !== 'object' || Array.isArray(control)) {
    throw new LinerateError('INVALID_OPTION', `Engine.create: option 'control' must be false or { dir } or { path }`);
  }
  for (const [k, v] of Object.entries(control)) {
    if (k !== 'dir' && k !== 'path') throw new LinerateError('UNKNOWN_OPTION', `control: option '${k}' is not known (known: dir, path)`);
    if (v !== undefined && (typeof v !== 'string' || v.length === 0)) throw new LinerateError('INVALID_OPTION', `control: option '${k}' must be a non-empty string`);
  }
  const c = control as ControlOptions;
  if (c.dir !== undefined && c.path !== undefined) throw new LinerateError('INVALID_OPTION', `control: give 'dir' or 'path', not both`);
  // sun_path holds 108 bytes including the terminating NUL (unix(7)).
  if (c.path !== undefined && Buffer.byteLength(c.path) > 107) throw new LinerateError('INVALID_OPTION', `control: 'path' is longer than the 107 bytes a Unix socket path may have: ${c.path}`);
}
