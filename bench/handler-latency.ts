/**
 * bench/handler-latency: how long a packet spends from rx to tx through a
 * JavaScript handler. Null port a (`stamp: true`: each packet gets the TSC time
 * it was received, as nanoseconds) -> the handler of bench/handler-module.ts
 * (reads type and UDP port, swaps MACs, forwards) -> null port b (`latency: true`:
 * a histogram of now - timestamp at transmit; xstats give p50/p99/p99.9/max).
 *
 * First the maximum rate of each JS mode is measured (unlimited source), then
 * the source is paced (`rate`) at 10%, 50% and 90% of it. Modes: `pipeline`
 * (lcore -> ring -> handler on the main thread -> ring -> lcore) and `inline`
 * (one worker polls and transmits itself); `pipeline-worker` on request. The
 * peer, measured in the same rounds at the same offered rates, is native
 * forwarding a -> b on the lcore with no JS (`native@<mode>`). Each level is
 * warmed up, then the histogram is reset (`resetLatency`) and measured.
 * Rounds are interleaved; min / median / max over rounds. The last line is one
 * JSON object.
 *
 *   node dist/bench/handler-latency.js [--seconds 3] [--runs 3] [--modes pipeline,inline] [--levels 10,50,90]
 *                                      [--drain-us 100] [--lcore 1] [--warmup 1] [--probe-seconds 3]
 *
 * Exit status: 0; 1 when mbufs are missing after a run; 2 on bad arguments.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Engine, type EngineStats } from '../src/index.js';
import {
  HelloListener,
  allowedCpuList,
  expandCpuList,
  findThread,
  fmtSpread,
  loadAvg,
  numberArg,
  pinOtherThreads,
  round,
  spread,
  threadCpuNs,
  threadWaitNs,
} from './handler-common.js';
import handlerFn from './handler-module.js';

const JS_MODES = ['pipeline', 'inline', 'pipeline-worker'] as const;
type JsMode = (typeof JS_MODES)[number];
type Mode = JsMode | 'native';
const TARGET_P999_NS = 10_000;
const TARGET_LEVEL = 50;
const MODULE_URL = new URL('./handler-module.js', import.meta.url);

const usage = `usage: node dist/bench/handler-latency.js [options]
  --seconds S        measurement window per level (default 3)
  --runs N           rounds (default 3)
  --modes LIST       JS modes, from: ${JS_MODES.join(', ')} (default pipeline,inline); each gets a native peer
  --levels LIST      offered load in percent of the mode's maximum rate (default 10,50,90)
  --drain-us N       engine drainUs: how long the lcore's tx buffers may hold a partial burst (default 100, the engine's)
  --lcore N          CPU of the lcore and of the inline worker (default 1)
  --warmup S         seconds at the level before the histogram is reset (default 1)
  --probe-seconds S  measurement of each mode's maximum rate (default 3)
  --size B           frame size (default 64)
  --coalesce-us N    pipeline modes: HandleOptions.coalesceUs (default: the library's, DEFAULT_COALESCE_US)
  --max-mpps N       skip the probe and take N Mpps as every mode's maximum, so that the offered rates
                     are the same across runs (for A/B comparisons)`;

interface Config {
  seconds: number;
  runs: number;
  modes: JsMode[];
  levels: number[];
  drainUs: number;
  lcore: number;
  warmup: number;
  probeSeconds: number;
  size: number;
  coalesceUs: number | undefined;
  maxMpps: number | undefined;
}

function parseConfig(): Config {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seconds: { type: 'string', default: '3' },
        runs: { type: 'string', default: '3' },
        modes: { type: 'string', default: 'pipeline,inline' },
        levels: { type: 'string', default: '10,50,90' },
        'drain-us': { type: 'string', default: '100' },
        lcore: { type: 'string', default: '1' },
        warmup: { type: 'string', default: '1' },
        'probe-seconds': { type: 'string', default: '3' },
        size: { type: 'string', default: '64' },
        'coalesce-us': { type: 'string' },
        'max-mpps': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`bench/handler-latency: ${(e as Error).message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const num = (name: string, v: string, min: number, max: number, integer: boolean) => numberArg('bench/handler-latency', usage, name, v, min, max, integer);
  const modes = values.modes.split(',').map((m) => m.trim()).filter(Boolean) as JsMode[];
  for (const m of modes) {
    if (!JS_MODES.includes(m)) {
      console.error(`bench/handler-latency: unknown mode '${m}' (known: ${JS_MODES.join(', ')})\n${usage}`);
      process.exit(2);
    }
  }
  return {
    seconds: num('seconds', values.seconds, 0.5, 3600, false),
    runs: num('runs', values.runs, 1, 1000, true),
    modes,
    levels: values.levels.split(',').map((l) => num('levels', l.trim(), 1, 100, false)),
    drainUs: num('drain-us', values['drain-us'], 1, 1_000_000, true),
    lcore: num('lcore', values.lcore, 0, 4095, true),
    warmup: num('warmup', values.warmup, 0, 60, false),
    probeSeconds: num('probe-seconds', values['probe-seconds'], 0.5, 600, false),
    size: num('size', values.size, 60, 2048, true),
    coalesceUs: values['coalesce-us'] === undefined ? undefined : num('coalesce-us', values['coalesce-us'], 0, 1000, false),
    maxMpps: values['max-mpps'] === undefined ? undefined : num('max-mpps', values['max-mpps'], 0.01, 1000, false),
  };
}

const hellos = new HelloListener();

interface Running {
  engine: Engine;
  /** Threads doing the work, for CPU shares: [name, tid]. */
  threads: [string, string | undefined][];
}

/** An engine with a (paced, when rate > 0) stamping source a, the mode's path, and a latency sink b; started. */
async function start(cfg: Config, mode: Mode, rate: number, otherCpus: string): Promise<Running> {
  const engine = await Engine.create({ lcores: [cfg.lcore], drainUs: cfg.drainUs, mempool: { mbufs: 65536, hugepages: 'auto' } });
  try {
    const a = engine.addPort('a', { driver: 'null', packetSize: cfg.size, stamp: true, ...(rate > 0 ? { rate: Math.round(rate) } : {}) });
    const b = engine.addPort('b', { driver: 'null', latency: true });
    if (b.id !== 1) throw new Error(`port b has id ${b.id}; the handler module forwards to id 1`);
    if (mode === 'native') engine.forward(a, b, { mode: 'io' });
    else if (mode === 'inline') engine.handleInWorkers(a, { module: MODULE_URL, mode: 'inline', cpus: [cfg.lcore] });
    else if (mode === 'pipeline') engine.handle(a, { coalesceUs: cfg.coalesceUs }, handlerFn);
    else engine.handleInWorkers(a, { module: MODULE_URL, mode: 'pipeline', coalesceUs: cfg.coalesceUs });
    engine.on('error', (e: Error) => console.error(`bench/handler-latency: handler error: ${e.message}`));
    hellos.reset();
    await engine.start();
    let worker: string | undefined;
    if (mode === 'inline' || mode === 'pipeline-worker') {
      const h = await hellos.next();
      if (!h) throw new Error(`${mode}: the handler worker did not report (no hello on the BroadcastChannel)`);
      worker = h.tid;
    }
    const lcore = findThread('lr-lcore-0');
    const threads: [string, string | undefined][] =
      mode === 'native' ? [['lcore', lcore]] : mode === 'inline' ? [['worker', worker]] : mode === 'pipeline' ? [['lcore', lcore], ['main', String(process.pid)]] : [['lcore', lcore], ['worker', worker]];
    pinOtherThreads(otherCpus, new Set(mode === 'inline' && worker ? [worker] : []));
    return { engine, threads };
  } catch (e) {
    if (engine.state !== 'closed') await engine.close();
    throw e;
  }
}

async function finish(r: Running, allCpus: string): Promise<number> {
  pinOtherThreads(allCpus);
  try {
    if (r.engine.state === 'running') await r.engine.stop();
    const s = r.engine.stats();
    return s.mempool.size - s.mempool.free.total;
  } finally {
    if (r.engine.state !== 'closed') await r.engine.close();
  }
}

/** Maximum rate of a mode: Mpps out of b with an unpaced source. */
async function probe(cfg: Config, mode: Mode, otherCpus: string, allCpus: string): Promise<{ mpps: number; cpuShare: number }> {
  const r = await start(cfg, mode, 0, otherCpus);
  try {
    await sleep(cfg.warmup * 1000);
    const c0 = threadCpuNs(r.threads[0][1]);
    const s0 = r.engine.stats();
    await sleep(cfg.probeSeconds * 1000);
    const s1 = r.engine.stats();
    const c1 = threadCpuNs(r.threads[0][1]);
    return { mpps: (s1.ports.b.txPackets - s0.ports.b.txPackets) / ((s1.timeNs - s0.timeNs) / 1e9) / 1e6, cpuShare: (c1 - c0) / (s1.timeNs - s0.timeNs) };
  } finally {
    await finish(r, allCpus);
  }
}

interface LevelRun {
  offeredMpps: number;
  mpps: number;
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  ringFull: number;
  /** CPU share of the first thread doing the work (lcore, or the inline worker). */
  cpuShare: number;
  /** Every thread doing the work: name -> CPU share. */
  threads: Record<string, number>;
  /** Every thread doing the work: name -> ms it waited for a CPU while runnable (descheduled), over the window. */
  waitMs: Record<string, number>;
  missingMbufs: number;
}

function latencyOf(s: EngineStats) {
  const x = s.ports.b.xstats;
  return { count: x.latency_count, p50: x.latency_p50_ns, p99: x.latency_p99_ns, p999: x.latency_p999_ns, max: x.latency_max_ns, mean: x.latency_mean_ns };
}

async function level(cfg: Config, mode: Mode, rateMpps: number, otherCpus: string, allCpus: string): Promise<LevelRun> {
  const r = await start(cfg, mode, rateMpps * 1e6, otherCpus);
  let out: LevelRun;
  try {
    await sleep(cfg.warmup * 1000);
    // Start the histogram over: what the JIT's warm-up and the first bursts cost is not the steady state.
    r.engine.setPortOptions(r.engine.port('b')!, { resetLatency: true });
    const c0 = r.threads.map(([, tid]) => threadCpuNs(tid));
    const w0 = r.threads.map(([, tid]) => threadWaitNs(tid));
    const s0 = r.engine.stats();
    await sleep(cfg.seconds * 1000);
    const s1 = r.engine.stats();
    const c1 = r.threads.map(([, tid]) => threadCpuNs(tid));
    const w1 = r.threads.map(([, tid]) => threadWaitNs(tid));
    const dt = (s1.timeNs - s0.timeNs) / 1e9;
    const shares = r.threads.map(([name], i) => [name, round((c1[i] - c0[i]) / (s1.timeNs - s0.timeNs))] as const);
    out = {
      offeredMpps: rateMpps,
      mpps: (s1.ports.b.txPackets - s0.ports.b.txPackets) / dt / 1e6,
      ...latencyOf(s1),
      ringFull: s1.ports.a.drops.handlerRingFull - s0.ports.a.drops.handlerRingFull,
      cpuShare: shares[0][1],
      threads: Object.fromEntries(shares),
      waitMs: Object.fromEntries(r.threads.map(([name], i) => [name, round((w1[i] - w0[i]) / 1e6)])),
      missingMbufs: 0,
    };
  } catch (e) {
    await finish(r, allCpus);
    throw e;
  }
  out.missingMbufs = await finish(r, allCpus);
  if (out.missingMbufs) console.log(`  ${mode}: ${out.missingMbufs} MBUFS MISSING after the run`);
  return out;
}

const us = (ns: number) => (Number.isFinite(ns) ? (ns / 1000).toFixed(1) : '-');

async function main(): Promise<number> {
  const cfg = parseConfig();
  const allCpus = allowedCpuList();
  const cpus = expandCpuList(allCpus);
  if (!cpus.includes(cfg.lcore)) {
    console.error(`bench/handler-latency: CPU ${cfg.lcore} is not available to this process (allowed: ${allCpus}); pick one with --lcore`);
    return 2;
  }
  const otherCpus = cpus.filter((c) => c !== cfg.lcore).join(',');
  console.log(
    `bench/handler-latency: null a (stamp, rate) -> handler -> null b (latency), ${cfg.size}-byte frames, CPU ${cfg.lcore}, drainUs ${cfg.drainUs}, ` +
      `modes ${cfg.modes.join(' ')} (+ native peers), levels ${cfg.levels.join('/')}% of each mode's maximum, ${cfg.runs} round(s) of ${cfg.seconds} s after ${cfg.warmup} s`,
  );
  const load0 = loadAvg();
  const max: Record<string, { mpps: number; cpuShare: number }> = {};
  for (const m of cfg.modes) {
    max[m] = cfg.maxMpps !== undefined ? { mpps: cfg.maxMpps, cpuShare: NaN } : await probe(cfg, m, otherCpus, allCpus);
    console.log(`maximum rate ${m}: ${max[m].mpps.toFixed(2)} Mpps (${cfg.maxMpps !== undefined ? 'given with --max-mpps' : `${Math.round(max[m].cpuShare * 100)}% CPU`})`);
  }
  // configs: each JS mode, then native forwarding at the same offered rates
  const configs: { name: string; mode: Mode; of: JsMode }[] = cfg.modes.flatMap((m) => [
    { name: m, mode: m as Mode, of: m },
    { name: `native@${m}`, mode: 'native' as Mode, of: m },
  ]);
  const runs = new Map<string, LevelRun[]>();
  let missing = 0;
  for (let r = 0; r < cfg.runs; r++) {
    for (const lv of cfg.levels) {
      for (const c of configs) {
        const rate = (max[c.of].mpps * lv) / 100;
        const x = await level(cfg, c.mode, rate, otherCpus, allCpus);
        missing += x.missingMbufs;
        const key = `${c.name}|${lv}`;
        if (!runs.has(key)) runs.set(key, []);
        runs.get(key)!.push(x);
        console.log(
          `round ${r + 1}/${cfg.runs} ${c.name.padEnd(24)} ${String(lv).padStart(3)}%: offered ${rate.toFixed(2)} Mpps, out ${x.mpps.toFixed(2)} Mpps, ` +
            `p50 ${us(x.p50)} p99 ${us(x.p99)} p99.9 ${us(x.p999)} max ${us(x.max)} µs (${x.count} packets), CPU ${Object.entries(x.threads).map(([n, v]) => `${n} ${Math.round(v * 100)}%`).join(' ')}` +
            `, descheduled ${Object.entries(x.waitMs).map(([n, v]) => `${n} ${v} ms`).join(' ')}` +
            (x.ringFull ? `, ring full ${x.ringFull}` : ''),
        );
      }
    }
  }
  const load1 = loadAvg();
  console.log(`summary, µs, min / median / max over ${cfg.runs} rounds (ratio = median p99.9 / the native peer's at the same offered rate):`);
  const summary: Record<string, Record<string, unknown>> = {};
  for (const c of configs) {
    summary[c.name] = {};
    for (const lv of cfg.levels) {
      const xs = runs.get(`${c.name}|${lv}`)!;
      const peer = c.mode === 'native' ? undefined : runs.get(`native@${c.of}|${lv}`);
      const p999 = spread(xs.map((x) => x.p999), 0);
      const peerP999 = peer ? spread(peer.map((x) => x.p999), 0) : null;
      const ratio = p999 && peerP999 && peerP999.median > 0 ? round(p999.median / peerP999.median, 2) : null;
      summary[c.name][String(lv)] = {
        offeredMpps: round(xs[0].offeredMpps),
        mpps: spread(xs.map((x) => x.mpps)),
        p50Ns: spread(xs.map((x) => x.p50), 0),
        p99Ns: spread(xs.map((x) => x.p99), 0),
        p999Ns: p999,
        maxNs: spread(xs.map((x) => x.max), 0),
        meanNs: spread(xs.map((x) => x.mean), 0),
        packets: xs.map((x) => x.count),
        ringFull: xs.reduce((a, x) => a + x.ringFull, 0),
        cpuShare: Object.fromEntries(Object.keys(xs[0].threads).map((n) => [n, spread(xs.map((x) => x.threads[n]))])),
        p999RatioToNative: ratio,
      };
      const f = (s: ReturnType<typeof spread>) => fmtSpread(s ? { min: s.min / 1000, median: s.median / 1000, max: s.max / 1000 } : null, 1);
      console.log(
        `  ${c.name.padEnd(24)} ${String(lv).padStart(3)}% (${xs[0].offeredMpps.toFixed(2)} Mpps): p50 ${f(spread(xs.map((x) => x.p50)))}  p99 ${f(spread(xs.map((x) => x.p99)))}  ` +
          `p99.9 ${f(p999)}` + (ratio !== null ? `  x native ${ratio.toFixed(2)}` : ''),
      );
    }
  }
  const target: Record<string, unknown> = {};
  for (const m of cfg.modes) {
    const xs = runs.get(`${m}|${TARGET_LEVEL}`);
    if (!xs) continue;
    const p = spread(xs.map((x) => x.p999), 0)!;
    target[m] = { p999MedianNs: p.median, met: p.median <= TARGET_P999_NS };
    console.log(`target p99.9 <= ${TARGET_P999_NS / 1000} µs at ${TARGET_LEVEL}% load, ${m}: median ${us(p.median)} µs (${p.median <= TARGET_P999_NS ? 'met' : 'NOT met'})`);
  }
  console.log(`load average: ${load0} at the start, ${load1} at the end (2 CPUs)`);
  hellos.close();
  console.log(
    JSON.stringify({
      bench: 'handler-latency',
      packetSize: cfg.size,
      cpu: cfg.lcore,
      drainUs: cfg.drainUs,
      runs: cfg.runs,
      seconds: cfg.seconds,
      warmup: cfg.warmup,
      levels: cfg.levels,
      coalesceUs: cfg.coalesceUs ?? null,
      maxMppsGiven: cfg.maxMpps ?? null,
      loadAverage: [load0, load1],
      maxRate: Object.fromEntries(Object.entries(max).map(([k, v]) => [k, { mpps: round(v.mpps), cpuShare: round(v.cpuShare) }])),
      results: summary,
      target: { p999Ns: TARGET_P999_NS, level: TARGET_LEVEL, modes: target },
      missingMbufsAfterRuns: missing,
    }),
  );
  return missing ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as { code?: string; message?: string };
    console.error(`bench/handler-latency: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`);
    process.exit(2);
  },
);
