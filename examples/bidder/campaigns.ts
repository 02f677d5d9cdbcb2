/**
 * Campaigns: read from a JSON file (docs/examples/bidder.md, "Campaigns"),
 * checked field by field, and indexed at load time so that a request looks at
 * a few short lists, never at every campaign.
 *
 * The index: one bucket per (country, device, slot size) a campaign targets,
 * with a wildcard value for each dimension it leaves open. A request looks up
 * at most 2 × 2 × 2 = 8 buckets (its own value or the wildcard, per
 * dimension). A bucket lists its campaigns by price, highest first, so the
 * first one whose segments and budget fit is that bucket's best; the best of
 * the buckets wins. Segments are a 64-bit mask test per candidate.
 */
import { readFileSync } from 'node:fs';
import { countryCode, DEVICES } from './wire.js';

/** A campaign as the JSON file gives it. Prices and budgets are in micro-units of the currency. */
export interface CampaignSpec {
  id: number;
  /** What a won impression costs, micro-units (1..2^32 − 1). */
  price: number;
  /** Total spend allowed, micro-units. */
  budget: number;
  creative: number;
  /** ISO 3166-1 alpha-2 codes; absent or empty: any country. */
  countries?: string[];
  /** DEVICES names; absent or empty: any device. */
  devices?: string[];
  /** 'WIDTHxHEIGHT'; absent or empty: any slot. */
  slots?: string[];
  /** Segment numbers 0..63: the user must be in at least one; absent or empty: any user. */
  segments?: number[];
}

/** A campaign file that cannot be used: `code` CAMPAIGNS_IO or CAMPAIGNS_INVALID, and a message naming the file and why. */
export class CampaignError extends Error {
  constructor(readonly code: 'CAMPAIGNS_IO' | 'CAMPAIGNS_INVALID', readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'CampaignError';
  }
}

const U32 = 0xffffffff;
const WILD_DEVICE = 7;
const isInt = (v: unknown, lo: number, hi: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/** Reads a campaign file: its text and its checked campaigns (CampaignError on the first problem). */
export function readCampaignFile(file: string): { text: string; specs: CampaignSpec[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CampaignError('CAMPAIGNS_IO', file, `cannot read it: ${(e as Error).message}`);
  }
  return { text, specs: parseCampaigns(text, file) };
}

/** Parses and checks campaign JSON text (`file` names it in errors). */
export function parseCampaigns(text: string, file: string): CampaignSpec[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CampaignError('CAMPAIGNS_INVALID', file, `not JSON: ${(e as Error).message}`);
  }
  const list = (doc as { campaigns?: unknown } | null)?.campaigns;
  if (!Array.isArray(list)) throw new CampaignError('CAMPAIGNS_INVALID', file, 'expected an object {"campaigns": [...]}');
  const seen = new Set<number>();
  return list.map((c: Record<string, unknown>, i) => {
    const bad = (reason: string): never => {
      throw new CampaignError('CAMPAIGNS_INVALID', file, `campaign ${i}${c && isInt(c.id, 0, U32) ? ` (id ${c.id})` : ''}: ${reason}`);
    };
    if (typeof c !== 'object' || c === null || Array.isArray(c)) bad('not an object');
    if (!isInt(c.id, 1, U32)) bad(`id must be a whole number in 1..${U32}, got ${JSON.stringify(c.id)}`);
    if (seen.has(c.id as number)) bad('a second campaign with this id');
    seen.add(c.id as number);
    if (!isInt(c.price, 1, U32)) bad(`price must be whole micro-units in 1..${U32}, got ${JSON.stringify(c.price)}`);
    if (!isInt(c.budget, 0, Number.MAX_SAFE_INTEGER)) bad(`budget must be whole micro-units ≥ 0, got ${JSON.stringify(c.budget)}`);
    if (!isInt(c.creative, 0, U32)) bad(`creative must be a whole number in 0..${U32}, got ${JSON.stringify(c.creative)}`);
    const arr = (k: string, ok: (v: unknown) => boolean, what: string): void => {
      const v = c[k];
      if (v === undefined) return;
      if (!Array.isArray(v)) bad(`${k} must be an array`);
      for (const x of v as unknown[]) if (!ok(x)) bad(`${k}: ${JSON.stringify(x)} is not ${what}`);
    };
    arr('countries', (x) => typeof x === 'string' && /^[A-Z]{2}$/.test(x), 'two capital letters (ISO 3166-1 alpha-2)');
    arr('devices', (x) => (DEVICES as readonly unknown[]).includes(x), `one of ${DEVICES.join(', ')}`);
    arr('slots', (x) => typeof x === 'string' && slotKey(x) > 0, "'WIDTHxHEIGHT' with both in 1..65535");
    arr('segments', (x) => isInt(x, 0, 63), 'a segment number in 0..63');
    return c as unknown as CampaignSpec;
  });
}

/** 'WxH' as width × 65536 + height, or 0 when it is not a size. */
export function slotKey(s: string): number {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(s);
  if (!m) return 0;
  const w = Number(m[1]), h = Number(m[2]);
  return w >= 1 && w <= 65535 && h >= 1 && h <= 65535 ? w * 65536 + h : 0;
}

/** Asks whether budget slot `s` may still pay `price` (a hint: the spend itself decides). */
export type BudgetCheck = (slot: number, price: number) => boolean;

/** The campaigns of one load, as typed arrays, with the bucket index. Built once per thread per load. */
export class CampaignIndex {
  readonly size: number;
  readonly id: Uint32Array;
  readonly price: Float64Array;
  readonly creative: Uint32Array;
  readonly segLo: Int32Array;
  readonly segHi: Int32Array;
  /** Budget slot (budgets.ts) of each campaign. */
  readonly slot: Int32Array;
  private readonly buckets = new Map<number, Int32Array>();
  private readonly slotIds = new Map<number, number>();
  private readonly keys = new Float64Array(8);

  /** `slots[i]` is campaign i's budget slot. */
  constructor(readonly specs: CampaignSpec[], slots: ArrayLike<number>) {
    const n = specs.length;
    this.size = n;
    this.id = new Uint32Array(n);
    this.price = new Float64Array(n);
    this.creative = new Uint32Array(n);
    this.segLo = new Int32Array(n);
    this.segHi = new Int32Array(n);
    this.slot = Int32Array.from(slots);
    const lists = new Map<number, number[]>();
    specs.forEach((c, i) => {
      this.id[i] = c.id;
      this.price[i] = c.price;
      this.creative[i] = c.creative;
      for (const s of c.segments ?? []) {
        if (s < 32) this.segLo[i] |= 1 << s;
        else this.segHi[i] |= 1 << (s - 32);
      }
      const countries = c.countries?.length ? c.countries.map(countryCode) : [0];
      const devices = c.devices?.length ? c.devices.map((d) => DEVICES.indexOf(d as (typeof DEVICES)[number])) : [WILD_DEVICE];
      const slotNums = c.slots?.length ? c.slots.map((s) => this.slotId(slotKey(s))) : [0];
      for (const co of countries) for (const d of devices) for (const s of slotNums) {
        const k = bucketKey(co, d, s);
        let l = lists.get(k);
        if (!l) lists.set(k, (l = []));
        if (l[l.length - 1] !== i) l.push(i);
      }
    });
    for (const [k, l] of lists) {
      l.sort((a, b) => this.price[b] - this.price[a] || a - b);
      this.buckets.set(k, Int32Array.from(l));
    }
  }

  /** Buckets in the index (for the load message and tests). */
  get bucketCount(): number {
    return this.buckets.size;
  }

  private slotId(key: number): number {
    let id = this.slotIds.get(key);
    if (id === undefined) this.slotIds.set(key, (id = this.slotIds.size + 1));
    return id;
  }

  /**
   * The campaign (its index, or −1) that wins a request: the highest price at
   * or above `floor` among those that target its country, device and slot,
   * share a segment with the user and pass `budgetOk`; on equal prices the one
   * listed first in the file. No allocation.
   */
  match(country: number, device: number, width: number, height: number, segLo: number, segHi: number, floor: number, budgetOk: BudgetCheck): number {
    const slot = this.slotIds.get(width * 65536 + height) ?? -1;
    let n = 0;
    const keys = this.keys;
    for (let ci = 0; ci < 2; ci++) {
      const co = ci === 0 ? country : 0;
      if (ci === 1 && country === 0) break;
      for (let di = 0; di < 2; di++) {
        const d = di === 0 ? device : WILD_DEVICE;
        for (let si = 0; si < 2; si++) {
          const s = si === 0 ? slot : 0;
          if (si === 0 && slot < 0) continue;
          keys[n++] = bucketKey(co, d, s);
        }
      }
    }
    let best = -1;
    let bestPrice = -1;
    for (let k = 0; k < n; k++) {
      const list = this.buckets.get(keys[k]);
      if (list === undefined) continue;
      for (let j = 0; j < list.length; j++) {
        const c = list[j];
        const p = this.price[c];
        if (p < floor || p < bestPrice || (p === bestPrice && c > best)) break; // sorted: nothing better follows
        const sl = this.segLo[c], sh = this.segHi[c];
        if ((sl | sh) !== 0 && ((sl & segLo) | (sh & segHi)) === 0) continue;
        if (!budgetOk(this.slot[c], p)) continue;
        best = c;
        bestPrice = p;
        break;
      }
    }
    return best;
  }

  /** The same answer as match(), by looking at every campaign: the reference the index is tested against. */
  scan(country: number, device: number, width: number, height: number, segLo: number, segHi: number, floor: number, budgetOk: BudgetCheck): number {
    let best = -1;
    for (let c = 0; c < this.size; c++) {
      const s = this.specs[c];
      const p = this.price[c];
      if (p < floor || (best >= 0 && p <= this.price[best])) continue;
      if (s.countries?.length && !s.countries.map(countryCode).includes(country)) continue;
      if (s.devices?.length && !s.devices.includes(DEVICES[device] ?? '')) continue;
      if (s.slots?.length && !s.slots.map(slotKey).includes(width * 65536 + height)) continue;
      if (s.segments?.length && !s.segments.some((g) => (g < 32 ? (segLo >>> g) & 1 : (segHi >>> (g - 32)) & 1))) continue;
      if (!budgetOk(this.slot[c], p)) continue;
      best = c;
    }
    return best;
  }
}

/** A bucket's number: country (0 any) × 8 + device (7 any), × 65536 + slot id (0 any). */
function bucketKey(country: number, device: number, slot: number): number {
  return (country * 8 + device) * 65536 + slot;
}
