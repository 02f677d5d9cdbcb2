// The mempool under pressure and its accounting: an empty pool is a counted
// drop (never a stall or a crash), every mbuf is in exactly one place, and a
// stop gives every one of them back.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Engine } from '../src/index.js';
import { perTestBed, readPcapFile, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { hex, udp4Frame, writePcap } from './helpers/pcap.js';

const { engines, tmp } = perTestBed();

/** null a (endless) -> forward -> ring x ~wire~ ring y, which nobody polls: the wire fills up with the whole pool. */
async function drainless(mbufs: number, cacheSize?: number): Promise<Engine> {
  const e = await engines.create({ mempool: { mbufs, ...(cacheSize !== undefined ? { cacheSize } : {}) } });
  const a = e.addPort('a', { driver: 'null' });
  const x = e.addPort('x', { driver: 'ring', wire: 'w', size: 1024 });
  e.addPort('y', { driver: 'ring', wire: 'w', size: 1024 });
  e.forward(a, x);
  return e;
}

describe('mempool exhaustion', () => {
  for (const cacheSize of [undefined, 0]) {
    it(`a pool smaller than the pipeline needs: noMbuf and allocFailures counted, the engine runs on, all mbufs come back (cacheSize ${cacheSize ?? 'default'})`, async () => {
      const e = await drainless(64, cacheSize);
      await e.start();
      expect(await waitFor(() => e.stats().ports.a!.drops.noMbuf > 0 && e.stats().mempool.allocFailures > 0)).toBe(true);
      // Every mbuf ends up on the wire; nothing is lost or in flight.
      expect(await waitFor(() => e.stats().mempool.inUse.driver === 64)).toBe(true);
      const s1 = e.stats();
      expect(s1.mempool.free.total).toBe(0);
      expect(s1.mempool.inUse.inFlight).toBe(0);
      expect(s1.ports.y!.heldMbufs).toBe(64);
      expect(s1.ports.a!.rxPackets).toBe(64);
      expect(s1.ports.x!.txPackets).toBe(64);
      expect(s1.ports.x!.drops.txFull).toBe(0);
      // Still running: the lcore keeps looping and keeps counting the misses.
      expect(e.state).toBe('running');
      const loops = s1.lcores[0]!.loops;
      const misses = s1.ports.a!.drops.noMbuf;
      expect(await waitFor(() => e.stats().lcores[0]!.loops > loops && e.stats().ports.a!.drops.noMbuf > misses)).toBe(true);
      const s2 = e.stats();
      expect(s2.ports.a!.dropped).toBe(s2.ports.a!.drops.noMbuf);
      const s = await stopAndCheckPool(e);
      expect(s.ports.y!.heldMbufs).toBe(0);
    });
  }

  it('after an exhaustion, a restart runs again from a full pool', async () => {
    const e = await drainless(64);
    await e.start();
    expect(await waitFor(() => e.stats().ports.a!.drops.noMbuf > 0)).toBe(true);
    const first = await stopAndCheckPool(e);
    await e.start();
    expect(await waitFor(() => e.stats().ports.a!.rxPackets >= first.ports.a!.rxPackets + 64)).toBe(true);
    expect(await waitFor(() => e.stats().mempool.inUse.driver === 64)).toBe(true);
    await stopAndCheckPool(e);
  });

  it('a pcap replay through a tiny pool waits for mbufs and loses no record', async () => {
    const frames = Array.from({ length: 2000 }, (_, i) => udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: i, dport: 9, payload: i % 300 }));
    const inFile = tmp.path('in.pcap');
    const outFile = tmp.path('out.pcap');
    writeFileSync(inFile, writePcap(frames));
    const e = await engines.create({ mempool: { mbufs: 128 } });
    const src = e.addPort('src', { driver: 'pcap', rxFile: inFile });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w' });
    const out = e.addPort('out', { driver: 'pcap', txFile: outFile });
    e.forward(src, x);
    e.forward(y, out);
    await e.start();
    expect(await waitFor(() => e.stats().ports.out!.txPackets >= frames.length, 10_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(s.ports.out!.txPackets).toBe(frames.length);
    for (const p of ['src', 'x', 'y', 'out']) expect(s.ports[p]!.dropped, p).toBe(0);
    const recs = readPcapFile(outFile).records;
    expect(recs).toHaveLength(frames.length);
    recs.forEach((r, i) => expect(hex(r.data)).toBe(hex(frames[i]!)));
  });
});

describe('mempool accounting', () => {
  it('while a ring wire holds packets, inUse.driver equals the held count', async () => {
    const N = 100;
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: N });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w' });
    e.forward(a, x);
    await e.start();
    expect(await e.whenSourcesDone(5000)).toBe(true);
    const s = e.stats();
    expect(s.ports.y!.heldMbufs).toBe(N); // towards y, which nobody polls
    expect(s.ports.x!.heldMbufs).toBe(0);
    expect(s.mempool.inUse.driver).toBe(N);
    expect(s.mempool.inUse.total).toBe(N);
    expect(s.mempool.inUse.inFlight).toBe(0);
    expect(s.mempool.inUse.rings).toBe(0);
    expect(s.mempool.free.total).toBe(s.mempool.size - N);
    expect(s.mempool.free.pool + s.mempool.free.caches).toBe(s.mempool.free.total);
    expect(x.stats().txPackets).toBe(N);
    expect(y.stats().rxPackets).toBe(0);
    const after = await stopAndCheckPool(e);
    expect(after.mempool.inUse.total).toBe(0);
    expect(after.mempool.free.caches).toBe(0); // stop flushes the lcore caches into the pool
  });

  it('held mbufs of a wire stay accounted across stop/start of an engine that does not poll it', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 40 });
    const x = e.addPort('x', { driver: 'ring', wire: 'w', size: 64 });
    e.addPort('y', { driver: 'ring', wire: 'w', size: 64 });
    e.forward(a, x);
    await e.start();
    expect(await e.whenSourcesDone(5000)).toBe(true);
    expect(e.stats().mempool.inUse.driver).toBe(40);
    await stopAndCheckPool(e);
  });

  it('free + inUse = size at every snapshot while traffic runs', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null' });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w', rxQueues: 2 });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, x);
    e.forward(y, b);
    await e.start();
    for (let i = 0; i < 50; i++) {
      const m = e.stats().mempool;
      expect(m.free.total + m.inUse.total).toBe(m.size);
      expect(m.free.total).toBeLessThanOrEqual(m.size);
      expect(m.inUse.driver).toBeGreaterThanOrEqual(0);
      expect(m.inUse.rings).toBeGreaterThanOrEqual(0);
      await new Promise((r) => setTimeout(r, 2));
    }
    const s = await stopAndCheckPool(e);
    expect(s.mempool.inUse.rings).toBe(0);
  });
});
