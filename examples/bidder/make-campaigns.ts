/**
 * Writes a campaign file of N campaigns, the same for the same N and seed
 * (a small xorshift generator, not Math.random), for tests, benchmarks and
 * trying the bidder out. Targeting is drawn from the same value sets as the
 * requests of requests.ts, so a fair share of requests find a campaign.
 *
 *   node dist/examples/bidder/make-campaigns.js [--count 5000] [--seed 1] [--budget 1000000000] > campaigns.json
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { CampaignSpec } from './campaigns.js';

/** Countries, devices and slot sizes campaigns and sample requests draw from. */
export const SAMPLE_COUNTRIES = ['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'CA'];
export const SAMPLE_DEVICES = ['desktop', 'mobile', 'tablet', 'ctv'];
export const SAMPLE_SLOTS = ['300x250', '728x90', '320x50', '160x600', '300x600'];

/** xorshift32: a deterministic stream of 32-bit numbers. */
export function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** N campaigns; each dimension is left open (any) a third of the time. `budget` in micro-units. */
export function makeCampaigns(count: number, seed = 1, budget = 1_000_000_000): CampaignSpec[] {
  const r = xorshift(seed);
  const pick = <T>(xs: T[], n: number): T[] => [...new Set(Array.from({ length: n }, () => xs[r() % xs.length]!))];
  const out: CampaignSpec[] = [];
  for (let i = 0; i < count; i++) {
    const c: CampaignSpec = { id: i + 1, price: 100 + (r() % 4900), budget, creative: 100000 + i };
    if (r() % 3) c.countries = pick(SAMPLE_COUNTRIES, 1 + (r() % 3));
    if (r() % 3) c.devices = pick(SAMPLE_DEVICES, 1 + (r() % 2));
    if (r() % 3) c.slots = pick(SAMPLE_SLOTS, 1 + (r() % 2));
    if (r() % 3) c.segments = pick(Array.from({ length: 64 }, (_, k) => k), 1 + (r() % 4)).sort((a, b) => a - b);
    out.push(c);
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '5000' }, seed: { type: 'string', default: '1' }, budget: { type: 'string', default: '1000000000' } } });
  const campaigns = makeCampaigns(Number(values.count), Number(values.seed), Number(values.budget));
  process.stdout.write(`{"campaigns": [\n${campaigns.map((c) => JSON.stringify(c)).join(',\n')}\n]}\n`);
}
