// af_xdp sharing its interface with the kernel (issue 10, owner 'kernel'): the
// kernel keeps B's addresses (198.18.0.2, fd00:198:18::2) on the veth end a
// linerate af_xdp port is attached to; `udpSteer` hands linerate only the UDP
// datagrams to port 7777 of those addresses, and the XDP program passes every
// other frame to the kernel: ARP, neighbour discovery, ping, TCP, UDP to other
// ports, fragments. Runs as root (CI always; elsewhere skipped with the reason).
//
// A's tx checksum offload is off for the same reason as in af_xdp.test.ts: the
// echo reflects A's datagrams as they crossed the veth.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Port } from '../src/index.js';
import { EngineTracker, expectError, lastCpu, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { addonLocation, childScript } from './helpers/child.js';
import { cleanupLeftovers, havePing, namespacesWithPrefix, netnsGate, TestBed } from './helpers/netns.js';
import { tempDir, udp4Frame, udp6Frame, writePcap } from './helpers/pcap.js';
import { serverInB, TCP_ECHO, UDP_KERNEL, tcpExchange } from './helpers/kernel-services.js';

const gate = netnsGate();
const slow = { timeout: 120_000 };

async function xdpAttached(bed: TestBed): Promise<boolean> {
  return (await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.ifB])).includes('prog/xdp');
}

const payloads = (n: number, tag: string) => Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i} ${'y'.repeat((i * 53) % 700)}`));
const sortedHex = (bufs: Uint8Array[]) => bufs.map((b) => Buffer.from(b).toString('hex')).sort();
const xstat = (port: Port, key: string) => port.stats().xstats[key];


describe.skipIf(!gate.run)('af_xdp sharing the interface with the kernel (udpSteer)', () => {
  let bed: TestBed;
  const engines = new EngineTracker();

  beforeAll(async () => {
    // The kernel owns B's addresses: no static neighbours, A resolves B with ARP/ND answered by B's kernel.
    bed = await TestBed.create({ queues: 2, tag: 'share' });
    await bed.disableTxChecksum('a');
  });
  afterEach(async () => {
    await engines.closeAll();
  });
  afterAll(async () => {
    await bed?.destroy();
    await cleanupLeftovers();
  });

  async function sharedPort(extra: Record<string, unknown> = {}) {
    const e = await engines.create();
    const port = e.addPort('x', {
      driver: 'af_xdp',
      interface: bed.ifB,
      netns: bed.nsB,
      rxQueues: 2,
      udpSteer: [`${bed.ipB}:7777`, `[${bed.ip6B}]:7777`],
      ...extra,
    });
    e.echo(port);
    return { e, port };
  }

  it('linerate answers UDP to its port in both families; the kernel answers ping, TCP and its own UDP port on the same interface', slow, async () => {
    const tcp = await serverInB(bed, TCP_ECHO);
    const udp = await serverInB(bed, UDP_KERNEL);
    const { e, port } = await sharedPort();
    await e.start();
    expect(await xdpAttached(bed)).toBe(true);
    expect(xstat(port, 'steer_rules')).toBe(2);

    // (a) UDP to 7777: echoed by linerate, byte for byte, in both families (the echo keeps B's address as the source).
    const sent4 = payloads(20, 'v4');
    const r4 = await bed.udpExchange({ port: 7777, payloads: sent4, flows: 2 });
    expect(r4.length).toBe(40);
    for (const flow of [0, 1]) expect(sortedHex(r4.filter((r) => r.flow === flow).map((r) => r.data))).toEqual(sortedHex(sent4));
    for (const r of r4) expect([r.from, r.fromPort]).toEqual([bed.ipB, 7777]);
    const sent6 = payloads(15, 'v6');
    const r6 = await bed.udpExchange({ port: 7777, payloads: sent6, family: 6 });
    expect(sortedHex(r6.map((r) => r.data))).toEqual(sortedHex(sent6));
    for (const r of r6) expect(r.from).toBe(bed.ip6B);
    // Only those datagrams reached linerate: A's ARP requests and neighbour solicitations went to B's kernel.
    expect(port.stats().rxPackets).toBe(55);
    expect(xstat(port, 'steer_redirected')).toBe(55);
    expect(xstat(port, 'steer_passed')).toBeGreaterThan(0);

    // (b) ping, both families: the kernel's.
    const passedBefore = xstat(port, 'steer_passed')!;
    if (havePing()) {
      const p4 = await bed.ping('a', bed.ipB, 3);
      expect(p4.received, p4.output).toBe(3);
      const p6 = await bed.ping('a', bed.ip6B, 3);
      expect(p6.received, p6.output).toBe(3);
      expect(xstat(port, 'steer_passed')!).toBeGreaterThanOrEqual(passedBefore + 6);
    } else {
      console.warn('[af_xdp share] no ping or busybox: the ping check is skipped');
    }

    // (c) SSH-like TCP on the same interface while linerate serves UDP 7777: both at once.
    const [t4, t6, u] = await Promise.all([
      tcpExchange(bed, 4, 'hello over tcp4 '.repeat(200)),
      tcpExchange(bed, 6, 'hello over tcp6 '.repeat(200)),
      bed.udpExchange({ port: 7777, payloads: payloads(10, 'during-tcp') }),
    ]);
    expect(t4).toBe('hello over tcp4 '.repeat(200));
    expect(t6).toBe('hello over tcp6 '.repeat(200));
    expect(u.length).toBe(10);

    // (d) UDP to another port: the kernel's socket answers, linerate never sees it.
    const rxBefore = port.stats().rxPackets;
    const k4 = await bed.udpExchange({ port: 7778, payloads: payloads(5, 'to-kernel') });
    const k6 = await bed.udpExchange({ port: 7778, payloads: payloads(5, 'to-kernel6'), family: 6 });
    expect(k4.length).toBe(5);
    expect(k6.length).toBe(5);
    for (const r of [...k4, ...k6]) expect(r.data.subarray(0, 7).toString()).toBe('kernel:');
    // Fragments are the kernel's too (linerate does not reassemble): a 3000-byte datagram to 7777 crosses as 3 fragments.
    const big = await bed.udpExchange({ port: 7777, payloads: [Buffer.alloc(3000, 7)], expect: 0, timeoutMs: 300 });
    expect(big).toEqual([]);
    expect(port.stats().rxPackets).toBe(rxBefore);

    await stopAndCheckPool(e);
    expect(await xdpAttached(bed)).toBe(false);
    // Stopped: the kernel has the whole interface again.
    expect(await tcpExchange(bed, 4, 'after')).toBe('after');
    tcp.kill('SIGKILL');
    udp.kill('SIGKILL');
  });

  it('early-drop rules still run first; an empty udpSteer gives linerate everything, as before', slow, async () => {
    const { e, port } = await sharedPort({ dropRules: [{ dstPort: 7779 }] });
    await e.start();
    expect(await bed.udpExchange({ port: 7779, payloads: payloads(6, 'drop'), expect: 0, timeoutMs: 300 })).toEqual([]);
    expect(xstat(port, 'drop_rule_0')).toBe(6);
    expect((await bed.udpExchange({ port: 7777, payloads: payloads(4, 'kept') })).length).toBe(4);
    expect(port.stats().rxPackets).toBe(4);

    await stopAndCheckPool(e);
    await engines.closeAll();

    // udpSteer: [] is the default: everything to linerate, nothing passed, nothing counted as steered.
    const { e: e2, port: p2 } = await sharedPort({ udpSteer: [] });
    await e2.start();
    expect(xstat(p2, 'steer_rules')).toBe(0);
    expect((await bed.udpExchange({ port: 7790, payloads: payloads(3, 'all') })).length).toBe(3);
    expect(p2.stats().rxPackets).toBeGreaterThanOrEqual(3);
    expect(xstat(p2, 'steer_passed')).toBe(0);
    expect(xstat(p2, 'steer_redirected')).toBe(0);
    await stopAndCheckPool(e2);
  });

  it('udpSteerVlan: only frames tagged with that VLAN are steered, both families', slow, async () => {
    // The kernel here has no 8021q module, so A cannot tag frames itself: linerate sends exact frames from A
    // (pcap -> af_xdp on A's end, as in af_xdp.test.ts) and B's counters say where each went.
    const t = tempDir('linerate-share-vlan-');
    try {
      const base = { srcMac: bed.macA, dstMac: bed.macB, src: bed.ipA, dst: bed.ipB, sport: 5555, dport: 7777 };
      const base6 = { ...base, src: bed.ip6A, dst: bed.ip6B };
      const steered = [udp4Frame({ ...base, vlan: 5 }), udp6Frame({ ...base6, vlan: 5 }), udp4Frame({ ...base, vlan: 5, payload: new Uint8Array(100) })];
      const passed = [
        udp4Frame(base), // untagged: not on VLAN 5
        udp6Frame(base6),
        udp4Frame({ ...base, vlan: 6 }), // another VLAN
        udp4Frame({ ...base, vlan: 5, dport: 7778 }), // VLAN 5, a port nobody steered
        udp4Frame({ ...base, vlan: 5, moreFragments: true, ipId: 3 }), // a first fragment
      ];
      const k = 4;
      const frames: Uint8Array[] = [];
      for (let i = 0; i < k; i++) frames.push(...steered, ...passed);
      writeFileSync(t.path('in.pcap'), writePcap(frames));

      const e = await engines.create();
      const port = e.addPort('x', {
        driver: 'af_xdp',
        interface: bed.ifB,
        netns: bed.nsB,
        udpSteer: [`${bed.ipB}:7777`, `[${bed.ip6B}]:7777`],
        udpSteerVlan: 5,
      });
      e.echo(port);
      await e.start();
      const ea = await engines.create();
      const src = ea.addPort('src', { driver: 'pcap', rxFile: t.path('in.pcap') });
      ea.forward(src, ea.addPort('a', { driver: 'af_xdp', interface: bed.ifA, netns: bed.nsA }));
      await ea.start();
      expect(await ea.whenSourcesDone(5000)).toBe(true);
      // Every frame was decided one way or the other (A's kernel may add a few frames of its own, all passed).
      const total = k * (steered.length + passed.length);
      expect(await waitFor(() => xstat(port, 'steer_redirected')! + xstat(port, 'steer_passed')! >= total, 3000)).toBe(true);
      expect(xstat(port, 'steer_redirected')).toBe(k * steered.length);
      expect(xstat(port, 'steer_passed')).toBeGreaterThanOrEqual(k * passed.length);
      expect(await waitFor(() => port.stats().rxPackets === k * steered.length, 2000)).toBe(true);
      await stopAndCheckPool(ea);
      await stopAndCheckPool(e);
    } finally {
      t.cleanup();
    }
  });

  it('bad udpSteer entries: INVALID_OPTION naming the entry', slow, async () => {
    const e = await engines.create();
    const opts = { driver: 'af_xdp' as const, interface: bed.ifB, netns: bed.nsB };
    await expectError(() => e.addPort('p1', { ...opts, udpSteer: ['198.18.0.2'] }), 'INVALID_OPTION', 'udpSteer[0]', "'198.18.0.2'");
    await expectError(() => e.addPort('p2', { ...opts, udpSteer: ['198.18.0.2:53', '198.18.0.256:53'] }), 'INVALID_OPTION', 'udpSteer[1]');
    await expectError(() => e.addPort('p3', { ...opts, udpSteer: ['fd00::2:53'] }), 'INVALID_OPTION', 'udpSteer[0]', '[IPV6]:PORT');
    await expectError(() => e.addPort('p4', { ...opts, udpSteer: ['[fd00::2]:0'] }), 'INVALID_OPTION', 'port 1..65535');
    await expectError(() => e.addPort('p5', { ...opts, udpSteer: ['[fd00::2]:70000'] }), 'INVALID_OPTION', 'udpSteer[0]');
    await expectError(() => e.addPort('p6', { ...opts, udpSteer: '198.18.0.2:53' as never }), 'INVALID_OPTION', 'udpSteer');
    await expectError(() => e.addPort('p7', { ...opts, udpSteer: Array.from({ length: 65 }, (_, i) => `198.18.0.2:${i + 1}`) }), 'INVALID_OPTION', 'at most 64');
    await expectError(() => e.addPort('p8', { ...opts, udpSteerVlan: 5 }), 'INVALID_OPTION', 'udpSteerVlan');
    await expectError(() => e.addPort('p9', { ...opts, udpSteer: ['198.18.0.2:53'], udpSteerVlan: 4095 }), 'INVALID_OPTION', 'udpSteerVlan');
  });

  it('the native parser refuses what TypeScript would (it never trusts its caller)', slow, async () => {
    const child = childScript(`
      const e = new addon.NativeEngine([${lastCpu()}], { mbufs: 1024, hugepages: 'off' });
      for (const spec of ['198.18.0.2', '[fd00::2:53', '1.2.3.4:99999', 'nope:53', '[fd00::zz]:53']) {
        try { e.addPort('k', 'af_xdp', { interface: '${bed.ifB}', netns: '${bed.nsB}', udpSteer: spec }, 1, undefined, false); console.log('accepted ' + spec); }
        catch (err) { console.log(JSON.stringify({ code: err.code, message: err.message })); }
      }`);
    const r = await bed.exec('a', ['true']); // the bed is alive
    expect(r.code).toBe(0);
    const out = await new Promise<string>((resolve) => {
      const c = spawn(process.execPath, ['-e', child, addonLocation()], { stdio: ['ignore', 'pipe', 'pipe'] });
      let s = '';
      c.stdout.on('data', (d) => (s += String(d)));
      c.on('exit', () => resolve(s));
    });
    const lines = out.trim().split('\n');
    expect(lines.length).toBe(5);
    for (const l of lines) {
      const j = JSON.parse(l) as { code: string; message: string };
      expect(j.code).toBe('INVALID_OPTION');
      expect(j.message).toContain('udpSteer entry');
    }
  });
});

describe.skipIf(!gate.run)('af_xdp sharing: nothing left attached', () => {
  afterAll(async () => {
    await cleanupLeftovers();
  });

  it('after close and after SIGKILL of the process holding the port, the kernel has the whole interface', slow, async () => {
    const bed = await TestBed.create({ queues: 1, tag: 'sharekill' });
    const engines = new EngineTracker();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const e = await engines.create();
      e.echo(e.addPort('c', { driver: 'af_xdp', interface: bed.ifB, netns: bed.nsB, udpSteer: [`${bed.ipB}:7777`] }));
      await e.start();
      expect(await xdpAttached(bed)).toBe(true);
      await e.close();
      expect(await xdpAttached(bed)).toBe(false);

      const script = childScript(`
        const e = new addon.NativeEngine([${lastCpu()}], { mbufs: 2048, hugepages: 'off' });
        const id = e.addPort('k', 'af_xdp', { interface: '${bed.ifB}', netns: '${bed.nsB}', udpSteer: '${bed.ipB}:7777,[${bed.ip6B}]:7777' }, 1, undefined, false);
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
      if (havePing()) expect((await bed.ping('a', bed.ipB, 2)).received).toBe(2); // shared while it runs

      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      let gone = false;
      for (let i = 0; i < 100 && !gone; i++) {
        gone = !(await xdpAttached(bed));
        if (!gone) await new Promise((r) => setTimeout(r, 20));
      }
      expect(gone).toBe(true);
      if (havePing()) expect((await bed.ping('a', bed.ipB, 2)).received).toBe(2);
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await engines.closeAll();
      await bed.destroy();
    }
    expect(namespacesWithPrefix(bed.name)).toEqual([]);
  });
});
