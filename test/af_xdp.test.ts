// af_xdp end to end, over a veth pair between two network namespaces
// (test/helpers/netns.ts): kernel UDP sockets in A, a linerate af_xdp port on
// B's end of the veth. Runs as root; under CI=true it always runs (a missing
// capability fails loudly), elsewhere it is skipped with the reason printed.
//
// veth quirk: a kernel socket's UDP checksum crosses a veth unfinished
// (CHECKSUM_PARTIAL: offloaded to a NIC that does not exist). An XDP socket
// sees the frame as it is, so the echo would return a bad checksum. A real
// NIC always finishes it; here tx checksum offload is turned off on A's end.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type Port } from '../src/index.js';
import { EngineTracker, expectError, lastCpu, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { addonLocation, childScript } from './helpers/child.js';
import { cleanupLeftovers, namespacesWithPrefix, netnsGate, run, TestBed } from './helpers/netns.js';
import { tempDir, udp4Frame, udp6Frame, writePcap } from './helpers/pcap.js';

const gate = netnsGate();

async function xdpAttached(bed: TestBed, side: 'a' | 'b' = 'b'): Promise<boolean> {
  const out = await bed.sh(side, ['ip', '-d', 'link', 'show', 'dev', bed.iface(side)]);
  return out.includes('prog/xdp');
}

/** XDP sockets open in a side's namespace: the XDP line of /proc/net/protocols (per namespace; ss --xdp needs XDP_SOCKETS_DIAG). */
async function xdpSockets(bed: TestBed, side: 'a' | 'b' = 'b'): Promise<number> {
  const out = await bed.sh(side, ['cat', '/proc/net/protocols']);
  const line = out.split('\n').find((l) => /^XDP\s/.test(l));
  return line ? Number(line.trim().split(/\s+/)[2]) : 0;
}

const payloads = (n: number, tag: string) => Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i} ${'x'.repeat((i * 37) % 900)}`));

/** Sorted hex strings, to compare what came back with what was sent regardless of order across flows. */
const sortedHex = (bufs: Uint8Array[]) => bufs.map((b) => Buffer.from(b).toString('hex')).sort();

function xstat(port: Port, key: string): number | undefined {
  return port.stats().xstats[key];
}

// Each udpExchange starts a node process inside a namespace: on a loaded 2-core machine a test takes a while.
const slow = { timeout: 90_000 };

describe.skipIf(!gate.run)('af_xdp driver', () => {
  let bed: TestBed;
  const engines = new EngineTracker();

  beforeAll(async () => {
    bed = await TestBed.create({ queues: 2, addressB: false, tag: 'xdp' });
    await bed.disableTxChecksum('a');
    await bed.setNeighbor('a', bed.ipB, bed.macB);
    await bed.setNeighbor('a', bed.ip6B, bed.macB);
  });
  afterEach(async () => {
    await engines.closeAll();
  });
  afterAll(async () => {
    await bed?.destroy();
    await cleanupLeftovers();
  });

  async function echoPort(extra: Record<string, unknown> = {}, lcores?: number[]) {
    const e = await engines.create(lcores ? { lcores } : {});
    const port = e.addPort('x', { driver: 'af_xdp', interface: bed.ifB, netns: bed.nsB, rxQueues: 2, ...extra });
    e.echo(port);
    return { e, port };
  }

  it('echoes UDP from a kernel socket back to it, byte for byte, and leaves nothing attached after stop', slow, async () => {
    const { e, port } = await echoPort();
    const info = port.info();
    expect(info.driver).toBe('af_xdp');
    expect(info.details.mode).toBe('copy'); // veth has no zero-copy AF_XDP
    expect(info.details.interface).toBe(bed.ifB);
    expect(info.mac).toBe(bed.macB);
    await e.start();
    expect(await xdpAttached(bed)).toBe(true);
    expect(await xdpSockets(bed)).toBe(2);
    expect(xstat(port, 'xdp_link')).toBe(1);

    const sent = payloads(25, 'v4');
    const replies = await bed.udpExchange({ port: 7000, payloads: sent, flows: 2 });
    expect(replies.length).toBe(50);
    for (const flow of [0, 1]) {
      expect(sortedHex(replies.filter((r) => r.flow === flow).map((r) => r.data))).toEqual(sortedHex(sent));
    }
    for (const r of replies) {
      expect(r.from).toBe(bed.ipB);
      expect(r.fromPort).toBe(7000);
    }
    // Adaptive idle: both queues' XDP sockets can wake the lcore, so it blocks on them (and woke for these frames).
    const l = e.stats().lcores[0]!;
    expect(l.waitsOnFds).toBe(true);
    expect(l.wakeups).toBeGreaterThan(0);
    // The kernel in A sends a few frames of its own (IPv6 neighbour discovery, MLD): at least ours; all echoed but
    // those to a multicast MAC (dropped and counted, drops.groupDst).
    const s = port.stats();
    expect(s.rxPackets).toBeGreaterThanOrEqual(50);
    expect(s.rxPackets).toBeLessThan(60);
    expect(s.txPackets + s.drops.groupDst).toBe(s.rxPackets);
    expect(s.xstats.rx_bad_desc).toBe(0);
    expect(s.xstats.tx_invalid).toBe(0);

    await stopAndCheckPool(e);
    expect(port.stats().heldMbufs).toBe(0);
    expect(await xdpAttached(bed)).toBe(false);
    expect(await xdpSockets(bed)).toBe(0);

    // Start again: sockets and program come back, and go again.
    await e.start();
    expect((await bed.udpExchange({ port: 7000, payloads: sent.slice(0, 5) })).length).toBe(5);
    await stopAndCheckPool(e);
    expect(await xdpAttached(bed)).toBe(false);
  });

  it('echoes UDP over IPv6', slow, async () => {
    const { e } = await echoPort();
    await e.start();
    const sent = payloads(10, 'v6');
    const replies = await bed.udpExchange({ port: 7001, payloads: sent, flows: 3, family: 6 });
    expect(replies.length).toBe(30);
    for (const flow of [0, 1, 2]) expect(sortedHex(replies.filter((r) => r.flow === flow).map((r) => r.data))).toEqual(sortedHex(sent));
    for (const r of replies) expect(r.from).toBe(bed.ip6B);
    await stopAndCheckPool(e);
  });

  it('spreads flows over the rx queues, one XDP socket each (one lcore, then two)', slow, async () => {
    const cpus = Engine.hostInfo().allowedCpus;
    for (const lcores of [[lastCpu()], cpus.length >= 2 ? cpus.slice(-2) : [lastCpu()]]) {
      const { e, port } = await echoPort({}, lcores);
      await e.start();
      const replies = await bed.udpExchange({ port: 7002, payloads: payloads(10, 'rss'), flows: 16 });
      expect(replies.length).toBe(160);
      const rx = port.stats().queues.rx.map((q) => q.packets);
      expect(rx.length).toBe(2);
      // Ours, plus the odd frame A's kernel sends by itself (IPv6 neighbour discovery, MLD).
      expect(rx[0]! + rx[1]!).toBeGreaterThanOrEqual(160);
      expect(rx[0]! + rx[1]!).toBeLessThan(170);
      // 16 flows hashed over 2 queues: each queue gets some (all on one: p = 2^-15).
      expect(rx[0]).toBeGreaterThan(0);
      expect(rx[1]).toBeGreaterThan(0);
      // Every reply came from the queue's own lcore through a socket: nothing lost between them (multicast from
      // A's kernel is not echoed: drops.groupDst).
      expect(port.stats().txPackets + port.stats().drops.groupDst).toBe(rx[0]! + rx[1]!);
      await stopAndCheckPool(e);
      await engines.closeAll();
    }
  });

  it('early-drop rules drop what they match before user space, and count it exactly', slow, async () => {
    const { e, port } = await echoPort({
      dropRules: [{ dstPort: 7301 }, { srcPrefix: `${bed.ip6A}/128`, protocol: 'udp' }, { protocol: 'tcp', dstPort: 80 }],
    });
    await e.start();
    // UDP to 7301: dropped by rule 0.
    expect(await bed.udpExchange({ port: 7301, payloads: payloads(25, 'drop'), expect: 0, timeoutMs: 400 })).toEqual([]);
    // UDP to 7302: no rule matches, echoed.
    expect((await bed.udpExchange({ port: 7302, payloads: payloads(25, 'pass') })).length).toBe(25);
    // IPv6 UDP from A's address: rule 1.
    expect(await bed.udpExchange({ port: 7302, payloads: payloads(10, 'v6'), family: 6, expect: 0, timeoutMs: 400 })).toEqual([]);
    // TCP SYNs to port 80: rule 2. Each connect sends one SYN before its 300 ms timeout (the first retransmit is at 1 s).
    const tcp = `const net=require('node:net');let n=0;for(let i=0;i<3;i++){const s=net.connect({host:'${bed.ipB}',port:80,localAddress:'${bed.ipA}'});s.on('error',()=>{});setTimeout(()=>{s.destroy();if(++n===3)process.exit(0)},300);}`;
    expect((await bed.exec('a', [process.execPath, '-e', tcp])).code).toBe(0);

    expect(await waitFor(() => xstat(port, 'drop_rule_2') === 3, 2000)).toBe(true);
    const x = port.stats().xstats;
    expect(x.drop_rule_0).toBe(25);
    expect(x.drop_rule_1).toBe(10);
    expect(x.drop_rule_2).toBe(3);
    expect(x.early_dropped).toBe(38);
    expect(x.drop_rules).toBe(3);
    // Nothing that was dropped reached the port (25 passed, plus at most a few frames of A's own).
    expect(port.stats().rxPackets).toBeGreaterThanOrEqual(25);
    expect(port.stats().rxPackets).toBeLessThan(35);
    await stopAndCheckPool(e);
  });

  it('drop rules change while running, with no reload', slow, async () => {
    const { e, port } = await echoPort();
    await e.start();
    expect((await bed.udpExchange({ port: 7400, payloads: payloads(10, 'a') })).length).toBe(10);
    const attachedProg = await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.ifB]);
    const progId = /prog\/xdp id (\d+)/.exec(attachedProg)?.[1];
    expect(progId).toBeDefined();

    port.setDropRules([{ srcPrefix: '198.18.0.0/24', dstPort: 7400 }]);
    expect(await bed.udpExchange({ port: 7400, payloads: payloads(30, 'b'), expect: 0, timeoutMs: 400 })).toEqual([]);
    expect((await bed.udpExchange({ port: 7401, payloads: payloads(10, 'c') })).length).toBe(10);
    expect(xstat(port, 'drop_rule_0')).toBe(30);

    // A new set starts its counters at zero.
    port.setDropRules([{ protocol: 'udp', dstPort: 7401 }, { dstPort: 7400 }]);
    expect(xstat(port, 'drop_rule_0')).toBe(0);
    expect(await bed.udpExchange({ port: 7400, payloads: payloads(5, 'd'), expect: 0, timeoutMs: 400 })).toEqual([]);
    expect(await bed.udpExchange({ port: 7401, payloads: payloads(7, 'e'), expect: 0, timeoutMs: 400 })).toEqual([]);
    expect(xstat(port, 'drop_rule_0')).toBe(7);
    expect(xstat(port, 'drop_rule_1')).toBe(5);

    port.setDropRules([]);
    expect((await bed.udpExchange({ port: 7400, payloads: payloads(5, 'f') })).length).toBe(5);
    expect(xstat(port, 'drop_rule_0')).toBeUndefined();
    expect(xstat(port, 'early_dropped')).toBe(0);

    // Same program all along: rules are map updates.
    const after = await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.ifB]);
    expect(/prog\/xdp id (\d+)/.exec(after)?.[1]).toBe(progId);

    await expectError(() => port.setDropRules([{}]), 'INVALID_OPTION', 'matches every packet');
    await expectError(() => port.setDropRules([{ srcPrefix: 'bogus' }]), 'INVALID_OPTION', 'srcPrefix');
    await expectError(() => port.setDropRules([{ protocol: 'sctp' as 'udp' }]), 'INVALID_OPTION', 'protocol');
    await expectError(() => port.setDropRules(Array.from({ length: 33 }, (_, i) => ({ dstPort: i }))), 'INVALID_OPTION', 'at most 32');
    await expectError(() => port.setDropRules([{ srcPrefix: '198.18.0.0/33' }]), 'INVALID_OPTION', 'srcPrefix');
    await stopAndCheckPool(e);
  });

  it('malformed frames from the wire are counted or passed, never a crash or a lost mbuf', slow, async () => {
    // Generator: linerate itself on A's end (pcap file -> af_xdp tx), so the frames are exactly these bytes.
    const t = tempDir('linerate-afxdp-');
    try {
      const base = { srcMac: bed.macA, dstMac: bed.macB, src: bed.ipA, dst: bed.ipB, sport: 5555 };
      const v4 = udp4Frame({ ...base, dport: 7500 });
      const ip = 14;
      const withOptions = udp4Frame({ ...base, dport: 7300, ipOptions: new Uint8Array([1, 1, 1, 0, 1, 1, 1, 0]) });
      const firstFragment = udp4Frame({ ...base, dport: 7300, moreFragments: true, ipId: 9 });
      const laterFragment = udp4Frame({ ...base, dport: 7300, fragOffset: 100, ipId: 9 });
      const truncatedIp = v4.slice(0, ip + 10);
      const ihl15 = Uint8Array.from(v4.slice(0, ip + 20));
      ihl15[ip] = 0x4f;
      const ihl3 = Uint8Array.from(udp4Frame({ ...base, dport: 7300 }));
      ihl3[ip] = 0x43;
      const badTotalLength = Uint8Array.from(udp4Frame({ ...base, dport: 7300 }));
      badTotalLength[ip + 2] = 0x03; // 1000 bytes claimed
      badTotalLength[ip + 3] = 0xe8;
      const v6short = udp6Frame({ ...base, src: bed.ip6A, dst: bed.ip6B, dport: 7300 }).slice(0, 14 + 30);
      const ethOnly = v4.slice(0, 14);
      const runt = v4.slice(0, 13); // shorter than an Ethernet header: refused by our own tx
      const vlan = udp4Frame({ ...base, dport: 7300, vlan: 5 });
      const dropped = [withOptions, firstFragment, badTotalLength];
      const passed = [v4, laterFragment, truncatedIp, ihl15, ihl3, v6short, ethOnly, vlan];
      const k = 5;
      const frames: Uint8Array[] = [];
      for (let i = 0; i < k; i++) frames.push(...dropped, ...passed, runt);
      writeFileSync(t.path('in.pcap'), writePcap(frames));

      const { e: eb, port: pb } = await echoPort({ dropRules: [{ dstPort: 7300 }] });
      await eb.start();
      const ea = await engines.create();
      const src = ea.addPort('src', { driver: 'pcap', rxFile: t.path('in.pcap') });
      const pa = ea.addPort('a', { driver: 'af_xdp', interface: bed.ifA, netns: bed.nsA });
      ea.forward(src, pa);
      await ea.start();
      expect(await ea.whenSourcesDone(5000)).toBe(true);
      const expectRx = k * passed.length;
      const settled = await waitFor(() => pb.stats().rxPackets >= expectRx && xstat(pb, 'drop_rule_0') === k * dropped.length, 3000);
      const xb = pb.stats();
      expect(settled, JSON.stringify({ rx: xb.rxPackets, x: xb.xstats })).toBe(true);
      expect(xstat(pa, 'tx_invalid')).toBe(k);
      expect(xb.xstats.rx_bad_desc).toBe(0);
      await stopAndCheckPool(ea);
      await stopAndCheckPool(eb);
      expect(await xdpAttached(bed, 'a')).toBe(false);
    } finally {
      t.cleanup();
    }
  });

  it('attaches through netlink (kernels before 5.9) or in generic mode when asked, and detaches on stop', slow, async () => {
    const cases = [
      { env: 'LINERATE_AF_XDP_ATTACH', value: 'netlink', link: 0, native: 1, shows: /\bxdp\b/ },
      { env: 'LINERATE_AF_XDP_XDP_MODE', value: 'generic', link: 1, native: 0, shows: /\bxdpgeneric\b/ },
    ];
    for (const c of cases) {
      process.env[c.env] = c.value;
      try {
        const { e, port } = await echoPort();
        await e.start();
        expect(xstat(port, 'xdp_link')).toBe(c.link);
        expect(xstat(port, 'xdp_native')).toBe(c.native);
        expect(await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.ifB])).toMatch(c.shows);
        expect((await bed.udpExchange({ port: 7550, payloads: payloads(10, c.value), flows: 2 })).length).toBe(20);
        await stopAndCheckPool(e);
        expect(await xdpAttached(bed)).toBe(false);
        await engines.closeAll();
      } finally {
        delete process.env[c.env];
      }
    }
  });

  it('errors say what is wrong and what to run', slow, async () => {
    const e = await engines.create();
    const opts = { driver: 'af_xdp' as const, interface: bed.ifB, netns: bed.nsB };
    await expectError(() => e.addPort('p1', { ...opts, interface: 'nope0' }), 'INTERFACE_NOT_FOUND', 'nope0', 'ip link show', "'netns'");
    // The interface exists, in a namespace the port did not name: the error names that namespace and the option.
    const { netns: _netns, ...noNetns } = opts;
    // (Other test beds running at the same time may have an interface of that name too: then they are all listed.)
    const other = await expectError(() => e.addPort('p1b', noNetns), 'INTERFACE_NOT_FOUND', bed.ifB, `'${bed.nsB}'`, 'netns');
    expect(other.message).not.toContain(`'${bed.nsA}'`);
    // More queues than the device has: the device's count, named with the commands that show and change it.
    const q = await expectError(() => e.addPort('p1c', { ...opts, rxQueues: 4 }), 'INVALID_OPTION', `device '${bed.ifB}'`, `ethtool -l ${bed.ifB}`, `ethtool -L ${bed.ifB}`, `ip netns exec ${bed.nsB}`);
    expect(q.message).toContain(`${bed.queues} rx queue`);
    expect(q.message).not.toContain("driver's");
    await expectError(() => e.addPort('p2', { ...opts, netns: `lrt-${process.pid}-missing` }), 'NETNS_NOT_FOUND', 'ip netns');
    await expectError(() => e.addPort('p3', { ...opts, mode: 'zerocopy' }), 'SOCKET_SETUP', "'auto' or 'copy'");
    await expectError(() => e.addPort('p4', { ...opts, ringSize: 1000 }), 'INVALID_OPTION', 'power of two');
    await expectError(() => e.addPort('p5', { ...opts, bogus: 1 } as never), 'UNKNOWN_OPTION', 'bogus');
    await expectError(() => e.addPort('p6', { ...opts, dropRules: [{ dstPort: 70000 }] }), 'INVALID_OPTION', 'dstPort');
    await bed.sh('b', ['ip', 'link', 'set', 'dev', bed.ifB, 'down']);
    try {
      await expectError(() => e.addPort('p7', opts), 'INTERFACE_DOWN', `ip link set ${bed.ifB} up`);
    } finally {
      await bed.sh('b', ['ip', 'link', 'set', 'dev', bed.ifB, 'up']);
    }
    await bed.sh('b', ['ip', 'link', 'set', 'dev', bed.ifB, 'mtu', '3000']);
    try {
      await expectError(() => e.addPort('p8', opts), 'MTU_TOO_LARGE', 'mtu 1500', 'dataRoom');
    } finally {
      await bed.sh('b', ['ip', 'link', 'set', 'dev', bed.ifB, 'mtu', '1500']);
    }

    // Two engines on one interface: the second one's program cannot attach.
    const e1 = await engines.create();
    const e2 = await engines.create();
    e1.echo(e1.addPort('one', { ...opts, rxQueues: 2 }));
    e2.echo(e2.addPort('two', { ...opts, rxQueues: 2 }));
    await e1.start();
    await expectError(() => e2.start(), 'XDP_ATTACH_REFUSED', 'xdp off', 'already has an XDP program');
    const s2 = e2.stats();
    expect(s2.mempool.free.total).toBe(s2.mempool.size);
    expect((await bed.udpExchange({ port: 7600, payloads: payloads(4, 'still') })).length).toBe(4);
    await stopAndCheckPool(e1);
    expect(await xdpAttached(bed)).toBe(false);
  });

  it('a program the verifier refuses: XDP_ATTACH_REFUSED with the verifier log', slow, async () => {
    // The generator emits one unchecked packet load when this is set.
    process.env.LINERATE_AF_XDP_TEST_VERIFIER = 'reject';
    try {
      const e = await engines.create();
      await expectError(() => e.addPort('v', { driver: 'af_xdp', interface: bed.ifB, netns: bed.nsB }), 'XDP_ATTACH_REFUSED', 'verifier log', 'invalid access to packet');
      expect(await xdpAttached(bed)).toBe(false);
    } finally {
      delete process.env.LINERATE_AF_XDP_TEST_VERIFIER;
    }
  });

  it('without capabilities: MISSING_CAPABILITY with the fix', slow, async () => {
    const setpriv = await run('setpriv', ['--version']);
    if (setpriv.code !== 0) {
      console.warn('[af_xdp] setpriv (util-linux) missing: MISSING_CAPABILITY not exercised');
      return;
    }
    const child = childScript(`
      try {
        const e = new addon.NativeEngine([${lastCpu()}], { mbufs: 1024, hugepages: 'off' });
        e.addPort('k', 'af_xdp', { interface: '${bed.ifB}' }, 1, undefined, false);
        console.log('no error');
      } catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })); }`);
    const r = await run('setpriv', ['--bounding-set=-all', '--inh-caps=-all', process.execPath, '-e', child, addonLocation()]);
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { code?: string; message?: string };
    expect(out.code, r.stdout + r.stderr).toBe('MISSING_CAPABILITY');
    expect(out.message).toContain('CAP_BPF');
    expect(out.message).toContain('setcap');
  });
});

describe.skipIf(!gate.run)('af_xdp when the interface or the process goes away', () => {
  afterAll(async () => {
    await cleanupLeftovers();
  });

  it('survives its interface being deleted while running, and gives every mbuf back', slow, async () => {
    const bed = await TestBed.create({ queues: 1, addressB: false, tag: 'gone' });
    const engines = new EngineTracker();
    try {
      await bed.disableTxChecksum('a');
      await bed.setNeighbor('a', bed.ipB, bed.macB);
      const e = await engines.create();
      const port = e.addPort('g', { driver: 'af_xdp', interface: bed.ifB, netns: bed.nsB });
      e.echo(port);
      await e.start();
      expect((await bed.udpExchange({ port: 7700, payloads: payloads(5, 'before') })).length).toBe(5);
      expect(port.stats().linkUp).toBe(true);
      await bed.sh('a', ['ip', 'link', 'del', 'dev', bed.ifA]); // takes the peer in B with it
      expect(await waitFor(() => !port.stats().linkUp, 3000)).toBe(true);
      await new Promise((r) => setTimeout(r, 100)); // the lcore keeps polling sockets whose device is gone
      expect(port.stats().xstats.xdp_attached).toBe(1);
      await stopAndCheckPool(e);
      expect(await xdpSockets(bed)).toBe(0);
    } finally {
      await engines.closeAll();
      await bed.destroy();
    }
  });

  it('leaves no XDP program, no XDP socket and no namespace behind after SIGKILL', slow, async () => {
    const bed = await TestBed.create({ queues: 2, addressB: false, tag: 'kill' });
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const script = childScript(`
        const e = new addon.NativeEngine([${lastCpu()}], { mbufs: 2048, hugepages: 'off', idle: 'adaptive' });
        const id = e.addPort('k', 'af_xdp', { interface: '${bed.ifB}', netns: '${bed.nsB}', dropRules: 'dport=9' }, 2, undefined, false);
        e.echo(id);
        e.start();
        console.log('ready');
        setInterval(() => {}, 1000);`);
      child = spawn(process.execPath, ['-e', script, addonLocation()], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout!.on('data', (d) => (out += String(d)));
      child.stderr!.on('data', (d) => (err += String(d)));
      expect(await waitFor(() => out.includes('ready') || child!.exitCode !== null, 10_000), err).toBe(true);
      expect(out, err).toContain('ready');
      expect(await xdpAttached(bed)).toBe(true);
      expect(await xdpSockets(bed)).toBe(2);

      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      // The BPF link went with the process's last fd: the program is detached.
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        gone = !(await xdpAttached(bed)) && (await xdpSockets(bed)) === 0;
        if (!gone) await new Promise((r) => setTimeout(r, 20));
      }
      expect(gone).toBe(true);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await bed.destroy();
    }
    expect(namespacesWithPrefix(bed.name)).toEqual([]);
  });
});
