/**
 * bench/udp: UDP request/response through the host layer against kernel
 * servers, on the veth bed (scripts/netns.sh --isolate-b), and the host layer's
 * cost per packet on the null driver. docs/bench.md, "Host layer (bench/udp)".
 *
 * 1. Echo servers in namespace B, one at a time, on --rx-cpu (softirq included):
 *      linerate  af_xdp port on B's veth end, host 198.18.0.2/24, UDP echo (examples/udp-echo-handler) in an inline worker
 *      c         a C recvmmsg/sendmmsg loop (compiled with cc at start), SO_RCVBUFFORCE 8 MiB
 *      dgram     a Node dgram socket that sends every message back
 *    The generator (src/gen/, a child process on --gen-cpu): af_xdp on A's end, host
 *    198.18.0.1/24, requests of --size bytes over --flows source ports. For each server a
 *    ladder of offered rates: doubling from --start until a step loses more than 0.1%
 *    (or the generator cannot offer the rate), then --bisect halvings of the gap. The
 *    answered rate of the highest step within 0.1% loss is the server's figure; with it
 *    the CPU per answered request (server process + softirq of its CPU) and latency.
 * 2. On the null driver: cycles per packet of an inline worker answering UDP requests
 *    through the host layer (udpInWorkers + reply) against a raw handler (handleInWorkers
 *    + reply: the packet goes back as it came) and against a raw UDP echo
 *    (udp-raw-echo-handler: addresses and ports swapped in JS, nothing checked), from the
 *    process's CPU time × TSC rate over the packets handled.
 *
 *   node dist/bench/udp.js [--runs 3] [--seconds 2] [--servers linerate,c,dgram] [--start 10000]
 *                          [--bisect 2] [--flows 16] [--size 50] [--null-seconds 2] [--no-null] [--no-veth]
 *                          [--gen-cpu 0] [--rx-cpu 1] [--idle busy|adaptive] [--tries 2]
 *
 * Root. Everything it creates (namespaces, temp dir, children) is removed on exit.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchScratch } from './scratch.js';
import { parseArgs } from 'node:util';
import { Engine } from '../src/index.js';
import { Lines, onPath, track } from './children.js';
import { GenChild } from './gen-child.js';
import { C_ECHO, nodeEcho } from './udp-programs.js';
import { udpFrame, udpFrame6 } from '../examples/frames.js';
import { benchCpus, loadavg, minMedMax, pinToRxCpu, serverCpuS } from './measure.js';
import { nullAnswerCost, startOrClose, stopAndClose } from './engine-run.js';
import { startKernelServer, tuneBed } from './kernel-side.js';
import { tryStep } from './retry.js';

const SERVERS = ['linerate', 'c', 'dgram'];
const { values: a } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '2' },
    servers: { type: 'string', default: SERVERS.join(',') },
    start: { type: 'string', default: '10000' },
    bisect: { type: 'string', default: '2' },
    flows: { type: 'string', default: '16' },
    size: { type: 'string', default: '50' },
    'null-seconds': { type: 'string', default: '2' },
    'no-null': { type: 'boolean', default: false },
    'no-veth': { type: 'boolean', default: false },
    'gen-cpu': { type: 'string' },
    'rx-cpu': { type: 'string' },
    idle: { type: 'string', default: 'busy' },
    tries: { type: 'string', default: '2' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (a.help) {
  console.log(`usage: node dist/bench/udp.js [--runs 3] [--seconds 2] [--servers ${SERVERS.join(',')}] [--start 10000] [--bisect 2]
    [--flows 16] [--size 50] [--null-seconds 2] [--no-null] [--no-veth] [--gen-cpu N] [--rx-cpu N] [--idle busy|adaptive] [--tries 2]
  --tries: how many times a step that loses more than 0.1% or that the generator could not offer is run (default 2)
  --idle: the linerate server's and the generator's inline workers spin (busy) or, after ~1000 empty polls, wait up to 50 µs (adaptive)`);
  process.exit(0);
}
const runs = Number(a.runs);
const tries = Math.max(1, Number(a.tries));
const seconds = Number(a.seconds);
const servers = a.servers!.split(',').filter(Boolean);
for (const s of servers) if (!SERVERS.includes(s)) throw new Error(`unknown server ${s}; one of ${SERVERS.join(',')}`);
const { genCpu, rxCpu } = benchCpus(a);
const idle = a.idle as 'busy' | 'adaptive';
if (idle !== 'busy' && idle !== 'adaptive') throw new Error(`--idle must be busy or adaptive, got ${a.idle}`);
const PORT = 7;
const LOSS_PCT = 0.1;

// ------------------------------------------------------------ state and cleanup
const scratch = new BenchScratch('ubench');
const tmp = scratch.tmp;
const cleanup = (): void => scratch.cleanup();
let bed = { nsA: '', nsB: '', ifA: '', ifB: '' };

// ------------------------------------------------------------ servers
interface Server {
  pids: number[];
  stop(): Promise<void>;
}
async function linerateServer(): Promise<Server> {
  const e = await Engine.create({ lcores: [rxCpu], mempool: { mbufs: 32768 }, idle });
  await startOrClose(e, () => {
    const p = e.addPort('b', { driver: 'af_xdp', interface: bed.ifB, netns: bed.nsB, ringSize: 8192 });
    const h = e.host(p, { ipv4: '198.18.0.2/24' });
    h.udpInWorkers({ port: PORT, module: new URL('../examples/udp-echo-handler.js', import.meta.url), mode: 'inline', cpus: [rxCpu] });
  });
  return { pids: [process.pid], stop: () => stopAndClose(e) };
}
let cEchoBin = '';
async function kernelServer(kind: 'c' | 'dgram'): Promise<Server> {
  const cmd = kind === 'c' ? [cEchoBin, String(PORT)] : [process.execPath, '-e', nodeEcho(PORT)];
  const k = await startKernelServer(bed, () => {
    const c = track(spawn('ip', ['netns', 'exec', bed.nsB, 'taskset', '-c', String(rxCpu), ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] }));
    return { child: c, ready: new Lines(c).next((l) => l === 'ready', 10_000, kind) };
  });
  // `ip netns exec` execs the program: the child's pid is the server's.
  return { pids: [k.child.pid!], stop: k.stop };
}

// ------------------------------------------------------------ the ladder
interface Step {
  offered: number;
  sentPps: number;
  answeredPps: number;
  lossPct: number;
  ok: boolean;
  generatorLimited: boolean;
  cpuUsPerReq: number | null;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  late: number;
  reordered: number;
}
async function step(gen: GenChild, srv: Server, rate: number): Promise<Step> {
  const cpu0 = serverCpuS(srv.pids, rxCpu);
  const r = await gen.run(rate, seconds);
  const cpu1 = serverCpuS(srv.pids, rxCpu);
  // The generator could not offer the rate: its pacer fell behind (or found no mbuf) by more than 1%.
  const generatorLimited = r.sentPps < 0.99 * rate;
  const s: Step = {
    offered: rate,
    sentPps: r.sentPps,
    answeredPps: r.receivedPps,
    lossPct: r.lossPct,
    ok: r.lossPct <= LOSS_PCT,
    generatorLimited,
    cpuUsPerReq: r.received > 0 ? Number((((cpu1 - cpu0) * 1e6) / r.received).toFixed(3)) : null,
    p50Us: r.latency.p50Us,
    p90Us: r.latency.p90Us,
    p99Us: r.latency.p99Us,
    p999Us: r.latency.p999Us,
    maxUs: r.latency.maxUs,
    late: r.late,
    reordered: r.reordered,
  };
  console.log(
    `    ${String(rate).padStart(8)}/s offered  sent ${String(s.sentPps).padStart(8)}  answered ${String(s.answeredPps).padStart(8)}  loss ${s.lossPct.toFixed(3).padStart(7)}%` +
      `  cpu ${s.cpuUsPerReq ?? '-'} µs/req  p50 ${s.p50Us} p99 ${s.p99Us} p99.9 ${s.p999Us} max ${s.maxUs} µs${generatorLimited ? '  (generator-limited)' : ''}${s.ok ? '' : '  FAIL'}`,
  );
  return s;
}
// A step that lost more than 0.1% or that the generator could not offer is run again (bench/retry.ts).
const retried = (gen: GenChild, srv: Server, rate: number, steps: Step[]) =>
  tryStep(() => step(gen, srv, rate), steps, tries, (s) => !s.ok || s.generatorLimited, (s) => (s.ok ? 2 : 0) + (s.generatorLimited ? 0 : 1));
async function ladder(gen: GenChild, srv: Server): Promise<{ steps: Step[]; best: Step | null; generatorLimited: boolean }> {
  const steps: Step[] = [];
  let lo: Step | null = null;
  let hi: number | null = null;
  let limited = false;
  // A step the generator could not offer in full still judges the server at what was sent, but
  // the ladder cannot climb past it: the result is then a lower bound (generatorLimited).
  for (let rate = Number(a.start); ; rate *= 2) {
    const s = await retried(gen, srv, rate, steps);
    if (s.ok) lo = s;
    else hi = rate;
    if (s.generatorLimited) limited = s.ok;
    if (!s.ok || s.generatorLimited) break;
  }
  for (let i = 0; i < Number(a.bisect) && lo && hi && !limited; i++) {
    const rate = Math.round((lo.offered + hi) / 2);
    const s = await retried(gen, srv, rate, steps);
    if (s.ok) lo = s;
    else hi = rate;
  }
  return { steps, best: lo, generatorLimited: limited };
}

// ------------------------------------------------------------ null driver: host layer cost
async function nullCost(kind: 'host' | 'host6' | 'raw' | 'raw-echo', secs: number): Promise<{ cyclesPerPkt: number; mpps: number }> {
  // A UDP request to the host (198.18.0.1:40000 -> 198.18.0.2:7, or fd00:198:18::1 -> ::2 for host6) to
  // port 0's MAC (native/drivers/registry.cc), checksums valid.
  const payload = new Uint8Array(Number(a.size)).fill(0x61);
  const frame =
    kind === 'host6'
      ? udpFrame6('02:4c:52:00:00:00', 'fd00:198:18::1', 'fd00:198:18::2', 40000, PORT, payload)
      : udpFrame('02:4c:52:00:00:00', '198.18.0.1', '198.18.0.2', 40000, PORT, payload);
  const e = await Engine.create({ lcores: [rxCpu], mempool: { mbufs: 8192 } });
  try {
    const p = e.addPort('p', { driver: 'null', content: frame, packetSize: frame.length });
    if (kind === 'host' || kind === 'host6') {
      const addr = kind === 'host' ? { ipv4: '198.18.0.2/24' } : { ipv6: 'fd00:198:18::2/64' };
      e.host(p, addr).udpInWorkers({ port: PORT, module: new URL('../examples/udp-echo-handler.js', import.meta.url), mode: 'inline', cpus: [rxCpu] });
    } else {
      const module = new URL(kind === 'raw' ? './udp-raw-handler.js' : './udp-raw-echo-handler.js', import.meta.url);
      e.handleInWorkers(p, { module, mode: 'inline', cpus: [rxCpu] });
    }
    await e.start();
    // Answered = transmitted (every request is answered; the null port sinks the replies).
    const x = await nullAnswerCost(e, secs, kind, 'packets');
    return { cyclesPerPkt: x.cycles, mpps: x.mps };
  } finally {
    if (e.state !== 'closed') await e.close();
  }
}

// ------------------------------------------------------------ main
async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (namespaces, XDP)');
  pinToRxCpu(genCpu, rxCpu);
  const load0 = loadavg();
  const out: Record<string, unknown> = { bench: 'udp', date: new Date().toISOString(), genCpu, rxCpu, seconds, runs, flows: Number(a.flows), payloadBytes: Number(a.size), lossLimitPct: LOSS_PCT, tries };

  if (!a['no-null']) {
    const secs = Number(a['null-seconds']);
    console.log(`bench/udp null driver: host layer (udpInWorkers + reply) against a raw handler (handleInWorkers + reply) and a raw UDP echo (handleInWorkers, addresses and ports swapped in JS), inline worker on cpu ${rxCpu}, ${runs} runs x ${secs} s; load ${loadavg()}`);
    // host6: the same echo on an IPv6-only host with IPv6 requests (reported beside the target, which is IPv4's).
    const kinds = ['raw', 'raw-echo', 'host', 'host6'] as const;
    const res: Record<(typeof kinds)[number], { cyclesPerPkt: number; mpps: number }[]> = { host: [], host6: [], raw: [], 'raw-echo': [] };
    for (let r = 0; r < runs; r++) {
      for (const k of kinds) {
        const x = await nullCost(k, secs);
        res[k].push(x);
        console.log(`  run ${r + 1} ${k.padEnd(8)} ${x.mpps} Mpps  ${x.cyclesPerPkt} cycles/packet`);
      }
    }
    // Within each run (the three are measured back to back, so a noisy minute moves them together).
    const diffs = res.host.map((h, i) => h.cyclesPerPkt - res.raw[i]!.cyclesPerPkt);
    const diffsEcho = res.host.map((h, i) => h.cyclesPerPkt - res['raw-echo'][i]!.cyclesPerPkt);
    const diffs6 = res.host6.map((h, i) => h.cyclesPerPkt - res.raw[i]!.cyclesPerPkt);
    const fig = (k: (typeof kinds)[number]) => ({ cyclesPerPkt: minMedMax(res[k].map((x) => x.cyclesPerPkt)), mpps: minMedMax(res[k].map((x) => x.mpps)) });
    out.null = {
      raw: fig('raw'),
      rawEcho: fig('raw-echo'),
      host: fig('host'),
      host6: fig('host6'),
      hostCostCyclesPerPkt: minMedMax(diffs),
      host6CostCyclesPerPkt: minMedMax(diffs6),
      hostCostOverRawEchoCyclesPerPkt: minMedMax(diffsEcho),
      target: 40,
    };
    console.log(`  host layer cost over the raw handler: ${JSON.stringify(minMedMax(diffs))} cycles/packet (target ≤ 40)`);
    console.log(`  host layer cost over a raw UDP echo (swaps only, checks nothing): ${JSON.stringify(minMedMax(diffsEcho))} cycles/packet`);
    console.log(`  IPv6 host layer cost over the raw handler: ${JSON.stringify(minMedMax(diffs6))} cycles/packet`);
  }

  if (!a['no-veth']) {
    if (servers.includes('c')) {
      const cc = onPath('cc') ?? onPath('gcc');
      if (!cc) throw new Error('no C compiler (cc) for the C echo server');
      writeFileSync(join(tmp, 'echo.c'), C_ECHO);
      cEchoBin = join(tmp, 'echo');
      execFileSync(cc, ['-O2', '-Wall', '-o', cEchoBin, join(tmp, 'echo.c')]);
    }
    bed = scratch.bed();
    tuneBed(bed, genCpu, rxCpu);
    console.log(`bench/udp veth: ${a.size}-byte requests over ${a.flows} flows, generator ${bed.ifA} (${bed.nsA}, cpu ${genCpu}) -> servers on ${bed.ifB} (${bed.nsB}, cpu ${rxCpu}); ${runs} runs, ${seconds} s steps; load ${loadavg()}`);
    const gen = new GenChild({ ns: bed.nsA, ifc: bed.ifA, cpu: genCpu, flows: Number(a.flows), size: Number(a.size), idle });
    await gen.start();
    const results: Record<string, { best: Step | null; generatorLimited: boolean; steps: Step[] }[]> = {};
    for (let r = 0; r < runs; r++) {
      for (const k of servers) {
        console.log(`  run ${r + 1} ${k}`);
        const srv = k === 'linerate' ? await linerateServer() : await kernelServer(k as 'c' | 'dgram');
        try {
          await gen.run(5000, 0.5); // warm-up: ARP both ways, JIT
          (results[k] ??= []).push(await ladder(gen, srv));
        } finally {
          await srv.stop();
        }
      }
    }
    const pool = await gen.quit();
    const summary: Record<string, unknown> = {};
    for (const [k, rs] of Object.entries(results)) {
      const bests = rs.map((x) => x.best).filter((x): x is Step => x !== null);
      summary[k] = {
        answeredPps: minMedMax(bests.map((b) => b.answeredPps)),
        cpuUsPerReq: minMedMax(bests.map((b) => b.cpuUsPerReq).filter((x): x is number => x !== null)),
        p50Us: minMedMax(bests.map((b) => b.p50Us)),
        p99Us: minMedMax(bests.map((b) => b.p99Us)),
        p999Us: minMedMax(bests.map((b) => b.p999Us)),
        generatorLimitedRuns: rs.filter((x) => x.generatorLimited).length,
        steps: rs.map((x) => x.steps),
      };
    }
    const med = (k: string) => ((summary[k] as { answeredPps: { median: number } | null } | undefined)?.answeredPps?.median ?? null);
    const lr = med('linerate'), c = med('c'), dg = med('dgram');
    out.veth = summary;
    out.ratios = {
      linerateOverDgram: lr && dg ? Number((lr / dg).toFixed(2)) : null,
      linerateOverC: lr && c ? Number((lr / c).toFixed(2)) : null,
      targets: { overDgram: 10, overC: 1 },
    };
    out.generatorPool = pool;
    console.log(`  answered at ≤ ${LOSS_PCT}% loss (median): linerate ${lr}  c ${c}  dgram ${dg}  -> ${JSON.stringify(out.ratios)}`);
  }
  out.loadavg = { start: load0, end: loadavg() };
  console.log(JSON.stringify(out));
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
