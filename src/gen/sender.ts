/**
 * The generator's data path: the handler of an inline host socket with
 * `pollEmpty`, so the worker that polls the port calls it after every poll. Each
 * call it (1) matches the responses that came, by the stamp in their payload,
 * into counters and the latency histogram, and (2) sends what the pacer allows
 * now: requests built from the template (or a payload module), stamped with a
 * run tag, a sequence number and the send time.
 *
 * Pacing is a token bucket on the worker's clock (performance.now(), the
 * monotonic clock): by time t the run may have sent floor(t × rate) requests.
 * One poll sends at most `burst`; a worker that fell further behind (descheduled,
 * say) skips the excess rather than catching up in a larger burst, and counts it
 * (BEHIND). The schedule is absolute, so small delays do not accumulate into a
 * rate error.
 *
 * Nothing here allocates per packet: the stamp is written through one DataView,
 * the histogram is a typed array, duplicates are found in a fixed bitmap.
 *
 * The module's URL carries `?gen=<id>`, the key of its configuration in the
 * worker's environment data (shared.ts), so every generator gets its own module
 * instance.
 */
import { getEnvironmentData } from 'node:worker_threads';
import type { DatagramBatch } from '../host/datagram-batch.js';
import { LatencyHistogram } from './histogram.js';
import { COUNT, CTL, envKey, PARAM, STAMP_BYTES, STATE, type GenShared, type PayloadWriter } from './shared.js';

const id = new URL(import.meta.url).searchParams.get('gen') ?? '';
const cfg = getEnvironmentData(envKey(id)) as GenShared | undefined;
if (!cfg) throw new Error(`linerate generator: no configuration for generator '${id}' (the module is loaded by Generator only)`);

const ctl = new Int32Array(cfg.control);
const par = new Float64Array(cfg.params);
const cnt = new Float64Array(cfg.counters);
const hist = new LatencyHistogram(new Float64Array(cfg.histogram), new Float64Array(cfg.histogramTotals));
const template = cfg.template;
const stampOff = cfg.stampOffset;
const family = cfg.family;
const dst6 = cfg.dst6 ?? new Uint8Array(16);
let writer: PayloadWriter | undefined;
if (cfg.payloadModule) {
  const mod = (await import(cfg.payloadModule)) as Record<string, unknown>;
  const fn = mod[cfg.payloadExport];
  if (typeof fn !== 'function') throw new Error(`${cfg.payloadModule} has no export '${cfg.payloadExport}' that is a function`);
  writer = fn as PayloadWriter;
}

// Sequence numbers seen, over a window of 2^20: bit s & MASK is cleared when s
// is sent and set when its response comes, so a second response is a duplicate.
const SEEN_BITS = 1 << 20;
const seen = new Uint8Array(SEEN_BITS >>> 3);

let view: DataView | undefined;
let run = 0;
let sending = false;
let tag = 0;
let prevTag = -1;
let rate = 0;
let count = 0;
let endNs = 0;
let lateNs = 0;
/** Schedule origin: request k is due at origin + k / rate. Moves forward when the worker falls behind. */
let originNs = 0;
let sent = 0;
let maxSeq = -1;

function start(r: number, now: number): void {
  run = r;
  rate = par[PARAM.RATE];
  count = par[PARAM.COUNT];
  const dur = par[PARAM.DURATION_NS];
  lateNs = par[PARAM.LATE_NS];
  tag = par[PARAM.TAG] >>> 0;
  prevTag = par[PARAM.PREV_TAG] >>> 0;
  cnt.fill(0);
  hist.reset();
  seen.fill(0);
  sent = 0;
  maxSeq = -1;
  originNs = now;
  endNs = dur > 0 ? now + dur : Infinity;
  cnt[COUNT.START_NS] = now;
  sending = true;
  Atomics.store(ctl, CTL.STATE, STATE.SENDING);
  Atomics.store(ctl, CTL.STARTED, r);
}

function finish(now: number): void {
  sending = false;
  cnt[COUNT.END_NS] = now;
  Atomics.store(ctl, CTL.STATE, STATE.DONE);
}

function receive(b: DatagramBatch, n: number, now: number, v: DataView): void {
  for (let i = 0; i < n; i++) {
    const off = b.payloadOffset(i) + stampOff;
    if (b.payloadLength(i) < stampOff + STAMP_BYTES) {
      cnt[COUNT.FOREIGN]++;
      continue;
    }
    const t = v.getUint32(off, true);
    if (t !== tag) {
      cnt[t === prevTag ? COUNT.STALE : COUNT.FOREIGN]++;
      continue;
    }
    const seq = v.getUint32(off + 4, true);
    if (seq >= sent) {
      cnt[COUNT.FOREIGN]++; // a sequence number this run never sent
      continue;
    }
    const bit = seq & (SEEN_BITS - 1);
    const mask = 1 << (bit & 7);
    if (seen[bit >>> 3] & mask) {
      cnt[COUNT.DUPLICATES]++;
      continue;
    }
    seen[bit >>> 3] |= mask;
    const lat = now - v.getFloat64(off + 8, true);
    hist.record(lat > 0 ? lat : 0);
    cnt[COUNT.RECEIVED]++;
    if (lat > lateNs) cnt[COUNT.LATE]++;
    if (seq < maxSeq) cnt[COUNT.REORDERED]++;
    else maxSeq = seq;
  }
}

function send(b: DatagramBatch, now: number, v: DataView): void {
  if (now >= endNs || Atomics.load(ctl, CTL.HALT) !== 0) return finish(now);
  let due = cfg!.burst;
  if (rate > 0) {
    due = Math.floor(((now - originNs) * rate) / 1e9) - sent;
    if (due > cfg!.burst) {
      // Behind by more than a burst: skip the excess, never send a bigger burst.
      const skip = due - cfg!.burst;
      cnt[COUNT.BEHIND] += skip;
      originNs += (skip * 1e9) / rate;
      due = cfg!.burst;
    }
  }
  if (count > 0 && sent + due > count) due = count - sent;
  if (due <= 0) {
    if (count > 0 && sent >= count) finish(now);
    return;
  }
  const u8 = b.bytes;
  const flows = cfg!.flows;
  let k = 0;
  for (; k < due; k++) {
    const seq = sent;
    const flow = seq % flows;
    const len = writer ? cfg!.writerRoom : template.length;
    const j = b.alloc(len, family);
    if (j < 0) {
      cnt[COUNT.NO_MBUF]++;
      break;
    }
    const off = b.payloadOffset(j);
    let plen = template.length;
    if (writer) plen = writer(u8, off, len, seq, flow);
    else u8.set(template, off);
    v.setUint32(off + stampOff, tag, true);
    v.setUint32(off + stampOff + 4, seq, true);
    v.setFloat64(off + stampOff + 8, now, true);
    const bit = seq & (SEEN_BITS - 1);
    seen[bit >>> 3] &= ~(1 << (bit & 7));
    b.setSrcPort(j, cfg!.srcPort + flow);
    if (family === 4) b.sendTo(j, cfg!.dstPort, cfg!.dst4, plen);
    else b.sendTo(j, cfg!.dstPort, dst6, plen);
    sent++;
  }
  cnt[COUNT.SENT] = sent;
  if (k > cnt[COUNT.MAX_BURST]) cnt[COUNT.MAX_BURST] = k;
  if (count > 0 && sent >= count) finish(now);
}

/** The socket's handler: called after every poll of the worker's queue. */
export default function generate(b: DatagramBatch): void {
  const now = performance.now() * 1e6;
  view ??= new DataView(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
  const n = b.count;
  if (n > 0) receive(b, n, now, view);
  const r = Atomics.load(ctl, CTL.RUN);
  if (r !== run) start(r, now);
  if (sending) send(b, now, view);
}
