/**
 * Entry point of a handler worker (worker_threads). It attaches to the engine
 * by id, loads the user's module, runs its init hook (which may return the
 * handler; else the default export, or `export`, is the handler), and runs a
 * pipeline consumer or an inline loop until the engine stops it; then the
 * module's stop hook. Module contract: docs/handlers.md, "Worker modules".
 *
 * Messages: to the parent {type:'ready'} | {type:'error'|'fatal', message, stack, code?, suppressed} |
 * {type:'user', message} | {type:'stopped'}; from the parent {type:'go'} (inline: start polling)
 * and {type:'stop'} (pipeline; inline workers watch a shared stop flag).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadAddon } from '../native.js';
import { ChannelConsumer, WORKER_TURN_BURSTS } from './channel-consumer.js';
import { InlineRunner, type NativeInlineQueue } from './inline-runner.js';
import type { Handler } from './run-handler.js';
import { WORKER_COUNTERS, type WorkerContext, type WorkerModule } from './worker-api.js';
import { datagramHandler, type DatagramContext, type DatagramHandler } from '../host/datagram-batch.js';

/** @internal */
export interface WorkerInit {
  engineId: number;
  port: number;
  portName: string;
  queue: number;
  mode: 'pipeline' | 'inline';
  module: string;
  exportName: string;
  cpu: number;
  adaptive: boolean;
  portIds: [string, number][];
  stop: SharedArrayBuffer; // Int32Array[1]
  counters: SharedArrayBuffer; // Float64Array[WORKER_COUNTERS.SIZE]
  /** HandleInWorkersOptions.data (structured-cloned with workerData). */
  data: unknown;
  /** The module's result counters (WorkerContext.counters). */
  userCounters: SharedArrayBuffer;
  /** Handler key for the native side (a host socket's); the port id when absent. */
  key?: number;
  /** A host socket: the module's handler is a DatagramHandler. */
  datagram?: DatagramContext;
}

const init = workerData as WorkerInit;
const post = (m: unknown) => parentPort!.postMessage(m);
const counters = new Float64Array(init.counters);

function describeError(e: unknown): { message: string; stack?: string; code?: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  return { message: err.message, stack: err.stack, code: typeof code === 'string' ? code : undefined };
}

let lastErrorPost = 0;
let suppressed = 0;
function reportError(e: unknown): void {
  // At millions of packets per second a handler that always throws would flood
  // the parent: one message per 100 ms, carrying the count of the ones held back
  // since the previous one; every one held back is also counted in shared memory
  // (stats: handler.errorsUnreported), so none goes unseen.
  const now = Date.now();
  if (now - lastErrorPost < 100) {
    suppressed++;
    counters[WORKER_COUNTERS.ERRORS_UNREPORTED]++;
    return;
  }
  lastErrorPost = now;
  post({ type: 'error', ...describeError(e), suppressed });
  suppressed = 0;
}

async function main(): Promise<void> {
  const addon = loadAddon() as unknown as {
    attach(id: number): {
      poolBuffer(): ArrayBuffer;
      poolInfo(): { slotSize: number; headroom: number; dataRoom: number; burst: number };
      channelBuffer(port: number, queue: number): ArrayBuffer;
      setDoorbell(port: number, queue: number, fn: () => void): void;
      inline(port: number, queue: number): NativeInlineQueue;
    };
    pinThread(cpu: number): void;
  };
  const mod = (await import(init.module)) as Record<string, unknown> & WorkerModule;
  const ctx: WorkerContext = Object.freeze({
    port: init.portName,
    queue: init.queue,
    mode: init.mode,
    data: init.data,
    counters: new Float64Array(init.userCounters),
    post: (message: unknown) => post({ type: 'user', message }),
  });
  let handler: unknown;
  if (typeof mod.init === 'function') handler = await mod.init(init.data, ctx);
  if (typeof handler !== 'function') handler = mod[init.exportName];
  if (typeof handler !== 'function') {
    const what = init.exportName === 'default' ? 'default export' : `export '${init.exportName}'`;
    throw new Error(`${init.module} has no ${what} that is a function${typeof mod.init === 'function' ? ', and its init() returned no handler' : ''}`);
  }
  if (init.datagram) handler = datagramHandler(handler as DatagramHandler, init.datagram);
  const key = init.key ?? init.port;
  const runStopHook = async () => {
    if (typeof mod.stop !== 'function') return;
    try {
      await mod.stop(ctx);
    } catch (e) {
      post({ type: 'error', ...describeError(e), suppressed: 0 });
    }
  };
  const attached = addon.attach(init.engineId);
  const pool = attached.poolBuffer();
  const info = attached.poolInfo();
  const portIds = new Map(init.portIds);
  const stop = new Int32Array(init.stop);

  if (init.mode === 'inline') {
    const runner = new InlineRunner(attached.inline(key, init.queue), pool, info, portIds, init.port, init.queue, handler as Handler, counters, reportError, init.datagram?.pollEmpty === true);
    // Pinned before 'ready': a CPU this thread may not use fails engine.start() (HANDLER_FAILED) instead of killing the queue later.
    addon.pinThread(init.cpu);
    parentPort!.once('message', (m: { type: string }) => {
      if (m.type !== 'go') return;
      runner.loop(info.burst, stop, init.adaptive);
      void runStopHook().then(() => post({ type: 'stopped' }));
    });
    post({ type: 'ready' });
    return;
  }

  const consumer = new ChannelConsumer(attached.channelBuffer(key, init.queue), pool, info, portIds, handler as Handler, reportError, WORKER_TURN_BURSTS);
  attached.setDoorbell(key, init.queue, consumer.wake);
  parentPort!.on('message', (m: { type: string }) => {
    if (m.type === 'stop') {
      consumer.stop();
      void runStopHook().then(() => {
        post({ type: 'stopped' });
        parentPort!.close();
      });
    }
  });
  consumer.start();
  post({ type: 'ready' });
}

main().catch((e: unknown) => {
  post({ type: 'fatal', ...describeError(e), suppressed: 0 });
  process.exit(1);
});
