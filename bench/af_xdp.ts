/**
 * bench/af_xdp: the af_xdp driver over a veth pair between two network
 * namespaces (scripts/netns.sh), generator and receiver both linerate:
 *
 *   engine A (lcore --gen-lcore):  null port (UDP frames) -> af_xdp port on A's veth end (tx)
 *   engine B (lcore --rx-lcore):   af_xdp port on B's veth end -> null port (sink)
 *
 * Modes: `rx` (B receives into user space and sinks), `drop` (B's XDP program
 * drops everything with an early-drop rule: the DDoS case), `echo` (B echoes
 * back to A, where A's unpolled port counts what arrives). On a veth the
 * generator's CPU also runs B's XDP program and the copy into B's UMEM (the
 * veth's NAPI runs in the sender's softirq), so the generator is the limit.
 *
 * Prints one line per second, then one JSON object as the last line:
 * { mode, size, seconds, genPps, rxPps, xdpDropPps, lossPct, rxBusyCyclesPerPacket, kernel: {...} }
 *
 *   node dist/bench/af_xdp.js [--mode rx|drop|echo] [--seconds 5] [--size 64] [--ring 2048]
 *                             [--mbufs 65536] [--gen-lcore 0] [--rx-lcore 1] [--no-huge]
 *
 * Needs root (namespaces, XDP). Everything it creates is removed on exit.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Engine, type EngineStats } from '../src/index.js';
import { udpFrame } from './frames.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const netnsSh = [join(root, 'scripts', 'netns.sh'), join(root, '..', 'scripts', 'netns.sh')].find((p) => {
  try {
    execFileSync('test', ['-f', p]);
    return true;
  } catch {
    return false;
  }
});

const { values: a } = parseArgs({
  options: {
    mode: { type: 'string', default: 'rx' },
    seconds: { type: 'string', default: '5' },
    size: { type: 'string', default: '64' },
    ring: { type: 'string', default: '2048' },
    mbufs: { type: 'string', default: '65536' },
    'gen-lcore': { type: 'string' },
    'rx-lcore': { type: 'string' },
    'no-huge': { type: 'boolean', default: false },
  },
});
const mode = a.mode as 'rx' | 'drop' | 'echo';
if (!['rx', 'drop', 'echo'].includes(mode)) {
  console.error('--mode must be rx, drop or echo');
  process.exit(2);
}
const seconds = Number(a.seconds);
const size = Number(a.size);
const cpus = Engine.hostInfo().allowedCpus;
const genCpu = a['gen-lcore'] !== undefined ? Number(a['gen-lcore']) : cpus[0]!;
const rxCpu = a['rx-lcore'] !== undefined ? Number(a['rx-lcore']) : cpus[cpus.length - 1]!;

const name = `lrt-bench-${process.pid}`;
let up = false;
function down(): void {
  if (!up) return;
  up = false;
  try {
    execFileSync('bash', [netnsSh!, 'down', name]);
  } catch {
    /* best effort */
  }
}
process.on('exit', down);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

async function main(): Promise<void> {
  if (!netnsSh) throw new Error('scripts/netns.sh not found');
  const line = execFileSync('bash', [netnsSh, 'up', name, '--no-addr-b'], { encoding: 'utf8' }).trim().split(/\s+/);
  up = true;
  const [nsA, nsB, ifA, ifB, macA, macB] = line as [string, string, string, string, string, string];
  const mempool = { mbufs: Number(a.mbufs), hugepages: a['no-huge'] ? ('off' as const) : ('auto' as const) };
  const eb = await Engine.create({ lcores: [rxCpu], mempool });
  const ea = await Engine.create({ lcores: [genCpu], mempool });
  try {
    const pb = eb.addPort('b', {
      driver: 'af_xdp',
      interface: ifB,
      netns: nsB,
      ringSize: Number(a.ring),
      dropRules: mode === 'drop' ? [{ protocol: 'udp', dstPort: 9 }] : [],
    });
    if (mode === 'echo') eb.echo(pb);
    else eb.forward(pb, eb.addPort('sink', { driver: 'null' }));
    const gen = ea.addPort('gen', { driver: 'null', content: udpFrame(size, macA, macB), packetSize: size });
    const pa = ea.addPort('a', { driver: 'af_xdp', interface: ifA, netns: nsA, ringSize: Number(a.ring) });
    ea.forward(gen, pa);
    await eb.start();
    await ea.start();
    console.log(`af_xdp ${mode}: ${size}-byte frames, ${ifA} (${nsA}, lcore ${genCpu}) -> ${ifB} (${nsB}, lcore ${rxCpu}), mode ${pb.info().details.mode}`);

    await new Promise((r) => setTimeout(r, 1000)); // warm up
    const snap = () => ({ a: ea.stats(), b: eb.stats(), t: process.hrtime.bigint() });
    const first = snap();
    let prev = first;
    for (let s = 0; s < seconds; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = snap();
      const dt = Number(now.t - prev.t) / 1e9;
      const d = (f: (x: { a: EngineStats; b: EngineStats }) => number) => (f(now) - f(prev)) / dt / 1e6;
      console.log(
        `  gen ${d((x) => x.a.ports.a!.txPackets).toFixed(3)} Mpps   rx ${d((x) => x.b.ports.b!.rxPackets).toFixed(3)} Mpps   ` +
          `xdp drop ${d((x) => x.b.ports.b!.xstats.early_dropped ?? 0).toFixed(3)} Mpps`,
      );
      prev = now;
    }
    const last = prev;
    const dt = Number(last.t - first.t) / 1e9;
    const diff = (f: (x: { a: EngineStats; b: EngineStats }) => number) => f(last) - f(first);
    const genPkts = diff((x) => x.a.ports.a!.txPackets);
    const rxPkts = diff((x) => x.b.ports.b!.rxPackets);
    const dropPkts = diff((x) => x.b.ports.b!.xstats.early_dropped ?? 0);
    // Busy TSC cycles per packet of B's lcore over the window, from its running totals.
    const busyCycles = (x: { b: EngineStats }) => x.b.lcores[0]!.cyclesPerPacket * x.b.lcores[0]!.packets;
    const lcorePkts = diff((x) => x.b.lcores[0]!.packets);
    const busy = diff(busyCycles);
    const kx = last.b.ports.b!.xstats;
    const result = {
      mode,
      size,
      seconds: Number(dt.toFixed(3)),
      xskMode: pb.info().details.mode,
      genPps: Math.round(genPkts / dt),
      rxPps: Math.round(rxPkts / dt),
      xdpDropPps: Math.round(dropPkts / dt),
      lossPct: genPkts ? Number((100 * (1 - (rxPkts + dropPkts) / genPkts)).toFixed(3)) : 0,
      rxBusyCyclesPerPacket: lcorePkts ? Math.round(busy / lcorePkts) : null,
      kernel: {
        rx_dropped: kx.rx_dropped,
        rx_ring_full: kx.rx_ring_full,
        rx_fill_ring_empty_descs: kx.rx_fill_ring_empty_descs,
        tx_wakeups_gen: last.a.ports.a!.xstats.tx_wakeups,
      },
    };
    await ea.stop();
    await eb.stop();
    const leaks = [ea.stats(), eb.stats()].map((s) => s.mempool.size - s.mempool.free.total);
    console.log(JSON.stringify({ ...result, leakedMbufs: leaks[0]! + leaks[1]! }));
  } finally {
    if (ea.state !== 'closed') await ea.close();
    if (eb.state !== 'closed') await eb.close();
    down();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  down();
  process.exit(2);
});
