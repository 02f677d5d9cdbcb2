/**
 * bench/capture: what a packet capture costs the data path. The workload of
 * bench/fwd (io forwarding both ways between two null ports, one lcore, burst
 * 32), measured in alternating windows on the same engine:
 *   off      no capture attached (the data path loads one pointer per burst)
 *   nomatch  a capture on port a, both directions, whose filter matches
 *            nothing (default `tcp port 1` on UDP traffic): the cBPF program
 *            runs once on every forwarded packet (a's rx or a's tx), nothing
 *            is copied
 * Prints Mpps per port of each, and the ratio nomatch/off of each pair of
 * neighbouring windows (min / median / max): the machine is shared, so only
 * ratios measured side by side mean anything; and the added time per packet,
 * 1/nomatch - 1/off (ns, per packet forwarded). The last line is one JSON object.
 *
 *   node dist/bench/capture.js [--seconds 2] [--runs 5] [--filter 'tcp port 1'] [--lcore 1] [--no-huge]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Engine, type EngineStats } from '../src/index.js';
import { fmtSpread, numberArg, spread } from './handler-common.js';

const usage = `usage: node dist/bench/capture.js [options]
  --seconds S     length of each measurement window (default 2)
  --runs N        off/nomatch window pairs (default 5)
  --filter EXPR   the capture's filter, which must match none of the traffic (default 'tcp port 1')
  --lcore N       CPU of the forwarding lcore (default: the last this process may use)
  --warmup S      seconds of forwarding before the first window (default 1)
  --no-huge       4 KiB pages (default: hugepages when the host has them)`;

const { values: v } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' }, runs: { type: 'string', default: '5' }, filter: { type: 'string', default: 'tcp port 1' },
    lcore: { type: 'string' }, warmup: { type: 'string', default: '1' }, 'no-huge': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) {
  console.log(usage);
  process.exit(0);
}
const seconds = numberArg('bench/capture', usage, 'seconds', v.seconds!, 0.2, 600, false);
const runs = numberArg('bench/capture', usage, 'runs', v.runs!, 1, 100, true);
const warmup = numberArg('bench/capture', usage, 'warmup', v.warmup!, 0, 60, false);
const cpus = Engine.hostInfo().allowedCpus;
const lcore = v.lcore !== undefined ? numberArg('bench/capture', usage, 'lcore', v.lcore, 0, 4095, true) : cpus[cpus.length - 1]!;

/** Mpps per port between two stats snapshots (rx of both ports / 2). */
function mpps(a: EngineStats, b: EngineStats): number {
  const rx = (s: EngineStats) => s.ports.a!.rxPackets + s.ports.b!.rxPackets;
  return (rx(b) - rx(a)) / 2 / ((b.timeNs - a.timeNs) / 1e3);
}

async function window(e: Engine): Promise<number> {
  const s0 = e.stats();
  await sleep(seconds * 1000);
  return mpps(s0, e.stats());
}

const engine = await Engine.create({ lcores: [lcore], mempool: { mbufs: 65536, hugepages: v['no-huge'] ? 'off' : 'auto' } });
try {
  const a = engine.addPort('a', { driver: 'null', packetSize: 64 });
  const b = engine.addPort('b', { driver: 'null', packetSize: 64 });
  engine.forward(a, b, { mode: 'io' });
  engine.forward(b, a, { mode: 'io' });
  await engine.start();
  await sleep(warmup * 1000);
  const off: number[] = [], nomatch: number[] = [], ratio: number[] = [], addedNs: number[] = [];
  let seen = 0, accepted = 0;
  for (let r = 0; r < runs; r++) {
    const o = await window(engine);
    const caps = [engine.capture(a, { filter: v.filter, direction: 'both' })];
    const n = await window(engine);
    for (const c of caps) {
      const s = await c.stop();
      seen += s.seen;
      accepted += s.accepted;
    }
    off.push(o);
    nomatch.push(n);
    ratio.push(n / o);
    // Both ports together forward 2 x Mpps/port; ns per packet = 1e3 / total Mpps.
    addedNs.push(1e3 / (2 * n) - 1e3 / (2 * o));
    console.log(`run ${r + 1}: off ${o.toFixed(2)} Mpps/port, nomatch ${n.toFixed(2)} Mpps/port, ratio ${(n / o).toFixed(3)}, +${addedNs[r]!.toFixed(1)} ns/packet`);
  }
  if (accepted > 0) console.warn(`bench/capture: the filter matched ${accepted} packets; pick one that matches none of the traffic`);
  console.log(`off      Mpps/port min/median/max ${fmtSpread(spread(off))}`);
  console.log(`nomatch  Mpps/port min/median/max ${fmtSpread(spread(nomatch))}  (${seen} packets filtered)`);
  console.log(`ratio nomatch/off   min/median/max ${fmtSpread(spread(ratio), 3)}`);
  console.log(`added ns/packet     min/median/max ${fmtSpread(spread(addedNs), 1)}`);
  console.log(JSON.stringify({ bench: 'capture', filter: v.filter, seconds, runs, lcore, off: spread(off), nomatch: spread(nomatch), ratio: spread(ratio, 4), addedNsPerPacket: spread(addedNs, 2), seen, accepted }));
} finally {
  await engine.close();
}
