/**
 * The child side of bench/gen-child.ts, which bench/udp-gen.ts and
 * bench/bidder-gen.ts run with their own generator options: from the command
 * line NS IF CPU FLOWS X [busy|adaptive], an af_xdp port on namespace A's veth
 * end as host 198.18.0.1/24 with a Generator on CPU over FLOWS flows, the rest
 * of its options made from X. Reads JSON commands on stdin, one a line:
 *   {"cmd":"run","rate":R,"seconds":S}  -> prints {"report": GeneratorReport} (or {"error": message})
 *   {"cmd":"quit"}                      -> stops, prints {"pool": {free, size}, "host": host stats}, exits
 * Prints {"ready":true} once the engine runs.
 */
import { createInterface } from 'node:readline';
import { Engine, createGenerator, type GeneratorOptions } from '../src/index.js';

export async function serveGenerator(options: (x: string) => Omit<GeneratorOptions, 'cpu' | 'flows'>): Promise<void> {
  const [ns, ifc, cpuText, flowsText, x, idle] = process.argv.slice(2);
  const cpu = Number(cpuText);
  const engine = await Engine.create({ lcores: [cpu], mempool: { mbufs: 32768 }, idle: idle === 'adaptive' ? 'adaptive' : 'busy' });
  const port = engine.addPort('a', { driver: 'af_xdp', interface: ifc!, netns: ns!, ringSize: 8192 });
  const host = engine.host(port, { ipv4: '198.18.0.1/24' });
  const gen = createGenerator(host, { ...options(x!), cpu, flows: Number(flowsText) });
  await engine.start();
  const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
  out({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    const c = JSON.parse(line) as { cmd: string; rate?: number; seconds?: number };
    if (c.cmd === 'run') {
      try {
        out({ report: await gen.run({ rate: c.rate, seconds: c.seconds, intervalMs: 0, drainMs: 300 }) });
      } catch (e) {
        out({ error: e instanceof Error ? e.message : String(e) });
      }
    } else if (c.cmd === 'quit') break;
  }
  await engine.stop();
  const s = engine.stats();
  out({ pool: { free: s.mempool.free.total, size: s.mempool.size }, host: host.stats() });
  await engine.close();
  process.exit(0);
}
