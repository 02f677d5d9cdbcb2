// The host layer against the kernel's own tools: linerate owns B's end of a veth
// pair (198.18.0.2, fd00:198:18::2) and namespace A's kernel resolves it, pings it
// and talks UDP to it with no static neighbour entries. tshark (not our code)
// checks every checksum of the replies. Runs as root (always under CI=true).
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatagramBatch } from '../src/index.js';
import { catchLinerate, EngineTracker, lastCpu, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { serverInB, TCP_ECHO, UDP_KERNEL, tcpExchange } from './helpers/kernel-services.js';
import { cleanupLeftovers, netnsGate, run, TestBed } from './helpers/netns.js';
import { tempDir } from './helpers/pcap.js';

const gate = netnsGate();
const slow = { timeout: 90_000 };

const echo = (b: DatagramBatch) => {
  for (let i = 0; i < b.count; i++) b.reply(i, b.payloadLength(i));
};

const payloads = (n: number, tag: string) => Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i} ${'y'.repeat((i * 53) % 700)}`));

for (const driver of ['af_xdp', 'af_packet'] as const) {
  describe.skipIf(!gate.run)(`host layer on ${driver}, kernel peer in a namespace`, () => {
    let bed: TestBed;
    const engines = new EngineTracker();

    beforeAll(async () => {
      bed = await TestBed.create({ isolateB: true, tag: `host-${driver === 'af_xdp' ? 'x' : 'p'}` });
      // A veth sender leaves UDP checksums partial; a wire would not (see test/af_xdp.test.ts).
      await bed.disableTxChecksum('a');
    });
    afterEach(async () => {
      await engines.closeAll();
      // Each test starts from an empty neighbour cache in A, so A has to resolve us again.
      await bed.exec('a', ['ip', 'neigh', 'flush', 'dev', bed.iface('a')]);
      await bed.exec('a', ['ip', '-6', 'neigh', 'flush', 'dev', bed.iface('a')]);
    });
    afterAll(async () => {
      await bed?.destroy();
      await cleanupLeftovers();
    });

    async function serve(mode: 'main' | 'inline' | 'pipeline' = 'main') {
      const engine = await engines.create({ lcores: [lastCpu()] });
      const port = engine.addPort('p', { driver, interface: bed.iface('b'), netns: bed.ns('b'), ...(driver === 'af_packet' ? { consume: true } : {}) });
      const host = engine.host(port, { ipv4: `${bed.ipB}/24`, ipv6: `${bed.ip6B}/64` });
      if (mode === 'main') host.udp({ port: 7 }, echo);
      else host.udpInWorkers({ port: 7, module: new URL('../dist/examples/udp-echo-handler.js', import.meta.url), mode });
      await engine.start();
      return { engine, host };
    }

    it('is resolved by the kernel (ARP, ND), answers ping and ping -6', slow, async () => {
      const { engine, host } = await serve();
      const p4 = await bed.ping('a', bed.ipB, 3);
      expect(p4.received, p4.output).toBe(3);
      const p6 = await bed.ping('a', bed.ip6B, 3);
      expect(p6.received, p6.output).toBe(3);
      const neigh = await bed.sh('a', ['ip', 'neigh', 'show', 'dev', bed.iface('a')]);
      expect(neigh).toMatch(new RegExp(`${bed.ipB.replaceAll('.', '\\.')} lladdr ${bed.macB}`));
      expect(neigh).toMatch(new RegExp(`${bed.ip6B} lladdr ${bed.macB}`));
      const s = host.stats();
      expect(s.arpRequestsIn).toBeGreaterThanOrEqual(1);
      expect(s.ndSolicitsIn).toBeGreaterThanOrEqual(1);
      expect(s.icmpEchoOut).toBe(3);
      expect(s.icmp6EchoOut).toBe(3);
      // A knows us from the exchange, and we learned A.
      expect(host.neighbors().map((n) => n.ip)).toEqual(expect.arrayContaining([bed.ipA]));
      // Our solicited-node group is not the kernel's: the port takes all multicast while it is ours, and not after.
      // (a membership of its packet socket: `ip -d link` counts it, and it goes with the socket, even on kill -9).
      expect(await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.iface('b')])).toMatch(/allmulti 1\b/);
      await stopAndCheckPool(engine);
      await engine.close();
      expect(await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.iface('b')])).toMatch(/allmulti 0\b/);
    });

    it('answers arping and ndisc6 (fresh neighbour resolution by the kernel tools)', slow, async () => {
      const { engine } = await serve();
      const a = await bed.exec('a', ['arping', '-c', '2', '-w', '3', '-I', bed.iface('a'), bed.ipB]);
      expect(a.stdout + a.stderr).toMatch(new RegExp(bed.macB.replaceAll(':', ':'), 'i'));
      const n = await bed.exec('a', ['ndisc6', '-r', '2', '-w', '1000', bed.ip6B, bed.iface('a')]);
      expect(n.stdout + n.stderr).toMatch(new RegExp(bed.macB, 'i'));
      await stopAndCheckPool(engine);
    });

    for (const mode of ['main', 'pipeline', ...(driver === 'af_xdp' ? (['inline'] as const) : [])] as const) {
      // tshark takes seconds to start on a loaded machine: it checks the main-thread mode only.
      const withTshark = mode === 'main';
      it(`echoes UDP byte for byte in both families (${mode} handler)${withTshark ? ', checksums verified by tshark' : ''}`, slow, async () => {
        const { engine, host } = await serve(mode);
        const tmp = tempDir();
        try {
          const file = tmp.path('a.pcapng');
          const cap = withTshark ? bed.spawnIn('a', ['tshark', '-q', '-i', bed.iface('a'), '-f', 'udp port 7', '-w', file]) : undefined;
          let capErr = '';
          cap?.stderr?.on('data', (d) => (capErr += String(d)));
          const until = Date.now() + 15_000;
          while (cap && !/Capturing on/.test(capErr) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
          const sent4 = payloads(20, 'v4');
          const sent6 = payloads(20, 'v6');
          const r4 = await bed.udpExchange({ port: 7, payloads: sent4, flows: 2, timeoutMs: 5000, gapMs: 2 });
          const r6 = await bed.udpExchange({ port: 7, family: 6, payloads: sent6, flows: 2, timeoutMs: 5000, gapMs: 2 });
          const hex = (b: Uint8Array[]) => b.map((x) => Buffer.from(x).toString('hex')).sort();
          expect(hex(r4.map((r) => r.data))).toEqual(hex([...sent4, ...sent4]));
          expect(hex(r6.map((r) => r.data))).toEqual(hex([...sent6, ...sent6]));
          expect(r4.every((r) => r.from === bed.ipB && r.fromPort === 7)).toBe(true);
          const s = host.stats();
          expect(s.udpReplies).toBe(80);
          expect(s.udpBadCsum).toBe(0);
          if (!cap) return;
          await new Promise((r) => setTimeout(r, 300));
          cap.kill('SIGINT');
          await new Promise((r) => cap.once('exit', r));
          // Every reply (from port 7) with its IPv4 header and UDP checksum status as tshark judges them.
          const t = await run('tshark', ['-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-Y', 'udp.srcport == 7',
            '-T', 'fields', '-e', 'ip.version', '-e', 'ipv6.version', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status']);
          const lines = t.stdout.trim().split('\n').filter(Boolean);
          expect(lines.length, t.stderr).toBe(80);
          for (const l of lines) {
            const [v4, , ipStatus, udpStatus] = l.split('\t');
            if (v4 === '4') expect(ipStatus).toBe('1'); // Wireshark's checksum status: 0 bad, 1 good, 2 unverified
            expect(udpStatus, l).toBe('1');
          }
          expect(readFileSync(file).length).toBeGreaterThan(0);
        } finally {
          tmp.cleanup();
          await stopAndCheckPool(engine);
        }
      });
    }
  });
}

describe.skipIf(!gate.run)("host layer with owner 'kernel' on af_xdp: the kernel keeps the address", () => {
  let bed: TestBed;
  const engines = new EngineTracker();

  beforeAll(async () => {
    bed = await TestBed.create({ tag: 'host-k' }); // B's kernel owns 198.18.0.2 and fd00:198:18::2
    await bed.disableTxChecksum('a');
    await bed.disableTxChecksum('b');
  });
  afterEach(async () => {
    await engines.closeAll();
  });
  afterAll(async () => {
    await bed?.destroy();
    await cleanupLeftovers();
  });

  it('serves its UDP port while ping, TCP and other UDP stay the kernel; sends resolve through the kernel', slow, async () => {
    const tcp = await serverInB(bed, TCP_ECHO);
    const kudp = await serverInB(bed, UDP_KERNEL);
    // A second address in A that B's kernel has never talked to: the host's send must have the kernel resolve it.
    await bed.sh('a', ['ip', 'addr', 'add', '198.18.0.9/24', 'dev', bed.iface('a')]);
    const listener = bed.spawnIn('a', [process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.on('message', (m) => { console.log('got ' + m); process.exit(0); });
      s.bind(9999, '198.18.0.9', () => console.log('ready'));
      setTimeout(() => process.exit(3), 20000);`]);
    let lout = '';
    listener.stdout!.on('data', (d) => (lout += String(d)));
    try {
      const engine = await engines.create({ lcores: [lastCpu()] });
      const port = engine.addPort('p', { driver: 'af_xdp', interface: bed.iface('b'), netns: bed.ns('b') });
      const host = engine.host(port, { ipv4: `${bed.ipB}/24`, ipv6: `${bed.ip6B}/64`, owner: 'kernel' });
      const sock = host.udp({ port: 7 }, echo);
      await engine.start();
      const sent = payloads(10, 'k');
      expect((await bed.udpExchange({ port: 7, payloads: sent })).map((r) => r.data.toString()).sort()).toEqual(sent.map(String).sort());
      expect((await bed.udpExchange({ port: 7, family: 6, payloads: sent })).length).toBe(10);
      expect((await bed.ping('a', bed.ipB, 2)).received).toBe(2);
      expect(await tcpExchange(bed, 4, 'ssh-like')).toBe('ssh-like');
      const k = await bed.udpExchange({ port: 7778, payloads: [Buffer.from('x')] });
      expect(k.map((r) => r.data.toString())).toEqual(['kernel:x']);
      await waitFor(() => lout.includes('ready'), 10_000);
      expect(sock.send('via the kernel', 9999, '198.18.0.9')).toBe(true);
      await waitFor(() => lout.includes('got'), 10_000);
      expect(lout).toContain('got via the kernel');
      const s = host.stats();
      expect(s.udpReplies).toBe(20);
      expect(s.icmpEchoIn + s.arpRequestsIn + s.ndSolicitsIn).toBe(0); // the kernel's, not ours
      expect(s.udpSends).toBe(1);
      expect(host.neighbors()).toContainEqual(expect.objectContaining({ ip: '198.18.0.9' }));
      await stopAndCheckPool(engine);
      await engine.close();
      expect(await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.iface('b')])).not.toContain('prog/xdp');
    } finally {
      tcp.kill('SIGKILL');
      kudp.kill('SIGKILL');
      listener.kill('SIGKILL');
      await bed.exec('a', ['ip', 'addr', 'del', '198.18.0.9/24', 'dev', bed.iface('a')]);
    }
  });

  it('refuses owner kernel where the driver cannot share and there is no exception path', async () => {
    const engine = await engines.create({ lcores: [lastCpu()] });
    const a = engine.addPort('a', { driver: 'ring', wire: 'k' });
    engine.addPort('b', { driver: 'ring', wire: 'k' });
    engine.host(a, { ipv4: '198.18.0.2/24', owner: 'kernel' }).udp({ port: 7 }, echo);
    const e = await catchLinerate(() => engine.start());
    expect(e.code).toBe('INVALID_OPTION');
    expect(e.message).toMatch(/exception path/);
  });
});
