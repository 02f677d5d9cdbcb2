// Adaptive idle on vfio ports, inside the QEMU guest: an lcore whose queues are
// all on vfio NICs blocks on their MSI-X eventfds while idle (interrupt waits,
// almost no CPU) instead of sleeping in steps, and still receives every frame,
// byte for byte, when traffic starts. Skipped outside the guest.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/index.js';
import { EngineTracker, waitFor } from '../helpers/engine.js';
import { readPcap, tempDir, udp4Frame } from '../helpers/pcap.js';
import { bindNics, E, GUEST, lastCpu, MAC, restoreNics, rxSettled, threadTicks, V } from './nics.js';

const engines = new EngineTracker();
const tmp = GUEST ? tempDir('lrvm-idle-') : undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU share of the lcore thread over `ms` milliseconds, in percent, and what its counters did meanwhile. */
async function measureIdle(e: Engine, ms: number) {
  const s0 = e.stats().lcores[0]!;
  const t0 = threadTicks('lr-lcore-0');
  await sleep(ms);
  const t1 = threadTicks('lr-lcore-0');
  const s1 = e.stats().lcores[0]!;
  return {
    cpuPercent: ((t1 - t0) * 10 * 100) / ms,
    waits: s1.waits - s0.waits,
    timeouts: s1.waitTimeouts - s0.waitTimeouts,
    wakeups: s1.wakeups - s0.wakeups,
    sleeps: s1.sleeps - s0.sleeps,
    packets: s1.packets - s0.packets,
  };
}

// Frames tagged per batch (first payload byte), so frames an earlier test left on the wire are not counted as ours.
let lastTag = 0x40;
function frames(n: number, srcMac: string, dstMac: string, src: string, dst: string) {
  const tag = ++lastTag;
  return Array.from({ length: n }, (_, i) =>
    udp4Frame({ dstMac, srcMac, src, dst, sport: 3000 + i, dport: 9, payload: Uint8Array.from({ length: 40 }, (_, k) => (k === 0 ? tag : (i * 7 + k) & 0xff)) }),
  );
}

async function sendAll(e: Engine, port: ReturnType<Engine['addPort']>, fs: Uint8Array[]): Promise<void> {
  let sent = 0;
  for (let tries = 0; sent < fs.length && tries < 200; tries++) {
    sent += e.send(port, fs.slice(sent));
    if (sent < fs.length) await sleep(10);
  }
  expect(sent, 'frames handed to the NIC').toBe(fs.length);
}

describe.skipIf(!GUEST)('adaptive idle on vfio ports: MSI-X interrupts wake the lcore', () => {
  beforeAll(() => bindNics());
  afterEach(() => engines.closeAll());
  afterAll(() => {
    restoreNics();
    tmp?.cleanup();
  });

  it('an idle lcore on e1000e + virtio-net blocks on their interrupts (low CPU), then receives every frame byte for byte', async () => {
    const e = await engines.create({ lcores: [lastCpu()], idle: 'adaptive', mempool: { mbufs: 8192, hugepages: 'auto' } }, true);
    const pe = e.addPort('E', { driver: 'vfio', pci: E });
    const pv = e.addPort('V', { driver: 'vfio', pci: V });
    const capE = tmp!.path(`idle-E-${Date.now()}.pcap`);
    const capV = tmp!.path(`idle-V-${Date.now()}.pcap`);
    e.forward(pe, e.addPort('capE', { driver: 'pcap', txFile: capE }));
    e.forward(pv, e.addPort('capV', { driver: 'pcap', txFile: capV }));
    await e.start();
    expect(await waitFor(() => e.stats().ports.E!.linkUp && e.stats().ports.V!.linkUp, 10_000), 'links up').toBe(true);
    // Both polled queues are on vfio NICs with an MSI-X vector each: the lcore may block.
    const s = e.stats();
    expect(s.lcores[0]!.waitsOnFds).toBe(true);
    expect(s.ports.E!.xstats.rx_wakeup_vectors).toBe(1);
    expect(s.ports.V!.xstats.rx_wakeup_vectors).toBe(1);
    // Let what an earlier test left on the wire arrive first.
    await rxSettled(e);

    // Idle: blocked in interrupt waits (each ends by an interrupt or by maxWaitUs, 10 ms), never nanosleeping.
    const idle = await measureIdle(e, 3000);
    console.log(`vm: idle lcore on vfio (interrupt waits): ${idle.cpuPercent.toFixed(1)}% CPU over 3 s, ${idle.waits} waits, ${idle.timeouts} timed out, ${idle.wakeups} interrupt wake-ups, ${idle.sleeps} sleeps`);
    expect(idle.waits, 'interrupt waits while idle').toBeGreaterThan(0);
    expect(idle.sleeps, 'no nanosleep steps').toBe(0);
    expect(idle.cpuPercent, 'CPU of the idle lcore thread').toBeLessThan(25);

    // Traffic, one direction at a time, in small groups with pauses so the lcore
    // goes back to its wait between them: E -> V wakes it through virtio-net's
    // MSI-X vector, V -> E through the 82574's.
    const base = e.stats();
    const ev = frames(200, MAC.E, MAC.V, '198.18.3.1', '198.18.3.2');
    const ve = frames(150, MAC.V, MAC.E, '198.18.3.2', '198.18.3.1');
    const wakeups = async (port: ReturnType<Engine['addPort']>, fs: Uint8Array[]) => {
      const w0 = e.stats().lcores[0]!.wakeups;
      for (let i = 0; i < fs.length; i += 25) {
        await sendAll(e, port, fs.slice(i, i + 25));
        await sleep(150);
      }
      return e.stats().lcores[0]!.wakeups - w0;
    };
    const byVirtio = await wakeups(pe, ev);
    const byE1000e = await wakeups(pv, ve);
    expect(
      await waitFor(() => {
        const t = e.stats();
        return t.ports.capV!.txPackets - base.ports.capV!.txPackets >= ev.length && t.ports.capE!.txPackets - base.ports.capE!.txPackets >= ve.length;
      }, 30_000),
      'every frame captured',
    ).toBe(true);
    const after = e.stats().lcores[0]!;
    console.log(
      `vm: traffic in groups of 25 frames: ${byVirtio} wake-ups by virtio-net (V) interrupts for ${ev.length} frames, ` +
        `${byE1000e} by 82574 (E) interrupts for ${ve.length}; ${after.waitTimeouts - base.lcores[0]!.waitTimeouts} timed-out waits meanwhile`,
    );
    expect(byVirtio, 'wake-ups by virtio-net rx interrupts').toBeGreaterThan(0);
    expect(byE1000e, 'wake-ups by 82574 rx interrupts').toBeGreaterThan(0);
    await e.stop();
    const st = e.stats();
    expect(st.mempool.free.total, 'every mbuf back after stop').toBe(st.mempool.size);
    await e.close();
    const ours = (file: string, tag: number) =>
      readPcap(readFileSync(file))
        .records.filter((r) => r.data.length > 42 && r.data[42] === tag)
        .map((r) => Buffer.from(r.data).toString('hex'));
    expect(ours(capV, ev[0]![42]!)).toEqual(ev.map((f) => Buffer.from(f).toString('hex')));
    expect(ours(capE, ve[0]![42]!)).toEqual(ve.map((f) => Buffer.from(f).toString('hex')));
  });

  it('for comparison: the same idle lcore on a port without wake-up fds sleeps in steps', async () => {
    const e = await engines.create({ lcores: [lastCpu()], idle: 'adaptive', mempool: { mbufs: 2048, hugepages: 'auto' } }, true);
    e.forward(e.addPort('src', { driver: 'null', count: 1 }), e.addPort('sink', { driver: 'null' }));
    await e.start();
    await sleep(500);
    const idle = await measureIdle(e, 3000);
    console.log(`vm: idle lcore without wake-up fds (nanosleep steps): ${idle.cpuPercent.toFixed(1)}% CPU over 3 s, ${idle.sleeps} sleeps`);
    expect(e.stats().lcores[0]!.waitsOnFds).toBe(false);
    expect(idle.waits).toBe(0);
    expect(idle.sleeps).toBeGreaterThan(0);
  });
});
