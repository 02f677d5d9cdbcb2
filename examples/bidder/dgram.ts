/**
 * The bidder behind Node `dgram`: the kernel's UDP path, one Buffer per
 * datagram, the same bidding code (bid.ts) and the same campaign loads and
 * budgets as the linerate server. The baseline bench/bidder compares with.
 *
 * One socket per worker thread when Node can share a port between sockets
 * (`reusePort`, SO_REUSEPORT: Node 22.12 / 23.1 and later, on Linux); before
 * that, one socket in one worker thread whatever --workers says.
 *
 *   node dist/examples/bidder/dgram.js --campaigns FILE [--listen 127.0.0.1] [--port 9000] [--workers 1] [--seconds 0] [--interval-ms 1000]
 */
import { isIPv6 } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { stopSignals } from '../stop-signals.js';
import { COUNTER_NAMES, C, COUNTERS } from './bid.js';
import { CampaignError } from './campaigns.js';
import { reloadOnSighup } from './reload-on-hup.js';
import { BidderServer, type BidderWorkerData } from './server.js';
import { statsLine, sumCounters } from './stats.js';

/** Whether this Node's dgram has `reusePort` (added in v23.1.0 and v22.12.0). */
export function dgramHasReusePort(v = process.versions.node): boolean {
  const [maj, min] = v.split('.').map(Number);
  return maj! > 23 || (maj === 23 && min! >= 1) || (maj === 22 && min! >= 12);
}

export interface DgramBidder {
  /** The UDP port bound (useful with port 0). */
  port: number;
  /** Threads actually serving (1 without reusePort). */
  threads: number;
  /** Each thread's counters (slots C), live. */
  counters: Float64Array[];
  close(): Promise<void>;
}

/** The compiled worker (next to this file; from dist/ when this runs as TypeScript, in tests). */
function workerUrl(): URL {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) return new URL('./dgram-worker.js', import.meta.url);
  return pathToFileURL(join(dirname(here), '..', '..', 'dist', 'examples', 'bidder', 'dgram-worker.js'));
}

/** Starts `workers` dgram bidder threads on `address`:`port`, serving `data` (BidderServer.workerData()). */
export async function startDgramBidder(data: BidderWorkerData, o: { address?: string; port?: number; workers?: number } = {}): Promise<DgramBidder> {
  const address = o.address ?? '127.0.0.1';
  const reusePort = dgramHasReusePort() && (o.workers ?? 1) > 1;
  const threads = reusePort ? (o.workers ?? 1) : 1;
  const started: { w: Worker; counters: Float64Array }[] = [];
  let port = o.port ?? 0;
  for (let i = 0; i < threads; i++) {
    const sab = new SharedArrayBuffer(8 * COUNTERS);
    const w = new Worker(workerUrl(), { workerData: { data, counters: sab, address, port, reusePort, family: isIPv6(address) ? 'udp6' : 'udp4' } });
    started.push({ w, counters: new Float64Array(sab) });
    const m = await new Promise<{ ready?: number; error?: string }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    }).catch((e: Error) => ({ error: e.message }) as { ready?: number; error?: string });
    if (m.error !== undefined || m.ready === undefined) {
      for (const s of started) await s.w.terminate();
      throw new Error(`dgram bidder: cannot serve on ${address}:${port}: ${m.error}`);
    }
    port = m.ready; // with port 0, the next sockets share the one the first got
  }
  for (const s of started) s.w.on('message', (m: { reloadFailed?: string; error?: string }) => (m.reloadFailed || m.error) && console.error(`dgram bidder: ${m.reloadFailed ?? m.error}`));
  return {
    port,
    threads,
    counters: started.map((s) => s.counters),
    async close() {
      await Promise.all(started.map((s) => new Promise<void>((r) => {
        s.w.once('message', () => r());
        s.w.postMessage({ close: true });
        setTimeout(r, 1000);
      })));
      await Promise.all(started.map((s) => s.w.terminate()));
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      campaigns: { type: 'string' },
      listen: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '9000' },
      workers: { type: 'string', default: '1' },
      seconds: { type: 'string', default: '0' },
      'interval-ms': { type: 'string', default: '1000' },
    },
  });
  if (!values.campaigns) {
    console.error('usage: dgram --campaigns FILE [--listen 127.0.0.1] [--port 9000] [--workers 1] [--seconds 0] [--interval-ms 1000]');
    process.exit(2);
  }
  let server: BidderServer;
  try {
    server = new BidderServer(values.campaigns);
  } catch (e) {
    console.error(e instanceof CampaignError ? `error ${e.code}: ${e.message}` : String(e));
    process.exit(1);
  }
  const d = await startDgramBidder(server.workerData(), { address: values.listen, port: Number(values.port), workers: Number(values.workers) });
  console.log(`bidder (dgram) on ${values.listen}:${d.port}, ${d.threads} thread(s)${d.threads < Number(values.workers) ? ' (this Node has no dgram reusePort: one socket)' : ''}: ${server.index.size} campaigns`);
  const stopped = stopSignals();
  reloadOnSighup(server);
  const t0 = Date.now();
  let last = { c: sumCounters(d.counters), at: t0 };
  const seconds = Number(values.seconds);
  const every = Math.max(10, Number(values['interval-ms']));
  while (!stopped() && (seconds === 0 || Date.now() - t0 < seconds * 1000)) {
    await new Promise((r) => setTimeout(r, Math.min(200, every)));
    const now = Date.now();
    if (now - last.at < every) continue;
    const c = sumCounters(d.counters);
    console.log(statsLine(Math.round((now - t0) / 1000), c, last.c, (now - last.at) / 1000)); // --interval-ms below 1000 repeats a second's label
    last = { c, at: now };
  }
  await d.close();
  const c = sumCounters(d.counters);
  console.log(`counters: ${JSON.stringify(Object.fromEntries(COUNTER_NAMES.map((n) => [n, c[C[n]]])))}`);
  process.exit(0);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
