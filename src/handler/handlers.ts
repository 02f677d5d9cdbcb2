/**
 * The engine's JS handlers: main-thread pipeline consumers and handler workers
 * (pipeline or inline), started with the engine and stopped with it.
 * @internal
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinerateError } from '../errors.js';
import type { AttachedEngineHandle } from '../native.js';
import { ChannelConsumer, type Handler } from './channel-consumer.js';
import type { WorkerInit } from './worker.js';

export interface HandlerEvents {
  error(err: Error, where: { port: string; queue: number }): void;
  workerExit(info: { port: string; queue: number; code: number }): void;
}

interface MainEntry {
  kind: 'main';
  port: number;
  /** Handler key for the native side: the port id, or a host socket's key (src/host/host.ts socketKey). */
  key: number;
  portName: string;
  queues: number;
  handler: Handler;
  consumers: ChannelConsumer[];
  /** HandleOptions.coalesceUs */
  coalesceUs: number;
}

interface WorkerEntry {
  kind: 'worker';
  portName: string;
  init: WorkerInit;
  /** HandleOptions.coalesceUs (pipeline mode) */
  coalesceUs: number;
  worker?: Worker;
  alive: boolean;
  exited: boolean;
  stopping: boolean;
}

/** Where the compiled worker entry is: next to this file, or in dist/ when running from TypeScript sources (tests). */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = join(dirname(here), 'worker.js');
  if (!here.endsWith('.ts') && existsSync(sibling)) return sibling;
  let dir = dirname(here);
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'dist', 'src', 'handler', 'worker.js');
    if (existsSync(candidate)) return candidate;
  }
  throw new LinerateError('ADDON_LOAD', 'cannot find the handler worker script (dist/src/handler/worker.js); build it with: npm run build:ts');
}

function once(worker: Worker, type: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    const onMsg = (m: { type: string }) => {
      if (m?.type === type) done(true);
    };
    const onExit = () => done(false);
    function done(ok: boolean) {
      clearTimeout(timer);
      worker.off('message', onMsg);
      worker.off('exit', onExit);
      resolve(ok);
    }
    worker.on('message', onMsg);
    worker.on('exit', onExit);
  });
}

export class HandlerSet {
  private readonly main: MainEntry[] = [];
  private readonly workers: WorkerEntry[] = [];
  /** Counters of workers that are gone, so stats stay cumulative. */
  private readonly retired = new Map<string, { batches: number; packets: number; errors: number; errorDrops: number; workersExited: number }>();

  constructor(
    private readonly attached: () => AttachedEngineHandle,
    private readonly engineId: () => number,
    private readonly portIds: () => Map<string, number>,
    private readonly events: HandlerEvents,
  ) {}

  addMain(port: number, portName: string, queues: number, handler: Handler, coalesceUs: number, key: number = port): void {
    this.main.push({ kind: 'main', port, key, portName, queues, handler, consumers: [], coalesceUs });
  }

  addWorkers(portName: string, coalesceUs: number, inits: Omit<WorkerInit, 'engineId' | 'portIds' | 'stop' | 'counters'>[]): void {
    for (const i of inits) {
      this.workers.push({
        kind: 'worker',
        portName,
        coalesceUs,
        alive: false,
        exited: false,
        stopping: false,
        init: { ...i, engineId: 0, portIds: [], stop: new SharedArrayBuffer(4), counters: new SharedArrayBuffer(8 * 4) },
      });
    }
  }

  /** Before the lcores start: attach consumers, start workers and wait until each is ready. */
  async beforeStart(): Promise<void> {
    const attached = this.attached();
    const pool = attached.poolBuffer();
    const info = attached.poolInfo();
    const ids = this.portIds();
    for (const m of this.main) {
      m.consumers = [];
      for (let q = 0; q < m.queues; q++) {
        const where = { port: m.portName, queue: q };
        attached.setCoalesce?.(m.key, q, m.coalesceUs * 1000);
        const c = new ChannelConsumer(attached.channelBuffer(m.key, q), pool, info, ids, m.handler, (e) => this.error(e, where));
        attached.setDoorbell(m.key, q, c.wake);
        m.consumers.push(c);
      }
    }
    for (const w of this.workers) if (w.init.mode === 'pipeline') attached.setCoalesce?.(w.init.key ?? w.init.port, w.init.queue, w.coalesceUs * 1000);
    const script = workerScript();
    await Promise.all(
      this.workers.map(async (w) => {
        w.init.engineId = this.engineId();
        w.init.portIds = [...ids];
        new Int32Array(w.init.stop)[0] = 0;
        const worker = new Worker(script, { workerData: w.init });
        w.worker = worker;
        w.exited = false;
        w.stopping = false;
        const where = { port: w.portName, queue: w.init.queue };
        worker.on('message', (m: { type: string; message?: string; stack?: string }) => {
          if (m.type === 'error' || m.type === 'fatal') {
            const err = new Error(m.message);
            if (m.stack) err.stack = m.stack;
            this.error(err, where);
          }
        });
        worker.on('error', (e) => this.error(e, where));
        worker.on('exit', (code) => {
          w.alive = false;
          w.exited = true;
          this.retire(w);
          if (!w.stopping) this.events.workerExit({ ...where, code });
        });
        const ready = await once(worker, 'ready', 30_000);
        if (!ready) {
          await worker.terminate();
          throw new LinerateError('HANDLER_FAILED', `the handler worker for port '${w.portName}' queue ${w.init.queue} did not start (see the 'error' event); module: ${w.init.module}`);
        }
        w.alive = true;
      }),
    );
    for (const m of this.main) for (const c of m.consumers) c.start();
  }

  /** After the lcores started: inline workers begin polling. */
  afterStart(): void {
    for (const w of this.workers) if (w.alive && w.init.mode === 'inline') w.worker!.postMessage({ type: 'go' });
  }

  /** Before the lcores stop: every consumer stops and gives back what it holds. */
  async beforeStop(): Promise<void> {
    for (const m of this.main) for (const c of m.consumers) c.stop();
    await Promise.all(
      this.workers.map(async (w) => {
        if (!w.worker || !w.alive) return;
        w.stopping = true;
        const stopped = once(w.worker, 'stopped', 2000);
        Atomics.store(new Int32Array(w.init.stop), 0, 1);
        Atomics.notify(new Int32Array(w.init.stop), 0);
        w.worker.postMessage({ type: 'stop' });
        // A worker stuck in a handler is terminated; the engine recovers what it held.
        if (!(await stopped)) await w.worker.terminate();
      }),
    );
  }

  /** After the lcores stopped and the engine took every mbuf back. */
  async afterStop(): Promise<void> {
    const attached = this.attached();
    for (const m of this.main) {
      for (let q = 0; q < m.queues; q++) attached.clearDoorbell(m.key, q);
    }
    for (const w of this.workers) {
      if (w.init.mode === 'pipeline') attached.clearDoorbell(w.init.key ?? w.init.port, w.init.queue);
      if (w.worker) {
        w.stopping = true;
        await w.worker.terminate();
        w.worker = undefined;
      }
    }
  }

  /** JS-side counters per port (inline workers count in shared memory). */
  counters(port: string): { batches: number; packets: number; errors: number; errorDrops: number; workersExited: number } | undefined {
    const r = this.retired.get(port);
    let any = !!r;
    const out = { batches: r?.batches ?? 0, packets: r?.packets ?? 0, errors: r?.errors ?? 0, errorDrops: r?.errorDrops ?? 0, workersExited: r?.workersExited ?? 0 };
    for (const w of this.workers) {
      if (w.portName !== port || w.init.mode !== 'inline' || w.exited) continue;
      any = true;
      const c = new Float64Array(w.init.counters);
      out.batches += c[0];
      out.packets += c[1];
      out.errors += c[2];
      out.errorDrops += c[3];
    }
    return any ? out : undefined;
  }

  private retire(w: WorkerEntry): void {
    const r = this.retired.get(w.portName) ?? { batches: 0, packets: 0, errors: 0, errorDrops: 0, workersExited: 0 };
    if (w.init.mode === 'inline') {
      const c = new Float64Array(w.init.counters);
      r.batches += c[0];
      r.packets += c[1];
      r.errors += c[2];
      r.errorDrops += c[3];
      c.fill(0);
    }
    if (!w.stopping) r.workersExited++;
    this.retired.set(w.portName, r);
  }

  private error(e: unknown, where: { port: string; queue: number }): void {
    this.events.error(e instanceof Error ? e : new Error(String(e)), where);
  }
}

