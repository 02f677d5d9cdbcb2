// Echo: a pcap port replays a capture into an echo stage and transmits the
// replies into its own txFile. Expected outputs are computed independently
// (helpers/pcap.ts expectedEcho) and compared byte for byte.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { perTestBed, readPcapFile, runToCompletion } from './helpers/engine.js';
import {
  arpFrame,
  expectedEcho,
  hex,
  ipv4ChecksumOk,
  isGroupDst,
  layout,
  macString,
  udp4Frame,
  udp6Frame,
  udpChecksumOk,
  udpPorts,
  writePcap,
} from './helpers/pcap.js';

const { engines, tmp } = perTestBed();

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;

const A = '02:aa:aa:aa:aa:01';
const B = '02:bb:bb:bb:bb:02';

const cases = {
  ipv4Udp: udp4Frame({ srcMac: A, dstMac: B, src: '192.0.2.10', dst: '198.51.100.20', sport: 40000, dport: 7, payload: 32 }),
  ipv6Udp: udp6Frame({ srcMac: A, dstMac: B, src: 'fd00:198:18::10', dst: 'fd00:198:18:ffff::20', sport: 40001, dport: 7, payload: 33 }),
  vlanIpv4Udp: udp4Frame({ srcMac: A, dstMac: B, vlan: 100, src: '198.18.10.1', dst: '198.18.20.2', sport: 5353, dport: 9999, payload: 20 }),
  arp: arpFrame({ srcMac: A, senderIp: '192.0.2.10', targetIp: '192.0.2.1' }),
  runt: Uint8Array.from([0x02, 0xbb, 0xbb, 0xbb, 0xbb, 0x02, 0x02, 0xaa, 0xaa, 0xaa]),
  // IHL 6: a Router Alert option (RFC 2113) before the UDP header.
  ipv4Options: udp4Frame({ srcMac: A, dstMac: B, src: '198.19.16.1', dst: '198.19.16.2', sport: 1111, dport: 2222, payload: 16, ipOptions: Uint8Array.from([0x94, 0x04, 0x00, 0x00]) }),
  // A later fragment: the bytes after the IP header are data, not a UDP header.
  ipv4LaterFragment: udp4Frame({ srcMac: A, dstMac: B, src: '192.0.2.30', dst: '192.0.2.40', sport: 0, dport: 0, fragOffset: 185, payload: 40, ipId: 77 }),
  // A first fragment (MF set, offset 0): the UDP header is there, and its ports are swapped like any datagram's.
  ipv4FirstFragment: udp4Frame({ srcMac: A, dstMac: B, src: '192.0.2.50', dst: '192.0.2.60', sport: 3333, dport: 4444, moreFragments: true, payload: 64, ipId: 78 }),
  // An ARP request to unicast (as a cache refresh is sent): echoed, Ethernet addresses swapped.
  arpUnicast: (() => {
    const f = arpFrame({ srcMac: A, senderIp: '192.0.2.10', targetIp: '192.0.2.1' });
    f.set([0x02, 0xbb, 0xbb, 0xbb, 0xbb, 0x02], 0);
    return f;
  })(),
};

describe('echo on a pcap port', () => {
  it('replies to every frame byte for byte as expected; the runt and the broadcast are dropped and counted', async () => {
    const order = Object.keys(cases) as (keyof typeof cases)[];
    const input = tmp.path('in.pcap');
    const output = tmp.path('out.pcap');
    writeFileSync(input, writePcap(order.map((k) => cases[k])));
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: input, txFile: output });
    e.echo(p);
    const s = await runToCompletion(e);

    const replies = readPcapFile(output).records.map((r) => r.data);
    const expectedOrder = order.filter((k) => k !== 'runt' && k !== 'arp');
    expect(replies).toHaveLength(expectedOrder.length);
    expectedOrder.forEach((k, i) => {
      expect(hex(replies[i]!), k).toBe(hex(expectedEcho(cases[k])));
    });

    expect(s.ports.p!.rxPackets).toBe(order.length);
    expect(s.ports.p!.txPackets).toBe(order.length - 2);
    expect(s.ports.p!.drops.malformed).toBe(1);
    expect(s.ports.p!.drops.groupDst).toBe(1);
    expect(s.ports.p!.queues.tx[0]).toMatchObject({ malformed: 1, groupDst: 1 });
    expect(s.ports.p!.dropped).toBe(2);
    expect(s.ports.p!.xstats.delivered).toBe(order.length);
    expect(s.ports.p!.xstats.written).toBe(order.length - 2);
  });

  it('what changed and what did not, field by field, and the checksums still hold', async () => {
    const input = tmp.path('in.pcap');
    const output = tmp.path('out.pcap');
    const frames = [cases.ipv4Udp, cases.ipv6Udp, cases.vlanIpv4Udp, cases.ipv4Options, cases.ipv4LaterFragment, cases.ipv4FirstFragment, cases.arpUnicast];
    writeFileSync(input, writePcap(frames));
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: input, txFile: output });
    e.echo(p);
    await runToCompletion(e);
    const [v4, v6, vlan, opts, later, first, arp] = readPcapFile(output).records.map((r) => r.data);

    for (const r of [v4, v6, vlan, opts, later, first, arp]) {
      expect(macString(r!.subarray(0, 6))).toBe(A); // back to the sender
      expect(macString(r!.subarray(6, 12))).toBe(B);
    }
    // UDP: ports swapped, checksums valid.
    expect(udpPorts(v4!)).toEqual({ sport: 7, dport: 40000 });
    expect(udpPorts(v6!)).toEqual({ sport: 7, dport: 40001 });
    expect(udpPorts(vlan!)).toEqual({ sport: 9999, dport: 5353 });
    expect(udpPorts(opts!)).toEqual({ sport: 2222, dport: 1111 });
    for (const r of [v4!, vlan!, opts!]) expect(ipv4ChecksumOk(r)).toBe(true);
    for (const r of [v4!, v6!, vlan!, opts!]) expect(udpChecksumOk(r)).toBe(true);
    // The VLAN tag is kept.
    expect(hex(vlan!.subarray(12, 16))).toBe('81000064');
    // IPv4 addresses swapped.
    expect(Array.from(v4!.subarray(26, 34))).toEqual([198, 51, 100, 20, 192, 0, 2, 10]);
    // Fragments: addresses swapped, header checksum valid.
    for (const [r, orig] of [
      [later!, cases.ipv4LaterFragment],
      [first!, cases.ipv4FirstFragment],
    ] as const) {
      const l = layout(orig);
      expect(ipv4ChecksumOk(r)).toBe(true);
      expect(hex(r.subarray(l.l3 + 12, l.l3 + 16))).toBe(hex(orig.subarray(l.l3 + 16, l.l3 + 20)));
      expect(hex(r.subarray(l.l3 + 16, l.l3 + 20))).toBe(hex(orig.subarray(l.l3 + 12, l.l3 + 16)));
    }
    // A later fragment: everything after the IP header is data, untouched.
    const ll = layout(cases.ipv4LaterFragment);
    expect(hex(later!.subarray(ll.l3 + ll.ipHeaderLength))).toBe(hex(cases.ipv4LaterFragment.subarray(ll.l3 + ll.ipHeaderLength)));
    // A first fragment: its UDP ports swapped, the rest of the UDP header and the data untouched.
    const fl = layout(cases.ipv4FirstFragment);
    const fu = fl.l3 + fl.ipHeaderLength;
    expect([be16(first!, fu), be16(first!, fu + 2)]).toEqual([4444, 3333]);
    expect(hex(first!.subarray(fu + 4))).toBe(hex(cases.ipv4FirstFragment.subarray(fu + 4)));
    // ARP: only the Ethernet addresses move; the ARP body is unchanged.
    expect(hex(arp!.subarray(12))).toBe(hex(cases.arpUnicast.subarray(12)));
  });

  it('an IPv4 first fragment (MF set, offset 0) has its UDP ports swapped; a later fragment only its addresses', async () => {
    // The datagram 198.18.7.1:5000 -> 198.18.7.2:53, 64 bytes of data in two fragments of 8-byte units (RFC 791).
    const first = udp4Frame({ srcMac: A, dstMac: B, src: '198.18.7.1', dst: '198.18.7.2', sport: 5000, dport: 53, moreFragments: true, payload: 32, ipId: 4242 });
    const second = udp4Frame({ srcMac: A, dstMac: B, src: '198.18.7.1', dst: '198.18.7.2', sport: 0, dport: 0, fragOffset: 5, payload: 32, ipId: 4242 });
    const input = tmp.path('in.pcap');
    const output = tmp.path('out.pcap');
    writeFileSync(input, writePcap([first, second]));
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: input, txFile: output });
    e.echo(p);
    const s = await runToCompletion(e);
    expect(s.ports.p!.txPackets).toBe(2);
    const [r1, r2] = readPcapFile(output).records.map((r) => r.data);
    const u = 14 + 20;
    // First fragment: addresses and ports swapped (the reply datagram goes 198.18.7.2:53 -> 198.18.7.1:5000).
    expect(Array.from(r1!.subarray(26, 34))).toEqual([198, 18, 7, 2, 198, 18, 7, 1]);
    expect([be16(r1!, u), be16(r1!, u + 2)]).toEqual([53, 5000]);
    expect(hex(r1!.subarray(u + 4))).toBe(hex(first.subarray(u + 4)));
    expect(ipv4ChecksumOk(r1!)).toBe(true);
    // Later fragment: addresses swapped; its first bytes are data that only look like ports, left alone.
    expect(Array.from(r2!.subarray(26, 34))).toEqual([198, 18, 7, 2, 198, 18, 7, 1]);
    expect(hex(r2!.subarray(u))).toBe(hex(second.subarray(u)));
    expect(ipv4ChecksumOk(r2!)).toBe(true);
    expect(hex(r1!)).toBe(hex(expectedEcho(first)));
    expect(hex(r2!)).toBe(hex(expectedEcho(second)));
  });

  it('a frame to a group MAC (broadcast ARP request, IPv4 and IPv6 multicast) is not echoed: dropped and counted in drops.groupDst', async () => {
    const group = [
      arpFrame({ srcMac: A, senderIp: '198.18.0.1', targetIp: '198.18.0.2' }), // to ff:ff:ff:ff:ff:ff
      udp4Frame({ srcMac: A, dstMac: '01:00:5e:00:00:fb', src: '198.18.0.1', dst: '224.0.0.251', sport: 5353, dport: 5353, payload: 12 }),
      udp6Frame({ srcMac: A, dstMac: '33:33:00:00:00:fb', src: 'fd00:198:18::1', dst: 'ff02::fb', sport: 5353, dport: 5353, payload: 12 }),
    ];
    const unicast = udp4Frame({ srcMac: A, dstMac: B, src: '198.18.0.1', dst: '198.18.0.2', sport: 1234, dport: 7, payload: 12 });
    expect(group.every(isGroupDst) && !isGroupDst(unicast)).toBe(true);
    const input = tmp.path('in.pcap');
    const output = tmp.path('out.pcap');
    writeFileSync(input, writePcap([group[0]!, unicast, group[1]!, group[2]!, unicast]));
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: input, txFile: output });
    e.echo(p);
    const s = await runToCompletion(e);
    const out = readPcapFile(output).records.map((r) => r.data);
    expect(out.map(hex)).toEqual([hex(expectedEcho(unicast)), hex(expectedEcho(unicast))]);
    for (const r of out) expect(r[6]! & 1, 'no group source address').toBe(0);
    expect(s.ports.p!.rxPackets).toBe(5);
    expect(s.ports.p!.txPackets).toBe(2);
    expect(s.ports.p!.drops.groupDst).toBe(3);
    expect(s.ports.p!.drops.malformed).toBe(0);
    expect(s.ports.p!.dropped).toBe(3);
  });

  it('echoes a stream of many packets, all of them, with no mbuf lost', async () => {
    const frames = Array.from({ length: 3000 }, (_, i) =>
      i % 2 ? udp4Frame({ src: `198.18.${i >> 8}.${i & 255}`, dst: '198.19.1.1', sport: i, dport: 9, payload: i % 100 }) : udp6Frame({ src: `fd00:198:18::${i.toString(16)}`, dst: 'fd00:198:18::1', sport: i, dport: 9, payload: i % 90 }),
    );
    const input = tmp.path('in.pcap');
    const output = tmp.path('out.pcap');
    writeFileSync(input, writePcap(frames));
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: input, txFile: output });
    e.echo(p);
    const s = await runToCompletion(e);
    expect(s.ports.p!.txPackets).toBe(frames.length);
    const out = readPcapFile(output).records;
    expect(out).toHaveLength(frames.length);
    out.forEach((r, i) => expect(hex(r.data)).toBe(hex(expectedEcho(frames[i]!))));
    for (const r of out) expect(udpChecksumOk(r.data)).toBe(true);
  });

  it('echo on a ring port answers across the wire (null -> ring x ~ ring y echo -> back to x -> pcap)', async () => {
    // x forwards what comes back to a pcap; y echoes.
    const output = tmp.path('out.pcap');
    const frame = udp4Frame({ srcMac: A, dstMac: B, src: '198.18.0.1', dst: '198.18.0.2', sport: 1000, dport: 2000, payload: 22 });
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 500, content: frame, packetSize: frame.length });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w' });
    const o = e.addPort('out', { driver: 'pcap', txFile: output });
    e.forward(a, x);
    e.echo(y);
    e.forward(x, o);
    await e.start();
    let ok = false;
    for (let t = 0; t < 1000 && !ok; t++) {
      ok = e.stats().ports.out!.txPackets >= 500;
      if (!ok) await new Promise((r) => setTimeout(r, 5));
    }
    expect(ok).toBe(true);
    await e.stop();
    const s = e.stats();
    expect(s.mempool.free.total).toBe(s.mempool.size);
    expect(s.ports.y!.txPackets).toBe(500);
    const out = readPcapFile(output).records;
    expect(out).toHaveLength(500);
    for (const r of out) expect(hex(r.data)).toBe(hex(expectedEcho(frame)));
  });

  it('echo on a ring port: broadcast ARP requests are not echoed back over the wire and are counted; unicast ones are', async () => {
    const arp = arpFrame({ srcMac: A, senderIp: '198.18.0.1', targetIp: '198.18.0.2' });
    const uni = udp4Frame({ srcMac: A, dstMac: B, src: '198.18.0.1', dst: '198.18.0.2', sport: 1000, dport: 2000, payload: 22 });
    const frames = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? arp : uni));
    const nArp = frames.filter((f) => f === arp).length;
    const input = tmp.path('in.pcap');
    const output = tmp.path('out.pcap');
    writeFileSync(input, writePcap(frames));
    const e = await engines.create();
    const src = e.addPort('src', { driver: 'pcap', rxFile: input });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w' });
    const o = e.addPort('out', { driver: 'pcap', txFile: output });
    e.forward(src, x);
    e.echo(y);
    e.forward(x, o);
    await e.start();
    const done = () => {
      const s = e.stats().ports;
      return s.y!.rxPackets === frames.length && s.out!.txPackets === frames.length - nArp;
    };
    for (let t = 0; t < 1000 && !done(); t++) await new Promise((r) => setTimeout(r, 5));
    await e.stop();
    const s = e.stats();
    expect(s.mempool.free.total).toBe(s.mempool.size);
    expect(s.ports.y!.rxPackets).toBe(frames.length);
    expect(s.ports.y!.txPackets).toBe(frames.length - nArp);
    expect(s.ports.y!.drops.groupDst).toBe(nArp);
    expect(s.ports.y!.dropped).toBe(nArp);
    const out = readPcapFile(output).records;
    expect(out).toHaveLength(frames.length - nArp);
    for (const r of out) expect(hex(r.data)).toBe(hex(expectedEcho(uni)));
  });
});
