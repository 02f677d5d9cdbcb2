/**
 * The DNS servers bench/dns measures, each started on the bed's B end on one
 * CPU and stopped with nothing left behind: linerate (examples/dns in an inline
 * worker on an af_xdp host), Knot DNS in XDP mode and on UDP sockets, NSD, and
 * the Node dgram server of examples/dns/dgram.ts.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/index.js';
import { DnsServer } from '../examples/dns/server.js';
import { killChild, Lines, track } from './children.js';

export const SERVER_KINDS = ['linerate', 'knot-xdp', 'knot-udp', 'nsd', 'dgram'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export const SERVER_IP = '198.18.0.2';

export interface DnsBed {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
}

export interface Running {
  /** Every process of the server (CPU is read from each, threads included). */
  pids(): number[];
  stop(): Promise<void>;
  /** The server's own counters, where it has them (linerate: port and socket), to tell its losses from the wire's. */
  counters?(): string;
}

export interface ServerContext {
  bed: DnsBed;
  /** The server's CPU. */
  cpu: number;
  /** Zone file (origin example.test.) and a directory for configs and state. */
  zone: string;
  dir: string;
  idle: 'busy' | 'adaptive';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The processes descended from `pid`, itself first (NSD forks its server and xfrd). */
export function processTree(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      parent.set(Number(d), Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const out = [pid];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i] && !out.includes(p)) out.push(p);
  return out;
}

/** Asks the server for the zone's SOA from A until it answers (the zone is loaded). */
async function waitAnswering(bed: DnsBed, what: string, child?: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child && child.exitCode !== null) break;
    const r = spawnSync('ip', ['netns', 'exec', bed.nsA, 'kdig', `@${SERVER_IP}`, 'example.test', 'SOA', '+time=1', '+retry=0'], { encoding: 'utf8' });
    if (/status: NOERROR/.test(r.stdout)) return;
    await sleep(100);
  }
  throw new Error(`${what} does not answer example.test SOA at ${SERVER_IP}`);
}

/** B's kernel gets the address and answers ARP while a kernel-side server runs (--isolate-b keeps it off otherwise). */
function kernelAddress(bed: DnsBed, on: boolean): void {
  if (on) execFileSync('ip', ['-n', bed.nsB, 'addr', 'replace', `${SERVER_IP}/24`, 'dev', bed.ifB]);
  else execFileSync('ip', ['-n', bed.nsB, 'addr', 'flush', 'dev', bed.ifB]);
  execFileSync('ip', ['netns', 'exec', bed.nsB, 'sysctl', '-qw', `net.ipv4.conf.${bed.ifB}.arp_ignore=${on ? 0 : 8}`]);
}

async function stopChild(c: ChildProcess, pids: number[]): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  await Promise.race([new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))), sleep(5000)]);
  killChild(c);
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function linerate(ctx: ServerContext): Promise<Running> {
  const server = new DnsServer([ctx.zone]);
  const e = await Engine.create({ lcores: [ctx.cpu], mempool: { mbufs: 32768 }, idle: ctx.idle });
  try {
    const p = e.addPort('b', { driver: 'af_xdp', interface: ctx.bed.ifB, netns: ctx.bed.nsB, ringSize: 8192 });
    const h = e.host(p, { ipv4: `${SERVER_IP}/24` });
    h.udpInWorkers({ port: 53, module: new URL('../examples/dns/server.js', import.meta.url), mode: 'inline', cpus: [ctx.cpu], data: server.workerData(), counters: 32 });
    await e.start();
    await waitAnswering(ctx.bed, 'linerate dns');
  } catch (err) {
    if (e.state !== 'closed') await e.close();
    throw err;
  }
  return {
    pids: () => [process.pid],
    counters: () => {
      const p = e.stats().ports.b!;
      const k = e.hostList()[0]!.stats().sockets[0]!;
      const drops = Object.entries(p.drops).filter(([, v]) => v > 0).map(([n, v]) => `${n} ${v}`).join(' ') || 'none';
      // The af_xdp driver's own figures (XDP_STATISTICS: what the kernel could not put on the socket's rx ring).
      const x = Object.entries(p.xstats).filter(([n, v]) => v > 0 && /drop|full|empty|invalid/i.test(n)).map(([n, v]) => `${n} ${v}`).join(' ') || 'none';
      return `port rx ${p.rxPackets} tx ${p.txPackets} drops ${drops} xdp ${x} | socket rx ${k.rx} replies ${k.replies} dropped ${k.dropped} ringFull ${k.ringFull}`;
    },
    stop: async () => {
      await e.stop();
      const s = e.stats();
      if (s.mempool.free.total !== s.mempool.size) console.log(`    linerate dns: ${s.mempool.size - s.mempool.free.total} mbufs missing after stop`);
      await e.close();
    },
  };
}

/** knotd on UDP sockets, or in XDP mode on B's end (knot.conf: `xdp: listen:`). */
async function knot(ctx: ServerContext, xdp: boolean): Promise<Running> {
  const d = ctx.dir;
  const conf = join(d, xdp ? 'knot-xdp.conf' : 'knot-udp.conf');
  writeFileSync(
    conf,
    'server:\n' +
      `  rundir: ${d}\n  identity: ""\n  nsid: ""\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n` +
      (xdp ? '' : `  listen: ${SERVER_IP}@53\n`) +
      (xdp ? `xdp:\n  listen: ${ctx.bed.ifB}@53\n` : '') +
      `database:\n  storage: ${d}/knot-db\n` +
      `template:\n  - id: default\n    storage: ${d}\n    zonefile-sync: -1\n    journal-content: none\n` +
      'zone:\n  - domain: example.test\n    file: example.test.zone\n' +
      'log:\n  - target: stderr\n    any: warning\n',
  );
  kernelAddress(ctx.bed, true);
  // `ip netns exec` execs: the child's pid is knotd's.
  const c = track(spawn('ip', ['netns', 'exec', ctx.bed.nsB, 'taskset', '-c', String(ctx.cpu), 'knotd', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines = new Lines(c);
  const off = () => {
    // knotd leaves its XDP program on the interface after it exits.
    if (xdp) spawnSync('ip', ['-n', ctx.bed.nsB, 'link', 'set', 'dev', ctx.bed.ifB, 'xdp', 'off'], { stdio: 'ignore' });
    kernelAddress(ctx.bed, false);
  };
  try {
    await waitAnswering(ctx.bed, `knotd (${xdp ? 'XDP' : 'UDP'})`, c);
    // knotd pins its XDP workers to CPUs of its own choosing: every thread back onto the server CPU.
    execFileSync('taskset', ['-a', '-p', '-c', String(ctx.cpu), String(c.pid)], { stdio: 'ignore' });
  } catch (e) {
    await stopChild(c, [c.pid!]);
    off();
    throw new Error(`${(e as Error).message}\n${lines.log.slice(-10).join('\n')}`);
  }
  return {
    pids: () => [c.pid!],
    stop: async () => {
      await stopChild(c, [c.pid!]);
      off();
    },
  };
}

async function nsd(ctx: ServerContext): Promise<Running> {
  const d = ctx.dir;
  const conf = join(d, 'nsd.conf');
  writeFileSync(
    conf,
    'server:\n' +
      `  ip-address: ${SERVER_IP}\n  port: 53\n  server-count: 1\n  username: ""\n  chroot: ""\n  zonesdir: "${d}"\n  database: ""\n` +
      `  zonelistfile: "${d}/nsd-zone.list"\n  xfrdfile: "${d}/nsd-xfrd.state"\n  pidfile: "${d}/nsd.pid"\n  logfile: "${d}/nsd.log"\n` +
      // Debian's NSD is built with RRL, on by default at 200 q/s per /24: off, as for every other server here.
      '  verbosity: 0\n  hide-version: yes\n  tcp-count: 10\n  rrl-ratelimit: 0\n' +
      'remote-control:\n  control-enable: no\n' +
      'zone:\n  name: example.test\n  zonefile: example.test.zone\n',
  );
  kernelAddress(ctx.bed, true);
  // -d: in the foreground, so the child is NSD's parent process; its server and xfrd children inherit the CPU.
  const c = track(spawn('ip', ['netns', 'exec', ctx.bed.nsB, 'taskset', '-c', String(ctx.cpu), 'nsd', '-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines = new Lines(c);
  try {
    await waitAnswering(ctx.bed, 'nsd', c);
  } catch (e) {
    await stopChild(c, processTree(c.pid!));
    kernelAddress(ctx.bed, false);
    throw new Error(`${(e as Error).message}\n${lines.log.slice(-10).join('\n')}`);
  }
  return {
    pids: () => processTree(c.pid!),
    stop: async () => {
      await stopChild(c, processTree(c.pid!));
      kernelAddress(ctx.bed, false);
    },
  };
}

async function dgram(ctx: ServerContext): Promise<Running> {
  kernelAddress(ctx.bed, true);
  const script = new URL('../examples/dns/dgram.js', import.meta.url).pathname;
  const c = track(spawn('ip', ['netns', 'exec', ctx.bed.nsB, 'taskset', '-c', String(ctx.cpu), process.execPath, script, '--zone', ctx.zone, '--listen', SERVER_IP, '--port', '53'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  try {
    await new Lines(c).next((l) => l.startsWith('dns (dgram) on'), 15_000, 'dgram dns');
  } catch (e) {
    await stopChild(c, [c.pid!]);
    kernelAddress(ctx.bed, false);
    throw e;
  }
  return {
    pids: () => [c.pid!],
    stop: async () => {
      await stopChild(c, [c.pid!]);
      kernelAddress(ctx.bed, false);
    },
  };
}

export function startServer(kind: ServerKind, ctx: ServerContext): Promise<Running> {
  switch (kind) {
    case 'linerate':
      return linerate(ctx);
    case 'knot-xdp':
      return knot(ctx, true);
    case 'knot-udp':
      return knot(ctx, false);
    case 'nsd':
      return nsd(ctx);
    case 'dgram':
      return dgram(ctx);
  }
}
