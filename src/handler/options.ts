/**
 * The options of engine.handle(), handleInWorkers() and exceptionPath(): which
 * packets go where, the handler channel's ring, batching. Checked here before
 * any native code runs.
 * @module
 */
import { LinerateError } from '../errors.js';
import { check, describe, isPow2, type Rule } from '../option-check.js';
import type { WorkerModule } from './worker-api.js';
import { maxPoolBytes } from './batch.js';

/** Which packets a handler gets. Every field is optional; all that are set must hold. */
export interface HandlerMatch {
  /** Ethernet type (after one VLAN tag), e.g. 0x0800 for IPv4. */
  ethertype?: number;
  /** IP protocol (IPv4 protocol / IPv6 next header), e.g. 17 for UDP. */
  ipProto?: number;
  udpDstPort?: number;
  tcpDstPort?: number;
  /** UDP or TCP destination port. */
  dstPort?: number;
}

/** Options of {@link Engine.exceptionPath}. */
export interface ExceptionPathOptions {
  /**
   * What the data path keeps. ARP, ICMP and ICMPv6 always go to the kernel; with a match, every other packet that
   * does not match it goes there too (e.g. `{ udpDstPort: 7777 }`: only that port stays in user space, SSH and the
   * rest reach the kernel). Without one, everything but ARP/ICMP/ICMPv6 stays on the data path.
   */
  match?: HandlerMatch;
}

/** Options of {@link Engine.handle}. */
export interface HandleOptions {
  match?: HandlerMatch;
  /** Slots of the ring to the handler (power of two). A full ring is a counted drop. Default 1024. */
  ringSize?: number;
  /**
   * Pipeline mode: how long, in microseconds, matched packets may wait on the lcore for a fuller burst before
   * they go to the handler (0..1000; 0 hands over every rx burst as it comes). Each burst handed over has a fixed
   * cost on both threads, so small bursts cost more per packet; whether a window pays for its wait depends on
   * where the pipeline is limited (docs/handlers.md, "Batching"). Default {@link DEFAULT_COALESCE_US}. Inline mode
   * takes what each rx burst brings and ignores it.
   */
  coalesceUs?: number;
}

/** Default {@link HandleOptions.coalesceUs}. */
export const DEFAULT_COALESCE_US = 0;

/** Checks the options common to handle() and handleInWorkers(). @internal */
export function validateHandleOptions(scope: string, o: HandleOptions): { ringSize: number; coalesceUs: number } {
  if (o.ringSize !== undefined && (!Number.isInteger(o.ringSize) || o.ringSize < 2 || o.ringSize > 1 << 20 || !isPow2(o.ringSize))) {
    throw new LinerateError('INVALID_OPTION', `${scope}: ringSize must be a power of two from 2 to 1048576, got ${describe(o.ringSize)}`);
  }
  if (o.coalesceUs !== undefined && (typeof o.coalesceUs !== 'number' || !Number.isFinite(o.coalesceUs) || o.coalesceUs < 0 || o.coalesceUs > 1000)) {
    throw new LinerateError('INVALID_OPTION', `${scope}: coalesceUs must be a number of microseconds from 0 to 1000, got ${describe(o.coalesceUs)}`);
  }
  return { ringSize: o.ringSize ?? 1024, coalesceUs: o.coalesceUs ?? DEFAULT_COALESCE_US };
}

/**
 * A handler sees the whole mempool as one Uint8Array (`batch.bytes`), so the pool must fit in one: at most
 * buffer.constants.MAX_LENGTH bytes (4 GiB on Node 20, 2^53 - 1 from Node 22). Refused up front with
 * INVALID_OPTION rather than failing at start() with V8's "Invalid typed array length". @internal
 */
export function checkPoolFits(scope: string, poolBytes: number, slotSize?: number): void {
  const max = maxPoolBytes();
  if (poolBytes <= max) return;
  const fit = slotSize ? ` (at most ${Math.floor(max / slotSize)} mbufs of ${slotSize} bytes)` : '';
  throw new LinerateError(
    'INVALID_OPTION',
    `${scope}: the mempool is ${poolBytes} bytes, and a JS handler sees it as one Uint8Array, which Node ${process.version} limits to ` +
      `${max} bytes (buffer.constants.MAX_LENGTH); use a smaller pool for an engine with JS handlers${fit}: mempool.mbufs or mempool.dataRoom, ` +
      `or Node 22 or later (no 4 GiB limit)`,
  );
}

/** Options of {@link Engine.handleInWorkers}. */
export interface HandleInWorkersOptions extends HandleOptions {
  /**
   * The handler module (URL or path): an ES module whose default export (or `export`) is the handler,
   * `(batch) => void`, or whose `init(data, ctx)` returns it; it may also export `stop(ctx)`. See
   * {@link WorkerModule} and docs/handlers.md, "Worker modules".
   */
  module: URL | string;
  /** Named export to use instead of the default export. */
  export?: string;
  /** 'pipeline' (default): lcores poll and hand bursts over; 'inline': each worker polls its queue itself. */
  mode?: 'pipeline' | 'inline';
  /**
   * Inline mode: CPUs to pin the workers to, round-robin over queues; each must be one this process may run on
   * (`CPU_UNAVAILABLE` otherwise, at this call). Default: the allowed CPUs that no lcore (and no other inline worker)
   * uses; when there are none, the lcores' CPUs, and `engine.start()` warns that they share (see the `'warning'`
   * event). A worker that shares its CPU with an lcore gets about half of it, and both see the other's time slices
   * as latency.
   */
  cpus?: number[];
  /**
   * Start data for every worker of this port: structured-cloned into each (plain objects, arrays, Maps, typed
   * arrays...; a SharedArrayBuffer is shared, not copied). The module gets it as `init(data, ctx)` and `ctx.data`.
   * `INVALID_OPTION` here when it cannot be cloned (a function, a class instance with methods it needs).
   */
  data?: unknown;
  /**
   * Result counters per worker: float64 slots in shared memory the module writes through `ctx.counters` and the
   * parent reads with {@link Engine.workerCounters}. 0..65536; default 16.
   */
  counters?: number;
}

/** @internal */
export function validateMatch(m: HandlerMatch | undefined): Record<string, number | undefined> {
  if (m === undefined) return {};
  const limits: Record<string, number> = { ethertype: 0xffff, ipProto: 255, udpDstPort: 0xffff, tcpDstPort: 0xffff, dstPort: 0xffff };
  check('handler match', m, Object.fromEntries(Object.entries(limits).map(([k, max]) => [k, { type: 'int', min: 0, max } as Rule])));
  return { ...m };
}
