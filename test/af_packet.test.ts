// af_packet end to end over a veth pair between two namespaces (test/helpers/netns.ts):
// kernel UDP sockets in A, a linerate af_packet port on B's veth end.
// Runs as root (always under CI=true); elsewhere skipped with the reason printed.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { addonPath, Engines, expectCode, lastCpu, stopAndCheckPool, udp4Frame, waitFor, withoutCapabilities } from './helpers/kernel.js';
import { cleanupLeftovers, namespacesWithPrefix, netnsGate, TestBed } from './helpers/netns.js';

const gate = netnsGate();
const engines = new Engines();
const beds: TestBed[] = [];
afterEach(async () => {
  try {
    await engines.closeAll();
  } finally {
    for (const b of beds.splice(0)) await b.destroy();
  }
});
afterAll(() => cleanupLeftovers());

/** A test bed whose B end belongs to linerate: B's kernel keeps off it, A knows B's MAC statically. */
async function bed(opts: { queues?: number } = {}): Promise<TestBed> {
  const b = await TestBed.create({ isolateB: true, queues: opts.queues });
  beds.push(b);
  await b.setNeighbor('a', b.ipB, b.macB);
  await b.setNeighbor('a', b.ip6B, b.macB);
  return b;
}

const payloads = (n: number, tag: string) => Array.from({ length: n }, (_, i) => Buffer.from(`${tag}-${i}-${'x'.repeat(i * 7)}`));

describe.skipIf(!gate.run)('af_packet', { timeout: 90_000 }, () => {
  it('echoes kernel UDP (IPv4 and IPv6) back with swapped addresses and ports; the pool is whole after stop', async () => {
    const b = await bed();
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB });
    const info = e.info().ports[0]!;
    expect(info.driver).toBe('af_packet');
    expect(info.mac).toBe(b.macB);
    expect(info.mtu).toBe(1500);
    expect(info.details).toMatchObject({ interface: b.ifB, netns: b.nsB, rxRing: 'TPACKET_V3', txRing: 'TPACKET_V2', qdiscBypass: 'true', consume: 'false' });
    // Linux 5.0+: frames leave as linear skbs through PACKET_VNET_HDR (the echoes below check every byte).
    expect(info.details.txSkb).toBe('linear');
    e.echo(p);
    await e.start();

    const sent4 = payloads(20, 'v4');
    const r4 = await b.udpExchange({ port: 7777, payloads: sent4 });
    expect(r4.map((r) => r.data.toString())).toEqual(sent4.map((x) => x.toString()));
    for (const r of r4) {
      expect(r.from).toBe(b.ipB); // source and destination swapped
      expect(r.fromPort).toBe(7777);
    }
    const sent6 = payloads(10, 'v6');
    const r6 = await b.udpExchange({ port: 7778, payloads: sent6, family: 6 });
    expect(r6.map((r) => r.data.toString())).toEqual(sent6.map((x) => x.toString()));
    expect(r6.every((r) => r.from === b.ip6B && r.fromPort === 7778)).toBe(true);
    // Adaptive idle: the rx socket can wake the lcore, so it blocks on it (and woke for these frames).
    const l = e.stats().lcores[0]!;
    expect(l.waitsOnFds).toBe(true);
    expect(l.wakeups).toBeGreaterThan(0);

    const s = await stopAndCheckPool(e);
    const ps = s.ports.p!;
    expect(ps.rxPackets).toBeGreaterThanOrEqual(30);
    // Everything echoed but what A's kernel sent to multicast (neighbour discovery, MLD): dropped, drops.groupDst.
    expect(ps.txPackets + ps.drops.groupDst).toBe(ps.rxPackets);
    expect(ps.linkUp).toBe(true);
    // veth frames from a local socket carry partial checksums; the driver completes them.
    expect(ps.xstats.rx_csum_completed).toBeGreaterThanOrEqual(30);
    expect(ps.xstats.rx_oversize).toBe(0);
    expect(ps.xstats.rx_kernel_packets).toBeGreaterThanOrEqual(30);
    expect(ps.xstats.rx_consumed).toBe(0); // no `consume`: the stack kept every frame

    // Stop/start keeps the sockets and goes on echoing.
    await e.start();
    const again = await b.udpExchange({ port: 7777, payloads: [Buffer.from('restarted')] });
    expect(again.map((r) => r.data.toString())).toEqual(['restarted']);
    await stopAndCheckPool(e);
  });

  it('consume: the kernel stack gets none of the frames while the port is started, and all of them again after stop', async () => {
    // B's end keeps its addresses and its stack here: without `consume` B's kernel would also take in every frame
    // (and answer the UDP with ICMP port unreachable). A knows B's MAC statically: B's kernel answers no ARP meanwhile.
    const b = await TestBed.create();
    beds.push(b);
    await b.setNeighbor('a', b.ipB, b.macB);
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB, consume: true });
    expect(e.info().ports[0]!.details).toMatchObject({ consume: 'tcx' });
    e.echo(p);
    // Added but not started: the program is not attached, the stack sees frames.
    const before = await b.ipInReceives('b');
    await b.udpExchange({ port: 7000, payloads: payloads(5, 'idle'), expect: 0, timeoutMs: 300 });
    expect(await waitFor(async () => (await b.ipInReceives('b')) - before >= 5, 2000)).toBe(true);

    await e.start();
    const s0 = await b.ipInReceives('b');
    const sent = payloads(40, 'consumed');
    const r = await b.udpExchange({ port: 7001, payloads: sent });
    expect(r.map((x) => x.data.toString())).toEqual(sent.map((x) => x.toString()));
    expect((await b.ipInReceives('b')) - s0, 'B\'s kernel took in frames the port consumed').toBe(0);
    const st = await stopAndCheckPool(e);
    expect(st.ports.p!.rxPackets).toBeGreaterThanOrEqual(40);
    // The program counted every frame it kept from the stack: the 40 requests (nothing before start).
    expect(st.ports.p!.xstats.rx_consumed).toBeGreaterThanOrEqual(40);
    expect(st.ports.p!.xstats.rx_consumed).toBeLessThanOrEqual(st.ports.p!.xstats.rx_kernel_packets!);

    // Stopped: the link is closed and B's stack takes in frames again.
    const s1 = await b.ipInReceives('b');
    await b.udpExchange({ port: 7002, payloads: payloads(5, 'back'), expect: 0, timeoutMs: 300 });
    expect(await waitFor(async () => (await b.ipInReceives('b')) - s1 >= 5, 2000)).toBe(true);

    // Restart attaches it again.
    await e.start();
    const s2 = await b.ipInReceives('b');
    const again = await b.udpExchange({ port: 7003, payloads: [Buffer.from('again')] });
    expect(again.map((x) => x.data.toString())).toEqual(['again']);
    expect((await b.ipInReceives('b')) - s2).toBe(0);
    await stopAndCheckPool(e);
  });

  it('consume without CAP_BPF and CAP_SYS_ADMIN, or CAP_NET_ADMIN: MISSING_CAPABILITY naming them and the setcap fix', async () => {
    const b = await bed();
    // The child starts inside B's namespace, so it needs no CAP_SYS_ADMIN to reach the interface. CAP_SYS_ADMIN
    // stands in for CAP_BPF (bpf_capable()) and for CAP_NET_ADMIN (bpf_net_capable()), so it goes too.
    const opts = { interface: b.ifB, consume: true };
    const [noBpf, plain] = await withoutCapabilities(['bpf', 'sys_admin'], [['af_packet', opts], ['af_packet', { interface: b.ifB }]], b.nsB);
    const [noAdmin] = await withoutCapabilities(['net_admin', 'sys_admin'], [['af_packet', opts]], b.nsB);
    for (const x of [noBpf!, noAdmin!]) {
      expect(x.code, JSON.stringify(x)).toBe('MISSING_CAPABILITY');
      expect(x.message).toContain('CAP_BPF and CAP_NET_ADMIN');
      expect(x.message).toContain("option 'consume'");
      expect(x.message).toContain('setcap cap_bpf,cap_net_raw,cap_net_admin+ep');
    }
    // Without `consume` the same port opens: af_packet itself needs only CAP_NET_RAW.
    expect(plain!.code, JSON.stringify(plain)).toBe('opened');
  });

  it('spreads flows over several queues with PACKET_FANOUT: per-queue rx counters', async () => {
    const b = await bed({ queues: 2 });
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB, rxQueues: 2 });
    expect(e.info().ports[0]!.rss).toBe('hardware');
    e.echo(p);
    await e.start();
    const flows = 32;
    const r = await b.udpExchange({ port: 9000, payloads: payloads(4, 'f'), flows, timeoutMs: 5000 });
    expect(r.length).toBe(flows * 4);
    expect(new Set(r.map((x) => x.localPort)).size).toBe(flows);
    const s = await stopAndCheckPool(e);
    const q = s.ports.p!.queues.rx.map((x) => x.packets);
    expect(q.length).toBe(2);
    expect(q[0]!, `queue 0 got ${q[0]}, queue 1 got ${q[1]}`).toBeGreaterThan(0);
    expect(q[1]!, `queue 0 got ${q[0]}, queue 1 got ${q[1]}`).toBeGreaterThan(0);
    expect(q[0]! + q[1]!).toBeGreaterThanOrEqual(flows * 4);
    // The kernel's per-queue counters agree with the engine's (a frame or two of stray traffic may still sit
    // in a block not handed over when the engine stopped, or have come before start).
    const k = [s.ports.p!.xstats.rx_q0_kernel_packets!, s.ports.p!.xstats.rx_q1_kernel_packets!];
    for (const i of [0, 1]) {
      expect(k[i]!).toBeGreaterThanOrEqual(q[i]!);
      expect(k[i]! - q[i]!).toBeLessThanOrEqual(4);
    }
  });

  it('fails with a code and a fix: missing namespace, interface, interface down, MTU too large, bad options', async () => {
    const b = await bed();
    const e = await engines.create();
    await expectCode(() => e.addPort('a', { driver: 'af_packet', interface: b.ifB, netns: `${b.name}-nope` }), 'NETNS_NOT_FOUND', 'ip netns list');
    await expectCode(() => e.addPort('b', { driver: 'af_packet', interface: 'lrt-nope', netns: b.nsB }), 'INTERFACE_NOT_FOUND', 'ip link show', 'lrt-nope');
    await b.sh('b', ['ip', 'link', 'add', 'lrt-x', 'type', 'veth', 'peer', 'name', 'lrt-y']);
    await expectCode(() => e.addPort('c', { driver: 'af_packet', interface: 'lrt-x', netns: b.nsB }), 'INTERFACE_DOWN', 'ip link set lrt-x up');
    await b.sh('b', ['ip', 'link', 'set', 'lrt-x', 'mtu', '4000', 'up']);
    await expectCode(() => e.addPort('d', { driver: 'af_packet', interface: 'lrt-x', netns: b.nsB }), 'MTU_TOO_LARGE', 'ip link set dev lrt-x mtu', 'mempool.dataRoom');
    await expectCode(() => e.addPort('e', { driver: 'af_packet', interface: b.ifB, netns: b.nsB, blockSize: 5000 }), 'INVALID_OPTION', 'blockSize');
    await expectCode(() => e.addPort('f', { driver: 'af_packet', interface: b.ifB, netns: b.nsB, frameSize: 1000 }), 'INVALID_OPTION', 'frameSize');
    await expectCode(() => e.addPort('g', { driver: 'af_packet' } as never), 'INVALID_OPTION', 'interface');
    // A bigger data room and frame carry the bigger MTU.
    const big = await engines.create({ mempool: { dataRoom: 4096 } });
    big.addPort('d', { driver: 'af_packet', interface: 'lrt-x', netns: b.nsB, frameSize: 4224 });
    expect(big.info().ports[0]!.mtu).toBe(4000);
    // Failed opens leave nothing allocated.
    await stopAndCheckPool(e);
    await stopAndCheckPool(big);
  });

  it('reports MISSING_CAPABILITY with the capability and the fix when not privileged', async () => {
    const b = await bed();
    // Without CAP_NET_RAW (entering the namespace still works): the packet socket is refused.
    const [raw] = await withoutCapabilities(['net_raw'], [['af_packet', { interface: b.ifB, netns: b.nsB }]]);
    expect(raw!.code, JSON.stringify(raw)).toBe('MISSING_CAPABILITY');
    expect(raw!.message).toContain('CAP_NET_RAW');
    expect(raw!.message).toContain('setcap cap_net_raw,cap_net_admin+ep');
    // Without CAP_SYS_ADMIN: entering the namespace is refused.
    const [ns] = await withoutCapabilities(['sys_admin'], [['af_packet', { interface: b.ifB, netns: b.nsB }]]);
    expect(ns!.code, JSON.stringify(ns)).toBe('MISSING_CAPABILITY');
    expect(ns!.message).toContain('CAP_SYS_ADMIN');
  });

  it('counts malformed and oversize frames from the wire and loses no mbuf', async () => {
    const b = await bed();
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB });
    e.echo(p);
    // The injector: linerate itself on A's end, fed by null ports with broken frames.
    const inj = e.addPort('inj', { driver: 'af_packet', interface: b.ifA, netns: b.nsA, promiscuous: false });
    const good = udp4Frame({ dst: b.macB, src: b.macA, sport: 5000, dport: 7, payload: Buffer.from('fine') });
    const frames: Record<string, Uint8Array> = {};
    frames.ethOnly = good.slice(0, 14); // an IPv4 ethertype and nothing after it
    frames.ipTruncated = good.slice(0, 14 + 12); // half an IPv4 header
    const badTotal = good.slice();
    badTotal[16] = 0x05; // total length 1300 in a 46-byte frame
    badTotal[17] = 0x14;
    frames.badTotal = badTotal;
    const badIhl = good.slice();
    badIhl[14] = 0x4f; // header length 60 bytes, longer than what follows
    frames.badIhl = badIhl;
    const shortIhl = good.slice();
    shortIhl[14] = 0x42; // header length 8 bytes: less than the minimum
    frames.shortIhl = shortIhl;
    // IPv4 with options (header length 24: one 4-byte NOP/EOL option), checksum fixed up.
    const opt = new Uint8Array(good.length + 4);
    opt.set(good.subarray(0, 34));
    opt.set([1, 1, 1, 0], 34);
    opt.set(good.subarray(34), 38);
    opt[14] = 0x46;
    const tl = (opt[16]! << 8 | opt[17]!) + 4;
    opt[16] = tl >> 8;
    opt[17] = tl & 0xff;
    opt[24] = 0;
    opt[25] = 0;
    let sum = 0;
    for (let i = 14; i < 38; i += 2) sum += (opt[i]! << 8) | opt[i + 1]!;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    opt[24] = (~sum >> 8) & 0xff;
    opt[25] = ~sum & 0xff;
    frames.ipOptions = opt;
    const frag = good.slice();
    frag[20] = 0x20; // more fragments
    frames.fragment = frag;
    const badUdpLen = good.slice();
    badUdpLen[38] = 0xff; // UDP length 65535
    badUdpLen[39] = 0xff;
    frames.badUdpLen = badUdpLen;
    const v6short = new Uint8Array(14 + 20);
    v6short.set(good.subarray(0, 12));
    v6short[12] = 0x86;
    v6short[13] = 0xdd;
    v6short[14] = 0x60; // IPv6 with half a header
    frames.ipv6Short = v6short;
    const per = 50;
    for (const [name, f] of Object.entries(frames)) {
      const src = e.addPort(`null-${name}`, { driver: 'null', content: f, packetSize: Math.max(f.length, 14), count: per });
      e.forward(src, inj);
    }
    await e.start();
    const total = per * Object.keys(frames).length;
    const arrived = await waitFor(() => e.stats().ports.p!.rxPackets >= total, 5000);
    // Oversize: raise both MTUs after open and send a 3000-byte datagram (frame 3042 > 1952 the port carries).
    await b.sh('a', ['ip', 'link', 'set', b.ifA, 'mtu', '4000']);
    await b.sh('b', ['ip', 'link', 'set', b.ifB, 'mtu', '4000']);
    await b.udpExchange({ port: 7, payloads: [Buffer.alloc(3000, 1)], expect: 0, timeoutMs: 300 });
    // And a good frame still round-trips.
    const r = await b.udpExchange({ port: 7777, payloads: [Buffer.from('still alive')] });
    const s = await stopAndCheckPool(e);
    const ps = s.ports.p!;
    expect(arrived, `rx ${ps.rxPackets} of ${total}`).toBe(true);
    expect(ps.xstats.rx_oversize).toBeGreaterThanOrEqual(1);
    expect(s.ports.inj!.txPackets).toBe(total);
    expect(s.ports.inj!.xstats.tx_bad_length).toBe(0);
    expect(r.map((x) => x.data.toString())).toEqual(['still alive']);
  });

  it('gives frames back their 802.1Q tag when the kernel stripped it (VLAN offload), byte for byte', async () => {
    const b = await bed();
    const e = await engines.create();
    const inj = e.addPort('inj', { driver: 'af_packet', interface: b.ifA, netns: b.nsA, promiscuous: false });
    const file = join(tmpdir(), `lrt-${process.pid}-vlan.pcap`);
    const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB });
    const out = e.addPort('out', { driver: 'pcap', txFile: file });
    const plain = udp4Frame({ dst: b.macB, src: b.macA, sport: 4000, dport: 4001, payload: Buffer.from('tagged!') });
    const tagged = new Uint8Array(plain.length + 4);
    tagged.set(plain.subarray(0, 12));
    tagged.set([0x81, 0x00, 0x20, 0x2a], 12); // priority 1, VLAN 42
    tagged.set(plain.subarray(12), 16);
    const src = e.addPort('src', { driver: 'null', content: tagged, packetSize: tagged.length, count: 10 });
    e.forward(src, inj);
    e.forward(p, out);
    try {
      await e.start();
      expect(await waitFor(() => (e.stats().ports.p!.xstats.rx_vlan_restored ?? 0) >= 10, 5000)).toBe(true);
      await stopAndCheckPool(e);
      await e.close();
      // pcap: 24-byte file header, then 16-byte record headers (incl_len at offset 8).
      const f = readFileSync(file);
      const records: Buffer[] = [];
      for (let off = 24; off + 16 <= f.length; ) {
        const len = f.readUInt32LE(off + 8);
        records.push(f.subarray(off + 16, off + 16 + len));
        off += 16 + len;
      }
      const mine = records.filter((r) => r.length === tagged.length && r[12] === 0x81);
      expect(mine.length).toBe(10);
      for (const r of mine) expect(Buffer.compare(r, Buffer.from(tagged))).toBe(0);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('survives the interface going down, coming back and being removed: counted, link down, no crash', async () => {
    const b = await bed();
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB });
    e.echo(p);
    await e.start();
    expect((await b.udpExchange({ port: 7001, payloads: [Buffer.from('before')] })).length).toBe(1);
    await b.sh('b', ['ip', 'link', 'set', b.ifB, 'down']);
    expect(await waitFor(() => !e.stats().ports.p!.linkUp)).toBe(true);
    await b.sh('b', ['ip', 'link', 'set', b.ifB, 'up']);
    expect(await waitFor(() => e.stats().ports.p!.linkUp)).toBe(true);
    expect((await b.udpExchange({ port: 7001, payloads: [Buffer.from('after')] })).map((x) => x.data.toString())).toEqual(['after']);
    // Removed while running (deleting B's end removes the pair).
    await b.sh('b', ['ip', 'link', 'del', b.ifB]);
    expect(await waitFor(() => !e.stats().ports.p!.linkUp)).toBe(true);
    // Transmitting on it now fails in the kernel: counted, not thrown.
    const frame = udp4Frame({ dst: b.macA, src: b.macB, sport: 1, dport: 2, payload: Buffer.from('gone') });
    for (let i = 0; i < 3; i++) e.send(p, [frame]);
    const s = e.stats().ports.p!;
    expect(s.xstats.tx_errors! + s.drops.txFull).toBeGreaterThan(0);
    expect(s.xstats.rx_errors).toBeGreaterThan(0);
    await stopAndCheckPool(e);
  });

  it('leaves no socket, promiscuous flag, tcx program or veth behind after SIGKILL of the process holding the port', async () => {
    const b = await TestBed.create({ isolateB: true });
    let child: ReturnType<typeof spawn> | undefined;
    try {
      await b.setNeighbor('a', b.ipB, b.macB);
      const script = `
        const a = require(${JSON.stringify(addonPath())});
        const e = new a.NativeEngine([${lastCpu()}], { mbufs: 1024, hugepages: 'off', idle: 'adaptive' });
        const id = e.addPort('p', 'af_packet', { interface: ${JSON.stringify(b.ifB)}, netns: ${JSON.stringify(b.nsB)}, consume: true }, 2, undefined, false);
        e.echo(id);
        e.start();
        console.log('ready');
        setInterval(() => {}, 1000);`;
      const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let err = '';
      c.stderr.on('data', (d) => (err += d));
      const ready = await new Promise<boolean>((resolve) => {
        c.stdout.on('data', (d) => String(d).includes('ready') && resolve(true));
        c.on('exit', () => resolve(false));
      });
      expect(ready, err).toBe(true);
      expect((await b.packetSockets('b')).length).toBeGreaterThanOrEqual(3); // two fanout rx sockets, tx, control
      expect(await b.sh('b', ['ip', '-d', 'link', 'show', b.ifB])).toMatch(/promiscuity [1-9]/);
      // `consume`: B's stack takes in none of the frames while the process runs ...
      const k0 = await b.ipInReceives('b');
      const echoed = await b.udpExchange({ port: 7100, payloads: payloads(5, 'held') });
      expect(echoed.length).toBe(5);
      expect((await b.ipInReceives('b')) - k0).toBe(0);
      const exited = new Promise((r) => c.on('exit', r));
      c.kill('SIGKILL');
      await exited;
      expect(await waitFor(async () => (await b.packetSockets('b')).length === 0, 3000)).toBe(true);
      expect(await b.sh('b', ['ip', '-d', 'link', 'show', b.ifB])).toMatch(/promiscuity 0/);
      // ... and all of them once it is gone: the BPF link died with it, no tcx program is left on the interface.
      const k1 = await b.ipInReceives('b');
      await b.udpExchange({ port: 7101, payloads: payloads(5, 'freed'), expect: 0, timeoutMs: 300 });
      expect(await waitFor(async () => (await b.ipInReceives('b')) - k1 >= 5, 3000)).toBe(true);
    } finally {
      // A failed expectation before the SIGKILL must not leave the child spinning.
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await b.destroy();
    }
    expect(namespacesWithPrefix(b.name)).toEqual([]);
    expect(namespacesWithPrefix(`lrt-${process.pid}-`).filter((n) => n.startsWith(b.name))).toEqual([]);
  });
});
