/**
 * `linerate gen`: the load generator (src/gen/, docs/gen.md) from the command
 * line. One port becomes a host with the given address; requests go to --to at
 * --rate for --seconds (or --count); a line per second and a report at the end,
 * as text or JSON lines.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Engine } from '../engine.js';
import { LinerateError } from '../errors.js';
import { createGenerator, type GeneratorInterval, type GeneratorReport } from '../gen/generator.js';
import type { HostOptions } from '../host/options.js';
import type { PortOptions } from '../options.js';

export const GEN_USAGE = `usage: linerate gen --driver af_xdp|af_packet|vfio [--interface IF] [--netns NS] [--pci ADDR]
                    --ipv4 A/LEN | --ipv6 A/LEN [--gateway4 A] [--gateway6 A] --to ADDR:PORT
                    [--rate 1M|250k|max] [--seconds 10] [--count N] [--payload FILE | --template echo] [--size 64]
                    [--stamp-offset 0] [--flows 1] [--src-port 40000] [--burst 32] [--late-ms 1000] [--drain-ms 200]
                    [--cpu N] [--mbufs 16384] [--hugepages auto|require|off] [--consume] [--json]
  Sends UDP requests to --to from a port that owns --ipv4/--ipv6 (it answers ARP/ND itself and
  resolves the server), at --rate requests/s ('max': as fast as it can) for --seconds or --count,
  over --flows source ports. Each request carries a 16-byte stamp at --stamp-offset of the payload
  (the server must send those bytes back, as an echo does). Prints sent, received, lost, late,
  reordered and latency percentiles every second and at the end (--json: one JSON object a line).
  --template echo: --size bytes of a fixed pattern (the default); --payload FILE: the file's bytes.
  --cpu: the CPU the generator's worker spins on (default: the last one this process may use).`;

/** '1M' -> 1e6, '250k' -> 250000, 'max' -> 0. */
export function parseRate(text: string): number {
  if (text === 'max' || text === '0') return 0;
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(text);
  if (!m) throw new LinerateError('INVALID_OPTION', `--rate must be a number with an optional k/M/G suffix, or 'max', got '${text}'`);
  const mult = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6, g: 1e9, G: 1e9 }[m[2]!]!;
  return Math.round(Number(m[1]) * mult);
}

const lat = (l: GeneratorReport['latency']) => `p50 ${l.p50Us} p90 ${l.p90Us} p99 ${l.p99Us} p99.9 ${l.p999Us} max ${l.maxUs} µs`;

export async function genCommand(argv: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args: argv,
      options: {
        driver: { type: 'string' }, interface: { type: 'string' }, netns: { type: 'string' }, pci: { type: 'string' }, consume: { type: 'boolean', default: false },
        ipv4: { type: 'string' }, ipv6: { type: 'string' }, gateway4: { type: 'string' }, gateway6: { type: 'string' },
        to: { type: 'string' }, rate: { type: 'string', default: 'max' }, seconds: { type: 'string' }, count: { type: 'string' },
        payload: { type: 'string' }, template: { type: 'string' }, size: { type: 'string', default: '64' }, 'stamp-offset': { type: 'string', default: '0' },
        flows: { type: 'string', default: '1' }, 'src-port': { type: 'string', default: '40000' }, burst: { type: 'string', default: '32' },
        'late-ms': { type: 'string', default: '1000' }, 'drain-ms': { type: 'string', default: '200' },
        cpu: { type: 'string' }, mbufs: { type: 'string', default: '16384' }, hugepages: { type: 'string', default: 'auto' },
        json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
      },
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${GEN_USAGE}`);
    return 2;
  }
  if (v.help) {
    console.log(GEN_USAGE);
    return 0;
  }
  const bad = (msg: string) => {
    console.error(`${msg}\n\n${GEN_USAGE}`);
    return 2;
  };
  const num = (k: string) => Number(v[k]);
  if (!v.to) return bad('--to ADDR:PORT is required');
  if (!v.ipv4 && !v.ipv6) return bad('give the generator an address: --ipv4 A/LEN or --ipv6 A/LEN');
  if (v.payload && v.template) return bad('--payload and --template exclude each other');
  if (v.template && v.template !== 'echo') return bad(`--template: only 'echo' is known, got '${String(v.template)}'`);
  const driver = String(v.driver ?? '');
  let port: PortOptions;
  const ns = v.netns ? { netns: String(v.netns) } : {};
  switch (driver) {
    case 'af_xdp':
      if (!v.interface) return bad('--driver af_xdp needs --interface');
      port = { driver, interface: String(v.interface), ...ns };
      break;
    case 'af_packet':
      if (!v.interface) return bad('--driver af_packet needs --interface');
      port = { driver, interface: String(v.interface), consume: Boolean(v.consume), ...ns };
      break;
    case 'vfio':
      if (!v.pci) return bad('--driver vfio needs --pci');
      port = { driver, pci: String(v.pci) };
      break;
    default:
      return bad(`--driver must be af_xdp, af_packet or vfio, got '${driver}'`);
  }
  const seconds = v.seconds !== undefined ? num('seconds') : v.count !== undefined ? 0 : 10;
  const count = v.count !== undefined ? num('count') : 0;
  if (!(seconds >= 0) || !(count >= 0)) return bad('--seconds and --count must be non-negative numbers');
  const cpus = Engine.hostInfo().allowedCpus;
  const cpu = v.cpu !== undefined ? num('cpu') : cpus[cpus.length - 1]!;
  const hostOpts: HostOptions = {};
  for (const k of ['ipv4', 'ipv6', 'gateway4', 'gateway6'] as const) if (v[k]) hostOpts[k] = String(v[k]);

  let engine: Engine | undefined;
  try {
    const rate = parseRate(String(v.rate));
    engine = await Engine.create({ lcores: [cpu], mempool: { mbufs: num('mbufs'), hugepages: v.hugepages as 'auto' | 'require' | 'off' } });
    const p = engine.addPort('gen', port);
    const host = engine.host(p, hostOpts);
    const gen = createGenerator(host, {
      to: String(v.to),
      ...(v.payload ? { template: readFileSync(String(v.payload)) } : { size: num('size') }),
      stampOffset: num('stamp-offset'),
      flows: num('flows'),
      srcPort: num('src-port'),
      burst: num('burst'),
      cpu,
    });
    const json = Boolean(v.json);
    gen.on('interval', (iv: GeneratorInterval) => {
      if (json) console.log(JSON.stringify({ type: 'interval', ...iv }));
      else console.log(`[${iv.t.toFixed(0)}s] sent ${iv.sentPps} pps  received ${iv.receivedPps} pps  late ${iv.late}  reordered ${iv.reordered}  ${lat(iv.latency)}`);
    });
    let halted = false;
    const halt = () => {
      halted = true;
      gen.halt();
    };
    process.once('SIGINT', halt);
    process.once('SIGTERM', halt);
    await engine.start();
    const r = await gen.run({ rate, seconds, count, lateMs: num('late-ms'), drainMs: num('drain-ms') });
    await engine.stop();
    const s = engine.stats();
    const missing = s.mempool.size - s.mempool.free.total;
    if (json) console.log(JSON.stringify({ type: 'report', ...r, halted, missingMbufs: missing }));
    else {
      console.log(
        `sent ${r.sent} (${r.sentPps} pps over ${r.seconds} s${r.rate ? `, ${r.rateErrorPct}% off ${r.rate}` : ''})  received ${r.received}  lost ${r.lost} (${r.lossPct}%)  late ${r.late}  reordered ${r.reordered}` +
          `  duplicates ${r.duplicates}  behind ${r.behind}  no mbuf ${r.noMbuf}\nlatency ${lat(r.latency)} (${r.latency.count} responses, mean ${r.latency.meanUs} µs)`,
      );
      console.log(`mempool: ${s.mempool.free.total}/${s.mempool.size} mbufs back in the pool${missing ? ` (${missing} MISSING)` : ''}`);
    }
    await engine.close();
    return missing ? 1 : 0;
  } catch (e) {
    if (e instanceof LinerateError) console.error(`error ${e.code}: ${e.message}`);
    else console.error(e);
    if (engine && engine.state !== 'closed') await engine.close().catch(() => undefined);
    return 1;
  }
}
