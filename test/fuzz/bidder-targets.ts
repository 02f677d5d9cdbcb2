/**
 * Fuzz targets (fast-check) for examples/bidder's parsers of untrusted input:
 * the request parser behind every bid (bid.ts `Bidder.bid` over wire.ts's
 * layout) and the campaign file parser (campaigns.ts `parseCampaigns`).
 * Registered in js-targets.ts's list, as dns-targets.ts is.
 */
import fc from 'fast-check';
import { Bidder, COUNTERS } from '../../examples/bidder/bid.js';
import { CampaignError, parseCampaigns } from '../../examples/bidder/campaigns.js';
import { BidderServer } from '../../examples/bidder/server.js';
import { DEVICES, encodeRequest, RESPONSE_BYTES, REQUEST_BYTES } from '../../examples/bidder/wire.js';
import type { JsTarget } from './js-targets.js';

const SAMPLE = new URL('../../examples/bidder/campaigns.sample.json', import.meta.url).pathname;
// Two bidders on the same campaigns, each with its own budgets: fed the same
// requests in the same order they stay in step, so their answers must agree.
let pair: [Bidder, Bidder] | undefined;
const bidders = (): [Bidder, Bidder] => {
  if (!pair) {
    const a = new BidderServer(SAMPLE, { maxCampaigns: 64 }), b = new BidderServer(SAMPLE, { maxCampaigns: 64 });
    pair = [new Bidder(a.index, a.budgets), new Bidder(b.index, b.budgets)];
  }
  return pair;
};

/** A request as an exchange sends one (wire.ts), then maybe mutated, or any bytes. */
const wellFormed = fc
  .record({
    device: fc.constantFrom(...DEVICES),
    country: fc.constantFrom('', 'US', 'CA', 'GB', 'DE', 'BR', 'IN', 'ZZ'),
    id: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    sentUs: fc.integer({ min: 0, max: 2 ** 52 }),
    tmaxUs: fc.oneof(fc.constant(0), fc.nat()),
    publisher: fc.nat(),
    floor: fc.nat(5000),
    width: fc.constantFrom(300, 728, 160, 0, 65535),
    height: fc.constantFrom(250, 90, 600, 0, 65535),
    segLo: fc.integer(),
    segHi: fc.integer(),
  })
  .map((r) => encodeRequest(r));
const mutated = fc.tuple(wellFormed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.option(fc.nat())).map(([q, edits, cut]) => {
  const b = Uint8Array.from(q);
  for (const [at, v] of edits) b[at % b.length] = v;
  return cut === null ? b : b.subarray(0, cut % (b.length + 1));
});
const request = fc.oneof(wellFormed, mutated, fc.uint8Array({ maxLength: 120 }));

/** Campaign JSON: the sample's shape with fields of any value, or any JSON, or text. */
const field = fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 6 }), fc.constant(null), fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 4 }), fc.boolean());
const campaign = fc.record(
  { id: fc.oneof(fc.nat(100), field), price: fc.oneof(fc.nat(5000), field), budget: fc.oneof(fc.nat(10 ** 7), field), creative: fc.oneof(fc.nat(), field), countries: fc.oneof(fc.constant(['US', 'CA']), field), devices: fc.oneof(fc.constant(['mobile']), field), slots: fc.oneof(fc.constant(['300x250']), field), segments: fc.oneof(fc.constant([1, 63]), field) },
  { requiredKeys: [] },
);
const campaignText = fc.oneof(
  fc.array(campaign, { maxLength: 6 }).map((c) => JSON.stringify({ campaigns: c })),
  fc.json(),
  fc.string({ maxLength: 80 }),
);

export const bidderTargets: JsTarget[] = [
  {
    // Any bytes as a request: an answer of 0 (dropped: late or malformed) or RESPONSE_BYTES; the same answer and the
    // same bytes whatever lies around the packet (nothing outside it read); nothing written outside the request.
    name: 'bidder_request',
    property: (count) =>
      fc.property(request, fc.nat(40), (q, pre) => {
        count();
        const [x, y] = bidders();
        const run = (bidder: Bidder, fill: number) => {
          const b = new Uint8Array(pre + Math.max(q.length, REQUEST_BYTES) + 32).fill(fill);
          b.set(q, pre);
          const n = bidder.bid(b, pre, q.length, 1e15, new Float64Array(COUNTERS));
          return { b, n };
        };
        const r0 = run(x, 0x00), r1 = run(y, 0xff);
        if (r0.n !== 0 && r0.n !== RESPONSE_BYTES) throw new Error(`bid() returned ${r0.n} for a ${q.length}-byte request`);
        if (r0.n !== r1.n) throw new Error(`the answer depends on bytes outside the request (${r0.n} vs ${r1.n}): a read outside the packet`);
        if (r0.n > 0 && q.length < REQUEST_BYTES) throw new Error(`answered a ${q.length}-byte request`);
        for (let i = 0; i < r0.n; i++) if (r0.b[pre + i] !== r1.b[pre + i]) throw new Error(`response byte ${i} depends on bytes outside the request`);
        const end = pre + Math.max(q.length, r0.n);
        for (const [r, fill] of [[r0, 0x00], [r1, 0xff]] as const) {
          for (let i = 0; i < pre; i++) if (r.b[i] !== fill) throw new Error(`wrote byte ${i - pre} before the request`);
          for (let i = end; i < r.b.length; i++) if (r.b[i] !== fill) throw new Error(`wrote byte ${i - pre} past the request`);
        }
      }),
  },
  {
    // Any text as a campaign file: a list of campaigns or a CampaignError naming the file, never another exception.
    name: 'bidder_campaigns',
    property: (count) =>
      fc.property(campaignText, (text) => {
        count();
        try {
          const specs = parseCampaigns(text, 'fuzz.json');
          if (!Array.isArray(specs)) throw new Error('parseCampaigns returned a non-array');
        } catch (e) {
          if (!(e instanceof CampaignError)) throw e;
          if (!e.message.includes('fuzz.json')) throw new Error(`a CampaignError that does not name the file: ${e.message}`);
        }
      }),
  },
];
