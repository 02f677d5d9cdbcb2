// examples/bidder without a port: the wire format, the campaign index against
// a scan of every campaign, exact budgets under threads, late drop, and
// campaign file loads and reloads (good and bad).
import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { Bidder, C, COUNTERS } from '../examples/bidder/bid.js';
import { Budgets, BudgetSlots } from '../examples/bidder/budgets.js';
import { CampaignError, parseCampaigns } from '../examples/bidder/campaigns.js';
import { CampaignIndex, compileIndex, scanCampaigns } from '../examples/bidder/campaign-index.js';
import { makeCampaigns, SAMPLE_COUNTRIES, SAMPLE_DEVICES, SAMPLE_SLOTS, xorshift } from '../examples/bidder/make-campaigns.js';
import { BidderServer, LoadFollower } from '../examples/bidder/server.js';
import { countryCode, decodeRequest, decodeResponse, DEVICES, encodeRequest, REQUEST_BYTES, RESPONSE_BYTES, type BidRequest } from '../examples/bidder/wire.js';
import { perTestBed } from './helpers/engine.js';

const { tmp } = perTestBed();
const ID = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

function request(o: Partial<BidRequest> = {}): BidRequest {
  return { device: 'mobile', country: 'US', id: ID, sentUs: 1_000_000, tmaxUs: 0, publisher: 7, floor: 0, width: 300, height: 250, segLo: 1 << 3, segHi: 0, ...o };
}

describe('bidder wire format', () => {
  it('encodes a request to the documented bytes and decodes it back', () => {
    const r = request({ sentUs: 2 ** 40 + 5, tmaxUs: 1000, floor: 0x01020304, segHi: 0x80000000 });
    const b = encodeRequest(r);
    expect(b.length).toBe(REQUEST_BYTES);
    expect(Array.from(b.subarray(0, 4))).toEqual([1, 2, 0x55, 0x53]); // version, device mobile, 'U' 'S'
    expect(Array.from(b.subarray(4, 20))).toEqual(Array.from(ID));
    expect(Array.from(b.subarray(20, 28))).toEqual([5, 0, 0, 0, 0, 1, 0, 0]); // 2^40 + 5, little-endian
    expect(Array.from(b.subarray(28, 32))).toEqual([0xe8, 0x03, 0, 0]);
    expect(Array.from(b.subarray(36, 40))).toEqual([4, 3, 2, 1]);
    expect(Array.from(b.subarray(40, 44))).toEqual([0x2c, 0x01, 0xfa, 0x00]); // 300, 250
    expect(Array.from(b.subarray(44, 52))).toEqual([8, 0, 0, 0, 0, 0, 0, 0x80]);
    expect(decodeRequest(b)).toEqual(r);
  });
});

describe('bidder clock', () => {
  it('monoUs() reads CLOCK_MONOTONIC (process.hrtime) in µs, in this thread and in a new one', async () => {
    // The offset to hrtime was once taken across perf_hooks' lazy load: 2 ms off, half the requests "late".
    const url = new URL('../dist/examples/bidder/clock.js', import.meta.url).href;
    const probe = `(m) => { let best = Infinity; for (let i = 0; i < 50; i++) { const a = Number(process.hrtime.bigint()) / 1000; const t = m.monoUs(); const b = Number(process.hrtime.bigint()) / 1000; if (b - a < best) { best = b - a; var off = t - (a + b) / 2; } } return off; }`;
    const here = (eval(probe) as (m: unknown) => number)(await import(url));
    const w = new Worker(`const { parentPort } = require('node:worker_threads'); import(${JSON.stringify(url)}).then((m) => parentPort.postMessage((${probe})(m)));`, { eval: true });
    const there = await new Promise<number>((r, j) => (w.once('message', r), w.once('error', j)));
    await w.terminate();
    expect(Math.abs(here)).toBeLessThan(200);
    expect(Math.abs(there)).toBeLessThan(200);
  });
});

describe('campaign index', () => {
  it('finds what a scan of every campaign finds, for random requests over 3000 campaigns', () => {
    const specs = makeCampaigns(3000, 7);
    const slots = specs.map((_, i) => i);
    const ix = new CampaignIndex(compileIndex(specs, slots).slice()); // as a worker gets it: a copy of the bytes
    expect(ix.bucketCount).toBeGreaterThan(20);
    const r = xorshift(99);
    const all = () => true;
    const spent = new Set(Array.from({ length: 300 }, () => r() % 3000)); // some budgets spent out
    const some = (slot: number) => !spent.has(slot);
    let bids = 0;
    for (let n = 0; n < 2000; n++) {
      const country = n % 50 === 0 ? countryCode('ZZ') : n % 51 === 0 ? 0 : countryCode(SAMPLE_COUNTRIES[r() % SAMPLE_COUNTRIES.length]!);
      const device = n % 40 === 0 ? 0 : DEVICES.indexOf(SAMPLE_DEVICES[r() % SAMPLE_DEVICES.length] as (typeof DEVICES)[number]);
      const [w, h] = n % 30 === 0 ? [1, 1] : SAMPLE_SLOTS[r() % SAMPLE_SLOTS.length]!.split('x').map(Number);
      const segLo = r() & r() & r(), segHi = r() & r() & r(); // sparse users: segment targeting matters
      const floor = r() % 6000;
      for (const ok of [all, some]) {
        const want = scanCampaigns(specs, slots, country, device, w!, h!, segLo, segHi, floor, ok);
        expect(ix.match(country, device, w!, h!, segLo, segHi, floor, ok), `request ${n}`).toBe(want);
        if (want >= 0) bids++;
      }
    }
    expect(bids).toBeGreaterThan(400); // the test covers bids, not only no-bids
  });

  it('rejects a bad campaign with the file and the reason', () => {
    const bad = (text: string) => {
      try {
        parseCampaigns(text, 'c.json');
      } catch (e) {
        expect(e).toBeInstanceOf(CampaignError);
        return `${(e as CampaignError).code} ${(e as Error).message}`;
      }
      return 'accepted';
    };
    expect(bad('{"campaigns": [')).toMatch(/^CAMPAIGNS_INVALID c\.json: not JSON/);
    expect(bad('[]')).toBe('CAMPAIGNS_INVALID c.json: expected an object {"campaigns": [...]}');
    expect(bad('{"campaigns":[{"id":1,"price":0,"budget":1,"creative":1}]}')).toMatch(/c\.json: campaign 0 \(id 1\): price must be whole micro-units/);
    expect(bad('{"campaigns":[{"id":1,"price":5,"budget":1,"creative":1},{"id":1,"price":5,"budget":1,"creative":1}]}')).toMatch(/campaign 1 \(id 1\): a second campaign with this id/);
    expect(bad('{"campaigns":[{"id":2,"price":5,"budget":1,"creative":1,"countries":["usa"]}]}')).toMatch(/countries: "usa" is not two capital letters/);
    expect(bad('{"campaigns":[{"id":2,"price":5,"budget":1,"creative":1,"slots":["300-250"]}]}')).toMatch(/slots: "300-250"/);
    expect(bad('{"campaigns":[{"id":2,"price":5,"budget":1,"creative":1,"segments":[64]}]}')).toMatch(/segments: 64 is not a segment number in 0\.\.63/);
    expect(bad('{"campaigns":[{"id":2,"price":5,"budget":1,"creative":1,"devices":["phone"]}]}')).toMatch(/devices: "phone" is not one of/);
  });
});

describe('budgets', () => {
  it('four threads spending from one budget at once take exactly what it holds, never more', async () => {
    const budgets = Budgets.create(4);
    const budget = 20_000_003;
    budgets.setBudget(0, budget, 7, true);
    const prices = [7, 11, 13, 17];
    const url = new URL('../dist/examples/bidder/budgets.js', import.meta.url).href;
    const code = `
      const { parentPort, workerData: w } = require('node:worker_threads');
      import(${JSON.stringify(url)}).then(({ Budgets }) => {
        const b = new Budgets(w.buffer);
        const go = new Int32Array(w.go);
        parentPort.postMessage('ready');
        Atomics.wait(go, 0, 0); // start together
        let sum = 0, wins = 0;
        while (b.trySpend(0, w.price)) { sum += w.price; wins++; }
        parentPort.postMessage({ sum, wins });
      });`;
    const go = new SharedArrayBuffer(4);
    const workers = prices.map((price) => new Worker(code, { eval: true, workerData: { buffer: budgets.buffer, price, go } }));
    await Promise.all(workers.map((w) => new Promise((r, j) => (w.once('message', r), w.once('error', j)))));
    const results = workers.map((w) => new Promise<{ sum: number; wins: number }>((r, j) => (w.once('message', r), w.once('error', j))));
    await new Promise((r) => setTimeout(r, 20)); // each is in Atomics.wait
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    const got = await Promise.all(results);
    await Promise.all(workers.map((w) => w.terminate()));
    const spent = got.reduce((a, g) => a + g.sum, 0);
    expect(spent).toBeLessThanOrEqual(budget);
    expect(spent + budgets.remaining(0)).toBe(budget); // every win was taken off exactly once
    expect(budgets.remaining(0)).toBeLessThan(7); // and none failed while the budget covered it
    expect(budgets.spentOut(0)).toBe(true);
    expect(got.filter((g) => g.wins > 0).length).toBeGreaterThan(1); // they really raced
  });

  it('keeps spend by campaign id across loads; a raised budget adds to what remains', () => {
    const slots = new BudgetSlots(Budgets.create(8));
    const s1 = slots.assign([{ id: 10, budget: 100, price: 30 }, { id: 20, budget: 50, price: 10 }], 'f');
    expect(Array.from(s1)).toEqual([0, 1]);
    expect(slots.budgets.trySpend(0, 30)).toBe(true);
    const s2 = slots.assign([{ id: 30, budget: 5, price: 5 }, { id: 10, budget: 130, price: 30 }], 'f');
    expect(Array.from(s2)).toEqual([2, 0]);
    expect([slots.budgets.remaining(0), slots.budgets.spent(0), slots.budgets.remaining(2)]).toEqual([100, 30, 5]);
    expect(() => new BudgetSlots(Budgets.create(1)).assign([{ id: 1, budget: 1, price: 1 }, { id: 2, budget: 1, price: 1 }], 'big.json')).toThrow(/big\.json: 2 campaign ids .* --max-campaigns/);
  });
});

describe('bidding', () => {
  const campaigns = {
    campaigns: [
      { id: 1, price: 500, budget: 1000, creative: 11, countries: ['US'], slots: ['300x250'], segments: [3] },
      { id: 2, price: 400, budget: 100000, creative: 22, devices: ['mobile'] },
      { id: 3, price: 900, budget: 100000, creative: 33, countries: ['DE'] },
    ],
  };

  it('bids the best campaign, falls back when its budget is spent, drops late and malformed requests and counts each', () => {
    writeFileSync(tmp.path('c.json'), JSON.stringify(campaigns));
    const srv = new BidderServer(tmp.path('c.json'), { maxCampaigns: 16 });
    const bidder = new Bidder(srv.index, srv.budgets);
    const k = new Float64Array(COUNTERS);
    const b = new Uint8Array(64);
    const bid = (r: BidRequest, now = 2_000_000, len = REQUEST_BYTES) => {
      encodeRequest(r, b);
      const n = bidder.bid(b, 0, len, now, k);
      return n ? { n, ...decodeResponse(b) } : null;
    };
    const first = bid(request());
    expect(first).toEqual({ n: RESPONSE_BYTES, bid: true, id: ID, price: 500, campaign: 1, creative: 11 });
    expect(Array.from(b.subarray(0, 4))).toEqual([1, 1, 0, 0]);
    expect(bid(request())).toMatchObject({ campaign: 1 }); // 1000 of budget: two wins at 500
    expect(bid(request())).toMatchObject({ campaign: 2, price: 400, creative: 22 });
    expect(bid(request({ floor: 450 }))).toEqual({ n: RESPONSE_BYTES, bid: false, id: ID, price: 0, campaign: 0, creative: 0 });
    expect(bid(request({ device: 'desktop' }))).toMatchObject({ bid: false });
    // Late: sent at 1 s with 1000 µs to answer, read at 1.001001 s. On time at 1.001 s.
    expect(bid(request({ tmaxUs: 1000 }), 1_001_001)).toBeNull();
    expect(bid(request({ tmaxUs: 1000 }), 1_001_000)).toMatchObject({ campaign: 2 });
    expect(bid(request(), 2_000_000, REQUEST_BYTES - 1)).toBeNull();
    expect([k[C.REQUESTS], k[C.BIDS], k[C.NO_BIDS], k[C.LATE], k[C.MALFORMED], k[C.SPENT]]).toEqual([8, 4, 2, 1, 1, 1800]);
    expect(srv.budgetOf(1)).toEqual({ remaining: 0, spent: 1000 });
  });

  it('reloads a good file (budgets kept by id, every thread follows) and keeps the old campaigns on a bad one', () => {
    const file = tmp.path('c.json');
    writeFileSync(file, JSON.stringify(campaigns));
    const srv = new BidderServer(file, { maxCampaigns: 16 });
    const worker = new LoadFollower(srv.workerData(), new Float64Array(COUNTERS)); // a worker's view, in this thread
    const k = new Float64Array(COUNTERS);
    const b = encodeRequest(request({ country: 'DE' }));
    const bidOn = (x: Bidder) => (encodeRequest(request({ country: 'DE' }), b), x.bid(b, 0, REQUEST_BYTES, 2e6, k), decodeResponse(b).campaign);
    expect(bidOn(worker.bidder)).toBe(3);
    writeFileSync(file, JSON.stringify({ campaigns: [campaigns.campaigns[1], { id: 3, price: 300, budget: 100000, creative: 33, countries: ['DE'] }, { id: 4, price: 450, budget: 10, creative: 44 }] }));
    const r = srv.reload();
    expect(r).toEqual({ ok: true, campaigns: 3, generation: 2 });
    worker.refresh();
    expect(srv.budgetOf(3)).toEqual({ remaining: 100000 - 900, spent: 900 });
    expect(srv.budgetOf(4)).toEqual({ remaining: 10, spent: 0 });
    expect(bidOn(worker.bidder)).toBe(2); // 4 cannot pay 450 from 10, 2 (400) beats 3 (now 300)
    writeFileSync(file, '{"campaigns": [{"id": 1, "price": -1}]}');
    const bad = srv.reload();
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error.message).toMatch(new RegExp(`^${file}: campaign 0 \\(id 1\\): price`));
    worker.refresh();
    expect(bidOn(worker.bidder)).toBe(2); // still the second load
    expect(srv.generation).toBe(2);
    writeFileSync(file, JSON.stringify(campaigns));
    expect(srv.reload().ok).toBe(true);
    expect(srv.reload().ok).toBe(true); // reloads in a row never wait for workers
    worker.refresh();
    expect(bidOn(worker.bidder)).toBe(3);
  });

  it('a missing campaign file is CAMPAIGNS_IO naming the file', () => {
    expect(() => new BidderServer(tmp.path('none.json'))).toThrow(CampaignError);
    try {
      new BidderServer(tmp.path('none.json'));
    } catch (e) {
      expect((e as CampaignError).code).toBe('CAMPAIGNS_IO');
      expect((e as Error).message).toContain(`${tmp.path('none.json')}: cannot read it`);
    }
  });
});
