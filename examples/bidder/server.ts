/**
 * The bidder on the host layer (docs/examples/bidder.md). Every datagram of a
 * burst is a bid request, answered in place in its own mbuf with
 * batch.reply(); late and malformed requests are dropped (no verdict). The
 * same code serves the main thread ({@link BidderServer.handler}) and worker
 * threads (this module's `init`, given {@link BidderServer.workerData} as `data`).
 *
 * Loads: the main thread reads and checks the campaign file, assigns budget
 * slots by campaign id (budgets.ts), compiles the index (campaign-index.ts) and
 * publishes it on a LoadChannel. Each thread looks at the channel at the start
 * of a burst and, when a newer load is there, copies it and lays its views over
 * the copy (well under a millisecond), swapping it in between two bursts: no
 * request waits for a parse or is answered from half an index. A file that
 * fails its checks never reaches the channel.
 */
import type { DatagramBatch, DatagramHandler, WorkerContext } from '../../src/index.js';
import { Bidder, C, COUNTERS } from './bid.js';
import { Budgets, BudgetSlots } from './budgets.js';
import { readCampaignFile } from './campaigns.js';
import { CampaignIndex, compileIndex } from './campaign-index.js';
import { monoUs } from './clock.js';
import { LoadChannel } from './load-channel.js';

/** What a worker gets as `data` (structured-cloned; both buffers are shared). */
export interface BidderWorkerData {
  channel: SharedArrayBuffer;
  budgets: SharedArrayBuffer;
}

/** Answers every request of the burst. No allocation per datagram. */
export function serveBurst(b: DatagramBatch, bidder: Bidder, counters: Float64Array): void {
  const now = monoUs();
  const bytes = b.bytes;
  for (let i = 0; i < b.count; i++) {
    const n = bidder.bid(bytes, b.payloadOffset(i), b.payloadLength(i), now, counters);
    if (n > 0) b.reply(i, n);
  }
}

/**
 * A thread's view of the loads: its Bidder, kept on the newest load.
 * `refresh()` is the per-burst look (one Atomics load when nothing changed).
 */
export class LoadFollower {
  readonly bidder: Bidder;
  private readonly channel: LoadChannel;
  private have: number;

  constructor(data: BidderWorkerData, private readonly counters: Float64Array, private readonly onError: (e: Error) => void = () => {}) {
    this.channel = new LoadChannel(data.channel);
    const first = this.channel.read(0);
    if (!first) throw new Error('bidder: no campaigns published yet');
    this.have = first.generation;
    this.bidder = new Bidder(new CampaignIndex(first.payload), new Budgets(data.budgets));
    counters[C.GENERATION] = this.have;
  }

  refresh(): void {
    const next = this.channel.read(this.have);
    if (!next) return;
    try {
      this.bidder.index = new CampaignIndex(next.payload);
    } catch (e) {
      this.onError(e as Error); // cannot happen for a load the main thread checked; keep serving the old one
    }
    this.have = next.generation;
    this.counters[C.GENERATION] = this.have;
  }
}

/** Worker entry (docs/handlers.md, "Worker modules"): follows the loads, returns the handler. */
export function init(data: BidderWorkerData, ctx: WorkerContext): DatagramHandler {
  const f = new LoadFollower(data, ctx.counters, (e) => ctx.post({ reloadFailed: e.message }));
  const counters = ctx.counters;
  return (b: DatagramBatch) => {
    f.refresh();
    serveBurst(b, f.bidder, counters);
  };
}

/** Options of {@link BidderServer}. */
export interface BidderServerOptions {
  /** Budget slots: campaign ids one run can see, over all reloads. Default 65536. */
  maxCampaigns?: number;
  /** Most bytes of compiled index a load can hand to workers. Default 64 MiB. */
  maxBytes?: number;
}

/**
 * The bidder's campaigns and budgets on the main thread: the handler of a
 * main-thread socket, the `data` of worker sockets, and reload().
 */
export class BidderServer {
  readonly budgets: Budgets;
  /** The main-thread handler's counters (slots C). */
  readonly counters = new Float64Array(COUNTERS);
  readonly handler: DatagramHandler;
  private readonly slots: BudgetSlots;
  private readonly channel: LoadChannel;
  private readonly follower: LoadFollower;

  /** Loads `file` (CampaignError when it cannot be used). */
  constructor(readonly file: string, o: BidderServerOptions = {}) {
    this.budgets = Budgets.create(o.maxCampaigns ?? 65536);
    this.slots = new BudgetSlots(this.budgets);
    this.channel = LoadChannel.create(o.maxBytes ?? 64 << 20);
    const r = this.load();
    if (!r.ok) throw r.error;
    this.follower = new LoadFollower(this.workerData(), this.counters);
    this.handler = (b) => {
      this.follower.refresh();
      serveBurst(b, this.follower.bidder, this.counters);
    };
  }

  /** The index the main thread serves now. */
  get index(): CampaignIndex {
    return this.follower.bidder.index;
  }

  /** The load generation published last (1 for the first load). */
  get generation(): number {
    return this.channel.generation;
  }

  /** `data` for host.udpInWorkers and the dgram workers. */
  workerData(): BidderWorkerData {
    return { channel: this.channel.buffer, budgets: this.budgets.buffer };
  }

  /**
   * Reads the campaign file again. A file that fails leaves the campaigns as
   * they were and returns why; a good one is published at once and served by
   * each thread from its next burst. Budgets persist by campaign id.
   */
  reload(): { ok: true; campaigns: number; generation: number } | { ok: false; error: Error } {
    const r = this.load();
    if (r.ok) this.follower?.refresh();
    return r;
  }

  /** The budget left and spent of campaign `id` (undefined if never loaded). */
  budgetOf(id: number): { remaining: number; spent: number } | undefined {
    const s = this.slots.slotOf(id);
    return s === undefined ? undefined : { remaining: this.budgets.remaining(s), spent: this.budgets.spent(s) };
  }

  private load(): { ok: true; campaigns: number; generation: number } | { ok: false; error: Error } {
    try {
      const { specs } = readCampaignFile(this.file);
      const bytes = compileIndex(specs, new Int32Array(specs.length)); // slots below: only a load that fits assigns any
      if (bytes.length > this.channel.room) throw new Error(`${this.file}: its index (${bytes.length} bytes) outgrows the ${this.channel.room}-byte reload buffer; restart the bidder`);
      new CampaignIndex(bytes).slot.set(this.slots.assign(specs, this.file));
      const generation = this.channel.publish(bytes);
      return { ok: true, campaigns: specs.length, generation };
    } catch (e) {
      return { ok: false, error: e as Error };
    }
  }
}
