// examples/bidder serving: on the host layer over a ring wire (main thread and
// pipeline workers from dist/; responses as bytes on the wire, counters, every
// mbuf back in the pool), and behind Node dgram on 127.0.0.1.
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { C } from '../examples/bidder/bid.js';
import { startDgramBidder } from '../examples/bidder/dgram.js';
import { BidderServer } from '../examples/bidder/server.js';
import { encodeRequest, type BidRequest } from '../examples/bidder/wire.js';
import { monoUs } from '../examples/bidder/clock.js';
import { lastCpu, perTestBed, stopAndCheckPool, waitFor } from './helpers/engine.js';
import * as F from './helpers/frames.js';

const { engines, tmp } = perTestBed();
const PEER_MAC = '02:00:00:00:00:99';
const CAMPAIGNS = {
  campaigns: [
    { id: 7, price: 1234, budget: 2468, creative: 70, countries: ['US'], devices: ['mobile'], slots: ['300x250'] },
    { id: 8, price: 1000, budget: 1_000_000, creative: 80, countries: ['FR'] },
  ],
};
const id = (n: number) => Uint8Array.from({ length: 16 }, (_, i) => n * 16 + i);
function request(n: number, o: Partial<BidRequest> = {}): Uint8Array {
  return encodeRequest({ device: 'mobile', country: 'US', id: id(n), sentUs: 0, tmaxUs: 0, publisher: 1, floor: 0, width: 300, height: 250, segLo: 0, segHi: 0, ...o });
}
/** The response the bidder owes request n: version 1, result, 0 0, the id, price, campaign, creative (little-endian). */
function response(n: number, price: number, campaign: number, creative: number): number[] {
  const le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
  return [1, campaign ? 1 : 0, 0, 0, ...id(n), ...le(price), ...le(campaign), ...le(creative)];
}

describe('examples/bidder serving', () => {
  for (const where of ['main', 'pipeline'] as const) {
    it(`answers bid requests in place on a ring wire (${where === 'main' ? 'main thread' : 'pipeline worker'}), drops the late one`, async () => {
      writeFileSync(tmp.path('c.json'), JSON.stringify(CAMPAIGNS));
      const server = new BidderServer(tmp.path('c.json'), { maxCampaigns: 16 });
      const engine = await engines.create({ mempool: { mbufs: 4096, hugepages: 'off' } });
      const peer = engine.addPort('peer', { driver: 'ring', wire: 'bid' });
      const srv = engine.addPort('srv', { driver: 'ring', wire: 'bid' });
      const got: Uint8Array[] = [];
      engine.handle(peer, (b) => {
        for (let i = 0; i < b.count; i++) if (b.bytes[b.offset(i) + 12] !== 0x08 || b.bytes[b.offset(i) + 13] !== 0x06) got.push(b.bytes.slice(b.offset(i), b.offset(i) + b.length(i)));
      });
      const host = engine.host(srv, { ipv4: '198.18.0.2/24', ipv6: 'fd00:198:18::2/64' });
      if (where === 'main') host.udp({ port: 9000 }, server.handler);
      else host.udpInWorkers({ port: 9000, module: new URL('../dist/examples/bidder/server.js', import.meta.url), data: server.workerData(), counters: 8 });
      const mac = engine.info().ports.find((p) => p.name === 'srv')!.mac;
      await engine.start();
      await new Promise((r) => setTimeout(r, 50));
      got.length = 0; // the host's announcements
      const frames = [
        F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40000, 9000, request(1)),
        F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40001, 9000, request(2)),
        F.udp6(mac, PEER_MAC, 'fd00:198:18::1', 'fd00:198:18::2', 40002, 9000, request(3)), // 7's budget is spent: no bid
        F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40003, 9000, request(4, { country: 'FR', device: 'ctv' })),
        F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40004, 9000, request(5, { sentUs: Math.floor(monoUs()) - 5000, tmaxUs: 1000 })), // late
      ];
      expect(engine.send(peer, frames)).toBe(5);
      expect(await waitFor(() => got.length >= 4, 5000)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(got.length).toBe(4);
      for (const f of got) expect(F.checksumProblems(f)).toBe('');
      const v6 = (f: Uint8Array) => f[12] === 0x86;
      const byPort = new Map(got.map((f) => [v6(f) ? (f[56] << 8) | f[57] : (f[36] << 8) | f[37], f]));
      const payload = (p: number) => Array.from(byPort.get(p)!.subarray(v6(byPort.get(p)!) ? 62 : 42));
      expect(payload(40000)).toEqual(response(1, 1234, 7, 70));
      expect(payload(40001)).toEqual(response(2, 1234, 7, 70));
      expect(payload(40002)).toEqual(response(3, 0, 0, 0));
      expect(payload(40003)).toEqual(response(4, 1000, 8, 80));
      await stopAndCheckPool(engine);
      const c = where === 'main' ? server.counters : engine.workerCounters(srv)[0]!;
      expect([c[C.REQUESTS], c[C.BIDS], c[C.NO_BIDS], c[C.LATE], c[C.SPENT]]).toEqual([5, 3, 1, 1, 3468]);
      expect(server.budgetOf(7)).toEqual({ remaining: 0, spent: 2468 });
      expect(host.stats().sockets[0]).toMatchObject({ rx: 5, replies: 4, dropped: 1 });
    });
  }

  it('behind Node dgram on 127.0.0.1: the same answers, and a reload reaches the worker thread', async () => {
    const file = tmp.path('c.json');
    writeFileSync(file, JSON.stringify(CAMPAIGNS));
    const server = new BidderServer(file, { maxCampaigns: 16 });
    const d = await startDgramBidder(server.workerData(), { address: '127.0.0.1', port: 0 });
    const client = createSocket('udp4');
    try {
      const replies: Buffer[] = [];
      client.on('message', (m) => replies.push(m));
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
      const ask = async (req: Uint8Array) => {
        const n = replies.length;
        client.send(req, d.port, '127.0.0.1');
        expect(await waitFor(() => replies.length > n, 5000)).toBe(true);
        return Array.from(replies[n]!);
      };
      expect(await ask(request(1))).toEqual(response(1, 1234, 7, 70));
      expect(await ask(request(2, { country: 'FR' }))).toEqual(response(2, 1000, 8, 80));
      writeFileSync(file, JSON.stringify({ campaigns: [{ id: 9, price: 2000, budget: 5000, creative: 90 }] }));
      expect(server.reload().ok).toBe(true);
      expect(await ask(request(3, { country: 'FR' }))).toEqual(response(3, 2000, 9, 90));
      const c = d.counters[0]!;
      expect([c[C.REQUESTS], c[C.BIDS], c[C.GENERATION]]).toEqual([3, 3, 2]);
    } finally {
      client.close();
      await d.close();
    }
  });

  it('main.js with no flags: the null self-test bids from the sample campaigns, prints its stats and gives every mbuf back', () => {
    const main = new URL('../dist/examples/bidder/main.js', import.meta.url).pathname;
    const r = spawnSync(process.execPath, [main, '--seconds', '1', '--lcores', String(lastCpu()), '--hugepages', 'off', '--mbufs', '4096'], { encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/^bidder on 198\.18\.0\.2\/24 port 9000 \(null, owner linerate, main thread\): 20 campaigns/m);
    expect(out).toMatch(/^\[1s\] requests [\d.]+ k\/s \| total requests \d+ bids \d+ no-bids \d+ late 0 malformed 0 \| spent [\d.]+/m);
    const c = JSON.parse(/^counters: (.*)$/m.exec(out)![1]!) as Record<string, number>;
    expect(c.BIDS).toBeGreaterThan(0);
    expect(c.REQUESTS).toBe(c.BIDS! + c.NO_BIDS!);
    expect(out).toMatch(/mempool: (\d+)\/\1 mbufs back in the pool/);
  });

  it('main.js reloads on SIGHUP while serving: a bad file keeps the old campaigns and says why, a good one is served', async () => {
    const file = tmp.path('c.json');
    writeFileSync(file, JSON.stringify(CAMPAIGNS));
    const main = new URL('../dist/examples/bidder/main.js', import.meta.url).pathname;
    const c = spawn(process.execPath, [main, '--campaigns', file, '--seconds', '30', '--lcores', String(lastCpu()), '--hugepages', 'off', '--mbufs', '4096'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += String(d)));
    c.stderr.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
    try {
      expect(await waitFor(() => /^\[1s\] requests/m.test(out), 20_000), out).toBe(true);
      writeFileSync(file, '{"campaigns": [{"id": 1}]}');
      c.kill('SIGHUP');
      expect(await waitFor(() => out.includes('reload failed'), 10_000), out).toBe(true);
      expect(out).toContain(`reload failed, still serving the old campaigns: ${file}: campaign 0 (id 1): price must be whole micro-units`);
      writeFileSync(file, JSON.stringify({ campaigns: [...CAMPAIGNS.campaigns, { id: 9, price: 5, budget: 5, creative: 1 }] }));
      c.kill('SIGHUP');
      expect(await waitFor(() => out.includes('reloaded: 3 campaigns (load 2)'), 10_000), out).toBe(true);
      expect(await waitFor(() => / load 2 \| ringFull/.test(out), 10_000), out).toBe(true); // the stats line: the thread serves load 2
    } finally {
      c.kill('SIGTERM');
    }
    expect(await exited, out).toBe(0);
    expect(out).toMatch(/mempool: (\d+)\/\1 mbufs back in the pool/);
  });
});
