/**
 * Setting up handler workers for Engine.handleInWorkers and Host.udpInWorkers:
 * checking what they are given (result counters, start data, CPUs) before
 * anything native is made, placing inline workers on CPUs, adding one worker
 * per rx queue, and the warning when inline workers share a CPU. Split out of
 * engine.ts, which keeps the engine's lifecycle.
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LinerateError } from '../errors.js';
import type { DatagramContext } from '../host/datagram-batch.js';
import type { PreparedWorkers } from '../host/host.js';
import { loadAddon } from '../native.js';
import { checkCpuList, describe } from '../option-check.js';
import type { Port } from '../port.js';
import type { EngineWarning } from '../watchdog.js';
import type { HandlerSet } from './handlers.js';
import { MAX_USER_COUNTERS } from './worker-api.js';

/** What workers get: result counters per worker, start data, and (inline) their CPUs. */
export interface WorkerOptions {
  counters: number;
  data: unknown;
  cpus: number[];
}

/** The handler module as a URL string: a URL, an absolute path, or a path from the working directory. */
export function moduleUrl(scope: string, mod: unknown): string {
  if (mod instanceof URL) return mod.href;
  if (typeof mod === 'string' && mod.length) return /^[a-z]+:/i.test(mod) ? mod : pathToFileURL(isAbsolute(mod) ? mod : resolve(mod)).href;
  throw new LinerateError('INVALID_OPTION', `${scope}: module must be a URL or a path to the handler module`);
}

/** Checks counters, data and cpus; inline workers without `cpus` get {@link freeCpusForInline}'s. */
export function checkWorkerOptions(
  scope: string,
  port: Port,
  mode: 'pipeline' | 'inline',
  options: { counters?: number; data?: unknown; cpus?: number[] },
  handlers: HandlerSet,
  lcores: number[],
): WorkerOptions {
  const queues = port.options.rxQueues ?? 1;
  const counters = options.counters ?? 16;
  if (!Number.isInteger(counters) || counters < 0 || counters > MAX_USER_COUNTERS) {
    throw new LinerateError('INVALID_OPTION', `${scope}: counters must be an integer from 0 to ${MAX_USER_COUNTERS}, got ${describe(counters)}`);
  }
  if (options.data !== undefined) {
    try {
      structuredClone(options.data);
    } catch (e) {
      throw new LinerateError('INVALID_OPTION', `${scope}: data must be structured-cloneable (plain objects, arrays, Maps, typed arrays; no functions): ${(e as Error).message}`);
    }
  }
  const allowed = loadAddon().hostInfo().allowedCpus;
  const given = options.cpus === undefined ? undefined : checkCpuList(scope, 'cpus', options.cpus, allowed);
  const cpus = mode === 'inline' ? (given ?? freeCpusForInline(handlers, lcores, allowed, queues)) : [];
  return { counters, data: options.data, cpus };
}

/**
 * Default CPUs for inline workers: the allowed CPUs that no lcore uses and no
 * inline worker of another port has been given, round-robin; then those no
 * lcore uses; only with none left, the lcores' (start() warns about sharing).
 */
export function freeCpusForInline(handlers: HandlerSet, lcores: number[], allowed: number[], queues: number): number[] {
  const notLcore = allowed.filter((c) => !lcores.includes(c));
  const taken = new Set(handlers.inlineCpus().map((w) => w.cpu));
  const untouched = notLcore.filter((c) => !taken.has(c));
  if (untouched.length >= queues) return untouched;
  if (notLcore.length) return [...untouched, ...notLcore.filter((c) => taken.has(c))];
  return lcores;
}

/** One worker per rx queue of `port`, for the handler named by `key` (a port's handler or a host socket's). */
export function addWorkerSet(
  handlers: HandlerSet,
  adaptive: boolean,
  port: Port,
  key: number,
  p: PreparedWorkers,
  coalesceUs: number,
  datagram?: DatagramContext,
): void {
  const queues = port.options.rxQueues ?? 1;
  handlers.addWorkers(
    port.name,
    coalesceUs,
    p.w.counters,
    Array.from({ length: queues }, (_, q) => ({
      port: port.id,
      portName: port.name,
      key,
      datagram,
      queue: q,
      mode: p.mode,
      module: p.url,
      exportName: p.exportName ?? 'default',
      cpu: p.mode === 'inline' ? p.w.cpus[q % p.w.cpus.length]! : -1,
      adaptive,
      data: p.w.data,
    })),
  );
}

/**
 * The CPU_SHARED warning when inline workers share a CPU with a running lcore
 * (index in `busyLcores`) or with each other; undefined when none do.
 */
export function sharedCpuWarning(handlers: HandlerSet, lcoreCpus: number[], busyLcores: number[]): Omit<EngineWarning, 'since'> | undefined {
  const lcores = lcoreCpus.map((c, i) => (busyLcores.includes(i) ? c : -1));
  const workers = handlers.inlineCpus();
  const lines: string[] = [];
  const shared = new Set<number>();
  for (const w of workers) {
    const l = lcores.indexOf(w.cpu);
    const others = workers.filter((o) => o.cpu === w.cpu && o !== w);
    if (l < 0 && others.length === 0) continue;
    shared.add(w.cpu);
    const withWhat = [l >= 0 ? `lcore ${l}` : '', ...others.map((o) => `the inline worker of port '${o.port}' queue ${o.queue}`)].filter(Boolean).join(' and ');
    lines.push(`the inline worker of port '${w.port}' queue ${w.queue} shares CPU ${w.cpu} with ${withWhat}`);
  }
  if (lines.length === 0) return undefined;
  return {
    code: 'CPU_SHARED',
    key: 'CPU_SHARED',
    cpus: [...shared],
    message:
      `${lines.join('; ')}. Threads that share a CPU each get part of it and wait for each other's time slices (latency in milliseconds). ` +
      `Give handleInWorkers({ cpus }) CPUs of their own, or use fewer lcores or queues (this process may use CPUs ${loadAddon().hostInfo().allowedCpus.join(',')}; see docs/tuning.md).`,
  };
}
