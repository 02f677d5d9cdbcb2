/**
 * bench/fwd: io forwarding between two null ports on one lcore, burst 32, the
 * workload of DPDK's testpmd with `--vdev net_null0 --vdev net_null1
 * --forward-mode=io --nb-cores=1`. Prints Mpps per port; when dpdk-testpmd is
 * installed (scripts/install-dpdk.sh) it runs testpmd on the same workload, on
 * the same CPU, interleaved with linerate (linerate, testpmd, linerate, ...),
 * and prints the ratio. Then a leak check: 10^9 packets through the pipeline,
 * and not one mbuf missing from the pool afterwards. The last line printed is
 * one JSON object (see docs/bench.md).
 *
 *   node dist/bench/fwd.js [--seconds 5] [--runs 5] [--packets 1e9] [--size 64] [--copy]
 *                          [--no-testpmd] [--lcore 1] [--warmup 1] [--mbufs 65536] [--no-huge]
 *                          [--testpmd /usr/bin/dpdk-testpmd]
 *
 * Exit status: 0, or 1 when the leak check finds missing mbufs (or fails to
 * finish), 2 on bad arguments or when the engine cannot run at all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Engine, type EngineStats } from '../src/index.js';
import { allowedCpuList, expandCpuList, loadAvg, median, onPath, pinOtherThreads, round, type Spread } from './handler-common.js';

const BURST = 32;
const TARGET_RATIO = 0.8;

const usage = `usage: node dist/bench/fwd.js [options]
  --seconds S     measurement window of each run (default 5)
  --runs N        linerate/testpmd run pairs, interleaved (default 5)
  --packets P     leak check: P packets through a -> b, then count the pool (default 1e9; 0 skips it)
  --size B        frame size in bytes (default 64)
  --copy          write the frame into every packet (linerate copy: true, net_null copy=1)
  --no-testpmd    do not run DPDK's testpmd
  --testpmd PATH  testpmd binary (default: dpdk-testpmd on PATH)
  --lcore N       CPU of the forwarding core, for both (default 1)
  --warmup S      seconds of forwarding before each window (default 1)
  --mbufs N       mbufs in the pool, for both (default 65536)
  --no-huge       4 KiB pages for both (default: 2 MiB hugepages when the host has them free)`;

// ---------------------------------------------------------------- arguments

interface Config {
  seconds: number;
  runs: number;
  packets: number;
  size: number;
  copy: boolean;
  testpmd: boolean;
  testpmdPath: string | undefined;
  lcore: number;
  warmup: number;
  mbufs: number;
  noHuge: boolean;
}

function fail(msg: string, code = 2): never {
  console.error(`bench/fwd: ${msg}`);
  process.exit(code);
}

function parseConfig(): Config {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seconds: { type: 'string', default: '5' },
        runs: { type: 'string', default: '5' },
        packets: { type: 'string', default: '1e9' },
        size: { type: 'string', default: '64' },
        copy: { type: 'boolean', default: false },
        'no-testpmd': { type: 'boolean', default: false },
        testpmd: { type: 'string' },
        lcore: { type: 'string', default: '1' },
        warmup: { type: 'string', default: '1' },
        mbufs: { type: 'string', default: '65536' },
        'no-huge': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n${usage}`);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const num = (name: string, v: string, min: number, max: number, integer: boolean): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      fail(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'\n${usage}`);
    }
    return n;
  };
  return {
    seconds: num('seconds', values.seconds, 0.5, 3600, false),
    runs: num('runs', values.runs, 1, 1000, true),
    packets: num('packets', values.packets, 0, Number.MAX_SAFE_INTEGER, true),
    size: num('size', values.size, 60, 2048, true),
    copy: values.copy,
    testpmd: !values['no-testpmd'],
    testpmdPath: values.testpmd,
    lcore: num('lcore', values.lcore, 0, 4095, true),
    warmup: num('warmup', values.warmup, 0, 60, false),
    mbufs: num('mbufs', values.mbufs, 1024, 1 << 24, true),
    noHuge: values['no-huge'],
  };
}

// ---------------------------------------------------------------- helpers

function spread(xs: number[]): Spread {
  return { min: round(Math.min(...xs)), median: round(median(xs)), max: round(Math.max(...xs)) };
}

const fmt = (x: number) => x.toFixed(2);

/** Nanoseconds a thread has run on a CPU (/proc/PID/task/TID/schedstat, first field); NaN when unknown. */
function threadCpuNs(pid: number | 'self', tid: string | undefined): number {
  if (tid === undefined) return NaN;
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/** The thread of `pid` whose name matches, or undefined. */
function findThread(pid: number | 'self', match: (comm: string) => boolean): string | undefined {
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        if (match(readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim())) return tid;
      } catch {
        // gone
      }
    }
  } catch {
    // no such process
  }
  return undefined;
}

const taskset = onPath('taskset');
const stdbuf = onPath('stdbuf');

// ---------------------------------------------------------------- linerate

interface LinerateRun {
  mppsPerPort: number;
  /** Per port, Mpps: { a, b }. */
  ports: Record<string, number>;
  /** 1-second samples of Mpps per port inside the window. */
  samples: number[];
  /** TSC cycles per packet received while the lcore thread was on its CPU (schedstat). */
  cyclesPerPacket: number;
  /** Busy TSC cycles per packet received, from the lcore's own counters (wall-clock TSC: includes preemption). */
  lcoreCyclesPerPacket: number;
  /** Share of the window the forwarding thread was on its CPU (0..1): below 1, others took the CPU. */
  cpuShare: number;
  drops: number;
  missingMbufs: number;
  hugepages: boolean;
}

function engineOptions(cfg: Config) {
  return {
    lcores: [cfg.lcore],
    burst: BURST,
    mempool: { mbufs: cfg.mbufs, hugepages: cfg.noHuge ? ('off' as const) : ('auto' as const) },
  };
}

/** Per-port Mpps (mean of the ports' tx rates), busy cycles per packet, between two snapshots. */
function between(s0: EngineStats, s1: EngineStats) {
  const dt = (s1.timeNs - s0.timeNs) / 1e9;
  const ports: Record<string, number> = {};
  for (const name of Object.keys(s1.ports)) ports[name] = (s1.ports[name].txPackets - s0.ports[name].txPackets) / dt / 1e6;
  const names = Object.keys(ports);
  const mppsPerPort = names.reduce((a, n) => a + ports[n], 0) / names.length;
  const l0 = s0.lcores[0],
    l1 = s1.lcores[0];
  const busy = (l: typeof l0) => l.cyclesPerPacket * l.packets;
  const dp = l1.packets - l0.packets;
  return { dt, ports, mppsPerPort, cyclesPerPacket: dp > 0 ? (busy(l1) - busy(l0)) / dp : 0 };
}

async function runLinerate(cfg: Config, otherCpus: string, allCpus: string): Promise<LinerateRun> {
  const engine = await Engine.create(engineOptions(cfg));
  try {
    const port = { driver: 'null' as const, packetSize: cfg.size, copy: cfg.copy };
    const a = engine.addPort('a', port);
    const b = engine.addPort('b', port);
    engine.forward(a, b, { mode: 'io' });
    engine.forward(b, a, { mode: 'io' });
    const hugepages = engine.info().mempool.hugepages;
    await engine.start();
    pinOtherThreads(otherCpus);
    await sleep(cfg.warmup * 1000);
    const lcoreTid = findThread('self', (c) => c === 'lr-lcore-0');
    const cpu0 = threadCpuNs('self', lcoreTid);
    const first = engine.stats();
    let prev = first;
    const samples: number[] = [];
    const end = first.timeNs + cfg.seconds * 1e9;
    for (;;) {
      const left = (end - prev.timeNs) / 1e6;
      if (left <= 1) break;
      await sleep(Math.min(1000, left));
      const s = engine.stats();
      samples.push(between(prev, s).mppsPerPort);
      prev = s;
    }
    // The rest of the window, so it is `seconds` long.
    const left = (end - prev.timeNs) / 1e6;
    if (left > 0) await sleep(left);
    const last = engine.stats();
    const cpu1 = threadCpuNs('self', lcoreTid);
    if (last.timeNs - prev.timeNs > 2e8) samples.push(between(prev, last).mppsPerPort);
    const w = between(first, last);
    await engine.stop();
    const after = engine.stats();
    const drops = Object.values(after.ports).reduce((s, p) => s + p.dropped, 0);
    return {
      mppsPerPort: w.mppsPerPort,
      ports: w.ports,
      samples,
      cyclesPerPacket: Number.isFinite(cpu1 - cpu0)
        ? (last.tscHz * (cpu1 - cpu0)) / 1e9 / (2 * w.mppsPerPort * 1e6 * w.dt)
        : w.cyclesPerPacket,
      lcoreCyclesPerPacket: w.cyclesPerPacket,
      cpuShare: (cpu1 - cpu0) / (last.timeNs - first.timeNs),
      drops,
      missingMbufs: after.mempool.size - after.mempool.free.total,
      hugepages,
    };
  } finally {
    pinOtherThreads(allCpus);
    if (engine.state !== 'closed') await engine.close();
  }
}

// ---------------------------------------------------------------- testpmd

interface TestpmdRun {
  mppsPerPort: number;
  ports: Record<string, number>;
  /** testpmd's own Tx-pps per stats period (~1-2 s) inside the window, Mpps per port. */
  samples: number[];
  /** TSC cycles per packet received while the forwarding thread was on its CPU (it polls: always busy). */
  cyclesPerPacket: number;
  /** Share of the window the forwarding thread (rte-worker-N) was on its CPU (0..1). */
  cpuShare: number;
  drops: number;
  memory: string;
  leftovers: string[];
}

interface StatsBlock {
  t: number;
  /** On-CPU time of the forwarding thread when the block arrived. */
  cpuNs: number;
  txPackets: number[];
  txPps: number[];
}

/** Where EAL puts its runtime directory (the multi-process socket and config). */
function dpdkRuntimeDirs(prefix: string): string[] {
  const dirs = ['/var/run/dpdk', '/run/dpdk', '/tmp/dpdk'];
  if (process.env.XDG_RUNTIME_DIR) dirs.push(join(process.env.XDG_RUNTIME_DIR, 'dpdk'));
  return dirs.map((d) => join(d, prefix));
}

function hugetlbfsMounts(): string[] {
  try {
    return readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[2] === 'hugetlbfs')
      .map((f) => f[1]);
  } catch {
    return [];
  }
}

/** Removes whatever a testpmd run with this file prefix left (hugepage files, runtime dir); returns what it found. */
function cleanupDpdk(prefix: string): string[] {
  const found: string[] = [];
  for (const mnt of hugetlbfsMounts()) {
    let names: string[] = [];
    try {
      names = readdirSync(mnt);
    } catch {
      continue;
    }
    for (const n of names.filter((n) => n.startsWith(prefix))) {
      found.push(join(mnt, n));
      rmSync(join(mnt, n), { force: true });
    }
  }
  for (const d of dpdkRuntimeDirs(prefix)) {
    if (existsSync(d)) rmSync(d, { recursive: true, force: true }); // expected: EAL always makes it
  }
  return found;
}

function freeHugepages2M(): number {
  try {
    return Number(readFileSync('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', 'utf8').trim());
  } catch {
    return 0;
  }
}

let currentChild: ChildProcess | undefined;
let currentPrefix: string | undefined;

/**
 * EAL and testpmd arguments. Memory, checked as root on Debian 12 / DPDK 22.11 in a VM:
 *  - with 2 MiB hugepages free: `--in-memory -m M`: hugepages through memfd, no
 *    hugetlbfs mount needed and no files left in /dev/hugepages.
 *  - without: `--no-huge -m M` (4 KiB anonymous memory; --in-memory is refused with it).
 *  - `--iova-mode=va` in both: the null PMD does no DMA, and IOVA=PA would make EAL
 *    read /proc/self/pagemap for every page (a slow start, nothing else).
 * `--stats-period 1` makes testpmd non-interactive and print per-port counters and
 * rates every period until SIGINT; stdout goes through `stdbuf -oL` so each block
 * arrives when it is printed, and its arrival time dates the counters in it.
 */
function testpmdArgs(cfg: Config, mainCpu: number, prefix: string, memMb: number, huge: boolean): string[] {
  const vdev = (i: number) => `net_null${i}` + (cfg.size !== 64 ? `,size=${cfg.size}` : '') + (cfg.copy ? ',copy=1' : '');
  return [
    '-l', `${mainCpu},${cfg.lcore}`,
    '--main-lcore', String(mainCpu),
    ...(huge ? ['--in-memory'] : ['--no-huge']),
    '-m', String(memMb),
    '--iova-mode=va',
    '--no-telemetry',
    '--no-pci',
    '--vdev', vdev(0),
    '--vdev', vdev(1),
    '--file-prefix', prefix,
    '-v',
    '--',
    '--forward-mode=io',
    '--nb-cores=1',
    `--burst=${BURST}`,
    `--total-num-mbufs=${cfg.mbufs}`,
    '--mbcache=256',
    '--stats-period', '1',
  ];
}

function testpmdMemoryMb(cfg: Config, huge: boolean): number {
  // An mbuf of testpmd's pool takes about 2.4 KiB (2176 data + headers); EAL and
  // ethdev want some 30 MiB more. Rounded up to whole 2 MiB pages. With --no-huge,
  // EAL needs more room than that for the same pool (65536 mbufs: -m 256 fails,
  // 320 works), so twice the pool.
  const pool = Math.ceil((cfg.mbufs * 2432) / (1 << 20));
  const mb = (huge ? pool : 2 * pool) + 64;
  return Math.max(128, mb + (mb % 2));
}

async function runTestpmd(cfg: Config, bin: string, mainCpu: number, run: number, otherCpus: string, allCpus: string, tscHz: number): Promise<TestpmdRun> {
  const prefix = `lrbench${process.pid}r${run}`;
  const huge = !cfg.noHuge && lastLinerateHugepages && freeHugepages2M() >= testpmdMemoryMb(cfg, true) / 2;
  const memMb = testpmdMemoryMb(cfg, huge);
  const memory = huge ? `2M hugepages (--in-memory -m ${memMb})` : `4K pages (--no-huge -m ${memMb})`;
  const args = testpmdArgs(cfg, mainCpu, prefix, memMb, huge);
  testpmdCommand ??= [bin, ...args].join(' ').replace(prefix, () => 'lrbench$$');
  // taskset restores the full CPU list: this process' threads may be pinned away from the lcore's CPU.
  const argv = [...(taskset ? [taskset, '-c', allCpus] : []), ...(stdbuf ? [stdbuf, '-oL'] : []), bin, ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  currentChild = child;
  currentPrefix = prefix;
  const log: string[] = [];
  const blocks: StatsBlock[] = [];
  // testpmd's forwarding lcore thread: "rte-worker-<lcore>" (DPDK 22.11), "lcore-worker-<lcore>" (older).
  let worker: string | undefined;
  const workerTid = () => (worker ??= findThread(child.pid ?? 0, (c) => /worker-?(\d+)$/.exec(c)?.[1] === String(cfg.lcore)));
  let cur: StatsBlock | undefined;
  let port = -1;
  let final = false;
  let ready = -1;
  const finalDrops: number[] = [];
  const onLine = (line: string) => {
    log.push(line);
    if (log.length > 400) log.shift();
    let m;
    if (/start packet forwarding/.test(line) && ready < 0) ready = performance.now();
    else if ((m = /RTE Version: '([^']+)'/.exec(line))) testpmdVersion = m[1];
    else if (/Port statistics =+/.test(line)) {
      if (cur && cur.txPps.length >= 2) blocks.push(cur);
      cur = { t: performance.now(), cpuNs: threadCpuNs(child.pid ?? 0, workerTid()), txPackets: [], txPps: [] };
    } else if ((m = /NIC statistics for port (\d+)/.exec(line))) port = Number(m[1]);
    else if ((m = /Forward statistics for port (\d+)/.exec(line))) {
      final = true;
      port = Number(m[1]);
    } else if (!final && cur && port >= 0 && (m = /^\s*TX-packets:\s*(\d+)/.exec(line))) cur.txPackets[port] = Number(m[1]);
    else if (!final && cur && port >= 0 && (m = /^\s*Tx-pps:\s*(\d+)/.exec(line))) {
      cur.txPps[port] = Number(m[1]);
      if (cur.txPps.length >= 2 && cur.txPps[0] !== undefined && cur.txPps[1] !== undefined) {
        blocks.push(cur);
        cur = undefined;
      }
    } else if (final && (m = /RX-dropped:\s*(\d+)/.exec(line))) finalDrops[port] = Number(m[1]);
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  let exited = false;
  let exitCode: number | null = null;
  let spawnError: Error | undefined;
  const exit = new Promise<void>((resolve) => {
    child.on('exit', (code, sig) => {
      exited = true;
      exitCode = code ?? (sig ? 128 : null);
      resolve();
    });
    child.on('error', (e) => {
      spawnError = e;
      exited = true;
      resolve();
    });
  });
  // Keep Node's own threads off the forwarding CPU while testpmd runs, as for linerate.
  pinOtherThreads(otherCpus);
  const why = () => {
    const cause = log.filter((l) => /Cause:|EAL: Error|FATAL|cannot|failed/i.test(l)).slice(-3).join(' | ');
    return cause || log.slice(-5).join(' | ') || 'no output';
  };
  const waitFor = async (cond: () => boolean, ms: number, what: string) => {
    const deadline = performance.now() + ms;
    while (!cond()) {
      if (spawnError) throw new Error(`cannot run ${argv[0]}: ${spawnError.message}`);
      if (exited) throw new Error(`testpmd exited (code ${exitCode}) ${what}: ${why()}`);
      if (performance.now() > deadline) throw new Error(`testpmd: timed out ${what}: ${why()}`);
      await sleep(50);
    }
  };
  try {
    await waitFor(() => ready >= 0, 60_000, 'before forwarding started');
    // Window: from the first stats block printed `warmup` seconds after forwarding
    // started, to the first one at least `seconds` later.
    const startAfter = ready + cfg.warmup * 1000;
    let start: StatsBlock | undefined;
    await waitFor(() => (start = blocks.find((b) => b.t >= startAfter)) !== undefined, 30_000 + cfg.warmup * 1000, 'waiting for stats');
    const s0 = start!;
    let end: StatsBlock | undefined;
    await waitFor(
      () => (end = blocks.find((b) => b.t >= s0.t + cfg.seconds * 1000 - 100)) !== undefined,
      30_000 + cfg.seconds * 1000,
      'waiting for stats',
    );
    const e = end!;
    const dt = (e.t - s0.t) / 1000;
    const cpuShare = (e.cpuNs - s0.cpuNs) / 1e6 / (e.t - s0.t);
    const ports: Record<string, number> = {};
    for (const p of [0, 1]) ports[`net_null${p}`] = (e.txPackets[p] - s0.txPackets[p]) / dt / 1e6;
    const mppsPerPort = (ports.net_null0 + ports.net_null1) / 2;
    const samples = blocks.filter((b) => b.t > s0.t && b.t <= e.t).map((b) => (b.txPps[0] + b.txPps[1]) / 2 / 1e6);
    child.kill('SIGINT');
    await Promise.race([exit, sleep(10_000)]);
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    return {
      mppsPerPort,
      ports,
      samples,
      cyclesPerPacket: (tscHz * (Number.isFinite(cpuShare) ? cpuShare : 1)) / (2 * mppsPerPort * 1e6),
      cpuShare,
      drops: finalDrops.reduce((a, b) => a + (b ?? 0), 0),
      memory,
      leftovers: cleanupDpdk(prefix),
    };
  } finally {
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    cleanupDpdk(prefix);
    currentChild = undefined;
    currentPrefix = undefined;
    pinOtherThreads(allCpus);
  }
}

let testpmdCommand: string | undefined;
let testpmdVersion: string | undefined;
let lastLinerateHugepages = false;

// ---------------------------------------------------------------- leak check

interface LeakCheck {
  packets: number;
  missingMbufs: number;
  inUse: number;
  txPackets: number;
  rxPackets: number;
  drops: number;
  seconds: number;
  mpps: number;
  ok: boolean;
  error?: string;
}

async function leakCheck(cfg: Config, otherCpus: string, allCpus: string): Promise<LeakCheck> {
  const P = cfg.packets;
  const engine = await Engine.create(engineOptions(cfg));
  const t0 = performance.now();
  try {
    const a = engine.addPort('a', { driver: 'null', packetSize: cfg.size, copy: cfg.copy, count: P });
    const b = engine.addPort('b', { driver: 'null', packetSize: cfg.size, copy: cfg.copy });
    engine.forward(a, b, { mode: 'io' });
    await engine.start();
    pinOtherThreads(otherCpus);
    // A guard against a hang, not a target: at least 1 Mpps.
    const deadline = performance.now() + Math.max(60_000, P / 1e3);
    let done = false;
    let lastPrint = performance.now();
    while (!done && performance.now() < deadline) {
      done = await engine.whenSourcesDone(2_000);
      if (!done && performance.now() - lastPrint >= 5_000) {
        const s = engine.stats();
        console.log(`  leak check: ${(s.ports.b.txPackets / 1e6).toFixed(0)}M of ${(P / 1e6).toFixed(0)}M packets`);
        lastPrint = performance.now();
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    await engine.stop();
    const s = engine.stats();
    const missingMbufs = s.mempool.size - s.mempool.free.total;
    const drops = Object.values(s.ports).reduce((x, p) => x + p.dropped, 0);
    const r: LeakCheck = {
      packets: P,
      missingMbufs,
      inUse: s.mempool.inUse.total,
      txPackets: s.ports.b.txPackets,
      rxPackets: s.ports.a.rxPackets,
      drops,
      seconds: round(seconds, 1),
      mpps: round(s.ports.b.txPackets / seconds / 1e6, 2),
      ok: done && missingMbufs === 0 && s.mempool.inUse.total === 0 && s.ports.b.txPackets === P && s.ports.a.rxPackets === P,
    };
    if (!done) r.error = `the source did not finish within ${Math.round(Math.max(60_000, P / 1e3) / 1000)} s`;
    return r;
  } finally {
    pinOtherThreads(allCpus);
    if (engine.state !== 'closed') await engine.close();
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const cfg = parseConfig();
  const allCpus = allowedCpuList();
  const cpus = expandCpuList(allCpus);
  if (!cpus.includes(cfg.lcore)) fail(`CPU ${cfg.lcore} is not available to this process (allowed: ${allCpus}); pick one with --lcore`);
  const others = cpus.filter((c) => c !== cfg.lcore);
  const otherCpus = others.join(',');
  const mainCpu = others.length ? others[0] : -1;

  let testpmdBin: string | undefined;
  let testpmdSkipped: string | undefined;
  if (!cfg.testpmd) testpmdSkipped = 'disabled with --no-testpmd';
  else if (mainCpu < 0) testpmdSkipped = 'testpmd needs a second CPU for its main lcore';
  else {
    testpmdBin = cfg.testpmdPath ?? onPath('dpdk-testpmd');
    if (!testpmdBin || !existsSync(testpmdBin)) {
      testpmdSkipped = `dpdk-testpmd not found${cfg.testpmdPath ? ` at ${cfg.testpmdPath}` : ' on PATH'}; install it with: scripts/install-dpdk.sh`;
      testpmdBin = undefined;
    }
  }

  const stopOnSignal = (sig: NodeJS.Signals) => {
    if (currentChild?.pid) currentChild.kill('SIGKILL');
    if (currentPrefix) cleanupDpdk(currentPrefix);
    console.error(`bench/fwd: ${sig}, stopped`);
    process.exit(130);
  };
  process.on('SIGINT', stopOnSignal);
  process.on('SIGTERM', stopOnSignal);

  console.log(
    `bench/fwd: io forwarding null a <-> null b, ${cfg.size}-byte frames, burst ${BURST}, lcore on CPU ${cfg.lcore}` +
      `, ${cfg.runs} run(s) of ${cfg.seconds} s after ${cfg.warmup} s warm-up, ${cfg.mbufs} mbufs${cfg.copy ? ', copy' : ''}`,
  );
  console.log(testpmdBin ? `bench/fwd: testpmd: ${testpmdBin}, runs interleaved with linerate's` : `bench/fwd: testpmd skipped: ${testpmdSkipped}`);

  const lr: LinerateRun[] = [];
  const tp: (TestpmdRun | undefined)[] = [];
  let tscHz = 0;
  {
    const e = await Engine.create(engineOptions(cfg));
    tscHz = e.info().tscHz;
    lastLinerateHugepages = e.info().mempool.hugepages;
    if (!lastLinerateHugepages) console.log(`bench/fwd: mempool on 4 KiB pages: ${e.info().mempool.warning || 'hugepages off'}`);
    await e.close();
  }
  const load0 = loadAvg();
  let tpErrors = 0;
  const share = (x: number) => (Number.isFinite(x) ? `${Math.round(x * 100)}% CPU` : 'CPU share unknown');
  for (let i = 0; i < cfg.runs; i++) {
    const r = await runLinerate(cfg, otherCpus, allCpus);
    lastLinerateHugepages = r.hugepages;
    lr.push(r);
    console.log(
      `run ${i + 1}/${cfg.runs} linerate: ${fmt(r.mppsPerPort)} Mpps/port (a ${fmt(r.ports.a)}, b ${fmt(r.ports.b)}), ` +
        `${share(r.cpuShare)}, ${r.cyclesPerPacket.toFixed(1)} cycles/packet, samples [${r.samples.map(fmt).join(' ')}]` +
        (r.drops ? `, ${r.drops} drops` : '') +
        (r.missingMbufs ? `, ${r.missingMbufs} MBUFS MISSING` : ''),
    );
    if (testpmdBin) {
      try {
        const t = await runTestpmd(cfg, testpmdBin, mainCpu, i, otherCpus, allCpus, tscHz);
        tp.push(t);
        console.log(
          `run ${i + 1}/${cfg.runs} testpmd:  ${fmt(t.mppsPerPort)} Mpps/port (port0 ${fmt(t.ports.net_null0)}, port1 ${fmt(t.ports.net_null1)}), ` +
            `${share(t.cpuShare)}, ${t.cyclesPerPacket.toFixed(1)} cycles/packet, samples [${t.samples.map(fmt).join(' ')}], ${t.memory}` +
            (t.leftovers.length ? `, LEFT BEHIND (removed): ${t.leftovers.join(' ')}` : ''),
        );
        console.log(
          `run ${i + 1}/${cfg.runs} ratio linerate/testpmd: ${(r.mppsPerPort / t.mppsPerPort).toFixed(3)} ` +
            `(per CPU-second: ${(t.cyclesPerPacket / r.cyclesPerPacket).toFixed(3)})`,
        );
      } catch (e) {
        tp.push(undefined);
        tpErrors++;
        console.log(`run ${i + 1}/${cfg.runs} testpmd failed: ${(e as Error).message}`);
        if (tpErrors >= 2 && tp.every((x) => x === undefined)) {
          testpmdSkipped = `testpmd failed: ${(e as Error).message}`;
          testpmdBin = undefined;
        }
      }
    }
  }
  const load1 = loadAvg();

  const lrMpps = lr.map((r) => r.mppsPerPort);
  const tpOk = tp.filter((t): t is TestpmdRun => t !== undefined);
  if (tpOk.length === 0 && !testpmdSkipped) testpmdSkipped = tp.length ? 'every testpmd run failed' : 'testpmd did not run';
  const perRun = lr.map((r, i) => (tp[i] ? round(r.mppsPerPort / tp[i]!.mppsPerPort) : null));
  const ratioMedian = tpOk.length ? round(median(lrMpps) / median(tpOk.map((t) => t.mppsPerPort))) : null;
  // The same comparison per second the forwarding thread actually had its CPU: on a
  // shared machine the wall-clock rates move with the neighbours' load, this much less.
  const cpuNormalized = tpOk.length ? round(median(tpOk.map((t) => t.cyclesPerPacket)) / median(lr.map((r) => r.cyclesPerPacket))) : null;
  const cpuShares = (xs: number[]) => (xs.every(Number.isFinite) ? spread(xs) : null);

  const line = (name: string, mpps: number[], cpp: number[], shares: number[]) =>
    console.log(
      `${name} Mpps/port min ${fmt(Math.min(...mpps))} median ${fmt(median(mpps))} max ${fmt(Math.max(...mpps))}, ` +
        `${median(cpp).toFixed(1)} cycles/packet (median), CPU share median ${share(median(shares))}`,
    );
  line('linerate:', lrMpps, lr.map((r) => r.cyclesPerPacket), lr.map((r) => r.cpuShare));
  if (tpOk.length) {
    line('testpmd: ', tpOk.map((x) => x.mppsPerPort), tpOk.map((x) => x.cyclesPerPacket), tpOk.map((x) => x.cpuShare));
    console.log(
      `ratio of medians linerate/testpmd: ${ratioMedian!.toFixed(3)} (target >= ${TARGET_RATIO}: ${ratioMedian! >= TARGET_RATIO ? 'met' : 'NOT met'}); ` +
        `per run: ${perRun.map((x) => (x === null ? '-' : x.toFixed(3))).join(' ')}; per CPU-second: ${cpuNormalized!.toFixed(3)}`,
    );
  }
  console.log(`load average: ${load0} at the start, ${load1} at the end (2 CPUs; above ~1.2 the neighbours share the forwarding CPU)`);

  let leak: LeakCheck | null = null;
  if (cfg.packets > 0) {
    console.log(`leak check: ${cfg.packets} packets from null a (count) to null b ...`);
    try {
      leak = await leakCheck(cfg, otherCpus, allCpus);
      console.log(
        `leak check: ${leak.txPackets} of ${leak.packets} packets out of b in ${leak.seconds} s (${leak.mpps} Mpps), ` +
          `${leak.missingMbufs} mbufs missing, ${leak.inUse} in use, ${leak.drops} drops: ${leak.ok ? 'ok' : 'FAILED'}` +
          (leak.error ? ` (${leak.error})` : ''),
      );
    } catch (e) {
      leak = { packets: cfg.packets, missingMbufs: -1, inUse: -1, txPackets: 0, rxPackets: 0, drops: 0, seconds: 0, mpps: 0, ok: false, error: (e as Error).message };
      console.log(`leak check failed: ${(e as Error).message}`);
    }
  }

  const result = {
    bench: 'fwd',
    packetSize: cfg.size,
    burst: BURST,
    runs: cfg.runs,
    seconds: cfg.seconds,
    copy: cfg.copy,
    lcoreCpu: cfg.lcore,
    mbufs: cfg.mbufs,
    tscHz,
    loadAverage: [load0, load1],
    linerate: {
      mppsPerPort: spread(lrMpps),
      cyclesPerPacket: spread(lr.map((r) => r.cyclesPerPacket)),
      lcoreCyclesPerPacket: spread(lr.map((r) => r.lcoreCyclesPerPacket)),
      cpuShare: cpuShares(lr.map((r) => r.cpuShare)),
      perRun: lrMpps.map((x) => round(x)),
      drops: lr.reduce((a, r) => a + r.drops, 0),
      missingMbufsAfterRuns: lr.reduce((a, r) => a + r.missingMbufs, 0),
    },
    testpmd: tpOk.length
      ? {
          mppsPerPort: spread(tpOk.map((t) => t.mppsPerPort)),
          cyclesPerPacket: spread(tpOk.map((t) => t.cyclesPerPacket)),
          cpuShare: cpuShares(tpOk.map((t) => t.cpuShare)),
          perRun: tp.map((t) => (t ? round(t.mppsPerPort) : null)),
          drops: tpOk.reduce((a, t) => a + t.drops, 0),
          memory: tpOk[0].memory,
          version: testpmdVersion ?? null,
          command: testpmdCommand ?? null,
          leftovers: tpOk.flatMap((t) => t.leftovers),
        }
      : null,
    ...(tpOk.length ? {} : { testpmdSkipped: testpmdSkipped ?? 'unknown' }),
    ratio: ratioMedian === null ? null : { median: ratioMedian, perRun, cpuNormalized, target: TARGET_RATIO, met: ratioMedian >= TARGET_RATIO },
    leakCheck: leak ? { packets: leak.packets, missingMbufs: leak.missingMbufs, inUse: leak.inUse, txPackets: leak.txPackets, seconds: leak.seconds, mpps: leak.mpps, ok: leak.ok, ...(leak.error ? { error: leak.error } : {}) } : null,
    hugepages: lastLinerateHugepages,
  };
  console.log(JSON.stringify(result));
  const leaked = (leak !== null && !leak.ok) || result.linerate.missingMbufsAfterRuns !== 0;
  return leaked ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (currentChild?.pid) currentChild.kill('SIGKILL');
    if (currentPrefix) cleanupDpdk(currentPrefix);
    const err = e as { code?: string; message?: string };
    console.error(`bench/fwd: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`);
    process.exit(2);
  },
);
