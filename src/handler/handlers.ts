/**
 * The engine's JS handlers: main-thread pipeline consumers and handler workers
 * (pipeline or inline), started with the engine and stopped with it.
 * @internal
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinerateError, type LinerateErrorCode } from '../errors.js';
import type { AttachedEngineHandle } from '../native.js';
import { CHANNEL, RING } from './layout.js';
import { ChannelConsumer } from './channel-consumer.js';
import type { Handler } from './run-handler.js';
import type { WorkerInit } from './worker.js';
import { WORKER_COUNTERS } from './worker-api.js';

/** How full one pipeline channel's to-JS ring is (the engine's watchdog reads it; src/watchdog.ts). */
export interface ChannelFill {
  port: string;
  queue: number;
  /** The handler's key: the port id, or a host socket's (src/host/host.ts socketKey). */
  key: number;
  /** Mbufs waiting for (or held by) the JS consumer, and the ring's capacity. */
  count: number;
  capacity: number;
}

/** Where an 'error' event comes from. `suppressed`: errors of that worker held back by its rate limit since its previous event. */
export interface ErrorSource {
  port: string;
  queue: number;
  suppressed?: number;
}

export interface HandlerEvents {
  error(err: Error, where: ErrorSource): void;
  workerExit(info: { port: string; queue: number; code: number }): void;
  workerMessage(message: unknown, where: { port: string; queue: number }): void;
}

/** JS-side counters of a port's handlers (added to the native ones in stats). */
export interface JsHandlerCounters {
  batches: number;
  packets: number;
  errors: number;
  errorDrops: number;
  errorsUnreported: number;
  workersExited: number;
}

interface WorkerMessage {
  type: string;
  message?: unknown;
  stack?: string;
  code?: string;
  suppressed?: number;
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
  /** The last 'fatal' message (why it did not start). */
  fatal?: string;
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
  private readonly retired = new Map<string, JsHandlerCounters>();
  /** One ArrayBuffer per channel in this thread, reused across starts (consumers and the watchdog share it). */
  private readonly channelBufs = new Map<string, ArrayBuffer>();

  constructor(
    private readonly attached: () => AttachedEngineHandle,
    private readonly engineId: () => number,
    private readonly portIds: () => Map<string, number>,
    private readonly events: HandlerEvents,
  ) {}

  addMain(port: number, portName: string, queues: number, handler: Handler, coalesceUs: number, key: number = port): void {
    this.main.push({ kind: 'main', port, key, portName, queues, handler, consumers: [], coalesceUs });
  }

  addWorkers(portName: string, coalesceUs: number, userCounters: number, inits: Omit<WorkerInit, 'engineId' | 'portIds' | 'stop' | 'counters' | 'userCounters'>[]): void {
    for (const i of inits) {
      this.workers.push({
        kind: 'worker',
        portName,
        coalesceUs,
        alive: false,
        exited: false,
        stopping: false,
        init: {
          ...i,
          engineId: 0,
          portIds: [],
          stop: new SharedArrayBuffer(4),
          counters: new SharedArrayBuffer(8 * WORKER_COUNTERS.SIZE),
          userCounters: new SharedArrayBuffer(8 * userCounters),
        },
      });
    }
  }

  /** The inline workers' CPUs, per port and queue (for the CPU-sharing check at start). */
  inlineCpus(): { port: string; queue: number; cpu: number }[] {
    return this.workers.filter((w) => w.init.mode === 'inline').map((w) => ({ port: w.portName, queue: w.init.queue, cpu: w.init.cpu }));
  }

  /** Each running inline worker's heartbeat: its poll loop turns so far (0 until its loop starts). */
  inlineHeartbeats(): { port: string; queue: number; polls: number }[] {
    return this.workers
      .filter((w) => w.init.mode === 'inline' && w.alive && !w.exited && !w.stopping)
      .map((w) => ({ port: w.portName, queue: w.init.queue, polls: new Float64Array(w.init.counters)[WORKER_COUNTERS.POLLS]! }));
  }

  /** Live views of the result counters of a port's workers, in queue order (WorkerContext.counters). */
  userCounters(port: string): Float64Array[] {
    return this.workers.filter((w) => w.portName === port).map((w) => new Float64Array(w.init.userCounters));
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
        const c = new ChannelConsumer(this.channelBuffer(m.key, q), pool, info, ids, m.handler, (e) => this.error(e, where));
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
        w.fatal = undefined;
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'user') {
            this.events.workerMessage(m.message, where);
          } else if (m.type === 'error' || m.type === 'fatal') {
            // The error crossed a thread as its parts: rebuild it, a LinerateError when it was one (HANDLER_ASYNC).
            const text = String(m.message);
            const err = m.code && /^[A-Z_]+$/.test(m.code) ? new LinerateError(m.code as LinerateErrorCode, text) : new Error(text);
            if (m.stack) err.stack = m.stack;
            if (m.type === 'fatal') w.fatal = text;
            this.error(err, { ...where, suppressed: m.suppressed ?? 0 });
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
          throw new LinerateError(
            'HANDLER_FAILED',
            `the handler worker for port '${w.portName}' queue ${w.init.queue} did not start: ${w.fatal ?? "see the 'error' event"}; module: ${w.init.module}`,
          );
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

  private channelBuffer(key: number, queue: number): ArrayBuffer {
    const id = `${key}/${queue}`;
    let b = this.channelBufs.get(id);
    if (!b) {
      b = this.attached().channelBuffer(key, queue);
      this.channelBufs.set(id, b);
    }
    return b;
  }

  /**
   * The fill of every pipeline channel's to-JS ring (main-thread handlers and pipeline workers; inline workers have
   * none): producer tail minus consumer tail, read from shared memory (native/core/ring.h; docs/memory-format.md),
   * so it costs the data path nothing.
   */
  channelFills(): ChannelFill[] {
    const out: ChannelFill[] = [];
    const one = (port: string, key: number, queue: number) => {
      const u32 = new Uint32Array(this.channelBuffer(key, queue));
      const ring = u32[CHANNEL.TO_JS_OFF / 4]! >>> 2;
      const count = (u32[ring + RING.PROD_TAIL / 4]! - u32[ring + RING.CONS_TAIL / 4]!) >>> 0;
      out.push({ port, queue, key, count, capacity: u32[ring + RING.CAPACITY / 4]! });
    };
    for (const m of this.main) for (let q = 0; q < m.queues; q++) one(m.portName, m.key, q);
    for (const w of this.workers) if (w.init.mode === 'pipeline') one(w.portName, w.init.key ?? w.init.port, w.init.queue);
    return out;
  }

  /**
   * Packets handed to JavaScript and not yet handled: what main-thread consumers
   * have waiting, and what waits in the to_js rings of pipeline workers (read from
   * the channel memory). whenSourcesDone() waits for 0. @internal
   */
  waiting(): number {
    let n = 0;
    for (const m of this.main) for (const c of m.consumers) n += c.waiting();
    const attached = this.attached();
    for (const w of this.workers) {
      if (w.init.mode !== 'pipeline' || !w.alive) continue;
      const u32 = new Uint32Array(attached.channelBuffer(w.init.key ?? w.init.port, w.init.queue));
      const ring = u32[CHANNEL.TO_JS_OFF / 4] / 4;
      n += (Atomics.load(u32, ring + RING.PROD_TAIL / 4) - Atomics.load(u32, ring + RING.CONS_TAIL / 4)) >>> 0;
    }
    return n;
  }

  /**
   * JS-side counters per port, from the workers' shared memory: inline workers count their bursts there (pipeline
   * channels count natively), and every worker counts the error reports its rate limit held back.
   */
  counters(port: string): JsHandlerCounters | undefined {
    const r = this.retired.get(port);
    let any = !!r;
    const out: JsHandlerCounters = { batches: 0, packets: 0, errors: 0, errorDrops: 0, errorsUnreported: 0, workersExited: 0, ...r };
    for (const w of this.workers) {
      if (w.portName !== port || w.exited) continue;
      any = true;
      HandlerSet.addWorkerCounters(out, w);
    }
    return any ? out : undefined;
  }

  private static addWorkerCounters(out: JsHandlerCounters, w: WorkerEntry): void {
    const c = new Float64Array(w.init.counters);
    if (w.init.mode === 'inline') {
      out.batches += c[0];
      out.packets += c[1];
      out.errors += c[2];
      out.errorDrops += c[3];
    }
    out.errorsUnreported += c[WORKER_COUNTERS.ERRORS_UNREPORTED];
  }

  private retire(w: WorkerEntry): void {
    const r = this.retired.get(w.portName) ?? { batches: 0, packets: 0, errors: 0, errorDrops: 0, errorsUnreported: 0, workersExited: 0 };
    HandlerSet.addWorkerCounters(r, w);
    new Float64Array(w.init.counters).fill(0);
    if (!w.stopping) r.workersExited++;
    this.retired.set(w.portName, r);
  }

  private error(e: unknown, where: ErrorSource): void {
    this.events.error(e instanceof Error ? e : new Error(String(e)), where);
  }
}

