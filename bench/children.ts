/**
 * Child processes of a benchmark: a set that is killed on exit (process groups
 * too, for tools that fork), and the lines a child prints with a waiter for the
 * next one that matches.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The full path of a program on PATH, or undefined. */
export function onPath(bin: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(':')) if (d && existsSync(join(d, bin))) return join(d, bin);
  return undefined;
}

const children = new Set<ChildProcess>();
const groupLeaders = new WeakSet<ChildProcess>();

/**
 * Signals a child and, when it leads its own process group (spawned `detached`),
 * everything in that group: trafgen forks its sender, which outlives a signal to
 * the parent alone (found as leftover trafgen processes after a run).
 */
export function killChild(c: ChildProcess, sig: NodeJS.Signals = 'SIGKILL'): void {
  if (!c.pid) return;
  if (groupLeaders.has(c)) {
    try {
      process.kill(-c.pid, sig);
    } catch {
      /* the group is gone */
    }
    return;
  }
  if (c.exitCode === null && c.signalCode === null) {
    try {
      process.kill(c.pid, sig);
    } catch {
      /* gone */
    }
  }
}
/** Kills every tracked child (SIGKILL). */
export function killAll(): void {
  for (const c of children) killChild(c);
  children.clear();
}

/** Makes killChild signal this child's whole process group (it was spawned `detached`). */
export function markGroupLeader(c: ChildProcess): void {
  groupLeaders.add(c);
}

/** Adds a child to the set killAll() kills. */
export function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.on('exit', () => children.delete(c));
  return c;
}

/** Lines of a child's stdout+stderr, with a waiter for the next line matching a test. */
export class Lines {
  log: string[] = [];
  private waiters: { test: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  exited = false;
  constructor(readonly child: ChildProcess, private readonly onLine?: (l: string) => void) {
    for (const s of [child.stdout, child.stderr]) if (s) createInterface({ input: s }).on('line', (l) => this.push(l));
    child.on('exit', () => {
      this.exited = true;
      for (const w of this.waiters) w.resolve('');
      this.waiters = [];
    });
  }
  private push(l: string): void {
    this.log.push(l);
    if (this.log.length > 300) this.log.shift();
    this.onLine?.(l);
    this.waiters = this.waiters.filter((w) => {
      if (!w.test(l)) return true;
      w.resolve(l);
      return false;
    });
  }
  next(test: (l: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(`${what}: process exited: ${this.log.slice(-15).join('\n')}`));
      const t = setTimeout(() => reject(new Error(`${what}: timed out: ${this.log.slice(-15).join('\n')}`)), timeoutMs);
      this.waiters.push({
        test,
        resolve: (l) => {
          clearTimeout(t);
          if (l === '' && this.exited) reject(new Error(`${what}: process exited: ${this.log.slice(-15).join('\n')}`));
          else resolve(l);
        },
      });
    });
  }
}
