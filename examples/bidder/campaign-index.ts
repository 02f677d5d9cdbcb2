/**
 * The campaign index, compiled once per load on the main thread into one flat
 * buffer of typed arrays, so a worker takes a new load by copying bytes and
 * laying views over them (well under a millisecond), not by parsing JSON and
 * building maps between two bursts while requests queue.
 *
 * The index: one bucket per (country, device, slot size) a campaign targets,
 * with a wildcard value for each dimension it leaves open. A request looks up
 * at most 2 × 2 × 2 = 8 buckets (its own value or the wildcard, per
 * dimension). A bucket lists its campaigns by price, highest first, so the
 * first one whose segments and budget fit is that bucket's best; the best of
 * the buckets wins. Segments are a 64-bit mask test per candidate.
 *
 * Buffer layout (native byte order; the buffer never leaves the host):
 *   u32[8]  header: magic 'BIDX', version 1, campaigns n, buckets b, list entries e, slot sizes s, 0, 0
 *   f64[n]  price      f64[b] bucket keys (ascending)      f64[s] slot size keys (w × 65536 + h)
 *   u32[n]  id         u32[n] creative    i32[n] segments lo   i32[n] segments hi   i32[n] budget slot
 *   i32[b+1] bucket starts into the list   i32[e] list (campaign numbers)
 */
import type { CampaignSpec } from './campaigns.js';
import { slotKey } from './campaigns.js';
import { countryCode, DEVICES } from './wire.js';

const MAGIC = 0x58444942; // 'BIDX' little-endian
const HEADER = 32;
const WILD_DEVICE = 7;

/** Asks whether budget slot `s` may still pay `price` (a hint: the spend itself decides). */
export type BudgetCheck = (slot: number, price: number) => boolean;

/** A bucket's number: country (0 any) × 8 + device (7 any), × 65536 + slot id (0 any). */
function bucketKey(country: number, device: number, slot: number): number {
  return (country * 8 + device) * 65536 + slot;
}

/** Compiles campaigns (checked by parseCampaigns) and their budget slots into an index buffer. */
export function compileIndex(specs: CampaignSpec[], slots: ArrayLike<number>): Uint8Array {
  const n = specs.length;
  const sizes = [...new Set(specs.flatMap((c) => (c.slots ?? []).map(slotKey)))].sort((x, y) => x - y);
  const sizeId = new Map(sizes.map((k, i) => [k, i + 1]));
  const lists = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = specs[i]!;
    const countries = c.countries?.length ? c.countries.map(countryCode) : [0];
    const devices = c.devices?.length ? c.devices.map((d) => DEVICES.indexOf(d as (typeof DEVICES)[number])) : [WILD_DEVICE];
    const slotNums = c.slots?.length ? c.slots.map((s) => sizeId.get(slotKey(s))!) : [0];
    for (const co of countries) for (const d of devices) for (const s of slotNums) {
      const k = bucketKey(co, d, s);
      let l = lists.get(k);
      if (!l) lists.set(k, (l = []));
      if (l[l.length - 1] !== i) l.push(i);
    }
  }
  const keys = [...lists.keys()].sort((x, y) => x - y);
  const entries = keys.reduce((a, k) => a + lists.get(k)!.length, 0);
  const b = keys.length, s = sizes.length;
  const bytes = HEADER + 8 * (n + b + s) + 4 * (5 * n + b + 1 + entries);
  const buf = new ArrayBuffer(bytes);
  const v = views(buf, n, b, entries, s);
  new Uint32Array(buf, 0, 8).set([MAGIC, 1, n, b, entries, s, 0, 0]);
  for (let i = 0; i < n; i++) {
    const c = specs[i]!;
    v.price[i] = c.price;
    v.id[i] = c.id;
    v.creative[i] = c.creative;
    v.slot[i] = slots[i]!;
    for (const g of c.segments ?? []) {
      if (g < 32) v.segLo[i] |= 1 << g;
      else v.segHi[i] |= 1 << (g - 32);
    }
  }
  v.sizeKeys.set(sizes);
  let at = 0;
  keys.forEach((k, j) => {
    const l = lists.get(k)!.sort((x, y) => v.price[y]! - v.price[x]! || x - y);
    v.bucketKeys[j] = k;
    v.starts[j] = at;
    v.list.set(l, at);
    at += l.length;
  });
  v.starts[b] = at;
  return new Uint8Array(buf);
}

function views(buf: ArrayBuffer, n: number, b: number, e: number, s: number) {
  let o = HEADER;
  const f64 = (len: number) => {
    const a = new Float64Array(buf, o, len);
    o += 8 * len;
    return a;
  };
  const i32 = (len: number) => {
    const a = new Int32Array(buf, o, len);
    o += 4 * len;
    return a;
  };
  const price = f64(n), bucketKeys = f64(b), sizeKeys = f64(s);
  const id = new Uint32Array(buf, o, n);
  o += 4 * n;
  const creative = new Uint32Array(buf, o, n);
  o += 4 * n;
  return { price, bucketKeys, sizeKeys, id, creative, segLo: i32(n), segHi: i32(n), slot: i32(n), starts: i32(b + 1), list: i32(e) };
}

/** A compiled index, as a thread serves it. No allocation per match. */
export class CampaignIndex {
  readonly size: number;
  readonly price: Float64Array;
  readonly id: Uint32Array;
  readonly creative: Uint32Array;
  readonly segLo: Int32Array;
  readonly segHi: Int32Array;
  /** Budget slot (budgets.ts) of each campaign. */
  readonly slot: Int32Array;
  /** The compiled bytes (this thread's own copy). */
  readonly bytes: Uint8Array;
  private readonly starts: Int32Array;
  private readonly list: Int32Array;
  private readonly bucketOf = new Map<number, number>();
  private readonly sizeOf = new Map<number, number>();
  private readonly found = new Int32Array(8);

  /** Lays views over a compiled index (copied first when it is not 8-byte aligned in its own buffer). */
  constructor(compiled: Uint8Array) {
    const own = compiled.byteOffset === 0 && compiled.buffer instanceof ArrayBuffer ? compiled : compiled.slice();
    const h = new Uint32Array(own.buffer, 0, 8);
    if (h[0] !== MAGIC || h[1] !== 1) throw new Error('not a compiled campaign index (magic or version)');
    const [n, b, e, s] = [h[2]!, h[3]!, h[4]!, h[5]!];
    const v = views(own.buffer as ArrayBuffer, n, b, e, s);
    this.bytes = own;
    this.size = n;
    this.price = v.price;
    this.id = v.id;
    this.creative = v.creative;
    this.segLo = v.segLo;
    this.segHi = v.segHi;
    this.slot = v.slot;
    this.starts = v.starts;
    this.list = v.list;
    v.bucketKeys.forEach((k, j) => this.bucketOf.set(k, j));
    v.sizeKeys.forEach((k, j) => this.sizeOf.set(k, j + 1));
  }

  /** Compiles and wraps in one step (tests, the main thread). */
  static build(specs: CampaignSpec[], slots: ArrayLike<number>): CampaignIndex {
    return new CampaignIndex(compileIndex(specs, slots));
  }

  /** Buckets in the index. */
  get bucketCount(): number {
    return this.bucketOf.size;
  }

  /**
   * The campaign (its number in the file, or −1) that wins a request: the
   * highest price at or above `floor` among those that target its country,
   * device and slot, share a segment with the user and pass `budgetOk`; on
   * equal prices the one listed first in the file. No allocation.
   */
  match(country: number, device: number, width: number, height: number, segLo: number, segHi: number, floor: number, budgetOk: BudgetCheck): number {
    const size = this.sizeOf.get(width * 65536 + height) ?? -1;
    let n = 0;
    const found = this.found;
    for (let ci = 0; ci < 2; ci++) {
      if (ci === 1 && country === 0) break;
      const co = ci === 0 ? country : 0;
      for (let di = 0; di < 2; di++) {
        const d = di === 0 ? device : WILD_DEVICE;
        for (let si = 0; si < 2; si++) {
          if (si === 0 && size < 0) continue;
          const j = this.bucketOf.get(bucketKey(co, d, si === 0 ? size : 0));
          if (j !== undefined) found[n++] = j;
        }
      }
    }
    let best = -1;
    let bestPrice = -1;
    const list = this.list, price = this.price;
    for (let k = 0; k < n; k++) {
      const end = this.starts[found[k]! + 1]!;
      for (let j = this.starts[found[k]!]!; j < end; j++) {
        const c = list[j]!;
        const p = price[c]!;
        if (p < floor || p < bestPrice || (p === bestPrice && c > best)) break; // sorted: nothing better follows
        const sl = this.segLo[c]!, sh = this.segHi[c]!;
        if ((sl | sh) !== 0 && ((sl & segLo) | (sh & segHi)) === 0) continue;
        if (!budgetOk(this.slot[c]!, p)) continue;
        best = c;
        bestPrice = p;
        break;
      }
    }
    return best;
  }
}

/** The answer match() must give, found by looking at every campaign: the reference the index is tested against. */
export function scanCampaigns(specs: CampaignSpec[], slots: ArrayLike<number>, country: number, device: number, width: number, height: number, segLo: number, segHi: number, floor: number, budgetOk: BudgetCheck): number {
  let best = -1;
  for (let c = 0; c < specs.length; c++) {
    const s = specs[c]!;
    const p = s.price;
    if (p < floor || (best >= 0 && p <= specs[best]!.price)) continue;
    if (s.countries?.length && !s.countries.map(countryCode).includes(country)) continue;
    if (s.devices?.length && !s.devices.includes(DEVICES[device] ?? '')) continue;
    if (s.slots?.length && !s.slots.map(slotKey).includes(width * 65536 + height)) continue;
    if (s.segments?.length && !s.segments.some((g) => (g < 32 ? (segLo >>> g) & 1 : (segHi >>> (g - 32)) & 1))) continue;
    if (!budgetOk(slots[c]!, p)) continue;
    best = c;
  }
  return best;
}
