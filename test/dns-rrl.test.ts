// examples/dns response rate limiting (rrl.ts) and the per-rcode / per-type
// counters the host layer shows (HostSocket.labelCounters, linerate/metrics).
// The limiter on its own with a clock the test sets (exact proportions of
// sent, dropped and slipped), then through the host layer on a ring wire: a
// burst from one network over the rate gets dropped and slipped, another
// network is answered, a server without --rrl answers everything; the counters
// by rcode and qtype in host.stats() and in the Prometheus text.
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { C, COUNTERS } from '../examples/dns/answers.js';
import { limit, parseRrl, Rrl, RRL, RRL_CLASS, slipResponse } from '../examples/dns/rrl.js';
import { DNS_COUNTER_FAMILIES, DnsServer, sumCounters } from '../examples/dns/server.js';
import { collectMetrics } from '../src/metrics.js';
import { perTestBed, stopAndCheckPool, waitFor } from './helpers/engine.js';
import * as F from './helpers/frames.js';

const { engines } = perTestBed();
const ZONE = new URL('./fixtures/dns/example.test.zone', import.meta.url).pathname;
const PEER_MAC = '02:00:00:00:00:99';

function query(name: string, type: number, id = 0xabcd): Uint8Array {
  const q = [...name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]), 0, type >> 8, type & 0xff, 0, 1];
  return Uint8Array.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...q]);
}

/** Runs `n` checks of class `cls` from `ip` at time `t` and tallies the verdicts. */
function burst(rrl: Rrl, ip: string, n: number, t: number, cls: number = RRL_CLASS.POSITIVE): { send: number; drop: number; slip: number } {
  const a = Uint8Array.from(F.ipBytes(ip));
  const out = { send: 0, drop: 0, slip: 0 };
  for (let i = 0; i < n; i++) {
    const v = rrl.check(a, 0, a.length === 4 ? 4 : 6, cls, t);
    if (v === RRL.SEND) out.send++;
    else if (v === RRL.DROP) out.drop++;
    else out.slip++;
  }
  return out;
}

describe('dns rrl: the limiter', () => {
  it('parses --rrl and refuses bad specs with what is allowed', () => {
    expect(parseRrl('20')).toEqual({ rate: 20, slip: 2, window: 1, table: 65536 });
    expect(parseRrl('5,slip=0,window=15,table=1024')).toEqual({ rate: 5, slip: 0, window: 15, table: 1024 });
    expect(() => parseRrl('0')).toThrow(/RATE must be a positive number/);
    expect(() => parseRrl('10,slip=-1')).toThrow(/slip=0\.\.100/);
    expect(() => parseRrl('10,table=1000')).toThrow(/POWER_OF_TWO/);
    expect(() => parseRrl('10,burst=3')).toThrow(/not slip=/);
  });

  it('a burst over the rate: RATE sent, the rest dropped and every slip-th slipped', () => {
    const rrl = new Rrl(parseRrl('10,slip=2'));
    expect(burst(rrl, '198.18.0.1', 100, 1000)).toEqual({ send: 10, drop: 45, slip: 45 });
    const one = new Rrl(parseRrl('10,slip=1'));
    expect(burst(one, '198.18.0.1', 30, 1000)).toEqual({ send: 10, drop: 0, slip: 20 });
    const none = new Rrl(parseRrl('10,slip=0'));
    expect(burst(none, '198.18.0.1', 30, 1000)).toEqual({ send: 10, drop: 20, slip: 0 });
    const three = new Rrl(parseRrl('10,slip=3'));
    expect(burst(three, '198.18.0.1', 40, 1000)).toEqual({ send: 10, drop: 20, slip: 10 });
  });

  it('accounts per /24, /56 and response class; refills at the rate; window keeps a flood in debt', () => {
    const rrl = new Rrl(parseRrl('10,slip=2'));
    expect(burst(rrl, '198.18.0.1', 20, 0).send).toBe(10);
    expect(burst(rrl, '198.18.0.200', 5, 0).send).toBe(0); // the same /24
    expect(burst(rrl, '198.18.1.1', 20, 0).send).toBe(10); // another /24
    expect(burst(rrl, '198.18.0.1', 20, 0, RRL_CLASS.NXDOMAIN).send).toBe(10); // another class
    expect(burst(rrl, 'fd00:198:18:1::1', 20, 0).send).toBe(10);
    expect(burst(rrl, 'fd00:198:18:ff::9', 5, 0).send).toBe(0); // the same /56
    expect(burst(rrl, 'fd00:198:18:100::1', 20, 0).send).toBe(10); // another /56
    expect(burst(rrl, '198.18.0.1', 20, 500).send).toBe(5); // half a second: half the rate back
    expect(burst(rrl, '198.18.0.1', 20, 10_000).send).toBe(10); // never more than one second's worth
    const debt = new Rrl(parseRrl('10,window=3'));
    expect(burst(debt, '198.18.0.1', 40, 0).send).toBe(10); // and 20 responses of debt (2 s × 10/s)
    expect(burst(debt, '198.18.0.1', 1, 1000).send).toBe(0);
    expect(burst(debt, '198.18.0.1', 20, 4000).send).toBe(10); // forgiven: -21 + 3 s × 10/s
  });

  it('a fixed table: more networks than buckets evict the stalest, nothing grows', () => {
    const rrl = new Rrl(parseRrl('1,table=16'));
    for (let i = 0; i < 1000; i++) expect(burst(rrl, `198.${18 + (i >> 8)}.${i & 255}.1`, 1, i).send).toBe(1);
    const arrays = Object.values(rrl).filter((v) => ArrayBuffer.isView(v)) as unknown as { length: number }[];
    expect(arrays.length).toBe(6);
    for (const a of arrays) expect(a.length).toBe(16);
  });

  it('classifies responses and slips to the question with TC', () => {
    const r = query('www.example.test', 1);
    r[2] = 0x84; // QR AA
    r[7] = 1; // one answer
    expect(Rrl.classify(r, 0)).toBe(RRL_CLASS.POSITIVE);
    const withAnswer = Uint8Array.from([...r, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
    const n = slipResponse(withAnswer, 0, withAnswer.length);
    expect(n).toBe(r.length);
    expect([withAnswer[2] & 0x02, withAnswer[7], withAnswer[9], withAnswer[11]]).toEqual([0x02, 0, 0, 0]);
    const nx = query('x.example.test', 1);
    nx[3] = 3;
    expect(Rrl.classify(nx, 0)).toBe(RRL_CLASS.NXDOMAIN);
    nx[3] = 5;
    expect(Rrl.classify(nx, 0)).toBe(RRL_CLASS.ERROR);
    const counters = new Float64Array(COUNTERS);
    const rrl = new Rrl(parseRrl('1,slip=2'));
    const sizes = [0, 1, 2].map(() => limit(rrl, query('www.example.test', 1), 0, 34, 0, 4, 0, counters));
    // Not a response (rcode 0, no answer): NODATA class; the first is sent, the second dropped, the third slipped.
    expect(sizes).toEqual([34, 0, 34]);
    expect([counters[C.RRL_DROPPED], counters[C.RRL_SLIPPED]]).toEqual([1, 1]);
  });
});

describe('dns rrl and counters through the host layer (ring wire)', () => {
  async function run(rrl: string | undefined, frames: (mac: string) => Uint8Array[], where: 'main' | 'pipeline' = 'main') {
    const server = new DnsServer([ZONE], undefined, rrl ? parseRrl(rrl) : undefined);
    const engine = await engines.create({ mempool: { mbufs: 4096, hugepages: 'off' } });
    const peer = engine.addPort('peer', { driver: 'ring', wire: 'rrl' });
    const srv = engine.addPort('srv', { driver: 'ring', wire: 'rrl' });
    const got: Uint8Array[] = [];
    engine.handle(peer, (b) => {
      for (let i = 0; i < b.count; i++) {
        const o = b.offset(i);
        if (b.bytes[o + 12] === 0x08 && b.bytes[o + 13] === 0x06) continue; // ARP
        if (b.bytes[o + 12] === 0x86 && b.bytes[o + 20] === 58) continue; // ICMPv6 (ND)
        got.push(b.bytes.slice(o, o + b.length(i)));
      }
    });
    const host = engine.host(srv, { ipv4: '198.18.0.2/16', ipv6: 'fd00:198:18::2/48' });
    const sock =
      where === 'main'
        ? host.udp({ port: 53 }, server.handler)
        : host.udpInWorkers({ port: 53, module: new URL('../dist/examples/dns/server.js', import.meta.url), data: server.workerData(), counters: 32 });
    const workers = () => (where === 'main' ? [] : engine.workerCounters(srv));
    sock.labelCounters({ read: () => sumCounters([...workers(), server.counters]), families: DNS_COUNTER_FAMILIES });
    const registry = new Registry();
    collectMetrics(engine, { registry });
    const mac = engine.info().ports.find((p) => p.name === 'srv')!.mac;
    await engine.start();
    await new Promise((r) => setTimeout(r, 50));
    got.length = 0;
    const fs = frames(mac);
    // In slices the ring and the handler's ring take whole.
    for (let i = 0; i < fs.length; i += 64) expect(engine.send(peer, fs.slice(i, i + 64))).toBe(Math.min(64, fs.length - i));
    await waitFor(() => host.stats().sockets[0]!.rx >= fs.length, 5000);
    await waitFor(() => host.stats().sockets[0]!.replies + host.stats().sockets[0]!.dropped >= fs.length, 5000);
    await new Promise((r) => setTimeout(r, 50));
    const metrics = await registry.metrics();
    const stats = host.stats();
    await stopAndCheckPool(engine);
    const dnsStats = server.stats(workers());
    const dns = (f: Uint8Array) => f.subarray(f[12] === 0x86 ? 62 : 42);
    const src = (f: Uint8Array) => (f[12] === 0x86 ? Buffer.from(f.subarray(38, 54)).toString('hex') : f.subarray(30, 34).join('.'));
    return { dnsStats, got: got.map((f) => ({ to: src(f), dns: dns(f), frame: f })), metrics, stats };
  }

  for (const where of ['main', 'pipeline'] as const) {
    it(`a burst from one /24 over the rate is dropped and slipped; another /24 and /56 are answered (${where === 'main' ? 'main thread' : 'pipeline worker'})`, async () => {
      const { dnsStats, got, stats, metrics } = await run('1,slip=2', (mac) => [
        ...Array.from({ length: 41 }, (_, i) => F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40000 + i, 53, query('www.example.test', 1, i))),
        F.udp4(mac, PEER_MAC, '198.18.7.1', '198.18.0.2', 41000, 53, query('www.example.test', 1)),
        F.udp6(mac, PEER_MAC, 'fd00:198:18:100::1', 'fd00:198:18::2', 41001, 53, query('www.example.test', 28)),
      ], where);
      for (const g of got) expect(F.checksumProblems(g.frame)).toBe('');
      const fromA = got.filter((g) => g.to === '198.18.0.1');
      const full = fromA.filter((g) => (g.dns[2] & 0x02) === 0);
      const slipped = fromA.filter((g) => (g.dns[2] & 0x02) !== 0);
      expect(full.length).toBe(1); // rate 1: one response, the rest over the rate
      expect(slipped.length).toBe(20); // of 40 limited, every second one
      for (const s of slipped) expect([(s.dns[6] << 8) | s.dns[7], s.dns.length]).toEqual([0, 12 + 'www.example.test'.length + 2 + 4]);
      expect(got.filter((g) => g.to === '198.18.7.1' && (g.dns[2] & 0x02) === 0 && g.dns[7] > 0).length).toBe(1);
      expect(got.filter((g) => g.to.startsWith('fd00019800180100') && (g.dns[2] & 0x02) === 0).length).toBe(1);
      expect(dnsStats.rrl).toEqual({ dropped: 20, slipped: 20 });
      expect(stats.sockets[0]).toMatchObject({ rx: 43, replies: 23, dropped: 20 });
      expect(stats.sockets[0]!.counters!.dns_rrl_total).toEqual({ dropped: 20, slipped: 20 });
      expect(metrics).toContain('linerate_dns_rrl_total{port="srv",udp_port="53",action="dropped"} 20');
      expect(metrics).toContain('linerate_dns_rrl_total{port="srv",udp_port="53",action="slipped"} 20');
    });
  }

  it('without --rrl everything is answered, and the counters by rcode and qtype show in host.stats() and the metrics', async () => {
    const { dnsStats: s, got, stats, metrics } = await run(undefined, (mac) => [
      ...Array.from({ length: 41 }, (_, i) => F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40000 + i, 53, query('www.example.test', 1, i))),
      F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 41000, 53, query('nope.example.test', 28)),
      F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 41001, 53, query('example.test', 252)), // AXFR over UDP: NOTIMP
      F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 41002, 53, query('www.other.test', 16)), // not ours: REFUSED
    ]);
    expect(got.length).toBe(44);
    expect(got.every((g) => (g.dns[2] & 0x02) === 0)).toBe(true);
    expect(s.rcode).toMatchObject({ NOERROR: 41, NXDOMAIN: 1, NOTIMP: 1, REFUSED: 1, FORMERR: 0 });
    expect(s.qtype).toMatchObject({ A: 41, AAAA: 1, XFR: 1, TXT: 1, MX: 0 });
    expect(s.rrl).toEqual({ dropped: 0, slipped: 0 });
    expect(stats.sockets[0]!.counters!.dns_responses_total).toMatchObject({ NOERROR: 41, NXDOMAIN: 1, NOTIMP: 1, REFUSED: 1 });
    expect(stats.sockets[0]!.counters!.dns_queries_total).toMatchObject({ A: 41, AAAA: 1, XFR: 1, TXT: 1 });
    expect(metrics).toContain('# TYPE linerate_dns_responses_total counter');
    expect(metrics).toContain('linerate_dns_responses_total{port="srv",udp_port="53",rcode="NOERROR"} 41');
    expect(metrics).toContain('linerate_dns_responses_total{port="srv",udp_port="53",rcode="NXDOMAIN"} 1');
    expect(metrics).toContain('linerate_dns_queries_total{port="srv",udp_port="53",qtype="A"} 41');
    expect(metrics).toContain('linerate_dns_queries_total{port="srv",udp_port="53",qtype="XFR"} 1');
  });

  it('labelCounters refuses bad names and labels', async () => {
    const engine = await engines.create({ mempool: { mbufs: 1024, hugepages: 'off' } });
    const p = engine.addPort('srv', { driver: 'ring', wire: 'lc' });
    const sock = engine.host(p, { ipv4: '198.18.0.2/24' }).udp({ port: 53 }, () => {});
    const read = () => new Float64Array(4);
    expect(() => sock.labelCounters({ read, families: [{ name: 'bad name', help: '', label: 'x', slots: {} }] })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => sock.labelCounters({ read, families: [{ name: 'ok_total', help: '', label: 'port', slots: {} }] })).toThrow(/not be port/);
    expect(() => sock.labelCounters({ read, families: [{ name: 'ok_total', help: '', label: 'x', slots: { a: -1 } }] })).toThrow(/slot of a/);
    expect(engine.hostList()[0]!.stats().sockets[0]!.counters).toBeUndefined();
    await engine.close();
  });
});
