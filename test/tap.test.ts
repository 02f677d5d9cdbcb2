// tap ports and the exception path, in network namespaces (test/helpers/netns.ts).
// The exception-path bed: B's veth end belongs to linerate (af_packet, no address,
// B's kernel kept off it); a TAP device in B carries 198.18.0.2 and the veth end's
// MAC, so to A the kernel behind the TAP and linerate's data path are one host.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Engines, expectCode, stopAndCheckPool, waitFor, withoutCapabilities } from './helpers/kernel.js';
import { cleanupLeftovers, havePing, netnsGate, TestBed } from './helpers/netns.js';

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

async function bed(opts: { isolateB?: boolean } = {}): Promise<TestBed> {
  const b = await TestBed.create(opts);
  beds.push(b);
  return b;
}

/** A kernel UDP echo server in a namespace, bound to addr:port; resolves once it listens. */
async function kernelEcho(b: TestBed, side: 'a' | 'b', addr: string, port: number): Promise<void> {
  const fam = addr.includes(':') ? 'udp6' : 'udp4';
  const c = b.spawnIn(side, [
    process.execPath,
    '-e',
    `const s=require('node:dgram').createSocket('${fam}');s.on('message',(m,r)=>s.send(Buffer.concat([Buffer.from('kernel:'),m]),r.port,r.address));s.bind(${port},'${addr}',()=>console.log('ready'))`,
  ]);
  await new Promise<void>((resolve, reject) => {
    c.stdout!.once('data', () => resolve());
    c.once('exit', (code) => reject(new Error(`kernel echo exited ${code}`)));
  });
}

describe.skipIf(!gate.run)('tap', { timeout: 90_000 }, () => {
  it('creates a TAP device in a namespace with the given MAC and MTU; frames go both ways; removed on close', async () => {
    const b = await bed();
    const e = await engines.create();
    const t = e.addPort('t', { driver: 'tap', interface: 'lrt-tap', netns: b.nsB, mac: '02:4c:52:00:00:aa', mtu: 1400 });
    const info = e.info().ports[0]!;
    expect(info.driver).toBe('tap');
    expect(info.mac).toBe('02:4c:52:00:00:aa');
    expect(info.mtu).toBe(1400);
    const link = await b.sh('b', ['ip', 'link', 'show', 'lrt-tap']);
    expect(link).toContain('02:4c:52:00:00:aa');
    expect(link).toMatch(/<[^>]*\bUP\b/);
    // The kernel sends UDP to a neighbour "behind" the TAP; linerate echoes it back into the kernel.
    await b.sh('b', ['ip', 'addr', 'add', '198.18.1.1/24', 'dev', 'lrt-tap']);
    await b.sh('b', ['ip', 'neigh', 'replace', '198.18.1.2', 'lladdr', '02:4c:52:00:00:bb', 'dev', 'lrt-tap', 'nud', 'permanent']);
    e.echo(t);
    await e.start();
    const sent = [Buffer.from('tap one'), Buffer.from('tap two')];
    const r = await b.udpExchange({ side: 'b', bind: '198.18.1.1', to: '198.18.1.2', port: 4444, payloads: sent });
    expect(r.map((x) => x.data.toString())).toEqual(['tap one', 'tap two']);
    expect(r.every((x) => x.from === '198.18.1.2' && x.fromPort === 4444)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(s.ports.t!.rxPackets).toBeGreaterThanOrEqual(2);
    // All echoed but what the kernel sent to multicast on the TAP (MLD, neighbour discovery): drops.groupDst.
    expect(s.ports.t!.txPackets + s.ports.t!.drops.groupDst).toBe(s.ports.t!.rxPackets);
    await e.close();
    expect((await b.links('b')).includes('lrt-tap')).toBe(false);
  });

  it('fails with a code: missing namespace, bad name, a name that is not a TAP, MTU too large', async () => {
    const b = await bed();
    const e = await engines.create();
    await expectCode(() => e.addPort('a', { driver: 'tap', interface: 'lrt-tap', netns: `${b.name}-nope` }), 'NETNS_NOT_FOUND', 'ip netns list');
    await expectCode(() => e.addPort('b', { driver: 'tap', interface: 'a-name-much-too-long' }), 'INVALID_OPTION', 'interface');
    await expectCode(() => e.addPort('c', { driver: 'tap', interface: b.ifB, netns: b.nsB }), 'TAP_OPEN', 'not a TAP device');
    await expectCode(() => e.addPort('d', { driver: 'tap', interface: 'lrt-tap', netns: b.nsB, mtu: 4000 }), 'MTU_TOO_LARGE', 'mempool.dataRoom');
    await expectCode(() => e.addPort('e', { driver: 'tap', interface: 'lrt-tap', netns: b.nsB, mac: 'zz' }), 'INVALID_OPTION', 'mac');
    const t = e.addPort('t', { driver: 'tap', interface: 'lrt-tap', netns: b.nsB });
    const n = e.addPort('n', { driver: 'null' });
    await expectCode(() => e.exceptionPath(t, t), 'INVALID_OPTION');
    e.exceptionPath(n, t);
    await expectCode(() => e.exceptionPath(n, t), 'PORT_BUSY');
    await expectCode(() => e.echo(t), 'PORT_BUSY');
    const [r] = await withoutCapabilities(['net_admin'], [['tap', { interface: 'lrt-nocap', netns: b.nsB }]]);
    expect(r!.code, JSON.stringify(r)).toBe('MISSING_CAPABILITY');
    expect(r!.message).toContain('CAP_NET_ADMIN');
    await stopAndCheckPool(e);
  });

  describe('exception path', () => {
    it('the kernel answers ARP and ping through the TAP while UDP to the kept port is echoed by linerate; the rest reaches the kernel', async () => {
      const b = await bed({ isolateB: true });
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB });
      const t = e.addPort('t', { driver: 'tap', interface: 'lrt-tap', netns: b.nsB, mac: b.macB });
      e.echo(p);
      e.exceptionPath(p, t, { match: { udpDstPort: 7777 } });
      await b.sh('b', ['ip', 'addr', 'add', '198.18.0.2/24', 'dev', 'lrt-tap']);
      await b.sh('b', ['ip', 'addr', 'add', 'fd00:198:18::2/64', 'dev', 'lrt-tap', 'nodad']);
      await e.start();

      // No static neighbour in A: ARP has to resolve through the kernel behind the TAP.
      expect(havePing(), 'ping (iputils-ping or busybox) is needed: apt-get install iputils-ping').toBe(true);
      const ping = await b.ping('a', b.ipB, 3);
      expect(ping.received, ping.output).toBe(3);
      const neigh = await b.sh('a', ['ip', 'neigh', 'show', b.ipB]);
      expect(neigh).toContain(`lladdr ${b.macB}`);
      expect(neigh).not.toMatch(/FAILED|INCOMPLETE/);

      // The kept port: linerate's echo stage answers (the kernel has no socket there).
      const kept = await b.udpExchange({ port: 7777, payloads: [Buffer.from('data path')] });
      expect(kept.map((x) => x.data.toString())).toEqual(['data path']);
      // Another port: the kernel's own UDP server answers, through the TAP; IPv6 with neighbour discovery too.
      await kernelEcho(b, 'b', b.ipB, 5353);
      await kernelEcho(b, 'b', b.ip6B, 5354);
      const other = await b.udpExchange({ port: 5353, payloads: [Buffer.from('to the kernel')] });
      expect(other.map((x) => x.data.toString())).toEqual(['kernel:to the kernel']);
      const other6 = await b.udpExchange({ port: 5354, payloads: [Buffer.from('v6')], family: 6 });
      expect(other6.map((x) => x.data.toString())).toEqual(['kernel:v6']);

      const s = await stopAndCheckPool(e);
      // To the kernel: ARP request(s), 3 echo requests, the UDP to 5353, NDP + UDP to 5354.
      expect(s.ports.t!.txPackets).toBeGreaterThanOrEqual(3 + 1 + 1 + 1 + 1);
      // From the kernel, out of the port: ARP reply, 3 echo replies, 2 UDP replies, NDP advertisement.
      expect(s.ports.t!.rxPackets).toBeGreaterThanOrEqual(1 + 3 + 2 + 1);
      expect(s.ports.p!.txPackets).toBeGreaterThanOrEqual(s.ports.t!.rxPackets + 1);
    });

    it('without a match, only ARP/ICMP/ICMPv6 reach the kernel and everything else stays on the data path', async () => {
      const b = await bed({ isolateB: true });
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB });
      const t = e.addPort('t', { driver: 'tap', interface: 'lrt-tap', netns: b.nsB, mac: b.macB });
      e.echo(p);
      e.exceptionPath(p, t);
      await b.sh('b', ['ip', 'addr', 'add', '198.18.0.2/24', 'dev', 'lrt-tap']);
      await e.start();
      await kernelEcho(b, 'b', b.ipB, 5353);
      const ping = await b.ping('a', b.ipB, 2);
      expect(ping.received, ping.output).toBe(2);
      // UDP to 5353 is not ARP/ICMP: echoed by linerate, not answered by the kernel.
      const r = await b.udpExchange({ port: 5353, payloads: [Buffer.from('mine')] });
      expect(r.map((x) => x.data.toString())).toEqual(['mine']);
      await stopAndCheckPool(e);
    });

    it('a port with no other consumer sends everything to the kernel', async () => {
      const b = await bed({ isolateB: true });
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'af_packet', interface: b.ifB, netns: b.nsB });
      const t = e.addPort('t', { driver: 'tap', interface: 'lrt-tap', netns: b.nsB, mac: b.macB });
      e.exceptionPath(p, t);
      await b.sh('b', ['ip', 'addr', 'add', '198.18.0.2/24', 'dev', 'lrt-tap']);
      await e.start();
      await kernelEcho(b, 'b', b.ipB, 5353);
      const r = await b.udpExchange({ port: 5353, payloads: [Buffer.from('all to kernel')] });
      expect(r.map((x) => x.data.toString())).toEqual(['kernel:all to kernel']);
      expect(await waitFor(() => e.stats().ports.t!.txPackets >= 2)).toBe(true);
      await stopAndCheckPool(e);
    });
  });
});
