/**
 * Loads the native addon (a Node-API module: one binary serves every Node
 * version with N-API 8, and it loads in worker_threads too).
 * @internal
 */
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { LinerateError } from './errors.js';
import type { MempoolInfo } from './engine.js';

const require = createRequire(import.meta.url);

/** The package root: dist/src/native.js and src/native.ts both sit two levels below it (or one, from src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'CMakeLists.txt'))) return dir;
    dir = dirname(dir);
  }
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export interface NativeAddon {
  NativeEngine: new (cpus: number[], opts: Record<string, unknown>) => NativeEngineHandle;
  hostInfo(): HostInfo;
  abiVersion: number;
  attach(engineId: number): AttachedEngineHandle;
  pinThread(cpu: number): void;
  /** Calls fn once per event-loop turn while armed, allocating nothing per turn (native/binding/loop_pump.h). */
  createPump?(fn: () => void): { arm(): void; disarm(): void; close(): void };
  /** A ring (native/core/ring.h) in 64-byte aligned native memory, initialised by lr::Ring::init; freed with the ArrayBuffer. */
  ringCreate(size: number, flags: number): ArrayBuffer;
  /** lr::Ring::attach(buf + offset).enqueue_bulk (bulk) or enqueue_burst of objs[0..n); returns the number moved. */
  ringEnqueue(buf: ArrayBuffer, offset: number, objs: Uint32Array, n: number, bulk: boolean): number;
  /** lr::Ring::attach(buf + offset).dequeue_bulk (bulk) or dequeue_burst into objs[0..n); returns the number moved. */
  ringDequeue(buf: ArrayBuffer, offset: number, objs: Uint32Array, n: number, bulk: boolean): number;
  /** lr::Ring::attach(buf + offset).count(). */
  ringCount(buf: ArrayBuffer, offset: number): number;
  /** A pcap-filter expression compiled by the host's libpcap: [code | jt << 16 | jf << 24, k] per instruction. */
  captureCompile?(expr: string, snaplen: number): Uint32Array;
  /** tcpdump -ddd text, parsed and checked: the same layout. */
  captureParseBpf?(text: string): Uint32Array;
}

/** @internal */
import type { NativeHostConfig } from './host/options.js';
import type { HostCounters, HostNeighborStats, HostSocketStats, NeighborEntry } from './host/host.js';

export interface NativeEngineHandle {
  addPort(name: string, driver: string, opts: Record<string, unknown>, rxQueues: number, rssKey: Uint8Array | undefined, symmetric: boolean): number;
  forward(src: number, dst: number, mode: 'io' | 'mac', dstMac: Uint8Array): void;
  echo(port: number): void;
  start(): void;
  stop(): void;
  close(): void;
  stats(): RawStats;
  info(): RawInfo;
  sourcesDone(): boolean;
  /** Driver options that change while the port runs (af_xdp: dropRules as the encoded string). */
  setPortOptions(port: number, opts: Record<string, unknown>): void;
  id(): number;
  handle(port: number, match: Record<string, number | undefined>, inline: boolean, ringSize: number): void;
  send(port: number, frames: Uint8Array[]): number;
  /** The exception path: what `port` does not keep goes out of `tap`, what `tap` receives goes out of `port`. */
  exceptionPath(port: number, tap: number, keep: Record<string, number | undefined>): void;
  /** The host layer (src/host/). */
  host(port: number, cfg: NativeHostConfig): void;
  hostUdp(port: number, udpPort: number, inline: boolean, ringSize: number): number;
  /** The socket also serves udpPort (HostUdpOptions.ports). */
  hostUdpAlias(port: number, socket: number, udpPort: number): void;
  hostStats(port: number): { counters: HostCounters; sockets: HostSocketStats[]; neighbors: HostNeighborStats };
  hostNeighbors(port: number): NeighborEntry[];
  hostSend(port: number, socket: number, payload: Uint8Array, address: Uint8Array, dstPort: number): boolean;
  /** Packet capture (src/capture/): attaches a capture; returns the size of its records. */
  captureStart(port: number, prog: Uint32Array | null, opts: { snaplen: number; rx: boolean; tx: boolean; rxQueue?: number; ringSize: number }): number;
  captureStop(port: number): void;
  /** Copies whole records (native/pipeline/capture/capture.h) into out; returns the bytes written. */
  captureDrain(port: number, out: Uint8Array): number;
  captureStats(port: number): { seen: number; accepted: number; filtered: number; dropped: number } | undefined;
}

/** An engine as seen from one JS environment (main thread or worker). @internal */
export interface AttachedEngineHandle {
  poolBuffer(): ArrayBuffer;
  poolInfo(): { mbufs: number; slotSize: number; headroom: number; dataRoom: number; burst: number; tscHz: number };
  channelBuffer(port: number, queue: number): ArrayBuffer;
  setDoorbell(port: number, queue: number, fn: () => void): void;
  clearDoorbell(port: number, queue: number): void;
  /** Pipeline channels: how long matched packets may wait on the lcore for a fuller burst (ns, 0 = never). Absent in older addons. */
  setCoalesce?(port: number, queue: number, ns: number): void;
  inline(port: number, queue: number): unknown;
}

/** What the host offers, from sysfs and sched_getaffinity. */
export interface HostInfo {
  allowedCpus: number[];
  hugepages2M: number;
  hugepages1G: number;
  hugetlbfs2M: string;
  drivers: string[];
  mbufLayoutVersion: number;
  ringFormatVersion: number;
}

/** @internal */
export interface RawQueue {
  packets: number;
  bytes: number;
  nombuf?: number;
  ringFull?: number;
  full?: number;
  malformed?: number;
  groupDst?: number;
}
/** @internal */
export interface RawHandlerStats {
  present: boolean;
  inline: boolean;
  toJsFull: number;
  doorbells: number;
  replied: number;
  forwarded: number;
  dropped: number;
  badVerdict: number;
  /** Absent in addons built before it. */
  unreturned?: number;
  unmatched: number;
  batches: number;
  packets: number;
  errors: number;
  errorDrops: number;
}
/** @internal */
export interface RawStats {
  ports: {
    id: number;
    name: string;
    driver: string;
    linkUp: boolean;
    heldMbufs: number;
    rx: RawQueue[];
    tx: RawQueue[];
    xstats: Record<string, number>;
    handler: RawHandlerStats;
  }[];
  lcores: {
    index: number;
    cpu: number;
    loops: number;
    busyLoops: number;
    packets: number;
    cycles: number;
    busyCycles: number;
    sleeps: number;
    waits: number;
    wakeups: number;
    waitTimeouts: number;
    waitsOnFds: boolean;
    tasks: number;
    /** Absent in addons built before it. */
    tid?: number;
  }[];
  pool: { size: number; freeRing: number; freeCaches: number; driver: number; rings: number; js: number; host?: number; inFlight: number; allocFailures: number; freeOverflows?: number };
  tscHz: number;
  timeNs: number;
}
/** @internal */
export interface RawInfo {
  mempool: MempoolInfo;
  cpus: number[];
  tscHz: number;
  burst: number;
  ports: { id: number; name: string; driver: string; rxQueues: number; rss: 'none' | 'software' | 'hardware'; mtu: number; mac: string; details: Record<string, string> }[];
}

/**
 * What to run when the addon does not load, for where linerate sits: installed as a dependency (under
 * node_modules/, where only npm's own commands exist: `npm rebuild linerate` runs the install script, which builds
 * the addon when no prebuild fits), or this repository checked out (its build:native script). @internal
 */
export function addonBuildHint(root: string = packageRoot()): string {
  const needs = '(needs cmake, make and g++: apt-get install -y cmake make g++)';
  if (root.split(sep).includes('node_modules')) return `rebuild it from your project's directory with: npm rebuild linerate   ${needs}`;
  return `build it with: npm run build:native   ${needs}`;
}

let cached: NativeAddon | undefined;

/** Loads the addon once; throws LinerateError ADDON_LOAD listing where it looked and what to run. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  // LINERATE_ADDON_PATH names a specific binary (a debug or sanitizer build, or a
  // private build directory); otherwise node-gyp-build picks prebuilds/ or build/.
  const override = process.env.LINERATE_ADDON_PATH;
  try {
    if (override) {
      cached = require(override) as NativeAddon;
      return cached;
    }
    const load = require('node-gyp-build') as (dir: string) => NativeAddon;
    cached = load(root);
    return cached;
  } catch (e) {
    const tried = override ? [override] : [join(root, 'build', 'Release'), join(root, 'build', 'Debug'), join(root, 'prebuilds', `${process.platform}-${process.arch}`)];
    throw new LinerateError(
      'ADDON_LOAD',
      `cannot load the linerate native addon (${(e as Error).message.split('\n')[0]}).\n` +
        `  looked in: ${tried.join(', ')}\n` +
        `  ${addonBuildHint(root)}`,
      { cause: e },
    );
  }
}
