/**
 * Shared pieces of the examples: flag parsing, the live line, and a clean exit
 * that proves every mbuf went back to the pool.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Engine, LinerateError, RateMeter, type EngineOptions } from '../src/index.js';
import { stopSignals } from './stop-signals.js';

export interface CommonFlags {
  seconds: number;
  lcores: number[] | undefined;
  mbufs: number;
  hugepages: 'auto' | 'require' | 'off';
  idle: 'busy' | 'adaptive';
  /** --metrics [HOST:]PORT: serve Prometheus metrics on http://HOST:PORT/metrics (HOST defaults to 127.0.0.1). */
  metrics: string | undefined;
}

/** The usage line of the flags every example takes (appended to each example's own). */
export const COMMON_USAGE = `  --metrics [HOST:]PORT serves Prometheus metrics at http://HOST:PORT/metrics (HOST 127.0.0.1 unless given;
    [::1]:PORT for IPv6; PORT 0 picks a free one). Needs prom-client (npm install prom-client).`;

/** Parses flags common to all examples plus the example's own. */
export function parseFlags<T extends Record<string, { type: 'string' | 'boolean'; default?: string | boolean }>>(
  usage: string,
  own: T,
): { common: CommonFlags; values: Record<string, string | boolean | undefined> } {
  const options = {
    seconds: { type: 'string', default: '0' },
    lcores: { type: 'string' },
    mbufs: { type: 'string', default: '16384' },
    hugepages: { type: 'string', default: 'auto' },
    idle: { type: 'string', default: 'busy' },
    metrics: { type: 'string' },
    help: { type: 'boolean', default: false },
    ...own,
  } as const;
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ options, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const num = (k: string) => {
    const v = Number(values[k]);
    if (!Number.isFinite(v) || v < 0) {
      console.error(`--${k} must be a non-negative number\n\n${usage}`);
      process.exit(2);
    }
    return v;
  };
  if (typeof values.metrics === 'string') {
    try {
      metricsAddress(values.metrics);
    } catch (e) {
      console.error(`${(e as Error).message}\n\n${usage}`);
      process.exit(2);
    }
  }
  return {
    common: {
      seconds: num('seconds'),
      lcores: typeof values.lcores === 'string' ? values.lcores.split(',').map(Number) : undefined,
      mbufs: num('mbufs'),
      hugepages: values.hugepages as CommonFlags['hugepages'],
      idle: values.idle as CommonFlags['idle'],
      metrics: typeof values.metrics === 'string' ? values.metrics : undefined,
    },
    values,
  };
}

export function engineOptions(c: CommonFlags): EngineOptions {
  return { lcores: c.lcores, mempool: { mbufs: c.mbufs, hugepages: c.hugepages }, idle: c.idle };
}

const fmt = (x: number, d = 2) => x.toFixed(d);

/** Splits --metrics into host and port: `9464`, `0.0.0.0:9464`, `[::1]:9464`. */
export function metricsAddress(spec: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]:|([^:[\]]+):)?(\d+)$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`--metrics must be [HOST:]PORT (e.g. 127.0.0.1:9464 or [::1]:9464), got '${spec}'`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

/**
 * With `--metrics`, registers the engine's counters (linerate/metrics) and serves them at /metrics from a small HTTP
 * server on the main thread: read at scrape time, nothing runs between scrapes. Returns how to close it.
 */
export async function serveMetrics(engine: Engine, spec: string | undefined): Promise<() => Promise<void>> {
  if (spec === undefined) return async () => {};
  const { host, port } = metricsAddress(spec);
  const { collectMetrics } = await import('../src/metrics.js');
  // prom-client's global registry: the example has one engine (two would need a registry or prefix each).
  const { registry, unregister } = collectMetrics(engine);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(e)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const where = typeof bound === 'object' && bound ? (bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`) : spec;
  console.log(`metrics: http://${where}/metrics`);
  return async () => {
    unregister();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
}

/**
 * Runs the engine, printing one line per second per port, until `seconds` pass
 * (0 = until Ctrl-C) or every finite source is done. Then stops, closes, and
 * exits 0 if every mbuf is back in the pool.
 */
export async function runLive(engine: Engine, seconds: number, ports: string[], metrics?: string): Promise<never> {
  const info = engine.info();
  if (info.mempool.warning) console.log(`note: ${info.mempool.warning}`);
  console.log(`mempool: ${info.mempool.mbufs} mbufs on ${info.mempool.pageKind} pages (${info.mempool.source}); lcores on CPUs ${info.lcores.join(',')}`);
  const meter = new RateMeter();
  const stopped = stopSignals();
  const closeMetrics = await serveMetrics(engine, metrics);
  await engine.start();
  meter.update(engine.stats());
  const t0 = Date.now();
  let tick = 0;
  while (!stopped() && (seconds === 0 || Date.now() - t0 < seconds * 1000)) {
    await new Promise((r) => setTimeout(r, 1000));
    tick++;
    const s = engine.stats();
    const rates = meter.update(s);
    const parts = ports.map((p) => `${p} tx ${fmt(rates[p]?.txMpps ?? 0)} Mpps ${fmt(rates[p]?.txGbps ?? 0)} Gbit/s`);
    const drops = Object.values(s.ports).reduce((a, p) => a + p.dropped, 0);
    const busy = s.lcores.map((l) => `cpu${l.cpu} ${fmt(l.busyPercent, 0)}%`).join(' ');
    console.log(`[${tick}s] ${parts.join(' | ')} | drops ${drops} | busy ${busy}`);
    if (await engine.whenSourcesDone(0)) break;
  }
  await engine.stop();
  await closeMetrics();
  const s = engine.stats();
  for (const p of Object.values(s.ports)) {
    console.log(`${p.name}: rx ${p.rxPackets} tx ${p.txPackets} dropped ${p.dropped} ${JSON.stringify(p.drops)}`);
  }
  return closeAndExit(engine);
}

/** For a stopped engine: prints how many mbufs are back in the pool, closes the engine and exits, 1 if any are missing, else 0. */
export async function closeAndExit(engine: Engine): Promise<never> {
  const s = engine.stats();
  const missing = s.mempool.size - s.mempool.free.total;
  console.log(`mempool: ${s.mempool.free.total}/${s.mempool.size} mbufs back in the pool${missing ? ` (${missing} MISSING)` : ''}`);
  await engine.close();
  process.exit(missing ? 1 : 0);
}

/** Prints a LinerateError as its code and message (no stack) and exits 1. */
export function reportAndExit(e: unknown): never {
  if (e instanceof LinerateError) console.error(`error ${e.code}: ${e.message}`);
  else console.error(e);
  process.exit(1);
}
