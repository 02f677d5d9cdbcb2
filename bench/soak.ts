/**
 * bench/soak: the host layer serving UDP for minutes, to show that nothing grows.
 * docs/reliability.md, "Soak".
 *
 * On the veth bed (scripts/netns.sh up --isolate-b, as bench/udp): this process
 * serves UDP echo on an af_xdp port on B's end (host 198.18.0.2/24, a JS handler
 * in workers: bench/soak-handler), and the generator child (bench/udp-gen, on
 * --gen-cpu) sends --rate requests a second from A's end for --minutes. Every
 * second it samples:
 *   - mbufs in use by owner (driver, rings, js, host, in flight)
 *   - process RSS, open fds (/proc/self/fd)
 *   - V8 heap used per thread: the main thread's (v8.getHeapStatistics) and each
 *     worker's (the worker writes its own into its result counters)
 *   - garbage collections per second: main thread (PerformanceObserver 'gc'),
 *     workers (v8.GCProfiler, see soak-handler)
 *   - drops per second by reason: the port's (txFull, noMbuf, ...), the host's
 *     (udpRingFull, udpNoListener, bad checksums) and the socket's handler drops
 * and then reports the least-squares slope of each series over the second half
 * of the run (bench/soak-analysis), and exits 1 when one grows beyond its limit
 * (a leak), when the pool is not whole after stop, or when the server answered
 * less than --min-answered (default 0.99) of what was sent at a rate meant to be
 * lossless (pick a lower --rate; bench/udp finds the highest lossless one).
 * CI, where other tests share the two CPUs, passes a lower bar: there the run
 * is about growth, and a loaded machine loses requests without leaking. Writes the series as a
 * vega-lite SVG (--svg) and ends with one JSON line.
 *
 *   node dist/bench/soak.js [--minutes 10] [--rate 20000] [--mode inline|pipeline] [--flows 16] [--size 50]
 *                           [--gen-cpu N] [--rx-cpu N] [--svg soak.svg] [--capture off|on] [--min-answered 0.99]
 *
 * Root. Everything it creates (namespaces, temp dir, children) is removed on exit.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { Engine, type CaptureStats, type Host, type Port } from '../src/index.js';
import { GenChild } from './gen-child.js';
import { BenchScratch } from './scratch.js';
import { judge, LIMITS, type Series, type Verdict } from './soak-analysis.js';
import { soakSvg } from './soak-chart.js';
import { benchCpus } from './measure.js';

const { values: a } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '20000' },
    mode: { type: 'string', default: 'inline' },
    flows: { type: 'string', default: '16' },
    size: { type: 'string', default: '50' },
    'gen-cpu': { type: 'string' },
    'rx-cpu': { type: 'string' },
    svg: { type: 'string', default: 'soak.svg' },
    capture: { type: 'string', default: 'off' },
    'min-answered': { type: 'string', default: '0.99' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (a.help) {
  console.log(`usage: node dist/bench/soak.js [--minutes 10] [--rate 20000] [--mode inline|pipeline] [--flows 16] [--size 50]
    [--gen-cpu N] [--rx-cpu N] [--svg soak.svg] [--capture off|on] [--min-answered 0.99]`);
  process.exit(0);
}
const minutes = Number(a.minutes);
const rate = Number(a.rate);
const mode = a.mode as 'inline' | 'pipeline';
if (!(minutes > 0)) throw new Error(`--minutes must be > 0, got ${a.minutes}`);
if (!(rate > 0)) throw new Error(`--rate must be > 0, got ${a.rate}`);
if (mode !== 'inline' && mode !== 'pipeline') throw new Error(`--mode must be inline or pipeline, got ${a.mode}`);
if (a.capture !== 'off' && a.capture !== 'on') throw new Error(`--capture must be off or on, got ${a.capture}`);
const { genCpu, rxCpu } = benchCpus(a);
const PORT = 7;
const MIN_ANSWERED = Number(a['min-answered']);
if (!(MIN_ANSWERED >= 0 && MIN_ANSWERED <= 1)) throw new Error(`--min-answered must be a fraction in 0..1, got ${a['min-answered']}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const scratch = new BenchScratch('soak');

/**
 * bench/soak --capture on: a capture of `port` in both directions whose filter
 * matches the traffic (udp port PORT), so the tap, the cBPF filter, the copy
 * into the record rings, the drain and the pcapng writer run for every request
 * and every answer; its buffers show up in the RSS and heap series like
 * everything else. The pcapng goes to /dev/null: at the soak's rates a file
 * would grow by gigabytes, and the writer's work is the same. Returns its stop
 * function, which resolves with the capture's counters.
 */
function startCapture(engine: Engine, port: Port): () => Promise<CaptureStats> {
  const c = engine.capture(port, { filter: `udp port ${PORT}`, direction: 'both', file: '/dev/null' });
  return async () => {
    await c.stop();
    return c.stats();
  };
}

/** The drop counters, by reason, summed: port drops, host input drops, the socket's handler drops. */
function drops(e: Engine, host: Host): Record<string, number> {
  const s = e.stats().ports.b!;
  const h = host.stats();
  const sock = h.sockets.find((x) => x.port === PORT);
  return {
    ...Object.fromEntries(Object.entries(s.drops).map(([k, v]) => [`port.${k}`, v])),
    'host.udpRingFull': h.udpRingFull,
    'host.udpNoListener': h.udpNoListener,
    'host.udpBadCsum': h.udpBadCsum,
    'host.ipBadCsum': h.ipBadCsum,
    'host.malformed': h.malformed,
    'socket.dropped': sock?.dropped ?? 0,
  };
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('run as root (namespaces, XDP)');
  if (genCpu === rxCpu) throw new Error('needs two CPUs: --gen-cpu and --rx-cpu must differ');
  // Every thread of this process (the server's) on the server CPU; the generator child is on --gen-cpu.
  for (const tid of readdirSync('/proc/self/task')) spawnSync('taskset', ['-p', '-c', String(rxCpu), tid], { stdio: 'ignore' });
  const bed = scratch.bed();
  console.log(`bench/soak: ${minutes} min at ${rate} requests/s (${a.size}-byte, ${a.flows} flows), ${mode} JS worker on cpu ${rxCpu}, generator on cpu ${genCpu}, capture ${a.capture}`);

  const e = await Engine.create({ lcores: [rxCpu], mempool: { mbufs: 16384 }, idle: 'adaptive' });
  const port = e.addPort('b', { driver: 'af_xdp', interface: bed.ifB, netns: bed.nsB, ringSize: 4096 });
  const host = e.host(port, { ipv4: '198.18.0.2/24' });
  host.udpInWorkers({ port: PORT, module: new URL('./soak-handler.js', import.meta.url), mode, cpus: [rxCpu], counters: 2 });
  await e.start();
  const stopCapture = a.capture === 'on' ? startCapture(e, port) : null;

  let mainGcs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    mainGcs += list.getEntries().length;
  });
  gcObserver.observe({ entryTypes: ['gc'] });

  const gen = new GenChild({ ns: bed.nsA, ifc: bed.ifA, cpu: genCpu, flows: Number(a.flows), size: Number(a.size), idle: 'adaptive' });
  await gen.start();
  await gen.run(Math.min(rate, 5000), 1); // warm-up: ARP both ways, JIT

  // ---- sampling, once a second, while the generator runs
  const series = new Map<string, Series>();
  const t0 = performance.now();
  const put = (name: string, unit: string, limitPerMin: number, t: number, value: number) => {
    let s = series.get(name);
    if (!s) series.set(name, (s = { name, unit, limitPerMin, t: [], values: [] }));
    s.t.push(t);
    s.values.push(value);
  };
  let prevDrops = drops(e, host);
  let prevMainGcs = mainGcs;
  let prevWorkerGcs = e.workerCounters(port).map((c) => c[1]!);
  const sampleOnce = () => {
    const t = Number(((performance.now() - t0) / 1000).toFixed(2));
    const st = e.stats();
    for (const [owner, n] of Object.entries(st.mempool.inUse)) if (owner !== 'total') put(`mbufs.${owner}`, 'mbufs', LIMITS.mbufs, t, n);
    put('mbufs.total', 'mbufs', LIMITS.mbufs, t, st.mempool.inUse.total);
    put('rss', 'bytes', LIMITS.rssBytes, t, process.memoryUsage.rss());
    put('heap.main', 'bytes', LIMITS.heapBytes, t, getHeapStatistics().used_heap_size);
    const wc = e.workerCounters(port);
    wc.forEach((c, q) => put(`heap.worker${q}`, 'bytes', LIMITS.heapBytes, t, c[0]!));
    put('fds', 'fds', LIMITS.fds, t, readdirSync('/proc/self/fd').length);
    put('gc.main', 'GCs/s', LIMITS.gcPerS, t, mainGcs - prevMainGcs);
    prevMainGcs = mainGcs;
    wc.forEach((c, q) => put(`gc.worker${q}`, 'GCs/s', LIMITS.gcPerS, t, c[1]! - (prevWorkerGcs[q] ?? 0)));
    prevWorkerGcs = wc.map((c) => c[1]!);
    const d = drops(e, host);
    for (const [k, v] of Object.entries(d)) put(`drops.${k}`, 'drops/s', LIMITS.dropsPerS, t, v - (prevDrops[k] ?? 0));
    prevDrops = d;
  };
  let running = true;
  const run = gen.run(rate, minutes * 60).finally(() => {
    running = false;
  });
  let nextAt = performance.now() + 1000;
  while (running) {
    await sleep(Math.max(0, nextAt - performance.now()));
    nextAt += 1000;
    if (!running) break;
    sampleOnce();
    const n = series.get('rss')!.t.length;
    if (n % 60 === 0) console.log(`  ${n} s: rss ${(process.memoryUsage.rss() / 2 ** 20).toFixed(1)} MiB, mbufs in use ${e.stats().mempool.inUse.total}`);
  }
  const report = await run;
  gcObserver.disconnect();
  await gen.quit();
  const captured = stopCapture ? await stopCapture() : null;
  if (captured) console.log(`  capture: ${captured.seen} seen, ${captured.accepted} accepted, ${captured.written} written, ${captured.dropped} dropped by its ring`);
  await e.stop();
  const end = e.stats();
  const poolWhole = end.mempool.free.total === end.mempool.size;
  await e.close();

  // ---- verdict
  const verdicts: Verdict[] = [...series.values()].map(judge);
  const answered = report.sent > 0 ? report.received / report.sent : 0;
  console.log(`  sent ${report.sent} (${report.sentPps}/s of ${rate}/s offered), answered ${report.received} (${(answered * 100).toFixed(3)}%), p99 ${report.latency.p99Us} µs; pool after stop ${end.mempool.free.total}/${end.mempool.size}`);
  console.log('  series (second half)                   slope/min      limit/min   first → last');
  for (const v of verdicts) {
    console.log(`  ${v.leak ? 'GROWS' : 'flat '} ${v.name.padEnd(30)} ${String(v.slopePerMin).padStart(12)} ${String(v.limitPerMin).padStart(12)}   ${v.first} → ${v.last} ${v.unit}`);
  }
  // The chart: the series that moved (drop reasons that stayed 0 are left out).
  const shown = [...series.values()].filter((s) => !s.name.startsWith('drops.') || s.values.some((x) => x !== 0));
  const svg = await soakSvg(shown, `bench/soak: ${minutes} min at ${rate}/s, ${mode} worker`);
  writeFileSync(a.svg!, svg);
  console.log(`  chart: ${a.svg}`);

  const leaks = verdicts.filter((v) => v.leak).map((v) => v.name);
  const problems = [
    ...leaks.map((n) => `${n} grows`),
    ...(poolWhole ? [] : [`${end.mempool.size - end.mempool.free.total} mbufs missing after stop`]),
    ...(answered >= MIN_ANSWERED ? [] : [`answered ${(answered * 100).toFixed(2)}% < ${(MIN_ANSWERED * 100).toFixed(1)}%: --rate ${rate} is not lossless here; use a lower one`]),
  ];
  const out = {
    bench: 'soak',
    date: new Date().toISOString(),
    minutes,
    rate,
    mode,
    capture: a.capture,
    captured,
    sent: report.sent,
    sentPps: report.sentPps,
    answered: report.received,
    p99Us: report.latency.p99Us,
    poolWhole,
    samples: series.get('rss')!.t.length,
    verdicts,
    problems,
    ok: problems.length === 0,
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
  for (const p of problems) console.error(`soak: ${p}`);
  console.log(JSON.stringify(out));
  return problems.length ? 1 : 0;
}

main()
  .then((code) => {
    scratch.cleanup();
    process.exit(code);
  })
  .catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    scratch.cleanup();
    process.exit(2);
  });
