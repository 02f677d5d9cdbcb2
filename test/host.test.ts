// The host layer on a virtual wire (ring driver): port 'peer' stands for the
// network (the test injects frames with engine.send and records what comes back
// through a handler), port 'srv' is the host. Bytes on the wire, counters, and
// every mbuf back in the pool.
import { describe, expect, it } from 'vitest';
import { type Engine, type Host, type Port, type DatagramBatch } from '../src/index.js';
import { catchLinerate, perTestBed, stopAndCheckPool } from './helpers/engine.js';
import * as F from './helpers/frames.js';

const { engines } = perTestBed();

const PEER_MAC = '02:00:00:00:00:99';
const PEER4 = '198.18.0.1';
const SRV4 = '198.18.0.2';
const PEER6 = 'fd00:198:18::1';
const SRV6 = 'fd00:198:18::2';

interface Bed {
  engine: Engine;
  peer: Port;
  srv: Port;
  host: Host;
  srvMac: string;
  got: Uint8Array[];
  inject(...frames: Uint8Array[]): void;
  waitFor(n: number, ms?: number): Promise<Uint8Array[]>;
}

async function bed(opts: { handler?: (b: DatagramBatch) => void; hostOptions?: Record<string, unknown>; mbufs?: number } = {}): Promise<Bed> {
  const engine = await engines.create({ mempool: { mbufs: opts.mbufs ?? 4096, hugepages: 'off' } });
  const peer = engine.addPort('peer', { driver: 'ring', wire: 'w' });
  const srv = engine.addPort('srv', { driver: 'ring', wire: 'w' });
  const got: Uint8Array[] = [];
  engine.handle(peer, (b) => {
    for (let i = 0; i < b.count; i++) got.push(b.bytes.slice(b.offset(i), b.offset(i) + b.length(i)));
  });
  const host = engine.host(srv, { ipv4: `${SRV4}/24`, ipv6: `${SRV6}/64`, ...(opts.hostOptions ?? {}) });
  if (opts.handler) host.udp({ port: 7 }, opts.handler);
  const srvMac = engine.info().ports.find((p) => p.name === 'srv')!.mac;
  return {
    engine, peer, srv, host, srvMac, got,
    inject: (...frames) => expect(engine.send(peer, frames)).toBe(frames.length),
    async waitFor(n, ms = 3000) {
      const end = Date.now() + ms;
      while (got.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      return got;
    },
  };
}

/** The UDP echo handler of these tests: reverses nothing, prefixes 're:'. */
const echo = (b: DatagramBatch) => {
  for (let i = 0; i < b.count; i++) {
    const off = b.payloadOffset(i), n = b.payloadLength(i);
    b.bytes.copyWithin(off + 3, off, off + n);
    b.bytes.set([0x72, 0x65, 0x3a], off);
    b.reply(i, n + 3);
  }
};

const hex = (b: Uint8Array, from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('hex');

describe('host layer on a ring wire', () => {
  it('answers ARP for its address, learns the asker, and announces itself at start', async () => {
    const b = await bed();
    await b.engine.start();
    // The gratuitous ARP and the unsolicited NA come first.
    const announced = await b.waitFor(2);
    expect(announced.some((f) => f[12] === 0x08 && f[13] === 0x06 && hex(f, 28, 32) === hex(Uint8Array.from(F.ipBytes(SRV4)), 0, 4))).toBe(true);
    b.got.length = 0;
    b.inject(F.arp(1, 'ff:ff:ff:ff:ff:ff', PEER_MAC, PEER4, SRV4));
    const [r] = await b.waitFor(1);
    expect(hex(r, 0, 6)).toBe(PEER_MAC.replaceAll(':', ''));
    expect(hex(r, 6, 12)).toBe(b.srvMac.replaceAll(':', ''));
    expect(hex(r, 12, 14)).toBe('0806');
    expect(hex(r, 20, 22)).toBe('0002'); // reply
    expect(hex(r, 22, 28)).toBe(b.srvMac.replaceAll(':', '')); // sender: us
    expect([...r.subarray(28, 32)]).toEqual(F.ipBytes(SRV4));
    expect([...r.subarray(38, 42)]).toEqual(F.ipBytes(PEER4));
    expect(r.length).toBeGreaterThanOrEqual(60);
    const s = b.host.stats();
    expect(s.arpRequestsIn).toBe(1);
    expect(s.arpRepliesOut).toBe(1);
    expect(s.announcesOut).toBe(2);
    expect(b.host.neighbors()).toContainEqual(expect.objectContaining({ ip: PEER4, mac: PEER_MAC, state: 'reachable' }));
    // ARP for someone else: not answered, the asker not added (RFC 826 merge rule).
    b.inject(F.arp(1, 'ff:ff:ff:ff:ff:ff', '02:00:00:00:00:98', '198.18.0.7', '198.18.0.3'));
    await new Promise((r) => setTimeout(r, 50));
    expect(b.host.stats().arpOther).toBe(1);
    expect(b.host.neighbors().some((n) => n.ip === '198.18.0.7')).toBe(false);
    await stopAndCheckPool(b.engine);
  });

  it('answers ping over IPv4 and IPv6 with valid checksums', async () => {
    const b = await bed();
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    b.inject(F.icmpEcho4(b.srvMac, PEER_MAC, PEER4, SRV4, 0x1234, 7, [1, 2, 3, 4, 5]));
    b.inject(F.icmp6Echo(b.srvMac, PEER_MAC, PEER6, SRV6, 0x4321, 9, [9, 8, 7]));
    const got = await b.waitFor(2);
    const v4 = got.find((f) => f[12] === 0x08)!;
    const v6 = got.find((f) => f[12] === 0x86)!;
    expect(v4[34]).toBe(0); // echo reply
    expect([...v4.subarray(26, 30)]).toEqual(F.ipBytes(SRV4));
    expect([...v4.subarray(30, 34)]).toEqual(F.ipBytes(PEER4));
    expect(hex(v4, 38, 42)).toBe('12340007');
    expect([...v4.subarray(42, 47)]).toEqual([1, 2, 3, 4, 5]);
    expect(F.checksumProblems(v4)).toBe('');
    expect(v6[54]).toBe(129);
    expect([...v6.subarray(22, 38)]).toEqual(F.ipBytes(SRV6));
    expect([...v6.subarray(38, 54)]).toEqual(F.ipBytes(PEER6));
    expect(F.checksumProblems(v6)).toBe('');
    const s = b.host.stats();
    expect([s.icmpEchoIn, s.icmpEchoOut, s.icmp6EchoIn, s.icmp6EchoOut]).toEqual([1, 1, 1, 1]);
    await stopAndCheckPool(b.engine);
  });

  it('answers neighbour solicitations (RFC 4861) and refuses a wrong hop limit', async () => {
    const b = await bed();
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    b.inject(F.neighborSolicit(PEER_MAC, PEER6, SRV6));
    const [na] = await b.waitFor(1);
    expect(hex(na, 0, 6)).toBe(PEER_MAC.replaceAll(':', ''));
    expect(na[20]).toBe(58);
    expect(na[21]).toBe(255); // hop limit
    expect(na[54]).toBe(136);
    expect(na[58] & 0x60).toBe(0x60); // solicited + override
    expect([...na.subarray(62, 78)]).toEqual(F.ipBytes(SRV6));
    expect(na[78]).toBe(2); // target link-layer option
    expect(hex(na, 80, 86)).toBe(b.srvMac.replaceAll(':', ''));
    expect(F.checksumProblems(na)).toBe('');
    b.inject(F.neighborSolicit(PEER_MAC, PEER6, SRV6, { hop: 64 }));
    await new Promise((r) => setTimeout(r, 50));
    expect(b.got.length).toBe(1);
    expect(b.host.stats().ndBad).toBe(1);
    expect(b.host.stats().ndAdvertsOut).toBe(1);
    expect(b.host.neighbors()).toContainEqual(expect.objectContaining({ ip: PEER6, mac: PEER_MAC }));
    await stopAndCheckPool(b.engine);
  });

  it('serves UDP in both families: the handler sees payloads and the sender, the reply is byte-exact', async () => {
    const seen: { family: number; port: number; addr: string; v4: number; payload: string }[] = [];
    const b = await bed({
      handler: (batch) => {
        for (let i = 0; i < batch.count; i++) {
          const off = batch.payloadOffset(i);
          seen.push({ family: batch.family(i), port: batch.srcPort(i), addr: batch.srcAddress(i), v4: batch.srcIPv4(i), payload: Buffer.from(batch.bytes.subarray(off, off + batch.payloadLength(i))).toString() });
        }
        echo(batch);
      },
    });
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    b.inject(F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 40000, 7, Buffer.from('hello')));
    b.inject(F.udp6(b.srvMac, PEER_MAC, PEER6, SRV6, 40001, 7, Buffer.from('hello6')));
    const got = await b.waitFor(2);
    expect(seen).toEqual([
      { family: 4, port: 40000, addr: PEER4, v4: 0xc6120001, payload: 'hello' },
      { family: 6, port: 40001, addr: PEER6, v4: 0, payload: 'hello6' },
    ]);
    const v4 = got.find((f) => f[12] === 0x08)!;
    expect(hex(v4, 0, 6)).toBe(PEER_MAC.replaceAll(':', ''));
    expect([...v4.subarray(26, 30)]).toEqual(F.ipBytes(SRV4));
    expect([...v4.subarray(30, 34)]).toEqual(F.ipBytes(PEER4));
    expect(hex(v4, 34, 38)).toBe((7).toString(16).padStart(4, '0') + (40000).toString(16));
    expect(Buffer.from(v4.subarray(42)).toString()).toBe('re:hello');
    expect(F.checksumProblems(v4)).toBe('');
    const v6 = got.find((f) => f[12] === 0x86)!;
    expect(Buffer.from(v6.subarray(62)).toString()).toBe('re:hello6');
    expect(hex(v6, 56, 58)).toBe((40001).toString(16));
    expect(F.checksumProblems(v6)).toBe('');
    const s = b.host.stats();
    expect(s.udpIn).toBe(2);
    expect(s.udpReplies).toBe(2);
    expect(s.sockets[0]).toMatchObject({ port: 7, rx: 2, replies: 2 });
    await stopAndCheckPool(b.engine);
  });

  it('counts hostile input by reason and never delivers it; the pool stays whole', async () => {
    const delivered: number[] = [];
    const b = await bed({ handler: (batch) => delivered.push(batch.count) });
    await b.engine.start();
    await b.waitFor(2);
    const ok = F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3]);
    b.inject(
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3], { badCsum: true }),
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3], { badIpCsum: true }),
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3], { totalLenDelta: 40 }), // says longer than it is
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3], { frag: 0x2000 }), // first fragment (MF)
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3], { frag: 0x0010 }), // a later fragment
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3], { ihlWords: 6 }), // options
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 9, [1, 2, 3]), // nobody listens on 9
      F.udp4(b.srvMac, PEER_MAC, PEER4, '198.18.0.3', 1, 7, [1, 2, 3]), // not our address
      F.udp4('02:00:00:00:00:55', PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3]), // not our MAC
      F.udp6(b.srvMac, PEER_MAC, PEER6, SRV6, 1, 7, [1, 2, 3], { zeroCsum: true }), // zero checksum: invalid over IPv6
      ok.subarray(0, 20), // truncated IPv4 header
      ok.subarray(0, 10), // shorter than Ethernet
      F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1, 2, 3], { vlan: 5 }), // a VLAN the host is not on
    );
    await new Promise((r) => setTimeout(r, 100));
    const s = b.host.stats();
    expect(s).toMatchObject({
      udpBadCsum: 2, ipBadCsum: 1, ipBadLength: 1, ipFragments: 2, ipOptions: 1, udpNoListener: 1, notOurs: 2,
      ipBadHeader: 1, malformed: 1, vlanMismatch: 1, udpIn: 0, toKernel: 0,
    });
    expect(delivered).toEqual([]);
    await stopAndCheckPool(b.engine);
  });

  it('sends to an unresolved peer: probes, holds, and sends once it answers', async () => {
    let sent = false;
    const b = await bed({
      handler: (batch) => {
        if (sent) return;
        const i = batch.alloc(4);
        batch.bytes.set([0xde, 0xad, 0xbe, 0xef], batch.payloadOffset(i));
        batch.sendTo(i, 9999, 0xc6120009); // 198.18.0.9, not yet known
        sent = true;
      },
    });
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    b.inject(F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 5, 7, [0]));
    const [probe] = await b.waitFor(1);
    expect(hex(probe, 12, 14)).toBe('0806');
    expect(hex(probe, 20, 22)).toBe('0001');
    expect([...probe.subarray(38, 42)]).toEqual(F.ipBytes('198.18.0.9'));
    expect(b.host.stats().neighbors.held).toBe(1);
    expect(b.engine.stats().mempool.inUse.host).toBe(1);
    b.inject(F.arp(2, b.srvMac, '02:00:00:00:00:09', '198.18.0.9', SRV4, b.srvMac));
    const got = await b.waitFor(2);
    const d = got[1];
    expect(hex(d, 0, 6)).toBe('020000000009');
    expect([...d.subarray(30, 34)]).toEqual(F.ipBytes('198.18.0.9'));
    expect(hex(d, 34, 38)).toBe('0007270f');
    expect(hex(d, 42, 46)).toBe('deadbeef');
    expect(F.checksumProblems(d)).toBe('');
    expect(b.host.stats()).toMatchObject({ udpSends: 1, heldSent: 1, neighborMisses: 1 });
    await stopAndCheckPool(b.engine);
  });

  it('resolves an IPv6 peer with a neighbour solicitation and sends what it held on the advertisement', async () => {
    const b = await bed({ handler: () => {} });
    const sock = b.host.udp({ port: 8 });
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    expect(sock.send('six', 4242, 'fd00:198:18::9')).toBe(true);
    const [ns] = await b.waitFor(1);
    const sol = F.solicited('fd00:198:18::9');
    expect(hex(ns, 0, 6)).toBe(sol.mac.replaceAll(':', ''));
    expect(ns[20]).toBe(58);
    expect(ns[21]).toBe(255);
    expect(ns[54]).toBe(135);
    expect([...ns.subarray(62, 78)]).toEqual(F.ipBytes('fd00:198:18::9'));
    expect(F.checksumProblems(ns)).toBe('');
    b.inject(F.neighborAdvert(b.srvMac, '02:00:00:00:00:09', 'fd00:198:18::9', SRV6, 'fd00:198:18::9'));
    const got = await b.waitFor(2);
    const d = got[1];
    expect(hex(d, 0, 6)).toBe('020000000009');
    expect([...d.subarray(38, 54)]).toEqual(F.ipBytes('fd00:198:18::9'));
    expect(hex(d, 54, 58)).toBe((8).toString(16).padStart(4, '0') + (4242).toString(16));
    expect(Buffer.from(d.subarray(62)).toString()).toBe('six');
    expect(F.checksumProblems(d)).toBe('');
    expect(b.host.neighbors()).toContainEqual(expect.objectContaining({ ip: 'fd00:198:18::9', state: 'reachable' }));
    await stopAndCheckPool(b.engine);
  });

  it('a handler that throws loses its burst, counted, and the host goes on', async () => {
    let calls = 0;
    const b = await bed({
      handler: (batch) => {
        if (calls++ === 0) throw new Error('boom');
        echo(batch);
      },
    });
    const errors: Error[] = [];
    b.engine.on('error', (e: Error) => errors.push(e));
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    b.inject(F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [1]));
    await new Promise((r) => setTimeout(r, 100));
    b.inject(F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1, 7, [2]));
    const got = await b.waitFor(1);
    expect(got.length).toBe(1);
    expect(Buffer.from(got[0].subarray(42)).toString('hex')).toBe(Buffer.from('re:\x02', 'latin1').toString('hex'));
    expect(errors.map((e) => e.message)).toEqual(['boom']);
    expect(b.host.stats().sockets[0]).toMatchObject({ rx: 2, replies: 1, dropped: 1 });
    await stopAndCheckPool(b.engine);
  });

  it('serves on an 802.1Q VLAN: tagged in, tagged out; untagged is not ours', async () => {
    const b = await bed({ handler: echo, hostOptions: { vlan: 42 } });
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    b.inject(F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1000, 7, Buffer.from('v'), { vlan: 42 }));
    b.inject(F.arp(1, 'ff:ff:ff:ff:ff:ff', PEER_MAC, PEER4, SRV4, undefined, { vlan: 42 }));
    b.inject(F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 1000, 7, Buffer.from('u')));
    const got = await b.waitFor(2);
    expect(got.length).toBe(2);
    for (const f of got) expect(hex(f, 12, 16)).toBe('8100002a');
    const udp = got.find((f) => f[16] === 0x08 && f[17] === 0x00)!;
    expect(Buffer.from(udp.subarray(46)).toString()).toBe('re:v');
    expect(F.checksumProblems(udp)).toBe('');
    expect(b.host.stats()).toMatchObject({ vlanMismatch: 1, udpReplies: 1, arpRepliesOut: 1 });
    await stopAndCheckPool(b.engine);
  });

  it('answers UDP to an unbound port with ICMP port unreachable only when asked to', async () => {
    const b = await bed({ handler: echo, hostOptions: { icmpUnreachable: true } });
    await b.engine.start();
    await b.waitFor(2);
    b.got.length = 0;
    const q4 = F.udp4(b.srvMac, PEER_MAC, PEER4, SRV4, 5555, 9, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    b.inject(q4);
    b.inject(F.udp6(b.srvMac, PEER_MAC, PEER6, SRV6, 5556, 9, [1, 2, 3]));
    const got = await b.waitFor(2);
    const v4 = got.find((f) => f[12] === 0x08)!;
    expect(v4[23]).toBe(1);
    expect([v4[34], v4[35]]).toEqual([3, 3]);
    expect([...v4.subarray(30, 34)]).toEqual(F.ipBytes(PEER4));
    // The quote: the datagram's IP header and its first 8 bytes (the UDP header).
    expect(hex(v4, 42, 42 + 28)).toBe(hex(q4, 14, 14 + 28));
    expect(F.checksumProblems(v4)).toBe('');
    const v6 = got.find((f) => f[12] === 0x86)!;
    expect([v6[54], v6[55]]).toEqual([1, 4]);
    expect(F.checksumProblems(v6)).toBe('');
    expect(b.host.stats()).toMatchObject({ udpNoListener: 2, icmpUnreachOut: 2 });
    await stopAndCheckPool(b.engine);
    // Off by default: counted only (see 'counts hostile input').
  });

  it('a peer that never answers costs counted drops and no mbufs', async () => {
    const b = await bed({ handler: () => {}, hostOptions: { holdPackets: 2 } });
    const sock = b.host.udp({ port: 8 });
    await b.engine.start();
    for (let i = 0; i < 5; i++) expect(sock.send('x', 1234, '198.18.0.77')).toBe(i < 2);
    expect(b.host.stats().neighbors.held).toBe(2);
    // Three probes a second apart, then the entry fails and its packets are dropped.
    const end = Date.now() + 6000;
    while (b.host.stats().neighbors.held > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const s = b.host.stats();
    expect(s.neighbors.held).toBe(0);
    expect(s.neighbors.holdDrops).toBe(5);
    expect(s.neighbors.expired).toBe(1);
    expect(b.got.filter((f) => f[12] === 0x08 && f[13] === 0x06 && f[21] === 1 && f[41] === 77).length).toBeGreaterThanOrEqual(3);
    await stopAndCheckPool(b.engine);
  });

  it('gives a socket without a handler dgram-shaped message events', async () => {
    const b = await bed();
    const sock = b.host.udp({ port: 53 });
    const msgs: [string, unknown][] = [];
    sock.on('message', (msg: Buffer, rinfo: unknown) => msgs.push([msg.toString(), rinfo]));
    await b.engine.start();
    b.inject(F.udp6(b.srvMac, PEER_MAC, PEER6, SRV6, 3333, 53, Buffer.from('q?')));
    const end = Date.now() + 3000;
    while (!msgs.length && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    expect(msgs).toEqual([['q?', { address: PEER6, family: 'IPv6', port: 3333, size: 2 }]]);
    await stopAndCheckPool(b.engine);
  });

  it('refuses bad options with typed errors', async () => {
    const engine = await engines.create();
    const p = engine.addPort('p', { driver: 'null' });
    expect((await catchLinerate(() => engine.host(p, {}))).code).toBe('INVALID_OPTION');
    expect((await catchLinerate(() => engine.host(p, { ipv4: '198.18.0.300/24' }))).code).toBe('INVALID_OPTION');
    expect((await catchLinerate(() => engine.host(p, { ipv4: '198.18.0.2/33' }))).code).toBe('INVALID_OPTION');
    expect((await catchLinerate(() => engine.host(p, { ipv4: '198.18.0.2/24', gateway4: '198.19.0.1' }))).code).toBe('INVALID_OPTION');
    expect((await catchLinerate(() => engine.host(p, { ipv4: '198.18.0.2/24', bogus: 1 } as never))).code).toBe('UNKNOWN_OPTION');
    const h = engine.host(p, { ipv4: '198.18.0.2/24' });
    expect((await catchLinerate(() => engine.host(p, { ipv4: '198.18.0.2/24' }))).code).toBe('PORT_BUSY');
    expect((await catchLinerate(() => engine.echo(p))).code).toBe('PORT_BUSY');
    h.udp({ port: 53 }, () => {});
    expect((await catchLinerate(() => h.udp({ port: 53 }, () => {}))).code).toBe('PORT_BUSY');
    expect((await catchLinerate(() => h.udp({ port: 0 }, () => {}))).code).toBe('INVALID_OPTION');
    const sock = h.udp({ port: 54 });
    expect((await catchLinerate(() => sock.send('x', 1, '198.18.0.9'))).code).toBe('ENGINE_STOPPED');
  });
});
