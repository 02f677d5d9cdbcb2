// Forwarding: io mode keeps bytes, mac mode rewrites the Ethernet addresses,
// the ring wire moves mbufs zero-copy, a full wire is a counted drop, and
// software RSS spreads flows over rx queues exactly as the Toeplitz model says.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Engine, type Engine as EngineT, type EngineStats } from '../src/index.js';
import { perTestBed, readPcapFile, runToCompletion, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { hex, ipv4ChecksumOk, ipv6, ipv4, macString, udp4Frame, udp6Frame, udpChecksumOk, writePcap } from './helpers/pcap.js';
import { MS_RSS_KEY, rssQueue, toeplitz } from './helpers/toeplitz.js';

const { engines, tmp } = perTestBed();

const FRAME100 = udp4Frame({ src: '198.19.1.1', dst: '198.18.2.2', sport: 1234, dport: 5678, payload: 100 - 42, srcMac: '02:aa:00:00:00:01', dstMac: '02:bb:00:00:00:02' });

/** Waits until cond holds on the engine's stats (for pipelines with a ring port, which is never a "finite source"). */
async function waitStats(e: EngineT, cond: (s: EngineStats) => boolean, timeoutMs = 10_000): Promise<void> {
  const ok = await waitFor(() => cond(e.stats()), timeoutMs);
  expect(ok, `condition on stats within ${timeoutMs} ms: ${JSON.stringify(e.stats().ports)}`).toBe(true);
}

describe('forward io: null -> pcap', () => {
  it('writes exactly N records whose bytes are the content cut to packetSize', async () => {
    const N = 1000;
    const out = tmp.path('out.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: N, content: FRAME100, packetSize: 64 });
    const o = e.addPort('out', { driver: 'pcap', txFile: out });
    e.forward(a, o, { mode: 'io' });
    const s = await runToCompletion(e);
    const f = readPcapFile(out);
    expect(f.records).toHaveLength(N);
    const want = hex(FRAME100.subarray(0, 64));
    for (const r of f.records) {
      expect(r.data.length).toBe(64);
      expect(r.origLen).toBe(64);
    }
    expect(new Set(f.records.map((r) => hex(r.data)))).toEqual(new Set([want]));
    expect(s.ports.a!.rxPackets).toBe(N);
    expect(s.ports.a!.rxBytes).toBe(N * 64);
    expect(s.ports.out!.txPackets).toBe(N);
    expect(s.ports.out!.txBytes).toBe(N * 64);
    expect(s.ports.out!.dropped).toBe(0);
    expect(s.ports.out!.xstats.written).toBe(N);
    expect(s.ports.out!.xstats.writtenBytes).toBe(N * 64);
  });

  it('content given whole (packetSize = content length) arrives unchanged, checksums intact', async () => {
    const N = 300;
    const out = tmp.path('out.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: N, content: FRAME100, packetSize: FRAME100.length });
    const o = e.addPort('out', { driver: 'pcap', txFile: out });
    e.forward(a, o);
    await runToCompletion(e);
    const f = readPcapFile(out);
    expect(f.records).toHaveLength(N);
    for (const r of f.records) expect(hex(r.data)).toBe(hex(FRAME100));
    expect(ipv4ChecksumOk(f.records[0]!.data)).toBe(true);
    expect(udpChecksumOk(f.records[0]!.data)).toBe(true);
  });

  it('content shorter than packetSize is padded with zeros', async () => {
    const content = FRAME100.subarray(0, 60);
    const out = tmp.path('out.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 10, content, packetSize: 64 });
    const o = e.addPort('out', { driver: 'pcap', txFile: out });
    e.forward(a, o);
    await runToCompletion(e);
    const f = readPcapFile(out);
    expect(f.records).toHaveLength(10);
    for (const r of f.records) expect(hex(r.data)).toBe(hex(content) + '00000000');
  });

  it('the default content is Ethernet/IPv4/UDP 198.18.0.1:9 -> 198.18.0.2:9 with valid checksums', async () => {
    const out = tmp.path('out.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 5, packetSize: 128 });
    const o = e.addPort('out', { driver: 'pcap', txFile: out });
    e.forward(a, o);
    await runToCompletion(e);
    const f = readPcapFile(out);
    expect(f.records).toHaveLength(5);
    const d = f.records[0]!.data;
    expect(d.length).toBe(128);
    expect(macString(d.subarray(6, 12))).toBe(a.info().mac);
    expect(Array.from(d.subarray(26, 30))).toEqual(Array.from(ipv4('198.18.0.1')));
    expect(Array.from(d.subarray(30, 34))).toEqual(Array.from(ipv4('198.18.0.2')));
    expect(ipv4ChecksumOk(d)).toBe(true);
    expect(udpChecksumOk(d)).toBe(true);
  });
});

describe('forward mac mode', () => {
  const frames = (n: number, file: string) => readPcapFile(file).records.slice(0, n).map((r) => r.data);

  it('src MAC := output port MAC, dst MAC := 02:00:00:00:00:<output id>; the rest unchanged', async () => {
    const out = tmp.path('out.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 50, content: FRAME100, packetSize: 100 });
    e.addPort('filler', { driver: 'null' }); // so the output's id is not 1
    const o = e.addPort('out', { driver: 'pcap', txFile: out });
    e.forward(a, o, { mode: 'mac' });
    const s = await runToCompletion(e);
    expect(s.ports.out!.txPackets).toBe(50);
    const got = frames(50, out);
    expect(got).toHaveLength(50);
    const outMac = o.info().mac;
    expect(outMac).toBe('02:4c:52:00:00:02');
    for (const d of got) {
      expect(macString(d.subarray(0, 6))).toBe(`02:00:00:00:00:${o.id.toString(16).padStart(2, '0')}`);
      expect(macString(d.subarray(6, 12))).toBe(outMac);
      expect(hex(d.subarray(12))).toBe(hex(FRAME100.subarray(12)));
    }
  });

  it('dstMac option sets the destination', async () => {
    const out = tmp.path('out.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 20, content: FRAME100, packetSize: 100 });
    const o = e.addPort('out', { driver: 'pcap', txFile: out });
    e.forward(a, o, { mode: 'mac', dstMac: '0A:1b:2C:3d:4E:5f' });
    await runToCompletion(e);
    const got = frames(20, out);
    expect(got).toHaveLength(20);
    for (const d of got) {
      expect(macString(d.subarray(0, 6))).toBe('0a:1b:2c:3d:4e:5f');
      expect(macString(d.subarray(6, 12))).toBe(o.info().mac);
      expect(hex(d.subarray(12))).toBe(hex(FRAME100.subarray(12)));
    }
  });
});

describe('ring wire', () => {
  it('null -> ring x ~wire~ ring y -> pcap: counts and bytes match (zero-copy path)', async () => {
    const N = 2000;
    const out = tmp.path('out.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: N, content: FRAME100, packetSize: 100 });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w' });
    const o = e.addPort('out', { driver: 'pcap', txFile: out });
    e.forward(a, x);
    e.forward(y, o);
    expect(x.info().details.wire).toBe('w');
    expect(e.stats().ports.x!.linkUp).toBe(true);
    await e.start();
    await waitStats(e, (s) => s.ports.out!.txPackets + s.ports.out!.dropped + s.ports.x!.dropped >= N);
    const s = await stopAndCheckPool(e);
    for (const p of ['a', 'x', 'y', 'out']) expect(s.ports[p]!.dropped, `${p} drops`).toBe(0);
    expect(s.ports.a!.rxPackets).toBe(N);
    expect(s.ports.x!.txPackets).toBe(N);
    expect(s.ports.y!.rxPackets).toBe(N);
    expect(s.ports.out!.txPackets).toBe(N);
    expect(s.ports.y!.rxBytes).toBe(N * 100);
    expect(s.ports.out!.txBytes).toBe(N * 100);
    const f = readPcapFile(out);
    expect(f.records).toHaveLength(N);
    expect(new Set(f.records.map((r) => hex(r.data)))).toEqual(new Set([hex(FRAME100)]));
  });

  it('a full wire (size 2, far end not polled) counts txFull drops and loses no mbuf', async () => {
    const N = 1000;
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: N });
    const x = e.addPort('x', { driver: 'ring', wire: 'w', size: 2 });
    e.addPort('y', { driver: 'ring', wire: 'w', size: 2 }); // nobody polls y
    e.forward(a, x);
    await e.start();
    expect(await e.whenSourcesDone(5000)).toBe(true);
    const held = e.stats();
    expect(held.ports.x!.txPackets).toBe(2);
    expect(held.ports.x!.drops.txFull).toBe(N - 2);
    expect(held.ports.x!.dropped).toBe(N - 2);
    expect(held.ports.y!.heldMbufs).toBe(2);
    expect(held.mempool.inUse.driver).toBe(2);
    expect(held.mempool.free.total).toBe(held.mempool.size - 2);
    const s = await stopAndCheckPool(e);
    expect(s.ports.y!.heldMbufs).toBe(0);
    expect(s.ports.a!.rxPackets).toBe(N);
  });
});

describe('software RSS', () => {
  const allCpus = () => Engine.hostInfo().allowedCpus;

  it('the Toeplitz model matches the Microsoft RSS verification vectors', () => {
    // "Verifying the RSS Hash Calculation": input = src addr, dst addr, src port, dst port.
    const v4: [string, number, string, number, number, number][] = [
      ['66.9.149.187', 2794, '161.142.100.80', 1766, 0x323e8fc2, 0x51ccc178],
      ['199.92.111.2', 14230, '65.69.140.83', 4739, 0xd718262a, 0xc626b0ea],
      ['24.19.198.95', 12898, '12.22.207.184', 38024, 0xd2d0a5de, 0x5c2b394a],
      ['38.27.205.30', 48228, '209.142.163.6', 2217, 0x82989176, 0xafc7327f],
      ['153.39.163.191', 44251, '202.188.127.2', 1303, 0x5d1809c5, 0x10e828a2],
    ];
    const port = (p: number) => [p >> 8, p & 0xff];
    for (const [src, sp, dst, dp, ipOnly, withPorts] of v4) {
      const addrs = [...ipv4(src), ...ipv4(dst)];
      expect(toeplitz(MS_RSS_KEY, Uint8Array.from(addrs)) >>> 0).toBe(ipOnly);
      expect(toeplitz(MS_RSS_KEY, Uint8Array.from([...addrs, ...port(sp), ...port(dp)])) >>> 0).toBe(withPorts);
    }
    const a6 = [...ipv6('3ffe:2501:200:1fff::7'), ...ipv6('3ffe:2501:200:3::1')];
    expect(toeplitz(MS_RSS_KEY, Uint8Array.from(a6))).toBe(0x2cc18cd5);
    expect(toeplitz(MS_RSS_KEY, Uint8Array.from([...a6, ...port(2794), ...port(1766)]))).toBe(0x40207d3d);
  });

  /**
   * pcap (frames) -> forward -> ring x ~wire~ ring y (rxQueues, software RSS over
   * every allowed CPU) -> forward -> null sink. Returns y's per-queue rx counts.
   */
  async function spread(frames: Uint8Array[], queues: number, symmetric = false): Promise<number[]> {
    const file = tmp.path(`rss-${Math.random().toString(36).slice(2)}.pcap`);
    writeFileSync(file, writePcap(frames));
    const e = await engines.create({ lcores: allCpus() });
    const src = e.addPort('src', { driver: 'pcap', rxFile: file });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w', rxQueues: queues, rss: { symmetric } });
    const sink = e.addPort('sink', { driver: 'null' });
    e.forward(src, x);
    e.forward(y, sink);
    expect(y.info().rss).toBe('software');
    await e.start();
    await waitStats(e, (s) => s.ports.sink!.txPackets >= frames.length);
    const s = await stopAndCheckPool(e);
    expect(s.ports.y!.rxPackets).toBe(frames.length);
    expect(s.ports.y!.drops.rssRingFull).toBe(0);
    expect(s.ports.sink!.txPackets).toBe(frames.length);
    expect(s.ports.y!.queues.rx).toHaveLength(queues);
    await e.close();
    return s.ports.y!.queues.rx.map((q) => q.packets);
  }

  const flow = (i: number) =>
    udp4Frame({ src: `198.18.${i >> 4}.${(i & 15) + 1}`, dst: '198.19.1.1', sport: 1000 + 37 * i, dport: 53 + i, payload: 18 });
  const reverse = (i: number) =>
    udp4Frame({ src: '198.19.1.1', dst: `198.18.${i >> 4}.${(i & 15) + 1}`, sport: 53 + i, dport: 1000 + 37 * i, payload: 18 });

  it('64 UDP flows spread over 4 queues exactly as the Toeplitz model predicts', async () => {
    const Q = 4;
    const REP = 8;
    const frames: Uint8Array[] = [];
    for (let r = 0; r < REP; r++) for (let i = 0; i < 64; i++) frames.push(flow(i));
    const want = Array<number>(Q).fill(0);
    for (const f of frames) want[rssQueue(f, Q)]!++;
    expect(want.filter((c) => c > 0).length).toBeGreaterThanOrEqual(3); // the flows do spread
    const got = await spread(frames, Q);
    expect(got.reduce((a, b) => a + b, 0)).toBe(frames.length);
    expect(got.filter((c) => c > 0).length).toBeGreaterThanOrEqual(2);
    expect(got).toEqual(want);
  });

  it('IPv6 flows and a later IPv4 fragment follow the model too', async () => {
    const Q = 4;
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 32; i++) frames.push(udp6Frame({ src: `fd00:198:18::${i + 1}`, dst: 'fd00:198:18:1::1', sport: 4000 + i, dport: 443 }));
    for (let i = 0; i < 8; i++) frames.push(udp4Frame({ src: `198.18.9.${i + 1}`, dst: '198.18.9.201', sport: 1, dport: 2, fragOffset: 185 }));
    const want = Array<number>(Q).fill(0);
    for (const f of frames) want[rssQueue(f, Q)]!++;
    expect(await spread(frames, Q)).toEqual(want);
  });

  it('every packet of a flow lands on the same queue', async () => {
    const Q = 4;
    for (const i of [0, 5, 17, 42]) {
      const got = await spread(Array.from({ length: 40 }, () => flow(i)), Q);
      const expected = Array<number>(Q).fill(0);
      expected[rssQueue(flow(i), Q)] = 40;
      expect(got, `flow ${i}`).toEqual(expected);
    }
  });

  it('symmetric: a flow and its reverse land on the same queue', async () => {
    const Q = 4;
    for (const i of [1, 2, 3, 9, 30, 63]) {
      const frames = [...Array.from({ length: 20 }, () => flow(i)), ...Array.from({ length: 20 }, () => reverse(i))];
      const got = await spread(frames, Q, true);
      expect(got.filter((c) => c > 0), `flow ${i}: ${got.join(',')}`).toEqual([40]);
      expect(got[rssQueue(flow(i), Q, true)]).toBe(40);
    }
  });

  it('not symmetric: a flow and its reverse hash independently (as the model says)', async () => {
    const Q = 4;
    // Pick flows whose two directions the model puts on different queues.
    const split = Array.from({ length: 64 }, (_, i) => i).filter((i) => rssQueue(flow(i), Q) !== rssQueue(reverse(i), Q)).slice(0, 3);
    expect(split.length).toBeGreaterThan(0);
    for (const i of split) {
      const frames = [...Array.from({ length: 20 }, () => flow(i)), ...Array.from({ length: 10 }, () => reverse(i))];
      const want = Array<number>(Q).fill(0);
      want[rssQueue(flow(i), Q)] = 20;
      want[rssQueue(reverse(i), Q)] = 10;
      expect(await spread(frames, Q, false), `flow ${i}`).toEqual(want);
    }
  });
});
