// examples/dns on the host layer without root: a ring wire, port 'peer' stands
// for the network, 'srv' is the host serving DNS (main thread, and pipeline
// workers from dist/). Replies as bytes on the wire (checksums, ports, rcodes),
// counters, and every mbuf back in the pool.
import { describe, expect, it } from 'vitest';
import { C } from '../examples/dns/answers.js';
import { DnsServer } from '../examples/dns/server.js';
import { perTestBed, stopAndCheckPool, waitFor } from './helpers/engine.js';
import * as F from './helpers/frames.js';

const { engines } = perTestBed();
const ZONE = new URL('./fixtures/dns/example.test.zone', import.meta.url).pathname;
const PEER_MAC = '02:00:00:00:00:99';

function query(name: string, type: number, edns?: number): Uint8Array {
  const q = [...name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]), 0, type >> 8, type & 0xff, 0, 1];
  const opt = edns ? [0, 0, 41, edns >> 8, edns & 0xff, 0, 0, 0, 0, 0, 0] : [];
  return Uint8Array.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, opt.length ? 1 : 0, ...q, ...opt]);
}

describe('examples/dns on a ring wire', () => {
  for (const where of ['main', 'pipeline'] as const) {
    it(`answers IPv4 and IPv6 queries in place (${where === 'main' ? 'main thread' : 'pipeline workers'})`, async () => {
      const server = new DnsServer([ZONE]);
      const engine = await engines.create({ mempool: { mbufs: 4096, hugepages: 'off' } });
      const peer = engine.addPort('peer', { driver: 'ring', wire: 'dns' });
      const srv = engine.addPort('srv', { driver: 'ring', wire: 'dns' });
      const got: Uint8Array[] = [];
      engine.handle(peer, (b) => {
        for (let i = 0; i < b.count; i++) if (b.bytes[b.offset(i) + 12] !== 0x08 || b.bytes[b.offset(i) + 13] !== 0x06) got.push(b.bytes.slice(b.offset(i), b.offset(i) + b.length(i)));
      });
      const host = engine.host(srv, { ipv4: '198.18.0.2/24', ipv6: 'fd00:198:18::2/64' });
      if (where === 'main') host.udp({ port: 53 }, server.handler);
      else host.udpInWorkers({ port: 53, module: new URL('../dist/examples/dns/server.js', import.meta.url), data: server.workerData(), counters: 32 });
      const mac = engine.info().ports.find((p) => p.name === 'srv')!.mac;
      await engine.start();
      await new Promise((r) => setTimeout(r, 50));
      got.length = 0; // the host's announcements
      const frames = [
        F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40000, 53, query('WWW.example.test', 1)),
        F.udp6(mac, PEER_MAC, 'fd00:198:18::1', 'fd00:198:18::2', 40001, 53, query('big.example.test', 16, 4096)),
        F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40002, 53, query('nope.example.test', 1)),
        F.udp4(mac, PEER_MAC, '198.18.0.1', '198.18.0.2', 40003, 53, [1, 2, 3]), // no answer
      ];
      expect(engine.send(peer, frames)).toBe(4);
      expect(await waitFor(() => got.length >= 3, 5000)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(got.length).toBe(3);
      const byPort = new Map(got.map((f) => [f[12] === 0x86 ? (f[56] << 8) | f[57] : (f[36] << 8) | f[37], f]));
      for (const f of got) expect(F.checksumProblems(f)).toBe('');
      const dns = (f: Uint8Array) => f.subarray(f[12] === 0x86 ? 62 : 42);
      const www = dns(byPort.get(40000)!);
      expect([www[0], www[1], www[3] & 0x0f, (www[6] << 8) | www[7]]).toEqual([0xab, 0xcd, 0, 3]);
      expect(Buffer.from(www.subarray(13, 16)).toString()).toBe('WWW'); // the question as asked
      const big = dns(byPort.get(40001)!);
      expect([big[2] & 0x02, (big[6] << 8) | big[7], (big[10] << 8) | big[11]]).toEqual([0, 7, 1]); // no TC, 7 TXT, our OPT
      expect(dns(byPort.get(40002)!)[3] & 0x0f).toBe(3);
      await stopAndCheckPool(engine);
      const c = where === 'main' ? server.counters : engine.workerCounters(srv)[0];
      expect([c[C.NOERROR], c[C.NXDOMAIN], c[C.DROPPED], c[C.EDNS], c[C.A], c[C.TXT]]).toEqual([2, 1, 1, 1, 2, 1]);
      expect(host.stats().sockets[0]).toMatchObject({ rx: 4, replies: 3, dropped: 1 });
    });
  }
});
