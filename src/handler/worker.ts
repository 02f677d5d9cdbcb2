/**
 * Entry point of a handler worker (worker_threads). It attaches to the engine
 * by id, loads the user's module (its default export is the handler), and runs
 * a pipeline consumer or an inline loop until the engine stops it.
 *
 * Messages: to the parent {type:'ready'} | {type:'error', message, stack} |
 * {type:'stopped'}; from the parent {type:'go'} (inline: start polling) and
 * {type:'stop'} (pipeline; inline workers watch a shared stop flag).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadAddon } from '../native.js';
import { ChannelConsumer, WORKER_TURN_BURSTS, type Handler } from './channel-consumer.js';
import { InlineRunner, type NativeInlineQueue } from './inline-runner.js';
import { datagramHandler, type DatagramContext, type DatagramHandler } from '../host/datagram-batch.js';

/** @internal */
export interface WorkerInit {
  engineId: number;
  port: number;
  queue: number;
  mode: 'pipeline' | 'inline';
  module: string;
  exportName: string;
  cpu: number;
  adaptive: boolean;
  portIds: [string, number][];
  stop: SharedArrayBuffer; // Int32Array[1]
  counters: SharedArrayBuffer; // Float64Array[4]
  /** Handler key for the native side (a host socket's); the port id when absent. */
  key?: number;
  /** A host socket: the module exports a DatagramHandler. */
  datagram?: DatagramContext;
}

const init = workerData as WorkerInit;
const post = (m: unknown) => parentPort!.postMessage(m);

let lastErrorPost = 0;
let suppressed = 0;
function reportError(e: unknown): void {
  // At millions of packets per second a handler that always throws would flood
  // the parent: one message per 100 ms, with the count of the ones in between.
  const now = Date.now();
  if (now - lastErrorPost < 100) {
    suppressed++;
    return;
  }
  lastErrorPost = now;
  const err = e instanceof Error ? e : new Error(String(e));
  post({ type: 'error', message: err.message, stack: err.stack, suppressed });
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
  const mod = (await import(init.module)) as Record<string, unknown>;
  const exported = mod[init.exportName];
  if (typeof exported !== 'function') {
    throw new Error(`${init.module} has no ${init.exportName === 'default' ? 'default export' : `export '${init.exportName}'`} that is a function`);
  }
  const handler: Handler = init.datagram ? (datagramHandler(exported as DatagramHandler, init.datagram) as unknown as Handler) : (exported as Handler);
  const key = init.key ?? init.port;
  const attached = addon.attach(init.engineId);
  const pool = attached.poolBuffer();
  const info = attached.poolInfo();
  const portIds = new Map(init.portIds);
  const stop = new Int32Array(init.stop);
  const counters = new Float64Array(init.counters);

  if (init.mode === 'inline') {
    const runner = new InlineRunner(attached.inline(key, init.queue), pool, info, portIds, init.port, init.queue, handler, counters, reportError, init.datagram?.pollEmpty === true);
    parentPort!.once('message', (m: { type: string }) => {
      if (m.type !== 'go') return;
      addon.pinThread(init.cpu);
      runner.loop(info.burst, stop, init.adaptive);
      post({ type: 'stopped' });
    });
    post({ type: 'ready' });
    return;
  }

  const consumer = new ChannelConsumer(attached.channelBuffer(key, init.queue), pool, info, portIds, handler, reportError, WORKER_TURN_BURSTS);
  attached.setDoorbell(key, init.queue, consumer.wake);
  parentPort!.on('message', (m: { type: string }) => {
    if (m.type === 'stop') {
      consumer.stop();
      post({ type: 'stopped' });
      parentPort!.close();
    }
  });
  consumer.start();
  post({ type: 'ready' });
}

main().catch((e: unknown) => {
  const err = e instanceof Error ? e : new Error(String(e));
  post({ type: 'fatal', message: err.message, stack: err.stack });
  process.exit(1);
});
