// No silent failure: the engine's watchdog (src/watchdog.ts) raises a 'warning' when a condition starts, a
// 'warningCleared' when it ends, and engine.warnings() lists those active. Each test makes one condition happen.
import { spawn } from 'node:child_process';
import { describe, expect, it, vi } from 'vitest';
import type { Engine, EngineWarning, EngineWarningCode } from '../src/index.js';
import { expectError, lastCpu, perTestBed, stopAndCheckPool, waitFor } from './helpers/engine.js';

const { engines } = perTestBed();
const fixtures = new URL('./fixtures/handlers.mjs', import.meta.url);
/** Fast looks so the tests stay short (the default is once a second). */
const fast = { intervalMs: 100 };

function record(e: Engine): { raised: EngineWarning[]; cleared: EngineWarning[]; first(code: EngineWarningCode): Promise<EngineWarning | undefined> } {
  const raised: EngineWarning[] = [];
  const cleared: EngineWarning[] = [];
  e.on('warning', (w: EngineWarning) => raised.push(w));
  e.on('warningCleared', (w: EngineWarning) => cleared.push(w));
  return {
    raised,
    cleared,
    async first(code) {
      await waitFor(() => raised.some((w) => w.code === code), 8_000);
      return raised.find((w) => w.code === code);
    },
  };
}

describe('engine warnings', () => {
  it('LINK_DOWN: a ring port whose wire has no other end; listed while active, cleared at stop', async () => {
    const e = await engines.create({ warnings: fast });
    const p = e.addPort('lonely', { driver: 'ring', wire: 'lrt-warn-lonely' });
    e.echo(p);
    const r = record(e);
    await e.start();
    const w = await r.first('LINK_DOWN');
    expect(w).toMatchObject({ code: 'LINK_DOWN', port: 'lonely', key: 'LINK_DOWN:lonely' });
    expect(w!.message).toContain("port 'lonely' (ring): link down");
    expect(e.warnings().map((x) => x.key)).toContain('LINK_DOWN:lonely');
    // A link that is down is not also "receiving nothing".
    expect(r.raised.filter((x) => x.code === 'NO_RX')).toEqual([]);
    await stopAndCheckPool(e);
    expect(r.cleared.map((x) => x.key)).toContain('LINK_DOWN:lonely');
    expect(e.warnings()).toEqual([]);
  });

  it('NO_RX: a polled ring port whose peer never sends; cleared when a packet arrives; a port nobody polls stays quiet', async () => {
    const e = await engines.create({ warnings: { ...fast, idleRxSeconds: 0.5 } });
    const a = e.addPort('a', { driver: 'ring', wire: 'lrt-warn-quiet' });
    const b = e.addPort('b', { driver: 'ring', wire: 'lrt-warn-quiet' });
    e.echo(a);
    const r = record(e);
    await e.start();
    const w = await r.first('NO_RX');
    expect(w).toMatchObject({ code: 'NO_RX', port: 'a' });
    expect(w!.message).toContain("port 'a' (ring) is up and polled but received nothing");
    expect(r.raised.some((x) => x.port === 'b')).toBe(false);
    // The peer speaks: the condition ends.
    expect(e.send(b, [new Uint8Array(64).fill(0xaa)])).toBe(1);
    expect(await waitFor(() => r.cleared.some((x) => x.key === 'NO_RX:a'))).toBe(true);
    expect(e.warnings().some((x) => x.code === 'NO_RX')).toBe(false);
    await stopAndCheckPool(e);
  });

  it('ALL_DROPPED: forwarding into a wire nobody reads (every packet a txFull drop)', async () => {
    const e = await engines.create({ warnings: fast });
    const src = e.addPort('src', { driver: 'null', packetSize: 64, rate: 200_000 });
    const out = e.addPort('out', { driver: 'ring', wire: 'lrt-warn-full', size: 64 });
    e.addPort('deaf', { driver: 'ring', wire: 'lrt-warn-full', size: 64 });
    e.forward(src, out);
    const r = record(e);
    await e.start();
    const w = await r.first('ALL_DROPPED');
    expect(w).toBeDefined();
    expect(w!.message).toContain('every received packet is being dropped');
    expect(w!.message).toContain('out.txFull');
    expect(w!.value).toBeGreaterThan(0);
    await stopAndCheckPool(e);
  });

  it('MEMPOOL_LOW: a null port into a wire larger than the pool (the wire holds every mbuf)', async () => {
    const e = await engines.create({ warnings: fast, mempool: { mbufs: 2048 } });
    const src = e.addPort('src', { driver: 'null', packetSize: 64, rate: 500_000 });
    const out = e.addPort('out', { driver: 'ring', wire: 'lrt-warn-pool', size: 4096 });
    e.addPort('deaf', { driver: 'ring', wire: 'lrt-warn-pool', size: 4096 });
    e.forward(src, out);
    const r = record(e);
    await e.start();
    const w = await r.first('MEMPOOL_LOW');
    expect(w).toBeDefined();
    expect(w!.value).toBeLessThan(0.05);
    expect(w!.message).toMatch(/In use: driver \d+/);
    expect(e.warnings().some((x) => x.code === 'MEMPOOL_LOW')).toBe(true);
    await stopAndCheckPool(e);
    expect(r.cleared.some((x) => x.code === 'MEMPOOL_LOW')).toBe(true);
  });

  it('HANDLER_RING_FULL: a worker handler that takes 20 ms per burst falls behind', async () => {
    const e = await engines.create({ warnings: fast });
    const p = e.addPort('p', { driver: 'null', packetSize: 64, rate: 100_000 });
    e.handleInWorkers(p, { module: fixtures, export: 'slowDrop', ringSize: 256 });
    const r = record(e);
    await e.start();
    const w = await r.first('HANDLER_RING_FULL');
    expect(w).toMatchObject({ code: 'HANDLER_RING_FULL', port: 'p', queue: 0 });
    expect(w!.value).toBeGreaterThan(0.75);
    expect(w!.message).toContain("the handler of port 'p' queue 0 is behind");
    await stopAndCheckPool(e);
  });

  it('WORKER_DIED: a worker module that calls process.exit', async () => {
    const e = await engines.create({ warnings: fast });
    const p = e.addPort('p', { driver: 'null', packetSize: 64, rate: 10_000 });
    e.handleInWorkers(p, { module: fixtures, export: 'exitMidBurst' });
    const r = record(e);
    await e.start();
    const w = await r.first('WORKER_DIED');
    expect(w).toMatchObject({ code: 'WORKER_DIED', port: 'p', queue: 0, value: 3 });
    expect(e.warnings().some((x) => x.key === 'WORKER_DIED:p:0')).toBe(true);
    await stopAndCheckPool(e);
    expect(e.warnings()).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('LCORE_DESCHEDULED: a busy lcore sharing its CPU with a higher-priority hog', async () => {
    const cpu = lastCpu();
    // A shell loop pinned to the lcore's CPU at nice -19: the scheduler gives it nearly all of that CPU.
    const hog = spawn('nice', ['-n', '-19', 'taskset', '-c', String(cpu), 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' });
    try {
      // minCpuShare 0.8: even where nice -19 is not allowed (no CAP_SYS_NICE) an equal-priority hog halves the lcore's share.
      const e = await engines.create({ warnings: { intervalMs: 300, minCpuShare: 0.8 }, idle: 'busy', lcores: [cpu] });
      e.forward(e.addPort('a', { driver: 'null', packetSize: 64 }), e.addPort('b', { driver: 'null' }));
      const r = record(e);
      await e.start();
      expect(e.stats().lcores[0]!.tid).toBeGreaterThan(0);
      const w = await r.first('LCORE_DESCHEDULED');
      expect(w).toMatchObject({ code: 'LCORE_DESCHEDULED', lcore: 0, cpus: [cpu] });
      expect(w!.value).toBeLessThan(0.8);
      expect(w!.message).toContain(`lcore 0 on CPU ${cpu} ran`);
      await stopAndCheckPool(e);
    } finally {
      hog.kill('SIGKILL');
    }
  });

  it('without a listener each code is printed once to stderr; warnings() still lists every one', async () => {
    const e = await engines.create({ warnings: fast });
    e.echo(e.addPort('x', { driver: 'ring', wire: 'lrt-warn-x' }));
    e.echo(e.addPort('y', { driver: 'ring', wire: 'lrt-warn-y' }));
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      await e.start();
      expect(await waitFor(() => e.warnings().filter((w) => w.code === 'LINK_DOWN').length === 2)).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      const lines = printed.mock.calls.map((a) => String(a[0])).filter((l) => l.startsWith('linerate: warning:') && l.includes('link down'));
      expect(lines.length).toBe(1);
      await stopAndCheckPool(e);
    } finally {
      printed.mockRestore();
    }
  });

  it('bad thresholds are refused by name', async () => {
    await expectError(() => engines.create({ warnings: { idleRxSeconds: -1 } }), 'INVALID_OPTION', "'idleRxSeconds'");
    await expectError(() => engines.create({ warnings: { intervalMs: 5 } }), 'INVALID_OPTION', "'intervalMs'");
    await expectError(() => engines.create({ warnings: { idleRx: 3 } as never }), 'UNKNOWN_OPTION', "'idleRx'");
  });

  it('enabled: false runs no watchdog', async () => {
    const e = await engines.create({ warnings: { ...fast, enabled: false } });
    e.echo(e.addPort('lonely', { driver: 'ring', wire: 'lrt-warn-off' }));
    const r = record(e);
    await e.start();
    await new Promise((res) => setTimeout(res, 300));
    expect(r.raised).toEqual([]);
    await stopAndCheckPool(e);
  });
});
