// Engine lifecycle: create/start/stop/close, misuse codes, stop during traffic
// returns every mbuf, restart keeps counting, and how the mempool's memory is
// reported (4 KiB fallback with a warning, hugepages when required).
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type Engine as EngineT } from '../src/index.js';
import { EngineTracker, expectError, lastCpu, stopAndCheckPool, testOptions, waitFor } from './helpers/engine.js';

const engines = new EngineTracker();
afterEach(() => engines.closeAll());

/** null a -> forward -> ring x ~wire~ ring y -> forward -> null b: mbufs in a wire, tx buffers and caches. */
function busyPipeline(e: EngineT): void {
  const a = e.addPort('a', { driver: 'null', packetSize: 64 });
  const x = e.addPort('x', { driver: 'ring', wire: 'w' });
  const y = e.addPort('y', { driver: 'ring', wire: 'w' });
  const b = e.addPort('b', { driver: 'null' });
  e.forward(a, x);
  e.forward(y, b);
}

describe('Engine lifecycle', () => {
  it('creates, starts, stops and closes; state follows', async () => {
    const e = await engines.create();
    expect(e.state).toBe('stopped');
    const a = e.addPort('a', { driver: 'null', count: 100 });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, b);
    expect(e.port('a')).toBe(a);
    expect(e.port('nope')).toBeUndefined();
    await e.start();
    expect(e.state).toBe('running');
    expect(await e.whenSourcesDone(5000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(e.state).toBe('stopped');
    expect(s.ports.a!.rxPackets).toBe(100);
    expect(s.ports.b!.txPackets).toBe(100);
    await e.stop(); // stopping a stopped engine does nothing
    expect(e.state).toBe('stopped');
    await e.close();
    expect(e.state).toBe('closed');
  });

  it('info() describes cores, burst and ports', async () => {
    const e = await engines.create({ burst: 16 });
    e.addPort('a', { driver: 'null', packetSize: 128 });
    e.addPort('r', { driver: 'ring', wire: 'w', rxQueues: 2 });
    const info = e.info();
    expect(info.lcores).toEqual([lastCpu()]);
    expect(info.burst).toBe(16);
    expect(info.tscHz).toBeGreaterThan(0);
    expect(info.mempool.mbufs).toBe(4096);
    expect(info.mempool.dataRoom).toBe(2048);
    expect(info.mempool.headroom).toBe(128);
    expect(info.mempool.slotSize).toBe(info.mempool.mbufHeaderSize + 128 + 2048);
    expect(info.ports.map((p) => [p.id, p.name, p.driver, p.rxQueues, p.rss])).toEqual([
      [0, 'a', 'null', 1, 'none'],
      [1, 'r', 'ring', 2, 'software'],
    ]);
    expect(info.ports[0]!.mac).toBe('02:4c:52:00:00:00');
    expect(info.ports[1]!.mac).toBe('02:4c:52:00:00:01');
    expect(info.ports[1]!.details.wire).toBe('w');
  });

  it('start twice -> ENGINE_RUNNING', async () => {
    const e = await engines.create();
    e.addPort('a', { driver: 'null' });
    await e.start();
    await expectError(() => e.start(), 'ENGINE_RUNNING', 'stop()');
    await stopAndCheckPool(e);
  });

  it('addPort, forward and echo while running -> ENGINE_RUNNING', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null' });
    const b = e.addPort('b', { driver: 'null' });
    await e.start();
    await expectError(() => e.addPort('c', { driver: 'null' }), 'ENGINE_RUNNING');
    await expectError(() => e.forward(a, b), 'ENGINE_RUNNING');
    await expectError(() => e.echo(a), 'ENGINE_RUNNING');
    await stopAndCheckPool(e);
    // Stopped again: configuration is allowed again.
    e.addPort('c', { driver: 'null' });
  });

  it('close() twice is a no-op; stats/info/port.stats/start after close -> ENGINE_CLOSED / PORT_CLOSED', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null' });
    await e.close();
    await e.close(); // idempotent, like stop() and Node's destroy()
    expect(e.state).toBe('closed');
    await Promise.all([e.close(), e.close()]);
    await expectError(() => e.stats(), 'ENGINE_CLOSED');
    await expectError(() => e.info(), 'ENGINE_CLOSED');
    await expectError(() => e.start(), 'ENGINE_CLOSED');
    await expectError(() => e.stop(), 'ENGINE_CLOSED');
    await expectError(() => e.addPort('b', { driver: 'null' }), 'ENGINE_CLOSED');
    await expectError(() => a.stats(), 'PORT_CLOSED', "'a'");
    await expectError(() => a.info(), 'PORT_CLOSED', "'a'");
  });

  it('whenSourcesDone: a ring wire fed by a finite source is done once the source is dry and the wire empty', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 5000 });
    const x = e.addPort('x', { driver: 'ring', wire: 'w' });
    const y = e.addPort('y', { driver: 'ring', wire: 'w' });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, x);
    e.forward(y, b); // y is polled: before, any polled ring port made this false forever
    await e.start();
    expect(await e.whenSourcesDone(5000)).toBe(true);
    const s = e.stats();
    expect(s.ports.b!.txPackets + s.ports.b!.dropped + s.ports.x!.dropped).toBe(5000);
    expect(s.ports.y!.rxPackets).toBe(s.ports.x!.txPackets);
    await stopAndCheckPool(e);
  });

  it('whenSourcesDone: a ring wire fed by an endless source is never done', async () => {
    const e = await engines.create();
    busyPipeline(e);
    await e.start();
    expect(await e.whenSourcesDone(50)).toBe(false);
    await stopAndCheckPool(e);
  });

  it('close() twice at once while running: both resolve, one close happens', async () => {
    const e = await engines.create();
    busyPipeline(e);
    await e.start();
    await Promise.all([e.close(), e.close()]);
    expect(e.state).toBe('closed');
    await e.close();
  });

  it('close() while running stops the lcores first', async () => {
    const e = await engines.create();
    busyPipeline(e);
    await e.start();
    expect(await waitFor(() => e.stats().ports.b!.txPackets > 1000)).toBe(true);
    await e.close();
    expect(e.state).toBe('closed');
  });

  it('stop() during traffic returns every mbuf to the pool', async () => {
    const e = await engines.create();
    busyPipeline(e);
    await e.start();
    expect(await waitFor(() => e.stats().ports.b!.txPackets > 10_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    // Nothing is created or lost: what a produced went out of b, or was dropped on the way,
    // or was on the wire / in a tx buffer at stop (given back).
    expect(s.ports.x!.txPackets).toBeLessThanOrEqual(s.ports.a!.rxPackets);
    expect(s.ports.y!.rxPackets).toBeLessThanOrEqual(s.ports.x!.txPackets);
    expect(s.ports.b!.txPackets).toBeLessThanOrEqual(s.ports.y!.rxPackets);
    expect(s.ports.a!.drops.noMbuf).toBe(0);
  });

  it('restarts after stop, and the counters keep counting', async () => {
    const e = await engines.create();
    busyPipeline(e);
    await e.start();
    expect(await waitFor(() => e.stats().ports.b!.txPackets > 1000)).toBe(true);
    const first = await stopAndCheckPool(e);
    await e.start();
    expect(e.state).toBe('running');
    const target = first.ports.b!.txPackets + 1000;
    expect(await waitFor(() => e.stats().ports.b!.txPackets > target)).toBe(true);
    const second = await stopAndCheckPool(e);
    expect(second.ports.a!.rxPackets).toBeGreaterThan(first.ports.a!.rxPackets);
    expect(second.ports.b!.txPackets).toBeGreaterThan(target);
    expect(second.lcores[0]!.loops).toBeGreaterThan(first.lcores[0]!.loops);
    // A third cycle, for good measure.
    await e.start();
    await stopAndCheckPool(e);
  });

  it('counters stay still while stopped', async () => {
    const e = await engines.create();
    busyPipeline(e);
    await e.start();
    expect(await waitFor(() => e.stats().ports.b!.txPackets > 1000)).toBe(true);
    const s1 = await stopAndCheckPool(e);
    await new Promise((r) => setTimeout(r, 50));
    const s2 = e.stats();
    expect(s2.ports.a!.rxPackets).toBe(s1.ports.a!.rxPackets);
    expect(s2.ports.b!.txPackets).toBe(s1.ports.b!.txPackets);
  });

  it('an engine with no polled port starts and stops', async () => {
    const e = await engines.create();
    e.addPort('a', { driver: 'null' });
    await e.start();
    await stopAndCheckPool(e);
    // Nothing is a finite source: whenSourcesDone says false rather than hanging.
    expect(await e.whenSourcesDone(50)).toBe(false);
  });

  it('whenSourcesDone(0) polls: false while a finite source still gives, true once it is dry (what the examples loop on)', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 2000 });
    e.forward(a, e.addPort('b', { driver: 'null' }));
    await e.start();
    expect(await waitFor(async () => e.whenSourcesDone(0), 5000)).toBe(true);
    expect(e.stats().ports.b!.txPackets).toBe(2000);
    await stopAndCheckPool(e);
  });

  it('stats() reports lcores and the mempool', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null', count: 5000 });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, b);
    await e.start();
    expect(await e.whenSourcesDone(5000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(s.lcores).toHaveLength(1);
    expect(s.lcores[0]!.cpu).toBe(lastCpu());
    expect(s.lcores[0]!.packets).toBeGreaterThanOrEqual(5000);
    expect(s.lcores[0]!.busyPercent).toBeGreaterThanOrEqual(0);
    expect(s.lcores[0]!.busyPercent).toBeLessThanOrEqual(100);
    expect(s.mempool.size).toBe(4096);
    expect(s.mempool.allocFailures).toBe(0);
    expect(s.ports.a!.rxBytes).toBe(5000 * 64);
    expect(s.ports.b!.txBytes).toBe(5000 * 64);
    expect(a.stats()).toEqual({ ...s.ports.a, xstats: a.stats().xstats });
    expect(a.stats().xstats.produced).toBe(5000);
  });

  it('adaptive idle on queues that cannot wake the lcore (null, ring) sleeps in steps and never blocks', async () => {
    const e = await engines.create({ maxWaitUs: 5000 });
    const a = e.addPort('a', { driver: 'null', count: 10 });
    const b = e.addPort('b', { driver: 'null' });
    e.forward(a, b);
    await e.start();
    expect(await waitFor(() => e.stats().lcores[0]!.sleeps > 100, 5000)).toBe(true);
    const l = e.stats().lcores[0]!;
    expect(l).toMatchObject({ waitsOnFds: false, waits: 0, wakeups: 0, waitTimeouts: 0 });
    await stopAndCheckPool(e);
  });

  it('rss.key on a driver that spreads its queues without a key it takes -> RSS_KEY_UNSUPPORTED', async () => {
    const e = await engines.create();
    await expectError(() => e.addPort('n', { driver: 'null', rxQueues: 2, rss: { key: new Uint8Array(40) } }), 'RSS_KEY_UNSUPPORTED', 'rss.key', 'null');
    // Software RSS takes it (the ring driver has none of its own), and a failed addPort left no port behind.
    e.addPort('r', { driver: 'ring', wire: 'w', rxQueues: 2, rss: { key: new Uint8Array(40).fill(7) } });
    expect(e.info().ports.map((p) => p.name)).toEqual(['r']);
  });

  it('rss.symmetric on a port that spreads its queues itself -> INVALID_OPTION, not silently ignored', async () => {
    const e = await engines.create();
    await expectError(() => e.addPort('n', { driver: 'null', rxQueues: 2, rss: { symmetric: true } }), 'INVALID_OPTION', 'rss.symmetric', 'null');
    // Software RSS hashes symmetrically itself.
    e.addPort('r', { driver: 'ring', wire: 'w', rxQueues: 2, rss: { symmetric: true } });
    expect(e.info().ports.map((p) => p.name)).toEqual(['r']);
  });
});

describe('mempool memory', () => {
  it("hugepages: 'off' -> 4K pages, hugepages false, and a warning that says why", async () => {
    const e = await engines.create({ mempool: { hugepages: 'off' } });
    const m = e.info().mempool;
    expect(m.hugepages).toBe(false);
    expect(m.pageKind).toBe('4K');
    expect(m.source).toMatch(/4KiB/);
    expect(m.warning.length).toBeGreaterThan(0);
    expect(m.warning).toMatch(/hugepages/i);
    const s = e.stats().mempool;
    expect(s.hugepages).toBe(false);
    expect(s.pageKind).toBe('4K');
    expect(s.warning).toBe(m.warning);
  });

  // Both branches are tested: CI reserves hugepages, a laptop usually has none.
  // 512 mbufs of 2240 bytes fit in one 2 MiB page.
  const free2M = Engine.hostInfo().hugepages2M;
  it(`hugepages: 'require' (${free2M} free 2 MiB pages on this host) -> ${free2M > 0 ? 'hugepage-backed pool' : 'HUGEPAGES_UNAVAILABLE'}`, async () => {
    const opts = testOptions({ mempool: { mbufs: 512, hugepages: 'require', hugepageSize: '2M' } });
    if (free2M > 0) {
      const e = await engines.create(opts, true);
      const m = e.info().mempool;
      expect(m.hugepages).toBe(true);
      expect(m.pageKind).toBe('2M');
      expect(m.warning).toBe('');
      expect(e.stats().mempool.hugepages).toBe(true);
    } else {
      const err = await expectError(() => Engine.create(opts), 'HUGEPAGES_UNAVAILABLE');
      // The message says what to run.
      expect(err.message).toMatch(/nr_hugepages|hugepages/);
    }
  });

  it("hugepages: 'auto' on this host matches what the host offers", async () => {
    const e = await engines.create({ mempool: { mbufs: 512, hugepages: 'auto' } });
    const m = e.info().mempool;
    if (!m.hugepages) {
      expect(m.pageKind).toBe('4K');
      expect(m.warning.length).toBeGreaterThan(0);
    } else {
      expect(m.pageKind).not.toBe('4K');
    }
  });
});
