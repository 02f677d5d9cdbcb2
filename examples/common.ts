/**
 * Shared pieces of the examples: flag parsing, the live line, and a clean exit
 * that proves every mbuf went back to the pool.
 */
import { parseArgs } from 'node:util';
import { Engine, LinerateError, RateMeter, type EngineOptions } from '../src/index.js';

export interface CommonFlags {
  seconds: number;
  lcores: number[] | undefined;
  mbufs: number;
  hugepages: 'auto' | 'require' | 'off';
  idle: 'busy' | 'adaptive';
}

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
  return {
    common: {
      seconds: num('seconds'),
      lcores: typeof values.lcores === 'string' ? values.lcores.split(',').map(Number) : undefined,
      mbufs: num('mbufs'),
      hugepages: values.hugepages as CommonFlags['hugepages'],
      idle: values.idle as CommonFlags['idle'],
    },
    values,
  };
}

export function engineOptions(c: CommonFlags): EngineOptions {
  return { lcores: c.lcores, mempool: { mbufs: c.mbufs, hugepages: c.hugepages }, idle: c.idle };
}

const fmt = (x: number, d = 2) => x.toFixed(d);

/**
 * Runs the engine, printing one line per second per port, until `seconds` pass
 * (0 = until Ctrl-C) or every finite source is done. Then stops, closes, and
 * exits 0 if every mbuf is back in the pool.
 */
export async function runLive(engine: Engine, seconds: number, ports: string[]): Promise<never> {
  const info = engine.info();
  if (info.mempool.warning) console.log(`note: ${info.mempool.warning}`);
  console.log(`mempool: ${info.mempool.mbufs} mbufs on ${info.mempool.pageKind} pages (${info.mempool.source}); lcores on CPUs ${info.lcores.join(',')}`);
  const meter = new RateMeter();
  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await engine.start();
  meter.update(engine.stats());
  const t0 = Date.now();
  let tick = 0;
  while (!stopping && (seconds === 0 || Date.now() - t0 < seconds * 1000)) {
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
  const s = engine.stats();
  for (const p of Object.values(s.ports)) {
    console.log(`${p.name}: rx ${p.rxPackets} tx ${p.txPackets} dropped ${p.dropped} ${JSON.stringify(p.drops)}`);
  }
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
