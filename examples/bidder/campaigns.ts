/**
 * Campaigns: read from a JSON file (docs/examples/bidder.md, "Campaigns") and
 * checked field by field. campaign-index.ts turns them into the index requests use.
 */
import { readFileSync } from 'node:fs';
import { DEVICES } from './wire.js';

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
