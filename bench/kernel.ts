/**
 * bench/kernel: receivers side by side over a veth pair between two namespaces
 * (scripts/netns.sh, --isolate-b). A generator in namespace A sends UDP frames
 * (198.18.0.1:9 -> 198.18.0.2:9) as fast as it can; in namespace B one receiver
 * at a time, interleaved (run 1: every receiver, run 2: every receiver, ...):
 *
 *   lr-xdp-echo / lr-xdp-sink / lr-xdp-js   linerate af_xdp port: echo stage, forward to a null sink, JS handler (inline worker on the receiving CPU) dropping
 *   lr-pkt-echo / lr-pkt-sink / lr-pkt-js   the same with an af_packet port with `consume` (B's stack gets no copy)
 *   lr-pkt-echo-stack                       the af_packet echo without `consume`: B's kernel also runs every frame through IP input
 *   dpdk-xdp / dpdk-pkt                     dpdk-testpmd --forward-mode=rxonly with --vdev net_af_xdp0 / net_af_packet0 on B's veth end
 *   kernel                                  a C recvmmsg() loop on a SO_REUSEPORT UDP socket (compiled at start with cc into a temp dir)
 *   dgram                                   a Node dgram socket counting 'message' events
 *
 * Generators: `linerate` (a child node process: null port -> af_packet port on A's end, lcore --gen-cpu)
 * and `trafgen` (netsniff-ng, -P 1, when installed). Sent = A's veth tx_packets + tx_dropped.
 * Receiving CPU = utime+stime of the receiving process (/proc/PID/stat) and, separately,
 * the softirq time of the receiving CPU (/proc/stat); RPS on B's end steers B's kernel
 * rx processing (non-XDP) to the receiving CPU. See docs/bench.md.
 *
 *   node dist/bench/kernel.js [--seconds 5] [--runs 3] [--size 64] [--warmup 1]
 *                             [--generators linerate,trafgen] [--receivers a,b,...] [--gen-cpu 0] [--rx-cpu 1]
 *
 * Needs root. Everything it creates (namespaces, temp dir, child processes) is removed on exit.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchScratch } from './scratch.js';
import { parseArgs } from 'node:util';
import { Engine } from '../src/index.js';
import { killChild, Lines, markGroupLeader, onPath, track } from './children.js';
import { udpFrame } from './frames.js';
import { C_RECEIVER, GEN_SCRIPT, nodeReceiver } from './kernel-programs.js';
import { benchCpus, minMedMax, procCpuS, softirqS } from './measure.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const indexJs = join(root, 'dist', 'src', 'index.js');

const ALL_RECEIVERS = ['lr-xdp-echo', 'lr-xdp-sink', 'lr-xdp-js', 'lr-pkt-echo', 'lr-pkt-echo-stack', 'lr-pkt-sink', 'lr-pkt-js', 'dpdk-xdp', 'dpdk-pkt', 'kernel', 'dgram'];
const { values: a } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    size: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '1' },
    generators: { type: 'string', default: 'linerate,trafgen' },
    receivers: { type: 'string', default: ALL_RECEIVERS.join(',') },
    'gen-cpu': { type: 'string' },
    'rx-cpu': { type: 'string' },
    ring: { type: 'string', default: '8192' },
    'pkt-blocks': { type: 'string', default: '64' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (a.help) {
  console.log(`usage: node dist/bench/kernel.js [--seconds 5] [--runs 3] [--size 64] [--warmup 1] [--generators linerate,trafgen]
    [--receivers ${ALL_RECEIVERS.join(',')}] [--gen-cpu N] [--rx-cpu N] [--ring 8192]
  --ring N         rx ring depth of the poll-mode receivers: linerate af_xdp ringSize, testpmd --rxd (power of two)
  --pkt-blocks N   blockCount of the linerate af_packet receivers (64 KiB blocks; 64, the driver's default, holds about 27,000 64-byte frames)`);
  process.exit(0);
}
const seconds = Number(a.seconds);
const runs = Number(a.runs);
const size = Number(a.size);
const warmup = Number(a.warmup);
// The receivers' rx ring depth. A poller that loses its CPU for t seconds at r packets/s needs
// r*t slots or it drops: at 0.4 Mpps the af_xdp default (2048) covers 5 ms, 8192 covers 20 ms,
// which is what this shared machine's stalls need (docs/bench.md: 0.2-1.6% drops at 2048, none
// at 8192). testpmd gets the same depth, and both pools room for it.
const ring = Number(a.ring);
if (!Number.isInteger(ring) || ring < 64 || ring > 16384 || ring & (ring - 1)) throw new Error(`--ring must be a power of two in 64..16384, got ${a.ring}`);
const poolMbufs = Math.max(16384, 4 * ring);
const pktBlocks = Number(a['pkt-blocks']);
if (!Number.isInteger(pktBlocks) || pktBlocks < 1 || pktBlocks > 65536) throw new Error(`--pkt-blocks must be an integer in 1..65536, got ${a['pkt-blocks']}`);
const { genCpu, rxCpu } = benchCpus(a);
const receivers = a.receivers!.split(',').filter(Boolean);
for (const r of receivers) if (!ALL_RECEIVERS.includes(r)) throw new Error(`unknown receiver ${r}; one of ${ALL_RECEIVERS.join(',')}`);
const PORT = 9;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;

// ------------------------------------------------------------ state and cleanup
const scratch = new BenchScratch('kbench');
const tmp = scratch.tmp;
const cleanup = (): void => scratch.cleanup();

// ------------------------------------------------------------ measurements
let bed = { nsA: '', nsB: '', ifA: '', ifB: '', macA: '', macB: '' };
/**
 * A process parked in namespace A (on the generator's CPU) whose /proc/PID/net/dev
 * shows A's interfaces: reading a file costs microseconds and no CPU of the
 * receiving side, where an `ip -n A -s link` per sample forked a process that
 * ran on the receiving CPU (this process's affinity) at every window edge.
 */
let nsAWatcher: ChildProcess | undefined;

/** What A's veth end has sent (tx_packets + tx_dropped), and of that what the veth dropped, at time t (s). */
function sentPackets(): { sent: number; dropped: number; t: number } {
  const t = now();
  const dev = readFileSync(`/proc/${nsAWatcher!.pid}/net/dev`, 'utf8');
  const line = dev.split('\n').find((l) => l.trim().startsWith(`${bed.ifA}:`));
  if (!line) throw new Error(`${bed.ifA} not in /proc/${nsAWatcher!.pid}/net/dev (namespace ${bed.nsA})`);
  // Receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes packets errs drop ...
  const f = line.slice(line.indexOf(':') + 1).trim().split(/\s+/).map(Number);
  return { sent: f[9]! + f[11]!, dropped: f[11]!, t };
}

/**
 * The sender's counters at the moment the receiver counted, interpolated between a
 * reading just before and one just after. Reading both sides at once is not possible
 * (a child process, an `ip` call); at 0.4 Mpps a 30-ms skew between the two readings
 * is 12,000 packets, more than the loss being measured.
 */
function sentAt(before: { sent: number; dropped: number; t: number }, after: { sent: number; dropped: number; t: number }, t: number) {
  const f = after.t > before.t ? Math.min(1, Math.max(0, (t - before.t) / (after.t - before.t))) : 0;
  return { sent: before.sent + f * (after.sent - before.sent), dropped: before.dropped + f * (after.dropped - before.dropped) };
}

interface Receiver {
  /** PIDs whose CPU counts as the receiving side. */
  pids: number[];
  /** Packets received so far, and when that count was taken (s); `drops`: what the receiver itself counted as dropped (linerate: socket counters). */
  sample(): Promise<{ t: number; n: number; drops?: number; busy?: { cycles: number; packets: number } }>;
  /**
   * Busy TSC cycles and packets of the polling loop, counting only iterations that moved packets, so pollers compare
   * by the work they do rather than by 1 CPU-second / rate: linerate's lcore (cumulative, read in `sample`, so the
   * window's share is exact) and testpmd's `--record-core-cycles` (printed once, at exit: returned by `stop`, over
   * the whole run including the warm-up).
   */
  stop(): Promise<{ cycles: number; packets: number } | void>;
  note?: string;
}

// ------------------------------------------------------------ receivers
async function linerateReceiver(kind: string): Promise<Receiver> {
  const driver = kind.startsWith('lr-xdp') ? 'af_xdp' : 'af_packet';
  const stage = kind.split('-')[2]!;
  const e = await Engine.create({ lcores: [rxCpu], mempool: { mbufs: poolMbufs } });
  try {
    // af_packet with `consume` (a tcx drop after the packet sockets), except the -stack row, which shows what
    // the kernel's own input of every frame costs the receiving CPU.
    const extra = driver === 'af_xdp' ? { ringSize: ring } : { consume: !kind.endsWith('-stack'), blockCount: pktBlocks };
    const p = e.addPort('b', { driver, interface: bed.ifB, netns: bed.nsB, ...extra } as Parameters<Engine['addPort']>[1]);
    if (stage === 'echo') e.echo(p);
    else if (stage === 'sink') e.forward(p, e.addPort('sink', { driver: 'null' }));
    // One thread on the receiving CPU does everything, as the other receivers do: an inline
    // worker polls the port itself and runs the handler (no lcore polls it).
    else e.handleInWorkers(p, { module: new URL('./kernel-handler.js', import.meta.url), mode: 'inline', cpus: [rxCpu] });
    await e.start();
    return {
      pids: [process.pid],
      note: driver === 'af_xdp' ? `xsk mode ${String((p.info().details as { mode?: string }).mode)}` : undefined,
      sample: async () => {
        const st = e.stats();
        const x = st.ports.b!.xstats;
        // af_xdp: frames the socket could not take (fill ring empty: rx_dropped; rx ring full: rx_ring_full).
        // af_packet: tp_drops of the rx ring.
        const drops = driver === 'af_xdp' ? (x.rx_dropped ?? 0) + (x.rx_ring_full ?? 0) : (x.rx_kernel_drops ?? 0);
        // The JS receiver has no lcore (the inline worker polls): no busy cycles.
        const l = st.lcores[0];
        const busy = stage !== 'js' && l ? { cycles: l.cyclesPerPacket * l.packets, packets: l.packets } : undefined;
        return { t: now(), n: stage === 'js' ? (st.ports.b!.handler?.packets ?? 0) : st.ports.b!.rxPackets, drops, busy };
      },
      stop: async () => {
        await e.stop();
        await e.close();
      },
    };
  } catch (err) {
    if (e.state !== 'closed') await e.close();
    throw err;
  }
}

async function sigReceiver(cmd: string[]): Promise<Receiver> {
  const c = track(spawn('ip', ['netns', 'exec', bed.nsB, 'taskset', '-c', String(rxCpu), ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines = new Lines(c);
  await lines.next((l) => l === 'ready', 10_000, cmd[0]!);
  const num = (l: string) => /^\d+$/.test(l);
  return {
    pids: [c.pid!],
    sample: async () => {
      const t = now();
      const p = lines.next(num, 5000, `${cmd[0]} count`);
      process.kill(c.pid!, 'SIGUSR2');
      return { t, n: Number(await p) };
    },
    stop: async () => {
      killChild(c, 'SIGTERM');
      await Promise.race([new Promise((r) => c.once('exit', r)), sleep(3000)]);
      killChild(c);
    },
  };
}

let cReceiverBin: string | undefined;
async function kernelReceiver(kind: string): Promise<Receiver> {
  // B gets its address only while a kernel socket receives (else --isolate-b keeps its stack off).
  execFileSync('ip', ['-n', bed.nsB, 'addr', 'replace', '198.18.0.2/24', 'dev', bed.ifB]);
  try {
    const r = kind === 'kernel' ? await sigReceiver([cReceiverBin!, String(PORT)]) : await sigReceiver([process.execPath, '-e', nodeReceiver(PORT)]);
    const stop = r.stop;
    r.stop = async () => {
      await stop();
      execFileSync('ip', ['-n', bed.nsB, 'addr', 'flush', 'dev', bed.ifB]);
    };
    return r;
  } catch (e) {
    execFileSync('ip', ['-n', bed.nsB, 'addr', 'flush', 'dev', bed.ifB]);
    throw e;
  }
}

let testpmdCommand: string | undefined;
async function dpdkReceiver(kind: string): Promise<Receiver> {
  const bin = onPath('dpdk-testpmd');
  if (!bin) throw new Skip('dpdk-testpmd not installed (scripts/install-dpdk.sh)');
  const vdev = kind === 'dpdk-xdp' ? `net_af_xdp0,iface=${bed.ifB},start_queue=0,queue_count=1` : `net_af_packet0,iface=${bed.ifB},qpairs=1`;
  const free = Number(/HugePages_Free:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const huge = free >= 160;
  const args = [
    '-l', `${genCpu},${rxCpu}`, '--main-lcore', String(genCpu),
    ...(huge ? ['--in-memory'] : ['--no-huge']), '-m', '256',
    '--iova-mode=va', '--no-telemetry', '--no-pci', '--vdev', vdev, '--file-prefix', `lrtk${process.pid}`,
    '--', '--forward-mode=rxonly', '--nb-cores=1', `--total-num-mbufs=${poolMbufs}`, `--rxd=${ring}`, '--stats-period', '1', '--record-core-cycles',
  ];
  testpmdCommand ??= ['dpdk-testpmd', ...args].join(' ').replace(bed.ifB, '<veth>').replace(`lrtk${process.pid}`, 'lrtk<pid>');
  const c = track(spawn('ip', ['netns', 'exec', bed.nsB, 'stdbuf', '-oL', bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let last: { t: number; n: number } | undefined;
  let inPort = false;
  const blocks: { t: number; n: number }[] = [];
  const lines = new Lines(c, (l) => {
    if (/NIC statistics for port 0/.test(l)) inPort = true;
    const m = /^\s*RX-packets:\s*(\d+)/.exec(l);
    if (inPort && m) {
      last = { t: now(), n: Number(m[1]) };
      blocks.push(last);
      inPort = false;
    }
  });
  await lines.next((l) => /NIC statistics for port 0/.test(l), 30_000, 'testpmd start');
  const nextBlock = async () => {
    const k = blocks.length;
    const deadline = Date.now() + 5000;
    while (blocks.length === k) {
      if (lines.exited) throw new Error(`testpmd exited: ${lines.log.slice(-15).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`testpmd: no stats: ${lines.log.slice(-15).join('\n')}`);
      await sleep(5);
    }
    return blocks[blocks.length - 1]!;
  };
  return {
    pids: [c.pid!],
    note: huge ? 'in-memory hugepages' : 'no-huge',
    sample: nextBlock,
    stop: async () => {
      killChild(c, 'SIGINT');
      await Promise.race([new Promise((r) => c.once('exit', r)), sleep(5000)]);
      killChild(c);
      // At exit testpmd prints its forward statistics; with --record-core-cycles (testpmd.rst) a line
      // "CPU cycles/packet=X (total cycles=C / total rxonly packets=N) at F MHz Clock" (22.11; later
      // versions say "busy cycles"). Its rxonly loop adds a burst's cycles only when it received packets.
      for (const l of lines.log) {
        const m = /(?:total|busy) cycles=(\d+) \/ total \w+ packets=(\d+)/.exec(l);
        if (m) return { cycles: Number(m[1]), packets: Number(m[2]) };
      }
    },
  };
}

class Skip extends Error {}

// ------------------------------------------------------------ generators
interface Generator {
  stop(): Promise<void>;
}
async function startGenerator(g: string): Promise<Generator> {
  let c: ChildProcess;
  const frame = udpFrame(size, bed.macA, bed.macB, PORT);
  if (g === 'linerate') {
    c = spawn('taskset', ['-c', String(genCpu), process.execPath, '--input-type=module', '-e', GEN_SCRIPT, indexJs, bed.nsA, bed.ifA, String(size), String(genCpu), Buffer.from(frame).toString('hex')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } else {
    const bin = onPath('trafgen');
    if (!bin) throw new Skip('trafgen not installed (scripts/install-trafgen.sh: apt-get install -y netsniff-ng)');
    const conf = join(tmp, 'udp.trafgen');
    writeFileSync(conf, `{ ${Array.from(frame, (b) => '0x' + b.toString(16).padStart(2, '0')).join(', ')} }\n`);
    // -P 1: one process; -Q: do not touch IRQ affinity; -q: through the qdisc; pinned to the generator CPU.
    // -b 10Mpps: a rate above what one CPU reaches on a veth (~0.3 Mpps here), so it sends flat out.
    // Without -b, trafgen's TX_RING fast path aborts on the first EAGAIN from its ring flush
    // ("Flushing TX_RING failed"), which the veth returns once RPS on B's end has its backlog
    // full; the rate-limited path goes on.
    c = spawn('ip', ['netns', 'exec', bed.nsA, 'taskset', '-c', String(genCpu), 'sh', '-c', `echo ready; exec ${bin} -i ${conf} -o ${bed.ifA} -P 1 -Q -q -b 10000000pps 2>&1`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    markGroupLeader(c);
  }
  track(c);
  const lines = new Lines(c);
  await lines.next((l) => l === 'ready', 30_000, `generator ${g}`);
  await sleep(500);
  if (lines.exited) {
    const why = `generator ${g} exited: ${lines.log.filter((l) => !/Cannot set system socket memory/.test(l)).join(' | ')}`;
    if (g === 'trafgen') throw new Skip(why);
    throw new Error(why);
  }
  return {
    stop: async () => {
      killChild(c, g === 'linerate' ? 'SIGTERM' : 'SIGINT');
      await Promise.race([new Promise((r) => c.once('exit', r)), sleep(5000)]);
      killChild(c);
    },
  };
}

// ------------------------------------------------------------ main
interface One {
  sentPps: number;
  rxPps: number;
  lossPct: number;
  /** Of the loss: dropped by A's veth end (its peer's queue full), and counted by the receiver itself (null when it has no counter). */
  vethDropPct: number;
  receiverDropPct: number | null;
  procCpuSPerMpkt: number | null;
  softirqSPerMpkt: number | null;
  cpuSPerMpkt: number | null;
  /** Busy TSC cycles of the polling loop per packet (see Receiver.stop); null for receivers that do not poll. */
  busyCyclesPerPkt: number | null;
}

async function measure(recv: Receiver): Promise<One> {
  await sleep(warmup * 1000);
  const snap = async () => {
    const before = sentPackets();
    const s = await recv.sample();
    const after = sentPackets();
    return { ...s, ...sentAt(before, after, s.t), cpu: recv.pids.reduce((x, p) => x + procCpuS(p), 0), sirq: softirqS(rxCpu) };
  };
  const s0 = await snap();
  await sleep(seconds * 1000);
  const s1 = await snap();
  const dt = s1.t - s0.t;
  const rx = s1.n - s0.n;
  const sent = s1.sent - s0.sent;
  const perM = (v: number) => (rx > 0 ? Number(((v * 1e6) / rx).toFixed(4)) : null);
  const pct = (v: number) => (sent > 0 ? Number(((100 * v) / sent).toFixed(2)) : 0);
  return {
    sentPps: Math.round(sent / dt),
    rxPps: Math.round(rx / dt),
    lossPct: pct(sent - rx),
    vethDropPct: pct(s1.dropped - s0.dropped),
    receiverDropPct: s0.drops === undefined || s1.drops === undefined ? null : pct(s1.drops - s0.drops),
    procCpuSPerMpkt: perM(s1.cpu - s0.cpu),
    softirqSPerMpkt: perM(s1.sirq - s0.sirq),
    cpuSPerMpkt: perM(s1.cpu - s0.cpu + s1.sirq - s0.sirq),
    busyCyclesPerPkt:
      s0.busy && s1.busy && s1.busy.packets > s0.busy.packets
        ? Math.round((s1.busy.cycles - s0.busy.cycles) / (s1.busy.packets - s0.busy.packets))
        : null,
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (namespaces, XDP, packet sockets)');
  if (genCpu === rxCpu) throw new Error('needs two CPUs: --gen-cpu and --rx-cpu must differ');
  // Every thread of this process (Node's main thread runs the JS handler) on the receiving CPU;
  // linerate pins its lcores itself. Generators are children pinned to --gen-cpu.
  for (const tid of readdirSync('/proc/self/task')) spawnSync('taskset', ['-p', '-c', String(rxCpu), tid], { stdio: 'ignore' });

  const skipped: Record<string, string> = {};
  if (receivers.includes('kernel')) {
    const cc = onPath('cc') ?? onPath('gcc');
    if (!cc) skipped.kernel = 'no C compiler (cc)';
    else {
      writeFileSync(join(tmp, 'recv.c'), C_RECEIVER);
      cReceiverBin = join(tmp, 'recv');
      execFileSync(cc, ['-O2', '-Wall', '-o', cReceiverBin, join(tmp, 'recv.c')]);
    }
  }
    bed = scratch.bed();
  // RPS: B's kernel rx processing (backlog of netif_rx from the veth) runs on the receiving CPU,
  // not on the generator's CPU, which called veth_xmit.
  execFileSync('ip', ['netns', 'exec', bed.nsB, 'sh', '-c', `echo ${(1 << rxCpu).toString(16)} > /sys/class/net/${bed.ifB}/queues/rx-0/rps_cpus`]);
  // The same on A's end, for the echo runs: A's kernel receiving the echoed frames (IP input,
  // no socket on the port, an ICMP error) would otherwise run in the softirq of the CPU that
  // called veth_xmit, i.e. inside the receiver's transmit call on the receiving CPU. That is the
  // peer's work, not the receiver's: it goes to the generator's CPU.
  execFileSync('ip', ['netns', 'exec', bed.nsA, 'sh', '-c', `echo ${(1 << genCpu).toString(16)} > /sys/class/net/${bed.ifA}/queues/rx-0/rps_cpus`]);
  nsAWatcher = track(spawn('ip', ['netns', 'exec', bed.nsA, 'taskset', '-c', String(genCpu), 'sleep', '86400'], { stdio: 'ignore' }));
  for (let i = 0; i < 100 && !readFileSync(`/proc/${nsAWatcher.pid}/net/dev`, 'utf8').includes(`${bed.ifA}:`); i++) await sleep(10);
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`bench/kernel: ${size}-byte UDP, ${bed.ifA} (${bed.nsA}, cpu ${genCpu}) -> ${bed.ifB} (${bed.nsB}, cpu ${rxCpu}); ${runs} runs x ${seconds} s; load ${load0}`);

  const gens = a.generators!.split(',').filter(Boolean);
  const results: Record<string, Record<string, One[]>> = {};
  const notes: Record<string, string> = {};
  for (let run = 0; run < runs; run++) {
    for (const g of gens) {
      if (skipped[`gen:${g}`]) continue;
      let gen: Generator;
      try {
        gen = await startGenerator(g);
      } catch (e) {
        if (e instanceof Skip) {
          skipped[`gen:${g}`] = e.message;
          console.log(`  generator ${g} skipped: ${e.message}`);
          continue;
        }
        throw e;
      }
      try {
        for (const k of receivers) {
          if (skipped[k]) continue;
          let recv: Receiver;
          try {
            if (k.startsWith('lr-')) recv = await linerateReceiver(k);
            else if (k.startsWith('dpdk-')) recv = await dpdkReceiver(k);
            else recv = await kernelReceiver(k);
          } catch (e) {
            skipped[k] = e instanceof Error ? e.message.split('\n').slice(0, 6).join(' | ') : String(e);
            console.log(`  ${k} skipped: ${skipped[k]}`);
            continue;
          }
          if (recv.note) notes[k] = recv.note;
          let measured: One | undefined;
          try {
            measured = await measure(recv);
          } finally {
            const busy = await recv.stop();
            // testpmd's figure comes at exit, over its whole run.
            if (measured && measured.busyCyclesPerPkt === null && busy && busy.packets > 0) measured.busyCyclesPerPkt = Math.round(busy.cycles / busy.packets);
          }
          const r = measured;
          ((results[g] ??= {})[k] ??= []).push(r);
          console.log(
            `  run ${run + 1} ${g.padEnd(8)} ${k.padEnd(12)} sent ${(r.sentPps / 1e6).toFixed(3)} Mpps  rx ${(r.rxPps / 1e6).toFixed(3)} Mpps  loss ${r.lossPct.toFixed(1)}% (veth ${r.vethDropPct.toFixed(1)}%, receiver ${r.receiverDropPct === null ? '-' : r.receiverDropPct.toFixed(1) + '%'})  ` +
              `cpu ${r.procCpuSPerMpkt ?? '-'} + softirq ${r.softirqSPerMpkt ?? '-'} s/Mpkt  busy ${r.busyCyclesPerPkt ?? '-'} cycles/pkt`,
          );
        }
      } finally {
        await gen.stop();
      }
    }
  }
  const summary: Record<string, Record<string, Record<string, ReturnType<typeof minMedMax>>>> = {};
  for (const [g, byR] of Object.entries(results)) {
    for (const [k, rs] of Object.entries(byR)) {
      const col = (f: (x: One) => number | null) => {
        const v = rs.map(f).filter((x): x is number => x !== null);
        return v.length ? minMedMax(v) : null;
      };
      (summary[g] ??= {})[k] = {
        sentPps: col((x) => x.sentPps),
        rxPps: col((x) => x.rxPps),
        lossPct: col((x) => x.lossPct),
        vethDropPct: col((x) => x.vethDropPct),
        receiverDropPct: col((x) => x.receiverDropPct),
        procCpuSPerMpkt: col((x) => x.procCpuSPerMpkt),
        softirqSPerMpkt: col((x) => x.softirqSPerMpkt),
        cpuSPerMpkt: col((x) => x.cpuSPerMpkt),
        busyCyclesPerPkt: col((x) => x.busyCyclesPerPkt),
      };
    }
  }
  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(
    JSON.stringify({
      bench: 'kernel',
      date: new Date().toISOString(),
      size,
      seconds,
      runs,
      genCpu,
      rxCpu,
      ring,
      pktBlocks,
      poolMbufs,
      loadavg: { start: load0, end: load1 },
      testpmd: testpmdCommand,
      notes,
      skipped,
      results: summary,
    }),
  );
}

main()
  .then(() => {
    cleanup();
    process.exit(0);
  })
  .catch((e) => {
    console.error(e instanceof Error ? e.stack : e);
    cleanup();
    process.exit(2);
  });
