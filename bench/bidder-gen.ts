/**
 * The generator of bench/bidder, a child process pinned to the generator's
 * CPU: an af_xdp port on namespace A's veth end as host 198.18.0.1/24, sending
 * bid requests (examples/bidder/requests.ts writes each one, with its send time
 * and a 1 ms deadline on the bidder's clock) to 198.18.0.2:PORT, the stamp in
 * the request id. Reads JSON commands on stdin, one a line:
 *   {"cmd":"run","rate":R,"seconds":S}  -> prints {"report": GeneratorReport}
 *   {"cmd":"quit"}                      -> stops, prints {"pool": {free, size}}, exits
 * Prints {"ready":true} once the engine runs.
 *
 *   node dist/bench/bidder-gen.js NS IF CPU FLOWS PORT [busy|adaptive]
 */
import { createInterface } from 'node:readline';
import { Engine, createGenerator } from '../src/index.js';
import { STAMP_OFFSET } from '../examples/bidder/wire.js';

const [ns, ifc, cpuText, flowsText, portText, idle] = process.argv.slice(2);
const cpu = Number(cpuText);
const engine = await Engine.create({ lcores: [cpu], mempool: { mbufs: 32768 }, idle: idle === 'adaptive' ? 'adaptive' : 'busy' });
const port = engine.addPort('a', { driver: 'af_xdp', interface: ifc!, netns: ns!, ringSize: 8192 });
const host = engine.host(port, { ipv4: '198.18.0.1/24' });
const gen = createGenerator(host, {
  to: `198.18.0.2:${portText}`,
  cpu,
  flows: Number(flowsText),
  payloadModule: new URL('../examples/bidder/requests.js', import.meta.url),
  payloadExport: 'writeRequest',
  stampOffset: STAMP_OFFSET,
});
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
