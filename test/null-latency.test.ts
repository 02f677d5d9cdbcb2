// The null driver's benchmark options: rate (a token bucket on rx), stamp (rx
// timestamps) and latency (a histogram on tx, read through xstats). Behaviour
// only: exact counts and orderings, and for the rate an upper bound no slow or
// loaded machine can break (a token bucket never gives more than its credit).
import { afterEach, describe, expect, it } from 'vitest';
import type { EngineStats } from '../src/index.js';
import { EngineTracker, expectError, stopAndCheckPool, waitFor } from './helpers/engine.js';

const engines = new EngineTracker();
afterEach(async () => {
  await engines.closeAll();
});

function latency(s: EngineStats, port: string) {
  const x = s.ports[port].xstats;
  return {
    count: x.latency_count,
    p50: x.latency_p50_ns,
    p99: x.latency_p99_ns,
    p999: x.latency_p999_ns,
    max: x.latency_max_ns,
    mean: x.latency_mean_ns,
  };
}

function expectOrdered(l: ReturnType<typeof latency>): void {
  expect(l.p50).toBeGreaterThan(0);
  expect(l.p50).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.p999);
  expect(l.p999).toBeLessThanOrEqual(l.max);
  expect(l.mean).toBeLessThanOrEqual(l.max);
}

describe('null driver: rate', () => {
  it('with rate and count the source stops at exactly count', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 1000, rate: 1_000_000 });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, b);
    expect(e.info().ports[0].details.rate).toBe('1000000');
    await e.start();
    expect(await e.whenSourcesDone(20_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(s.ports.a.rxPackets).toBe(1000);
    expect(s.ports.a.xstats.produced).toBe(1000);
    expect(s.ports.b.txPackets).toBe(1000);
  });

  it('with rate and count over two rx queues, each queue gives its share and the total is count', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 1001, rate: 2_000_000, rxQueues: 2 });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, b);
    await e.start();
    expect(await e.whenSourcesDone(20_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(s.ports.a.rxPackets).toBe(1001);
    expect(s.ports.b.txPackets).toBe(1001);
  });

  it('never gives more than one burst plus rate x elapsed time', async () => {
    const rate = 1000;
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', rate });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, b);
    const t0 = performance.now();
    await e.start();
    // Wait for the first packets, then a little more.
    expect(await waitFor(() => e.stats().ports.a.rxPackets > 0, 10_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    await e.stop();
    const elapsed = (performance.now() - t0) / 1000; // covers every poll the lcore made
    const s = e.stats();
    // An unlimited null source gives millions here; the bucket holds one burst.
    expect(s.ports.a.rxPackets).toBeGreaterThan(0);
    expect(s.ports.a.rxPackets).toBeLessThanOrEqual(e.info().burst + Math.ceil(rate * elapsed) + 1);
    expect(s.mempool.free.total).toBe(s.mempool.size);
  });

  it('rejects a rate that is not a non-negative integer', async () => {
    const e = await engines.create();
    await expectError(() => e.addPort('a', { driver: 'null', rate: -1 }), 'INVALID_OPTION', 'rate');
    await expectError(() => e.addPort('a', { driver: 'null', rate: 1.5 }), 'INVALID_OPTION', 'rate');
    await expectError(() => e.addPort('a', { driver: 'null', stamp: 1 as unknown as boolean }), 'INVALID_OPTION', 'stamp');
  });
});

describe('null driver: stamp and latency', () => {
  it('latency_count equals the packets transmitted, and p50 <= p99 <= p99.9 <= max', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 20_000, stamp: true, rate: 2_000_000 });
    const b = e.addPort('b', { driver: 'null', latency: true });
    e.forward(a, b);
    await e.start();
    expect(await e.whenSourcesDone(20_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(s.ports.b.txPackets).toBe(20_000);
    const l = latency(s, 'b');
    expect(l.count).toBe(s.ports.b.txPackets);
    expectOrdered(l);
  });

  it('counts only timestamped packets: an unstamped source gives latency_count 0', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 5000 });
    const b = e.addPort('b', { driver: 'null', latency: true });
    e.forward(a, b);
    await e.start();
    expect(await e.whenSourcesDone(20_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(s.ports.b.txPackets).toBe(5000);
    expect(latency(s, 'b')).toEqual({ count: 0, p50: 0, p99: 0, p999: 0, max: 0, mean: 0 });
    // Without latency: true the sink has no latency counters at all.
    expect(s.ports.a.xstats.latency_count).toBeUndefined();
  });

  it('through a JS handler: every forwarded packet is measured once', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 3000, stamp: true, rate: 1_000_000 });
    const b = e.addPort('b', { driver: 'null', latency: true });
    e.handle(a, (batch) => {
      for (let i = 0; i < batch.count; i++) {
        if (i % 3 === 2) batch.drop(i);
        else batch.forward(i, b);
      }
    });
    await e.start();
    // A sleeping consumer may miss some to a full ring (counted): every packet is handled or counted.
    const seen = () => {
      const p = e.stats().ports.a;
      return (p.handler?.packets ?? 0) + p.drops.handlerRingFull;
    };
    expect(await waitFor(() => seen() === 3000, 20_000)).toBe(true);
    expect(await e.whenSourcesDone(20_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    const h = s.ports.a.handler!;
    expect(h.forwarded + h.dropped).toBe(h.packets);
    expect(h.forwarded).toBeGreaterThan(0);
    expect(s.ports.b.txPackets).toBe(h.forwarded);
    const l = latency(s, 'b');
    expect(l.count).toBe(h.forwarded);
    expectOrdered(l);
  });

  it('resetLatency starts the histogram over; it needs latency: true', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', stamp: true, rate: 200_000 });
    const b = e.addPort('b', { driver: 'null', latency: true });
    e.forward(a, b);
    await e.start();
    expect(await waitFor(() => latency(e.stats(), 'b').count >= 1000, 20_000)).toBe(true);
    e.setPortOptions(b, { resetLatency: true });
    const before = e.stats();
    // Pending (the lcore applies it at its next burst) or applied: either way it starts over.
    expect(latency(before, 'b').count).toBeLessThan(before.ports.b.txPackets);
    expect(await waitFor(() => latency(e.stats(), 'b').count >= 100, 20_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    const l = latency(s, 'b');
    expect(l.count).toBeLessThan(s.ports.b.txPackets);
    expectOrdered(l);
    await expectError(() => e.setPortOptions(a, { resetLatency: true }), 'INVALID_OPTION', 'latency: true');
    await expectError(() => e.setPortOptions(b, { rate: 5 }), 'UNKNOWN_OPTION', 'rate');
  });

  it('an engine restart starts the histogram over', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 2000, stamp: true });
    const b = e.addPort('b', { driver: 'null', latency: true });
    e.forward(a, b);
    for (let run = 0; run < 2; run++) {
      await e.start();
      expect(await e.whenSourcesDone(20_000)).toBe(true);
      const s = await stopAndCheckPool(e);
      expect(s.ports.b.txPackets).toBe(2000 * (run + 1));
      expect(latency(s, 'b').count).toBe(2000);
    }
  });
});
