/**
 * The DNS handler of examples/dns: every datagram of a burst is a query,
 * answered in place in its own mbuf (answers.ts) and sent back with
 * batch.reply(); what gets no answer is dropped. The same code serves the main
 * thread ({@link DnsServer}) and worker threads (this module's `init`, given
 * {@link DnsServer.workerData} as `data`).
 *
 * Reloads reach workers through shared memory, without a message: the main
 * thread checks the new zone text first, writes it into a SharedArrayBuffer and
 * bumps a generation number; each worker sees the new generation at the start
 * of a burst, builds its answers from the text, swaps them in between two
 * bursts and publishes the generation it serves in its counters (C.GENERATION),
 * which is also how the main thread knows the buffer is free for the next reload.
 */
import type { DatagramBatch, DatagramHandler, WorkerContext } from '../../src/index.js';
import { Answers, C, COUNTERS, QTYPE_SLOTS, RCODE_SLOTS } from './answers.js';
import { limit, Rrl, type RrlOptions } from './rrl.js';
import type { SocketCounterFamily } from '../../src/index.js';
import { readFileSync } from 'node:fs';
import { parseZone, ZoneError, type Zone } from './zone.js';

/** Zone files as text: what travels to workers. */
export interface ZoneText {
  file: string;
  text: string;
}

/** What a worker gets as `data`. */
export interface DnsWorkerData {
  zones: ZoneText[];
  /** Int32 [0] generation, [1] byte length of the JSON ZoneText[] that follows at byte 8. */
  reload: SharedArrayBuffer;
  /** Response rate limiting (rrl.ts); each worker keeps its own table. */
  rrl?: RrlOptions;
}

const HEADER = 8;

/**
 * Answers every datagram of the burst from `answers`; with `rrl`, responses
 * over the rate are dropped or slipped (rrl.ts; `nowMs` is read once per burst).
 * No allocation per datagram.
 */
export function serveBurst(b: DatagramBatch, answers: Answers, counters: Float64Array, rrl?: Rrl, nowMs = rrl ? performance.now() : 0): void {
  const bytes = b.bytes;
  for (let i = 0; i < b.count; i++) {
    const off = b.payloadOffset(i);
    let n = answers.answer(bytes, off, b.payloadLength(i), b.payloadRoom(i), counters);
    if (n > 0 && rrl) n = limit(rrl, bytes, off, n, b.srcAddressOffset(i), b.family(i), nowMs, counters);
    if (n > 0) b.reply(i, n);
  }
}

/** The counter families a host socket shows (HostSocket.labelCounters): responses by rcode, queries by type, RRL by action. */
export const DNS_COUNTER_FAMILIES: SocketCounterFamily[] = [
  { name: 'dns_responses_total', help: 'DNS responses by rcode (examples/dns).', label: 'rcode', slots: { ...RCODE_SLOTS } },
  { name: 'dns_queries_total', help: 'DNS queries by type (examples/dns; AXFR and IXFR as XFR).', label: 'qtype', slots: { ...QTYPE_SLOTS } },
  { name: 'dns_rrl_total', help: 'Responses the rate limiter held back, by action (dropped, or slipped: sent truncated).', label: 'action', slots: { dropped: C.RRL_DROPPED, slipped: C.RRL_SLIPPED } },
];

/** {@link DnsServer.stats}. */
export interface DnsStats {
  /** Responses by rcode name. */
  rcode: Record<keyof typeof RCODE_SLOTS, number>;
  /** Queries by type name (AXFR and IXFR as XFR, the rest as OTHER). */
  qtype: Record<keyof typeof QTYPE_SLOTS, number>;
  truncated: number;
  nodata: number;
  edns: number;
  /** Queries given no answer (too short, or a response). */
  dropped: number;
  rrl: { dropped: number; slipped: number };
}

/** The sum of counter arrays (slots C). */
export function sumCounters(all: Float64Array[]): Float64Array {
  const sum = new Float64Array(COUNTERS);
  for (const c of all) for (let i = 0; i < COUNTERS; i++) sum[i] += c[i];
  return sum;
}

/** Counters (slots C) as named figures. */
export function dnsStats(c: ArrayLike<number>): DnsStats {
  const pick = <K extends string>(slots: Record<K, number>) => Object.fromEntries(Object.entries(slots).map(([k, i]) => [k, c[i as number]])) as Record<K, number>;
  return {
    rcode: pick(RCODE_SLOTS),
    qtype: pick(QTYPE_SLOTS),
    truncated: c[C.TRUNCATED],
    nodata: c[C.NODATA],
    edns: c[C.EDNS],
    dropped: c[C.DROPPED],
    rrl: { dropped: c[C.RRL_DROPPED], slipped: c[C.RRL_SLIPPED] },
  };
}

function build(zones: ZoneText[]): Answers {
  return new Answers(zones.map((z) => parseZone(z.text, z.file)));
}

/** Worker entry (docs/handlers.md, "Worker modules"): builds the answers once, returns the handler. */
export async function init(data: DnsWorkerData, ctx: WorkerContext): Promise<DatagramHandler> {
  let answers = build(data.zones);
  const gen = new Int32Array(data.reload, 0, 2);
  const bytes = new Uint8Array(data.reload, HEADER);
  const counters = ctx.counters;
  const rrl = data.rrl ? new Rrl(data.rrl) : undefined;
  let mine = Atomics.load(gen, 0);
  counters[C.GENERATION] = mine;
  return (b: DatagramBatch) => {
    const g = Atomics.load(gen, 0);
    if (g !== mine) {
      // Between two bursts: the main thread parsed this text already, so it loads.
      const text = Buffer.from(bytes.slice(0, Atomics.load(gen, 1))).toString('utf8');
      try {
        answers = build(JSON.parse(text) as ZoneText[]);
      } catch (e) {
        ctx.post({ reloadFailed: String((e as Error).message) });
      }
      mine = g;
      counters[C.GENERATION] = g;
    }
    serveBurst(b, answers, counters, rrl);
  };
}

/** Reads and parses zone files (a ZoneError naming the file and line on the first bad one). */
export function readZones(files: string[]): { texts: ZoneText[]; zones: Zone[] } {
  const texts = files.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') };
    } catch (e) {
      throw new ZoneError('ZONE_IO', file, 0, `cannot read it: ${(e as Error).message}`);
    }
  });
  return { texts, zones: texts.map((t) => parseZone(t.text, t.file)) };
}

/**
 * The server's zones and counters on the main thread; the handler for a
 * main-thread socket, the `data` for worker sockets, and reload().
 */
export class DnsServer {
  /** What the main-thread handler serves (swapped whole by reload()). */
  answers: Answers;
  /** The main-thread handler's counters (slots C). */
  readonly counters = new Float64Array(COUNTERS);
  readonly handler: DatagramHandler;
  private texts: ZoneText[];
  private readonly shared: SharedArrayBuffer;
  private readonly gen: Int32Array;
  private generation = 0;

  /** The main thread's limiter (workers make their own from {@link DnsServer.workerData}). */
  readonly rrl: Rrl | undefined;

  /**
   * Loads `files` (ZoneError on the first bad one). `maxBytes` bounds the zone
   * text a reload can hand to workers; `rrl` turns response rate limiting on.
   */
  constructor(readonly files: string[], maxBytes = 64 << 20, readonly rrlOptions?: RrlOptions) {
    const { texts, zones } = readZones(files);
    this.texts = texts;
    this.answers = new Answers(zones);
    this.shared = new SharedArrayBuffer(HEADER + maxBytes);
    this.gen = new Int32Array(this.shared, 0, 2);
    this.rrl = rrlOptions ? new Rrl(rrlOptions) : undefined;
    this.handler = (b) => serveBurst(b, this.answers, this.counters, this.rrl);
  }

  /** `data` for host.udpInWorkers (structured-cloned; the reload buffer is shared). */
  workerData(): DnsWorkerData {
    return { zones: this.texts, reload: this.shared, ...(this.rrlOptions ? { rrl: this.rrlOptions } : {}) };
  }

  /**
   * Responses by rcode, queries by type, truncations and RRL actions: this
   * thread's counters plus `workers`' (engine.workerCounters(port)).
   */
  stats(workers: Float64Array[] = []): DnsStats {
    return dnsStats(sumCounters([...workers, this.counters]));
  }

  /**
   * Reads the zone files again. A file that fails leaves every zone as it was
   * and returns its error; otherwise the main thread swaps at once, and the
   * workers (whose counters are `workers`, from engine.workerCounters) at their
   * next burst. Returns false without reloading while a worker still has the
   * previous reload to pick up.
   */
  reload(workers: Float64Array[] = []): { ok: true; names: number } | { ok: false; error: string } {
    if (workers.some((c) => c[C.GENERATION] !== this.generation)) return { ok: false, error: 'a worker has not picked up the previous reload yet (idle workers pick it up with their next query)' };
    let answers: Answers, texts: ZoneText[];
    try {
      const r = readZones(this.files);
      answers = new Answers(r.zones);
      texts = r.texts;
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
    const json = Buffer.from(JSON.stringify(texts));
    if (json.length > this.shared.byteLength - HEADER) return { ok: false, error: `the zones (${json.length} bytes) outgrew the reload buffer; restart the server` };
    new Uint8Array(this.shared, HEADER).set(json);
    Atomics.store(this.gen, 1, json.length);
    this.generation++;
    Atomics.store(this.gen, 0, this.generation);
    this.answers = answers;
    this.texts = texts;
    return { ok: true, names: answers.names };
  }
}
