// The vfio drivers on real (emulated) PCI NICs behind an IOMMU: runs inside the
// QEMU guest that scripts/vm/run.sh boots (test/vm.test.ts does that from the
// host; `npm run test:vm` too). Skipped anywhere else.
//
// The guest's NICs (scripts/vm/run.sh):
//   E 0000:00:03.0 e1000e (82574L)       <- socket wire ->  V 0000:00:05.0 virtio-net, 1 queue pair
//   H 0000:00:04.0 virtio-net, 4 pairs, RSS, hash report  <- TAP ->  host kernel 198.18.0.1 (scripts/vm/peer.mjs)
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type PacketBatch } from '../../src/index.js';
import { PciBinder } from '../../src/cli/bind.js';
import { EngineTracker, expectError, waitFor } from '../helpers/engine.js';
import { rxSettled } from './nics.js';
import { layout, readPcap, tempDir, udp4Frame, udpChecksumOk, udpPorts, ipv4ChecksumOk, type PcapFile } from '../helpers/pcap.js';

const GUEST = process.env.LINERATE_VM_GUEST === '1';
const E = '0000:00:03.0';
const H = '0000:00:04.0';
const V = '0000:00:05.0';
const MAC = { E: '52:54:00:4c:52:01', H: '52:54:00:4c:52:02', V: '52:54:00:4c:52:03', host: '02:4c:52:ff:00:01' };
const repo = join(import.meta.dirname, '..', '..');

const engines = new EngineTracker();
const tmp = GUEST ? tempDir('lrvm-') : undefined;
const binder = new PciBinder();

function lcore(): number {
  const cpus = Engine.hostInfo().allowedCpus;
  return cpus[cpus.length - 1]!;
}

async function engine(mbufs = 8192): Promise<Engine> {
  return engines.create({ lcores: [lcore()], idle: 'adaptive', mempool: { mbufs, hugepages: 'auto' } }, true);
}

function capture(name: string): string {
  return tmp!.path(`${name}-${Date.now()}.pcap`);
}

// Each batch of frames carries its own tag (the first payload byte), so frames
// left on a wire by an earlier test (QEMU queues what a stopped NIC could not
// take and delivers it when the NIC starts again) are never mistaken for ours.
let lastTag = 0;
function frames(n: number, o: { dstMac: string; srcMac: string; src: (i: number) => string; dst: string; sport: (i: number) => number; dport: number }) {
  const tag = (++lastTag & 0x7f) | 0x80;
  return Array.from({ length: n }, (_, i) =>
    udp4Frame({ dstMac: o.dstMac, srcMac: o.srcMac, src: o.src(i), dst: o.dst, sport: o.sport(i), dport: o.dport, payload: Uint8Array.from({ length: 32 }, (_, k) => (k === 0 ? tag : (i + k) & 0xff)) }),
  );
}
const tagOf = (f: Uint8Array) => f[42];

async function sendAll(e: Engine, port: ReturnType<Engine['addPort']>, fs: Uint8Array[]): Promise<void> {
  let sent = 0;
  for (let tries = 0; sent < fs.length && tries < 200; tries++) {
    sent += e.send(port, fs.slice(sent));
    if (sent < fs.length) await new Promise((r) => setTimeout(r, 10));
  }
  expect(sent, 'frames handed to the NIC').toBe(fs.length);
}

function vfioFds(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const l = readlinkSync(`/proc/self/fd/${fd}`);
      if (l.startsWith('/dev/vfio')) out.push(l);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** E -> V and V -> E over the socket wire; every frame arrives byte for byte and the counters agree. */
async function wireRoundTrip(nEV: number, nVE: number): Promise<void> {
  const e = await engine();
  const pe = e.addPort('E', { driver: 'vfio', pci: E });
  const pv = e.addPort('V', { driver: 'vfio', pci: V });
  const capV = capture('atV'), capE = capture('atE');
  const cv = e.addPort('capV', { driver: 'pcap', txFile: capV });
  const ce = e.addPort('capE', { driver: 'pcap', txFile: capE });
  e.forward(pv, cv);
  e.forward(pe, ce);
  expect(pe.info().mac).toBe(MAC.E);
  expect(pv.info().mac).toBe(MAC.V);
  await e.start();
  expect(await waitFor(() => e.stats().ports.E!.linkUp && e.stats().ports.V!.linkUp, 10_000), 'links up').toBe(true);
  // Let what an earlier test left on the wire arrive, then count from here.
  await rxSettled(e);
  await new Promise((r) => setTimeout(r, 300));
  const b = e.stats();
  const base = { eRx: b.ports.E!.rxPackets, vRx: b.ports.V!.rxPackets, capV: b.ports.capV!.txPackets, capE: b.ports.capE!.txPackets, xRx: b.ports.E!.xstats.rx_good_packets!, xRxB: b.ports.E!.xstats.rx_good_bytes!, xTx: b.ports.E!.xstats.tx_good_packets! };
  const ev = frames(nEV, { dstMac: MAC.V, srcMac: MAC.E, src: () => '198.18.1.1', dst: '198.18.1.2', sport: (i) => 1000 + i, dport: 9 });
  const ve = frames(nVE, { dstMac: MAC.E, srcMac: MAC.V, src: () => '198.18.1.2', dst: '198.18.1.1', sport: (i) => 2000 + i, dport: 9 });
  await sendAll(e, pe, ev);
  await sendAll(e, pv, ve);
  const ok = await waitFor(() => {
    const s = e.stats();
    return s.ports.capV!.txPackets - base.capV >= nEV && s.ports.capE!.txPackets - base.capE >= nVE;
  }, 30_000);
  await new Promise((r) => setTimeout(r, 200));
  const s = e.stats();
  expect(ok, `V received ${s.ports.V!.rxPackets - base.vRx}/${nEV}, E received ${s.ports.E!.rxPackets - base.eRx}/${nVE}`).toBe(true);
  expect(s.ports.E!.txPackets).toBe(nEV);
  expect(s.ports.V!.rxPackets - base.vRx).toBe(nEV);
  expect(s.ports.V!.txPackets).toBe(nVE);
  expect(s.ports.E!.rxPackets - base.eRx).toBe(nVE);
  // The 82574's own counters (clear-on-read registers, summed by the driver).
  expect(s.ports.E!.xstats.tx_good_packets! - base.xTx).toBe(nEV);
  expect(s.ports.E!.xstats.rx_good_packets! - base.xRx).toBe(nVE);
  expect(s.ports.E!.xstats.rx_good_bytes! - base.xRxB).toBe(ve.reduce((a, f) => a + Math.max(60, f.length) + 4, 0));
  expect(s.ports.E!.xstats.rx_no_buffer + s.ports.E!.xstats.rx_missed).toBe(0);
  await e.stop();
  const after = e.stats();
  expect(after.mempool.free.total, 'every mbuf back in the pool after stop').toBe(after.mempool.size);
  expect(after.ports.E!.heldMbufs + after.ports.V!.heldMbufs).toBe(0);
  await e.close();
  const ours = (file: string, tag: number | undefined) =>
    readPcap(readFileSync(file))
      .records.filter((r) => r.data.length > 42 && tagOf(r.data) === tag)
      .map((r) => Buffer.from(r.data).toString('hex'));
  const atV = ours(capV, tagOf(ev[0]!));
  const atE = ours(capE, tagOf(ve[0]!));
  expect(atV).toEqual(ev.map((f) => Buffer.from(f).toString('hex')));
  expect(atE).toEqual(ve.map((f) => Buffer.from(f).toString('hex')));
}

function peerRequest(obj: Record<string, unknown>, sport = 5556): Uint8Array {
  return udp4Frame({ dstMac: MAC.host, srcMac: MAC.H, src: '198.18.0.2', dst: '198.18.0.1', sport, dport: 9000, payload: new TextEncoder().encode(JSON.stringify(obj)) });
}

/** Asks the host peer what it counted for request `id` (its answer is captured from H). */
async function peerReport(id: number): Promise<{ sent: number; received: number; perFlow: number[] }> {
  const e = await engine();
  const ph = e.addPort('H', { driver: 'vfio', pci: H });
  const file = capture('report');
  const cap = e.addPort('cap', { driver: 'pcap', txFile: file });
  e.forward(ph, cap);
  await e.start();
  let found: { sent: number; received: number; perFlow: number[] } | undefined;
  for (let attempt = 0; attempt < 5 && !found; attempt++) {
    await sendAll(e, ph, [peerRequest({ cmd: 'report', id })]);
    await waitFor(() => e.stats().ports.cap!.txPackets > 0, 3000);
    await new Promise((r) => setTimeout(r, 200));
    if (e.stats().ports.cap!.txPackets > 0) break;
  }
  await e.stop();
  await e.close();
  for (const r of readPcap(readFileSync(file)).records) {
    const p = udpPorts(r.data);
    if (p?.sport !== 9000) continue;
    const l = layout(r.data);
    const body = new TextDecoder().decode(r.data.subarray(l.udp + 8));
    const j = JSON.parse(body);
    if (j.id === id) found = j;
  }
  expect(found, `the peer answered report ${id}`).toBeDefined();
  return found!;
}

describe.skipIf(!GUEST)('vfio drivers in the QEMU guest (e1000e, virtio-net, IOMMU)', () => {
  beforeAll(() => {
    expect(readdirSync('/sys/kernel/iommu_groups').length, 'the guest has an IOMMU').toBeGreaterThan(0);
  });
  afterEach(() => engines.closeAll());
  afterAll(() => tmp?.cleanup());

  it('linerate devices sees the NICs; a NIC still bound to its kernel driver is a loud error, not silence', async () => {
    const list = binder.devices();
    expect(list.map((d) => [d.pci, d.driver, d.linerateDriver])).toEqual([
      [E, 'e1000e', 'e1000e'],
      [H, 'virtio-pci', 'virtio_net'],
      [V, 'virtio-pci', 'virtio_net'],
    ]);
    for (const d of list) expect(d.iommuGroup).toBeTypeOf('number');
    const e = await engine();
    await expectError(() => e.addPort('E', { driver: 'vfio', pci: E }), 'DEVICE_BOUND_TO_KERNEL', 'e1000e', `linerate bind ${E}`);
    await expectError(() => e.addPort('X', { driver: 'vfio', pci: '0000:00:09.0' }), 'DEVICE_NOT_FOUND', 'linerate devices');
    for (const pci of [E, H, V]) expect(binder.bind(pci)).toMatchObject({ pci, to: 'vfio-pci', changed: true });
    expect(binder.devices().every((d) => d.driver === 'vfio-pci')).toBe(true);
    expect(readdirSync('/dev/vfio').length).toBeGreaterThanOrEqual(4);
  });

  it('e1000e <-> virtio-net over the wire: frames byte for byte, port stats and NIC counters match', async () => {
    await wireRoundTrip(300, 200);
  });

  it('e1000e spreads flows over its two queues in hardware (RSS), one lcore each, and echoes from both', async () => {
    // Two lcores when the guest has two CPUs: each polls one e1000e queue and
    // transmits on its own NIC tx queue; V's single tx queue is shared under its lock.
    const cpus = Engine.hostInfo().allowedCpus;
    const e = await engines.create({ lcores: cpus.slice(-2), idle: 'adaptive', mempool: { mbufs: 8192, hugepages: 'auto' } }, true);
    const pe = e.addPort('E', { driver: 'vfio', pci: E, rxQueues: 2 });
    const pv = e.addPort('V', { driver: 'vfio', pci: V });
    const sink = e.addPort('sink', { driver: 'null' });
    e.echo(pe);
    e.forward(pv, sink);
    expect(pe.info().rss).toBe('hardware');
    await e.start();
    // The 82574 hashes IPv4 addresses for UDP (not ports): vary the source address.
    const fs = frames(128, { dstMac: MAC.E, srcMac: MAC.V, src: (i) => `198.18.2.${1 + (i % 32)}`, dst: '198.18.1.1', sport: () => 7, dport: 9 });
    await sendAll(e, pv, fs);
    expect(await waitFor(() => e.stats().ports.E!.rxPackets >= 128, 20_000)).toBe(true);
    const q = e.stats().ports.E!.queues.rx.map((x) => x.packets);
    expect(q.reduce((a, b) => a + b, 0)).toBe(128);
    expect(Math.min(...q), `per-queue packets ${q}`).toBeGreaterThan(10);
    expect(await waitFor(() => e.stats().ports.V!.rxPackets >= 128, 20_000), 'echoes back at V').toBe(true);
    const t = e.stats().ports.E!;
    expect(t.txPackets).toBe(128);
    if (cpus.length > 1) expect(t.queues.tx.filter((x) => x.packets > 0).length, 'both lcores transmitted').toBe(2);
  });

  it('virtio-net and the host kernel: UDP to the host echo server comes back with valid checksums', async () => {
    const e = await engine();
    const ph = e.addPort('H', { driver: 'vfio', pci: H });
    const file = capture('echo');
    const cap = e.addPort('cap', { driver: 'pcap', txFile: file });
    e.forward(ph, cap);
    expect(ph.info().mac).toBe(MAC.H);
    expect(ph.info().details.rss).toMatch(/VIRTIO_NET_F_RSS/);
    await e.start();
    expect(await waitFor(() => e.stats().ports.H!.linkUp, 10_000), 'H link up').toBe(true);
    const fs = frames(64, { dstMac: MAC.host, srcMac: MAC.H, src: () => '198.18.0.2', dst: '198.18.0.1', sport: (i) => 30000 + i, dport: 7 });
    await sendAll(e, ph, fs);
    const echoes = () => readPcapSafe(file).records.filter((r) => udpPorts(r.data)?.sport === 7).length;
    expect(await waitFor(() => e.stats().ports.cap!.txPackets >= 64, 20_000)).toBe(true);
    await e.stop();
    await e.close();
    const got = readPcap(readFileSync(file)).records.filter((r) => udpPorts(r.data)?.sport === 7);
    expect(got.length, `echoes (all captured: ${echoes()})`).toBe(64);
    const ports = got.map((r) => udpPorts(r.data)!.dport).sort((a, b) => a - b);
    expect(ports).toEqual(fs.map((_, i) => 30000 + i));
    for (const r of got) {
      // The host's checksum offload hands partial checksums to the device (NEEDS_CSUM);
      // the driver finishes them, so every frame checks out.
      expect(ipv4ChecksumOk(r.data)).toBe(true);
      expect(udpChecksumOk(r.data)).toBe(true);
    }
  });

  it('echo over vfio: the host peer sends 16 flows, RSS spreads them over 4 queues, all come back', async () => {
    const e = await engine();
    const ph = e.addPort('H', { driver: 'vfio', pci: H, rxQueues: 4 });
    e.echo(ph);
    expect(ph.info()).toMatchObject({ rxQueues: 4, rss: 'hardware' });
    await e.start();
    await sendAll(e, ph, [peerRequest({ cmd: 'send', id: 11, count: 400, flows: 16, dport: 7777 })]);
    expect(await waitFor(() => e.stats().ports.H!.rxPackets >= 400, 40_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const s = e.stats().ports.H!;
    const q = s.queues.rx.map((x) => x.packets);
    expect(q.filter((n) => n > 0).length, `per-queue packets ${q}`).toBeGreaterThanOrEqual(3);
    expect(s.xstats.queue_pairs).toBe(4);
    await e.stop();
    await e.close();
    const r = await peerReport(11);
    expect(r.sent).toBe(400);
    expect(r.received).toBe(400);
    expect(r.perFlow.every((n) => n === 25)).toBe(true);
  });

  it('a JS handler answers over vfio (pipeline handoff from the lcore)', async () => {
    const e = await engine();
    const ph = e.addPort('H', { driver: 'vfio', pci: H, rxQueues: 2 });
    let handled = 0;
    e.handle(ph, { match: { udpDstPort: 7777 } }, (batch: PacketBatch) => {
      const u8 = batch.bytes;
      for (let i = 0; i < batch.count; i++) {
        const o = batch.offset(i);
        const swap = (a: number, b: number, n: number) => {
          for (let k = 0; k < n; k++) {
            const t = u8[o + a + k]!;
            u8[o + a + k] = u8[o + b + k]!;
            u8[o + b + k] = t;
          }
        };
        swap(0, 6, 6); // MACs
        swap(26, 30, 4); // IPv4 addresses (no options in the peer's frames)
        swap(34, 36, 2); // UDP ports
        batch.reply(i);
        handled++;
      }
    });
    await e.start();
    await sendAll(e, ph, [peerRequest({ cmd: 'send', id: 12, count: 200, flows: 4, dport: 7777 })]);
    expect(await waitFor(() => handled >= 200, 40_000), `handled ${handled}`).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    await e.stop();
    await e.close();
    const r = await peerReport(12);
    expect(r).toMatchObject({ sent: 200, received: 200 });
  });

  it('stop and close give everything back: no mbuf held, no vfio fd left, the NICs open again at once', async () => {
    const e = await engine();
    const pe = e.addPort('E', { driver: 'vfio', pci: E });
    // The null frames are not addressed to V: promiscuous mode (CTRL_RX) lets them in.
    const pv = e.addPort('V', { driver: 'vfio', pci: V, promiscuous: true });
    const ph = e.addPort('H', { driver: 'vfio', pci: H, rxQueues: 2 });
    const src = e.addPort('src', { driver: 'null', packetSize: 60 });
    e.forward(src, pe);
    e.echo(pv);
    e.echo(ph);
    expect(vfioFds().length).toBeGreaterThanOrEqual(4); // container + 3 groups (+ device fds: anon inodes)
    await e.start();
    expect(await waitFor(() => e.stats().ports.V!.rxPackets > 100, 20_000)).toBe(true);
    await e.stop();
    const s = e.stats();
    expect(s.mempool.free.total).toBe(s.mempool.size);
    await e.close();
    expect(vfioFds(), 'container and group fds closed (DMA unmapped with the container)').toEqual([]);
    await wireRoundTrip(50, 50);
  });

  it('a second process: refused while the first owns the NIC, fine after kill -9 of the first', async () => {
    const child = spawn(process.execPath, [join(repo, 'test/vm/child.mjs'), 'wire', E, V], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (code, sig) => r(code ?? (sig ? -1 : null))));
    expect(await waitFor(() => /running \d+/.test(out), 60_000), `child said: ${out}`).toBe(true);
    const e = await engine();
    await expectError(() => e.addPort('E', { driver: 'vfio', pci: E }), 'DEVICE_IN_USE', String(child.pid));
    await e.close();
    child.kill('SIGKILL');
    expect(await exited).toBe(-1);
    // The kernel closed its fds: DMA mappings gone with its container; our open resets the NICs.
    await wireRoundTrip(100, 100);
  });

  it('MEMLOCK_LIMIT: without CAP_IPC_LOCK and with a small ulimit -l, opening says what to run', async () => {
    const cmd = `ulimit -l 64 && exec setpriv --inh-caps=-ipc_lock --ambient-caps=-ipc_lock --bounding-set=-ipc_lock ${process.execPath} ${join(repo, 'test/vm/child.mjs')} open ${E}`;
    const child = spawn('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(out).toMatch(/error MEMLOCK_LIMIT .*ulimit -l unlimited/);
    expect(code).toBe(3);
  });

  it('linerate unbind gives the NICs back to their kernel drivers', async () => {
    for (const pci of [E, H, V]) binder.unbind(pci);
    expect(binder.devices().map((d) => d.driver)).toEqual(['e1000e', 'virtio-pci', 'virtio-pci']);
    expect(await waitFor(() => binder.devices().every((d) => d.interfaces.length === 1), 10_000)).toBe(true);
  });
});

function readPcapSafe(path: string): PcapFile {
  try {
    return readPcap(readFileSync(path));
  } catch {
    return { records: [] } as unknown as PcapFile;
  }
}
