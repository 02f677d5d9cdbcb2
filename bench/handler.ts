/**
 * bench/handler: null port a -> a JavaScript handler that reads the Ethernet
 * type and UDP destination port of every packet and swaps its MAC addresses
 * (bench/handler-module.ts) -> null port b. Modes, interleaved run by run:
 *
 *   native           a -> b forwarded on the lcore (io mode), no JS: the peer every ratio is against
 *   native-mac       the same with MACs rewritten on the lcore (mode 'mac'): native work closest to the handler's
 *   inline           one worker pinned to the lcore CPU polls a itself (handleInWorkers, mode 'inline'); no lcore runs
 *   pipeline         the lcore polls a and hands bursts to the handler on the main thread (engine.handle)
 *   pipeline-worker  the same with the handler in a worker (handleInWorkers, mode 'pipeline')
 *
 * Prints Mpps (packets out of b per second), TSC cycles per packet (from the
 * on-CPU time of the threads doing the work, /proc/self/task/TID/schedstat), the
 * ratio to native forwarding, and heap/GC figures: the main thread's heapUsed and
 * GCs (PerformanceObserver 'gc') and the handler thread's own V8 used heap and
 * GC count (bench/handler-module.ts takes them inside its thread on request).
 * `--packets N` then runs each JS mode until the handler has seen N packets and
 * reports the heap growth and GCs over them. The last line is one JSON object.
 *
 *   node dist/bench/handler.js [--seconds 5] [--runs 5] [--modes native,native-mac,inline,pipeline,pipeline-worker]
 *                              [--packets 1e8] [--lcore 1] [--warmup 2] [--size 64] [--burst 32] [--mbufs 65536] [--no-huge]
 *
 * Exit status: 0; 1 when mbufs are missing from the pool after a run or the
 * long run fails; 2 on bad arguments.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Engine, type EngineStats } from '../src/index.js';
import {
  HandlerProbe,
  HelloListener,
  allowedCpuList,
  expandCpuList,
  findThread,
  fmtSpread,
  loadAvg,
  median,
  numberArg,
  pinOtherThreads,
  round,
  spread,
  threadCpuNs,
} from './handler-common.js';
import handlerFn, { hello as mainHello } from './handler-module.js';

const MODES = ['native', 'native-mac', 'inline', 'pipeline', 'pipeline-worker'] as const;
type Mode = (typeof MODES)[number];
const JS_MODES: readonly Mode[] = ['inline', 'pipeline', 'pipeline-worker'];
const TARGET_MPPS = 15;
const TARGET_CYCLES_AT_26 = 175;
const IXY_CYCLES = 670;
const MODULE_URL = new URL('./handler-module.js', import.meta.url);

const usage = `usage: node dist/bench/handler.js [options]
  --seconds S     measurement window of each run (default 5)
  --runs N        rounds; each round runs every mode once, in order (default 5)
  --modes LIST    comma-separated, from: ${MODES.join(', ')} (default: all)
  --packets N     long mode: after the rounds, run each JS mode until its handler saw N packets
                  and report heap growth and GCs over them (default 0: skip; e.g. 1e8)
  --lcore N       CPU of the lcore and of the inline worker (default 1)
  --warmup S      seconds after start before each window (JIT, caches) (default 2)
  --size B        frame size (default 64)
  --burst N       packets per burst (default 32)
  --mbufs N       mbufs in the pool (default 65536)
  --no-huge       4 KiB pages (default: 2 MiB hugepages when the host has them free)`;

interface Config {
  seconds: number;
  runs: number;
  modes: Mode[];
  packets: number;
  lcore: number;
  warmup: number;
  size: number;
  burst: number;
  mbufs: number;
  noHuge: boolean;
}

function parseConfig(): Config {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seconds: { type: 'string', default: '5' },
        runs: { type: 'string', default: '5' },
        modes: { type: 'string', default: MODES.join(',') },
        packets: { type: 'string', default: '0' },
        lcore: { type: 'string', default: '1' },
        warmup: { type: 'string', default: '2' },
        size: { type: 'string', default: '64' },
        burst: { type: 'string', default: '32' },
        mbufs: { type: 'string', default: '65536' },
        'no-huge': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`bench/handler: ${(e as Error).message}\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const num = (name: string, v: string, min: number, max: number, integer: boolean) => numberArg('bench/handler', usage, name, v, min, max, integer);
  const modes = values.modes.split(',').map((m) => m.trim()).filter(Boolean) as Mode[];
  for (const m of modes) {
    if (!MODES.includes(m)) {
      console.error(`bench/handler: unknown mode '${m}' (known: ${MODES.join(', ')})\n${usage}`);
      process.exit(2);
    }
  }
  return {
    seconds: num('seconds', values.seconds, 0.5, 3600, false),
    runs: num('runs', values.runs, 1, 1000, true),
    modes,
    packets: num('packets', values.packets, 0, Number.MAX_SAFE_INTEGER, true),
    lcore: num('lcore', values.lcore, 0, 4095, true),
    warmup: num('warmup', values.warmup, 0, 60, false),
    size: num('size', values.size, 60, 2048, true),
    burst: num('burst', values.burst, 1, 64, true),
    mbufs: num('mbufs', values.mbufs, 1024, 1 << 24, true),
    noHuge: values['no-huge'],
  };
}

// ---------------------------------------------------------------- GC on the main thread

const mainGcTimes: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) mainGcTimes.push(e.startTime);
});
gcObserver.observe({ entryTypes: ['gc'] });
const mainGcsBetween = (t0: number, t1: number) => mainGcTimes.filter((t) => t >= t0 && t <= t1).length;

// ---------------------------------------------------------------- one run

interface ThreadUse {
  name: string;
  cpuShare: number;
  cyclesPerPacket: number;
}

interface RunResult {
  mode: Mode;
  mpps: number;
  /** TSC cycles per packet out of b, summed over the threads doing the work. */
  cyclesPerPacket: number;
  threads: ThreadUse[];
  /** CPU share of the thread(s) on the measured CPU (lcore or inline worker). */
  cpuShare: number;
  ringFull: number;
  mainHeapDelta: number;
  mainGcs: number;
  handlerHeapDelta: number | null;
  handlerGcs: number | null;
  handlerPackets: number | null;
  missingMbufs: number;
}

interface Setup {
  engine: Engine;
  probe: HandlerProbe | undefined;
  /** Threads whose CPU time is the mode's cost: [name, tid]. */
  threads: [string, string | undefined][];
}

const hellos = new HelloListener();

function engineOptions(cfg: Config) {
  return { lcores: [cfg.lcore], burst: cfg.burst, mempool: { mbufs: cfg.mbufs, hugepages: cfg.noHuge ? ('off' as const) : ('auto' as const) } };
}

async function setUp(cfg: Config, mode: Mode, otherCpus: string): Promise<Setup> {
  const engine = await Engine.create(engineOptions(cfg));
  try {
    const a = engine.addPort('a', { driver: 'null', packetSize: cfg.size });
    const b = engine.addPort('b', { driver: 'null' });
    if (b.id !== 1) throw new Error(`port b has id ${b.id}; the handler module forwards to id 1`);
    if (mode === 'native') engine.forward(a, b, { mode: 'io' });
    else if (mode === 'native-mac') engine.forward(a, b, { mode: 'mac' });
    else if (mode === 'inline') engine.handleInWorkers(a, { module: MODULE_URL, mode: 'inline', cpus: [cfg.lcore] });
    else if (mode === 'pipeline') engine.handle(a, handlerFn);
    else engine.handleInWorkers(a, { module: MODULE_URL, mode: 'pipeline' });
    engine.on('error', (e: Error) => console.error(`bench/handler: handler error: ${e.message}`));
    hellos.reset();
    await engine.start();
    let probe: HandlerProbe | undefined;
    if (mode === 'pipeline') probe = new HandlerProbe(mainHello);
    else if (mode === 'inline' || mode === 'pipeline-worker') {
      const h = await hellos.next();
      if (!h) throw new Error(`${mode}: the handler worker did not report (no hello on the BroadcastChannel)`);
      probe = new HandlerProbe(h);
    }
    const lcore = findThread('lr-lcore-0');
    const threads: [string, string | undefined][] = [];
    if (mode === 'native' || mode === 'native-mac') threads.push(['lcore', lcore]);
    else if (mode === 'inline') threads.push(['worker', probe!.tid]);
    else if (mode === 'pipeline') threads.push(['lcore', lcore], ['main', String(process.pid)]);
    else threads.push(['lcore', lcore], ['worker', probe!.tid]);
    // Node's threads off the measured CPU; the inline worker pins itself to it.
    pinOtherThreads(otherCpus, new Set(mode === 'inline' ? [probe!.tid] : []));
    return { engine, probe, threads };
  } catch (e) {
    if (engine.state !== 'closed') await engine.close();
    throw e;
  }
}

async function runOnce(cfg: Config, mode: Mode, otherCpus: string, allCpus: string): Promise<RunResult> {
  const { engine, probe, threads } = await setUp(cfg, mode, otherCpus);
  try {
    await sleep(cfg.warmup * 1000);
    const snap0 = probe ? await probe.snapshot() : undefined;
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const cpu0 = threads.map(([, tid]) => threadCpuNs(tid));
    const s0 = engine.stats();
    await sleep(cfg.seconds * 1000);
    const s1 = engine.stats();
    const cpu1 = threads.map(([, tid]) => threadCpuNs(tid));
    const t1 = performance.now();
    const heap1 = process.memoryUsage().heapUsed;
    const snap1 = probe ? await probe.snapshot() : undefined;
    await engine.stop();
    const after = engine.stats();
    return measure(mode, s0, s1, threads, cpu0, cpu1, {
      ringFull: s1.ports.a.drops.handlerRingFull - s0.ports.a.drops.handlerRingFull,
      mainHeapDelta: heap1 - heap0,
      mainGcs: mainGcsBetween(t0, t1),
      handlerHeapDelta: snap0 && snap1 ? snap1.heapUsed - snap0.heapUsed : null,
      handlerGcs: snap0 && snap1 ? snap1.gcs - snap0.gcs : null,
      handlerPackets: snap0 && snap1 ? snap1.packets - snap0.packets : null,
      missingMbufs: after.mempool.size - after.mempool.free.total,
    });
  } finally {
    pinOtherThreads(allCpus);
    if (engine.state !== 'closed') await engine.close();
  }
}

function measure(
  mode: Mode,
  s0: EngineStats,
  s1: EngineStats,
  threads: [string, string | undefined][],
  cpu0: number[],
  cpu1: number[],
  rest: Omit<RunResult, 'mode' | 'mpps' | 'cyclesPerPacket' | 'threads' | 'cpuShare'>,
): RunResult {
  const dtNs = s1.timeNs - s0.timeNs;
  const packets = s1.ports.b.txPackets - s0.ports.b.txPackets;
  const use: ThreadUse[] = threads.map(([name], i) => {
    const ns = cpu1[i] - cpu0[i];
    return { name, cpuShare: ns / dtNs, cyclesPerPacket: packets > 0 ? (s1.tscHz * ns) / 1e9 / packets : NaN };
  });
  return {
    mode,
    mpps: packets / (dtNs / 1e9) / 1e6,
    cyclesPerPacket: use.reduce((a, t) => a + t.cyclesPerPacket, 0),
    threads: use,
    cpuShare: use[0].cpuShare,
    ...rest,
  };
}

// ---------------------------------------------------------------- long mode

interface LongResult {
  mode: Mode;
  packets: number;
  seconds: number;
  mpps: number;
  handlerHeapDelta: number;
  handlerHeapMin: number;
  handlerHeapMax: number;
  handlerHeapSamples: number;
  handlerGcs: number;
  bytesPerPacket: number;
  mainHeapDelta: number;
  mainGcs: number;
  missingMbufs: number;
  ok: boolean;
  error?: string;
}

async function runLong(cfg: Config, mode: Mode, otherCpus: string, allCpus: string): Promise<LongResult> {
  const { engine, probe } = await setUp(cfg, mode, otherCpus);
  try {
    await sleep(cfg.warmup * 1000);
    const first = await probe!.snapshot();
    if (!first) throw new Error('no snapshot from the handler');
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    const heaps = [first.heapUsed];
    let last = first;
    let lastPrint = t0;
    // A guard against a hang, not a target: at least 0.1 Mpps.
    const deadline = t0 + Math.max(60_000, cfg.packets / 1e2);
    while (last.packets - first.packets < cfg.packets) {
      if (performance.now() > deadline) throw new Error(`the handler saw ${last.packets - first.packets} of ${cfg.packets} packets before the deadline`);
      await sleep(2000);
      const s = await probe!.snapshot();
      if (!s) throw new Error('the handler stopped answering');
      heaps.push(s.heapUsed);
      last = s;
      if (performance.now() - lastPrint >= 10_000) {
        console.log(`  ${mode}: ${((last.packets - first.packets) / 1e6).toFixed(0)}M of ${(cfg.packets / 1e6).toFixed(0)}M packets, handler heap ${(s.heapUsed / 1e6).toFixed(2)} MB, ${s.gcs - first.gcs} GCs`);
        lastPrint = performance.now();
      }
    }
    const t1 = performance.now();
    const heap1 = process.memoryUsage().heapUsed;
    await engine.stop();
    const after = engine.stats();
    const packets = last.packets - first.packets;
    const handlerGcs = last.gcs - first.gcs;
    const missingMbufs = after.mempool.size - after.mempool.free.total;
    return {
      mode,
      packets,
      seconds: round((t1 - t0) / 1000, 1),
      mpps: round(packets / ((t1 - t0) / 1000) / 1e6),
      handlerHeapDelta: last.heapUsed - first.heapUsed,
      handlerHeapMin: Math.min(...heaps),
      handlerHeapMax: Math.max(...heaps),
      handlerHeapSamples: heaps.length,
      handlerGcs,
      bytesPerPacket: (last.heapUsed - first.heapUsed) / packets,
      mainHeapDelta: heap1 - heap0,
      mainGcs: mainGcsBetween(t0, t1),
      missingMbufs,
      ok: missingMbufs === 0,
    };
  } finally {
    pinOtherThreads(allCpus);
    if (engine.state !== 'closed') await engine.close();
  }
}

// ---------------------------------------------------------------- main

const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const kb = (x: number | null) => (x === null ? '-' : `${(x / 1024).toFixed(1)} KiB`);

async function main(): Promise<number> {
  const cfg = parseConfig();
  const allCpus = allowedCpuList();
  const cpus = expandCpuList(allCpus);
  if (!cpus.includes(cfg.lcore)) {
    console.error(`bench/handler: CPU ${cfg.lcore} is not available to this process (allowed: ${allCpus}); pick one with --lcore`);
    return 2;
  }
  const otherCpus = cpus.filter((c) => c !== cfg.lcore).join(',');
  let tscHz = 0;
  let hugepages = false;
  {
    const e = await Engine.create(engineOptions(cfg));
    tscHz = e.info().tscHz;
    hugepages = e.info().mempool.hugepages;
    await e.close();
  }
  console.log(
    `bench/handler: null a -> handler (ethertype + UDP port read, MACs swapped) -> null b, ${cfg.size}-byte frames, burst ${cfg.burst}, ` +
      `CPU ${cfg.lcore}, ${cfg.runs} round(s) of ${cfg.seconds} s per mode after ${cfg.warmup} s warm-up, modes ${cfg.modes.join(' ')}, ` +
      `TSC ${(tscHz / 1e9).toFixed(3)} GHz, ${hugepages ? 'hugepages' : '4 KiB pages'}`,
  );
  const load0 = loadAvg();
  const results = new Map<Mode, RunResult[]>(cfg.modes.map((m) => [m, []]));
  let missing = 0;
  for (let r = 0; r < cfg.runs; r++) {
    for (const mode of cfg.modes) {
      const x = await runOnce(cfg, mode, otherCpus, allCpus);
      results.get(mode)!.push(x);
      missing += x.missingMbufs;
      const parts = x.threads.map((t) => `${t.name} ${fmt(t.cyclesPerPacket, 1)} cyc ${Math.round(t.cpuShare * 100)}% CPU`).join(', ');
      console.log(
        `round ${r + 1}/${cfg.runs} ${mode.padEnd(15)} ${fmt(x.mpps).padStart(6)} Mpps, ${fmt(x.cyclesPerPacket, 1).padStart(6)} cycles/packet (${parts})` +
          (x.ringFull ? `, ring full ${(x.ringFull / 1e6).toFixed(1)}M` : '') +
          (x.handlerGcs !== null ? `, handler heap ${kb(x.handlerHeapDelta)} ${x.handlerGcs} GCs` : '') +
          `, main heap ${kb(x.mainHeapDelta)} ${x.mainGcs} GCs` +
          (x.missingMbufs ? `, ${x.missingMbufs} MBUFS MISSING` : ''),
      );
    }
  }
  const load1 = loadAvg();

  const native = results.get('native');
  const nativeMedian = native?.length ? median(native.map((x) => x.mpps)) : NaN;
  const nativeCycles = native?.length ? median(native.map((x) => x.cyclesPerPacket)) : NaN;
  const summary: Record<string, unknown> = {};
  console.log(`summary (min / median / max over ${cfg.runs} rounds):`);
  for (const [mode, xs] of results) {
    const mpps = spread(xs.map((x) => x.mpps));
    const cpp = spread(xs.map((x) => x.cyclesPerPacket), 1);
    const perRun = native ? xs.map((x, i) => round(x.mpps / native[i].mpps)) : null;
    const ratio = Number.isFinite(nativeMedian) ? round(median(xs.map((x) => x.mpps)) / nativeMedian) : null;
    const cycleRatio = Number.isFinite(nativeCycles) ? round(median(xs.map((x) => x.cyclesPerPacket)) / nativeCycles) : null;
    const threadNames = xs[0]?.threads.map((t) => t.name) ?? [];
    const perThread = Object.fromEntries(
      threadNames.map((n, k) => [n, { cyclesPerPacket: spread(xs.map((x) => x.threads[k].cyclesPerPacket), 1), cpuShare: spread(xs.map((x) => x.threads[k].cpuShare)) }]),
    );
    summary[mode] = {
      mpps,
      cyclesPerPacket: cpp,
      threads: perThread,
      cpuShare: spread(xs.map((x) => x.cpuShare)),
      ratioToNative: ratio,
      ratioToNativePerRun: perRun,
      cyclesRatioToNative: cycleRatio,
      ringFull: xs.reduce((a, x) => a + x.ringFull, 0),
      handlerHeapDelta: xs[0]?.handlerHeapDelta === null ? null : spread(xs.map((x) => x.handlerHeapDelta ?? NaN), 0),
      handlerGcs: xs[0]?.handlerGcs === null ? null : xs.map((x) => x.handlerGcs),
      handlerPackets: xs[0]?.handlerPackets === null ? null : xs.map((x) => x.handlerPackets),
      mainHeapDelta: spread(xs.map((x) => x.mainHeapDelta), 0),
      mainGcs: xs.map((x) => x.mainGcs),
      perRun: xs.map((x) => round(x.mpps)),
    };
    console.log(
      `  ${mode.padEnd(15)} Mpps ${fmtSpread(mpps)}, cycles/packet ${fmtSpread(cpp, 1)}` +
        (threadNames.length > 1 ? ` (${threadNames.map((n, k) => `${n} ${fmt(median(xs.map((x) => x.threads[k].cyclesPerPacket)), 1)}`).join(' + ')}, medians)` : '') +
        `, CPU share ${fmtSpread(spread(xs.map((x) => x.cpuShare)))}` +
        (ratio !== null && mode !== 'native' ? `, x native ${ratio.toFixed(3)} (per round ${perRun!.map((v) => v.toFixed(2)).join(' ')}; cycles x${cycleRatio!.toFixed(2)})` : ''),
    );
  }
  let target: Record<string, unknown> | null = null;
  const inl = results.get('inline');
  if (inl?.length) {
    const mpps = median(inl.map((x) => x.mpps));
    const cpp = median(inl.map((x) => x.cyclesPerPacket));
    const cyclesTarget = (TARGET_CYCLES_AT_26 * tscHz) / 2.6e9; // same time per packet at this TSC
    const perCoreMpps = tscHz / cpp / 1e6;
    target = {
      mpps: TARGET_MPPS,
      cyclesPerPacketAt26GHz: TARGET_CYCLES_AT_26,
      cyclesPerPacketHere: round(cyclesTarget, 1),
      inlineMedianMpps: round(mpps),
      inlineMedianCyclesPerPacket: round(cpp, 1),
      inlineMppsPerFullCore: round(perCoreMpps),
      metWallClock: mpps >= TARGET_MPPS,
      metPerCpuSecond: perCoreMpps >= TARGET_MPPS,
      ixyJsCyclesPerPacket: IXY_CYCLES,
      vsIxyJs: round(IXY_CYCLES / cpp, 2),
    };
    console.log(
      `target inline >= ${TARGET_MPPS} Mpps (<= ${TARGET_CYCLES_AT_26} cycles/packet at 2.6 GHz): median ${fmt(mpps)} Mpps wall clock (${mpps >= TARGET_MPPS ? 'met' : 'NOT met'}), ` +
        `${fmt(cpp, 1)} cycles/packet = ${fmt(perCoreMpps)} Mpps per full core (${perCoreMpps >= TARGET_MPPS ? 'met' : 'NOT met'}); ixy.js ~${IXY_CYCLES} cycles/packet (${fmt(IXY_CYCLES / cpp)}x fewer here)`,
    );
  }
  console.log(`load average: ${load0} at the start, ${load1} at the end (2 CPUs)`);

  const long: LongResult[] = [];
  if (cfg.packets > 0) {
    for (const mode of cfg.modes.filter((m) => JS_MODES.includes(m))) {
      console.log(`long run: ${mode} until the handler saw ${cfg.packets} packets ...`);
      try {
        const l = await runLong(cfg, mode, otherCpus, allCpus);
        long.push(l);
        console.log(
          `long run: ${mode}: ${l.packets} packets in ${l.seconds} s (${l.mpps} Mpps); handler heap ${kb(l.handlerHeapDelta)} ` +
            `(${l.handlerHeapSamples} samples, ${(l.handlerHeapMin / 1e6).toFixed(2)}..${(l.handlerHeapMax / 1e6).toFixed(2)} MB), ` +
            `${l.handlerGcs} handler GCs, ${l.bytesPerPacket.toExponential(2)} bytes/packet; main heap ${kb(l.mainHeapDelta)}, ${l.mainGcs} main GCs; ` +
            `${l.missingMbufs} mbufs missing`,
        );
      } catch (e) {
        long.push({
          mode, packets: 0, seconds: 0, mpps: 0, handlerHeapDelta: NaN, handlerHeapMin: NaN, handlerHeapMax: NaN, handlerHeapSamples: 0,
          handlerGcs: NaN, bytesPerPacket: NaN, mainHeapDelta: NaN, mainGcs: NaN, missingMbufs: -1, ok: false, error: (e as Error).message,
        });
        console.log(`long run: ${mode} failed: ${(e as Error).message}`);
      }
    }
  }
  gcObserver.disconnect();
  hellos.close();

  console.log(
    JSON.stringify({
      bench: 'handler',
      packetSize: cfg.size,
      burst: cfg.burst,
      runs: cfg.runs,
      seconds: cfg.seconds,
      warmup: cfg.warmup,
      cpu: cfg.lcore,
      mbufs: cfg.mbufs,
      hugepages,
      tscHz,
      loadAverage: [load0, load1],
      modes: summary,
      target,
      long: cfg.packets > 0 ? long : null,
      missingMbufsAfterRuns: missing,
    }),
  );
  return missing !== 0 || long.some((l) => !l.ok) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as { code?: string; message?: string };
    console.error(`bench/handler: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`);
    process.exit(2);
  },
);
