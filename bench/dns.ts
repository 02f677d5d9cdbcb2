/**
 * bench/dns: authoritative DNS servers side by side on the veth bed
 * (scripts/netns.sh --isolate-b), each in turn on the same server CPU, the
 * generators on the other. docs/bench.md, "DNS (bench/dns)".
 *
 * Servers (bench/dns-servers.ts), in namespace B on --rx-cpu (softirq included):
 *   linerate  examples/dns in an inline worker on an af_xdp host, 198.18.0.2/24
 *   knot-xdp  knotd with `xdp: listen: IF@53` (every thread re-pinned; its XDP program removed after it)
 *   knot-udp  knotd on UDP sockets
 *   nsd       NSD (server-count 1)
 *   dgram     examples/dns/dgram.ts: the same answer code on a Node dgram socket
 * Generators, in namespace A on --gen-cpu:
 *   kxdpgun   (knot-dnsutils; AF_XDP) a ladder of offered rates: doubling from --start until fewer than
 *             99% are answered (or kxdpgun cannot offer the rate), then --bisect halvings of the gap; the
 *             highest rate answered ≥ 99% is the figure. Then one step at --full-rate (as fast as kxdpgun
 *             sends): the answered rate, and the server's CPU-seconds per million answers.
 *   dnsperf   (kernel sockets, --dnsperf-clients sockets, --dnsperf-outstanding in flight) as fast as it goes.
 * The query mix (a file both read) covers answers, CNAMEs, NXDOMAIN, NODATA, wildcards, a referral and a
 * truncated TXT; its response-size mix is computed with examples/dns's answer code and printed.
 * Figures are min/median/max over --runs; the last line is JSON.
 *
 *   node dist/bench/dns.js [--quick] [--runs 3] [--seconds 3] [--servers linerate,knot-xdp,knot-udp,nsd,dgram]
 *        [--start 25000] [--bisect 2] [--full-rate 5000000] [--no-dnsperf] [--gen-cpu 0] [--rx-cpu 1] [--idle adaptive|busy]
 *
 * Root. Everything it creates (namespaces, XDP programs, server processes, temp dir) is removed on exit.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Answers, COUNTERS } from '../examples/dns/answers.js';
import { parseZone } from '../examples/dns/zone.js';
import { T } from '../examples/dns/wire.js';
import { onPath, track } from './children.js';
import { SERVER_IP, SERVER_KINDS, startServer, type Running, type ServerKind } from './dns-servers.js';
import { BenchScratch } from './scratch.js';
import { benchCpus, loadavg, minMedMax, procCpuS, softirqS } from './measure.js';

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    seconds: { type: 'string' },
    servers: { type: 'string', default: SERVER_KINDS.join(',') },
    start: { type: 'string' },
    bisect: { type: 'string' },
    'full-rate': { type: 'string', default: '5000000' },
    'no-dnsperf': { type: 'boolean', default: false },
    'dnsperf-clients': { type: 'string', default: '16' },
    'dnsperf-outstanding': { type: 'string', default: '1000' },
    'gen-cpu': { type: 'string' },
    'rx-cpu': { type: 'string' },
    // Adaptive by default: on a CPU shared with other work a busy poller competes for its slices (docs/bench.md, "DNS").
    idle: { type: 'string', default: 'adaptive' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (a.help) {
  console.log(`usage: node dist/bench/dns.js [--quick] [--runs 3] [--seconds 3] [--servers ${SERVER_KINDS.join(',')}] [--start 25000] [--bisect 2]
    [--full-rate 5000000] [--no-dnsperf] [--dnsperf-clients 16] [--dnsperf-outstanding 1000] [--gen-cpu N] [--rx-cpu N] [--idle adaptive|busy]
  --quick: one run of 1 s steps from 50000 q/s, one bisection
  --idle: the linerate server's inline worker backs off when idle (adaptive, the default) or spins (busy)`);
  process.exit(0);
}
const quick = a.quick!;
const runs = Number(a.runs ?? (quick ? 1 : 3));
const seconds = Number(a.seconds ?? (quick ? 1 : 3));
const startRate = Number(a.start ?? (quick ? 50000 : 25000));
const bisect = Number(a.bisect ?? (quick ? 1 : 2));
const fullRate = Number(a['full-rate']);
const servers = a.servers!.split(',').filter(Boolean) as ServerKind[];
for (const s of servers) if (!SERVER_KINDS.includes(s)) throw new Error(`unknown server ${s}; one of ${SERVER_KINDS.join(',')}`);
const { genCpu, rxCpu } = benchCpus(a);
const idle = a.idle as 'busy' | 'adaptive';
if (idle !== 'busy' && idle !== 'adaptive') throw new Error(`--idle must be busy or adaptive, got ${a.idle}`);
const ANSWERED_PCT = 99;
const ZONE = new URL('../../test/fixtures/dns/example.test.zone', import.meta.url).pathname;

/**
 * The query mix (dnsperf's and kxdpgun's file format: one "NAME TYPE" a line, no EDNS): mostly positive
 * answers, as an authoritative server sees, with the other kinds of answer in it.
 */
const QUERIES = [
  'www.example.test A', 'web.example.test A', 'WWW.Example.TEST A', 'mail.example.test A', 'ns1.example.test AAAA',
  'example.test SOA', 'example.test NS', 'example.test MX', 'example.test A', 'example.test AAAA',
  'chain.example.test A', '_sip._udp.example.test SRV', 'x.wild.example.test A', 'host.wcname.example.test A',
  'txt.example.test TXT', 'nope.example.test A', 'www.example.test AAAA', 'a.b.c.ent.example.test A',
  'www.sub.example.test A', 'big.example.test TXT',
];

// ------------------------------------------------------------ CPU accounting
const serverCpuS = (srv: Running) => srv.pids().reduce((x, p) => x + procCpuS(p), 0) + softirqS(rxCpu);

// ------------------------------------------------------------ the response-size mix
/** Our answer to each query of the mix (UDP, no EDNS: 512 bytes at most), as sizes and truncation. */
function sizeMix(): { bytes: Record<string, number>; truncated: number; meanBytes: number } {
  const answers = new Answers([parseZone(readFileSync(ZONE, 'utf8'), ZONE)]);
  const counters = new Float64Array(COUNTERS);
  const bytes: Record<string, number> = {};
  let truncated = 0, total = 0;
  for (const q of QUERIES) {
    const [name, type] = q.split(' ') as [string, keyof typeof T];
    const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
    const buf = new Uint8Array(4096);
    buf.set([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, T[type] >> 8, T[type] & 0xff, 0, 1]);
    const n = answers.answer(buf, 0, 12 + labels.length + 5, buf.length, counters);
    if (buf[2] & 0x02) truncated++;
    bytes[q] = n;
    total += n;
  }
  return { bytes, truncated, meanBytes: Math.round(total / QUERIES.length) };
}

// ------------------------------------------------------------ generators
let bed = { nsA: '', nsB: '', ifA: '', ifB: '', macA: '', macB: '' };
let queryFile = '';

interface Gen {
  sentQps: number;
  answeredQps: number;
  answeredPct: number;
  avgReplyBytes: number | null;
}
/** One kxdpgun run (AF_XDP on A's end, its one thread on the generator CPU). */
async function kxdpgun(rate: number, secs: number): Promise<Gen> {
  const args = ['netns', 'exec', bed.nsA, 'taskset', '-c', String(genCpu), 'kxdpgun', '-t', String(secs), '-Q', String(rate), '-F', `${genCpu}s1`, '-i', queryFile, '-I', bed.ifA, '-L', bed.macA, '-R', bed.macB, SERVER_IP];
  const c = track(spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  c.stdout!.on('data', (d) => (out += String(d)));
  c.stderr!.on('data', (d) => (out += String(d)));
  const code = await new Promise<number | null>((r) => c.once('exit', r));
  const q = /total queries:\s+(\d+) \((\d+) pps\)/.exec(out);
  const rep = /total replies:\s+(\d+) \((\d+) pps\)/.exec(out);
  if (code !== 0 || !q || !rep) throw new Error(`kxdpgun failed (exit ${code}): ${out.trim().split('\n').slice(-8).join('\n')}`);
  const size = /average DNS reply size:\s+(\d+) B/.exec(out);
  const sent = Number(q[1]), got = Number(rep[1]);
  return { sentQps: Number(q[2]), answeredQps: Number(rep[2]), answeredPct: sent ? (100 * got) / sent : 0, avgReplyBytes: size ? Number(size[1]) : null };
}

/** dnsperf from A's kernel sockets, as fast as it goes: answered q/s and the share completed. */
function dnsperf(secs: number): { qps: number; completedPct: number } | { error: string } {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', bed.nsA, 'taskset', '-c', String(genCpu), 'dnsperf', '-s', SERVER_IP, '-d', queryFile, '-l', String(secs), '-c', a['dnsperf-clients']!, '-q', a['dnsperf-outstanding']!, '-T', '1'],
    { encoding: 'utf8', timeout: (secs + 30) * 1000 },
  );
  const qps = /Queries per second:\s+([\d.]+)/.exec(r.stdout);
  const done = /Queries completed:\s+\d+ \(([\d.]+)%\)/.exec(r.stdout);
  if (!qps || !done) return { error: `dnsperf: ${(r.stdout + r.stderr).trim().split('\n').slice(-5).join(' / ')}` };
  return { qps: Math.round(Number(qps[1])), completedPct: Number(done[1]) };
}

// ------------------------------------------------------------ the ladder
interface Step extends Gen {
  offered: number;
  ok: boolean;
  generatorLimited: boolean;
  cpuSecPerMillion: number | null;
}
async function step(srv: Running, rate: number, secs: number, label = ''): Promise<Step> {
  const c0 = serverCpuS(srv);
  const g = await kxdpgun(rate, secs);
  const c1 = serverCpuS(srv);
  const answers = g.answeredQps * secs;
  // kxdpgun paces in batches: below 95% of the rate asked, it could not offer it.
  const s: Step = {
    offered: rate,
    ...g,
    answeredPct: Number(g.answeredPct.toFixed(2)),
    ok: g.answeredPct >= ANSWERED_PCT,
    generatorLimited: g.sentQps < 0.95 * rate,
    cpuSecPerMillion: answers > 0 ? Number((((c1 - c0) * 1e6) / answers).toFixed(3)) : null,
  };
  console.log(
    `    ${label}${String(rate).padStart(8)}/s offered  sent ${String(s.sentQps).padStart(8)}  answered ${String(s.answeredQps).padStart(8)} (${s.answeredPct.toFixed(2)}%)` +
      `  cpu ${s.cpuSecPerMillion ?? '-'} s/M  reply ${s.avgReplyBytes ?? '-'} B${s.generatorLimited ? '  (generator-limited)' : ''}${s.ok ? '' : '  < 99%'}`,
  );
  return s;
}
async function ladder(srv: Running): Promise<{ steps: Step[]; best: Step | null; generatorLimited: boolean }> {
  const steps: Step[] = [];
  let lo: Step | null = null, hi: number | null = null, limited = false;
  for (let rate = startRate; ; rate *= 2) {
    const s = await step(srv, rate, seconds);
    steps.push(s);
    if (s.ok) lo = s;
    else hi = rate;
    if (s.generatorLimited) limited = s.ok;
    if (!s.ok || s.generatorLimited) break;
  }
  // On a loaded machine even the first rate may be too high: halve down to it (at most 5 times).
  for (let i = 0; i < 5 && !lo && hi !== null && hi / 2 >= 1000; i++) {
    const s = await step(srv, Math.round(hi / 2), seconds);
    steps.push(s);
    if (s.ok) lo = s;
    else hi = s.offered;
  }
  for (let i = 0; i < bisect && lo && hi && !limited; i++) {
    const rate = Math.round((lo.offered + hi) / 2);
    const s = await step(srv, rate, seconds);
    steps.push(s);
    if (s.ok) lo = s;
    else hi = rate;
  }
  return { steps, best: lo, generatorLimited: limited };
}

// ------------------------------------------------------------ main

interface RunResult {
  best: Step | null;
  generatorLimited: boolean;
  steps: Step[];
  full: Step;
  dnsperf: { qps: number; completedPct: number } | { error: string } | null;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (namespaces, XDP)');
  if (genCpu === rxCpu) throw new Error('needs two CPUs: --gen-cpu and --rx-cpu must differ');
  const need = ['kxdpgun', ...(servers.some((s) => s.startsWith('knot')) ? ['knotd'] : []), ...(servers.includes('nsd') ? ['nsd'] : []), ...(a['no-dnsperf'] ? [] : ['dnsperf']), 'kdig', 'ethtool', 'taskset'];
  const missing = need.filter((b) => !onPath(b));
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: apt-get install knot knot-dnsutils nsd dnsperf ethtool util-linux`);
  const scratch = new BenchScratch('dns');
  process.on('exit', () => scratch.cleanup());
  // Every thread of this process (the linerate server's) on the server CPU; the generators run on --gen-cpu.
  for (const tid of readdirSync('/proc/self/task')) spawnSync('taskset', ['-p', '-c', String(rxCpu), tid], { stdio: 'ignore' });
  const load0 = loadavg();
  copyFileSync(ZONE, join(scratch.tmp, 'example.test.zone'));
  queryFile = join(scratch.tmp, 'queries.txt');
  writeFileSync(queryFile, QUERIES.join('\n') + '\n');
  const mix = sizeMix();
  bed = scratch.bed();
  for (const [ns, ifc] of [[bed.nsA, bed.ifA], [bed.nsB, bed.ifB]] as const) {
    // A local socket's UDP over a veth carries a partial checksum; an AF_XDP receiver would see it unfinished.
    execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', ifc, 'tx', 'off'], { stdio: 'ignore' });
  }
  // B's kernel rx work (kernel servers' softirq) on the server CPU, A's on the generator CPU.
  execFileSync('ip', ['netns', 'exec', bed.nsB, 'sh', '-c', `echo ${(1 << rxCpu).toString(16)} > /sys/class/net/${bed.ifB}/queues/rx-0/rps_cpus`]);
  execFileSync('ip', ['netns', 'exec', bed.nsA, 'sh', '-c', `echo ${(1 << genCpu).toString(16)} > /sys/class/net/${bed.ifA}/queues/rx-0/rps_cpus`]);
  console.log(`bench/dns: ${QUERIES.length} queries in the mix (responses ${Math.min(...Object.values(mix.bytes))}..${Math.max(...Object.values(mix.bytes))} B, mean ${mix.meanBytes} B, ${mix.truncated} truncated)`);
  console.log(`  kxdpgun/dnsperf on ${bed.ifA} (${bed.nsA}, cpu ${genCpu}) -> servers on ${bed.ifB} (${bed.nsB}, cpu ${rxCpu}); ${runs} run(s), ${seconds} s steps from ${startRate} q/s; load ${loadavg()}`);
  const ctx = { bed, cpu: rxCpu, zone: join(scratch.tmp, 'example.test.zone'), dir: scratch.tmp, idle };
  const results: Partial<Record<ServerKind, RunResult[]>> = {};
  const failures: string[] = [];
  for (let r = 0; r < runs; r++) {
    for (const k of servers) {
      console.log(`  run ${r + 1} ${k} (load ${loadavg()})`);
      let srv: Running;
      try {
        srv = await startServer(k, ctx);
      } catch (e) {
        failures.push(`${k}: ${(e as Error).message.split('\n')[0]}`);
        console.log(`    could not start: ${(e as Error).message}`);
        continue;
      }
      try {
        await kxdpgun(5000, 1); // warm-up: JIT, caches
        const l = await ladder(srv);
        if (srv.counters) console.log(`    ${k}: ${srv.counters()}`);
        const full = await step(srv, fullRate, seconds, 'full rate: ');
        if (srv.counters) console.log(`    ${k}: ${srv.counters()}`);
        const dp = a['no-dnsperf'] ? null : dnsperf(seconds);
        if (dp) console.log(`    dnsperf: ${'qps' in dp ? `${dp.qps} q/s answered, ${dp.completedPct}% completed` : dp.error}`);
        (results[k] ??= []).push({ ...l, full, dnsperf: dp });
      } catch (e) {
        failures.push(`${k}: ${(e as Error).message.split('\n')[0]}`);
        console.log(`    failed: ${(e as Error).message}`);
      } finally {
        await srv.stop();
      }
    }
  }
  const summary: Record<string, unknown> = {};
  for (const [k, rs] of Object.entries(results) as [ServerKind, RunResult[]][]) {
    const bests = rs.map((x) => x.best).filter((x): x is Step => x !== null);
    const dps = rs.map((x) => x.dnsperf).filter((x): x is { qps: number; completedPct: number } => !!x && 'qps' in x);
    summary[k] = {
      answered99Qps: minMedMax(bests.map((b) => b.answeredQps)),
      cpuSecPerMillionAt99: minMedMax(bests.map((b) => b.cpuSecPerMillion).filter((x): x is number => x !== null)),
      fullRate: {
        sentQps: minMedMax(rs.map((x) => x.full.sentQps)),
        answeredQps: minMedMax(rs.map((x) => x.full.answeredQps)),
        answeredPct: minMedMax(rs.map((x) => x.full.answeredPct)),
        cpuSecPerMillion: minMedMax(rs.map((x) => x.full.cpuSecPerMillion).filter((x): x is number => x !== null)),
      },
      avgReplyBytes: minMedMax(rs.map((x) => x.full.avgReplyBytes).filter((x): x is number => x !== null)),
      dnsperfQps: minMedMax(dps.map((d) => d.qps)),
      generatorLimitedRuns: rs.filter((x) => x.generatorLimited).length,
      steps: rs.map((x) => x.steps),
    };
  }
  const med = (k: string, pick: (s: { answered99Qps: { median: number } | null; fullRate: { answeredQps: { median: number } | null } }) => { median: number } | null) => {
    const s = summary[k] as Parameters<typeof pick>[0] | undefined;
    return s ? (pick(s)?.median ?? null) : null;
  };
  const ratio = (x: number | null, y: number | null) => (x && y ? Number((x / y).toFixed(2)) : null);
  const at99 = (k: string) => med(k, (s) => s.answered99Qps);
  const full = (k: string) => med(k, (s) => s.fullRate.answeredQps);
  const ratios = {
    at99: { overKnotXdp: ratio(at99('linerate'), at99('knot-xdp')), overDgram: ratio(at99('linerate'), at99('dgram')), overKnotUdp: ratio(at99('linerate'), at99('knot-udp')), overNsd: ratio(at99('linerate'), at99('nsd')) },
    fullRate: { overKnotXdp: ratio(full('linerate'), full('knot-xdp')), overDgram: ratio(full('linerate'), full('dgram')), overKnotUdp: ratio(full('linerate'), full('knot-udp')), overNsd: ratio(full('linerate'), full('nsd')) },
    targets: { overKnotXdp: 1, overDgram: 10 },
  };
  console.log(`  answered at ≥ ${ANSWERED_PCT}% (median q/s): ${servers.map((k) => `${k} ${at99(k)}`).join('  ')}`);
  console.log(`  answered at full rate (median q/s): ${servers.map((k) => `${k} ${full(k)}`).join('  ')}`);
  console.log(`  linerate over: ${JSON.stringify(ratios)}`);
  const out = {
    bench: 'dns',
    date: new Date().toISOString(),
    genCpu,
    rxCpu,
    runs,
    seconds,
    answeredPctLimit: ANSWERED_PCT,
    queries: QUERIES,
    responseSizes: mix,
    servers: summary,
    ratios,
    failures,
    loadavg: { start: load0, end: loadavg() },
  };
  scratch.cleanup();
  console.log(JSON.stringify(out));
}

main()
  .then(() => process.exit(0))
  .catch((e) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exit(2);
  });
