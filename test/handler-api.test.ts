// The handler API as a user meets it: worker modules with start data, init and
// stop hooks, result counters and messages; inline workers' CPUs checked up
// front and chosen apart from the lcores; async handlers refused loudly; the
// worker error rate limit counted. Each run leaves the pool whole.
import { existsSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Engine, LinerateError, type EngineWarning, type ErrorSource } from '../src/index.js';
import { EngineTracker, expectError, lastCpu, readPcapFile, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { tempDir, udp4Frame, writePcap } from './helpers/pcap.js';

const apiModule = new URL('./fixtures/worker-api.mjs', import.meta.url);
const miscModule = new URL('./fixtures/worker-misc.mjs', import.meta.url);
const engines = new EngineTracker();
const tmp = tempDir('linerate-handler-api-');
afterEach(async () => {
  vi.restoreAllMocks();
  await engines.closeAll();
});

beforeAll(() => {
  expect(existsSync(new URL('../dist/src/handler/worker.js', import.meta.url)), 'dist/ is built (npm run build:ts)').toBe(true);
});

function frames(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) =>
    udp4Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.0.1', dst: '198.18.0.2', sport: 1000 + (i % 60000), dport: 9, payload: 16 }),
  );
}

let files = 0;
function pcapIn(fs: Uint8Array[]): string {
  const path = tmp.path(`in-${files++}.pcap`);
  writeFileSync(path, writePcap(fs));
  return path;
}

describe('worker modules: start data, init and stop hooks, results', () => {
  for (const mode of ['pipeline', 'inline'] as const) {
    it(`data reaches init, init's handler runs, counters and messages come back, stop runs last (${mode})`, async () => {
      const input = frames(100);
      const out = tmp.path(`tag-${mode}.pcap`);
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn(input), txFile: out });
      const messages: { message: unknown; where: { port: string; queue: number } }[] = [];
      e.on('workerMessage', (message: unknown, where: { port: string; queue: number }) => messages.push({ message, where }));
      e.handleInWorkers(p, { module: apiModule, mode, data: { tag: [0xde, 0xad, 0xbe, 0xef] }, counters: 2 });
      expect(e.workerCounters(p).map((c) => c.length)).toEqual([2]);
      await e.start();
      expect(await waitFor(() => (e.stats().ports.p.handler?.replied ?? 0) === input.length)).toBe(true);
      const s = await stopAndCheckPool(e);
      expect(s.ports.p.txPackets).toBe(input.length);
      // The handler init returned wrote the data's tag into every packet.
      for (const r of readPcapFile(out).records) expect([...r.data.subarray(r.data.length - 4)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
      // Counters: live shared memory, readable after stop.
      const [c] = e.workerCounters(p);
      expect(c![0]).toBe(input.length);
      expect(c![1]).toBe(input.reduce((a, f) => a + f.length, 0));
      // Messages: init's hello first, the stop hook's report last, both in before stop() resolved.
      expect(messages.map((m) => m.message)).toEqual([
        { hello: 0, port: 'p', mode, data: true },
        { stopped: 0, packets: input.length },
      ]);
      expect(messages[0]!.where).toEqual({ port: 'p', queue: 0 });
    });
  }

  it('an init that throws fails start() with HANDLER_FAILED and its message; the engine stays usable', async () => {
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'null', packetSize: 64 });
    e.on('error', () => {});
    e.handleInWorkers(p, { module: apiModule, data: { failInit: true } });
    await expectError(() => e.start(), 'HANDLER_FAILED', 'init failed on purpose');
    expect(e.state).toBe('stopped');
    const s = e.stats();
    expect(s.mempool.free.total).toBe(s.mempool.size);
  });

  it('data that cannot be cloned, or a bad counters count, is INVALID_OPTION at handleInWorkers', async () => {
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'null' });
    await expectError(() => e.handleInWorkers(p, { module: apiModule, data: { f: () => 1 } }), 'INVALID_OPTION', 'data', 'structured-clone');
    await expectError(() => e.handleInWorkers(p, { module: apiModule, counters: -1 }), 'INVALID_OPTION', 'counters');
    await expectError(() => e.handleInWorkers(p, { module: apiModule, counters: 1.5 }), 'INVALID_OPTION', 'counters');
  });

  it("the worker's error rate limit: what it holds back is counted (stats) and announced (the next event's suppressed)", async () => {
    const input = frames(4000);
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn(input) });
    const events: ErrorSource[] = [];
    e.on('error', (_err: Error, where: ErrorSource) => events.push(where));
    e.handleInWorkers(p, { module: miscModule, export: 'alwaysThrow' });
    await e.start();
    // The file is read faster than a worker takes it: the rest is a counted ring-full drop.
    expect(await waitFor(() => (({ drops: d }) => d.handlerError + d.handlerRingFull === input.length)(e.stats().ports.p))).toBe(true);
    const s = await stopAndCheckPool(e);
    const h = s.ports.p.handler!;
    expect(h.errors).toBeGreaterThan(1);
    expect(h.errorsUnreported).toBeGreaterThan(0);
    // Every error is either an event or counted as unreported; the events' suppressed counts are part of the latter.
    expect(events.length + h.errorsUnreported).toBe(h.errors);
    const announced = events.reduce((a, w) => a + (w.suppressed ?? 0), 0);
    expect(announced).toBeLessThanOrEqual(h.errorsUnreported);
  });
});

describe('inline workers: CPUs checked before start, chosen apart from the lcores', () => {
  it('a CPU this process may not use -> CPU_UNAVAILABLE at handleInWorkers, with the allowed list and the command', async () => {
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'null' });
    const err = await expectError(() => e.handleInWorkers(p, { module: miscModule, mode: 'inline', cpus: [999] }), 'CPU_UNAVAILABLE', "'cpus'", 'CPU 999', 'taskset');
    expect(err.message).toContain(`allowed: ${Engine.hostInfo().allowedCpus.join(', ')}`);
    await expectError(() => e.handleInWorkers(p, { module: miscModule, mode: 'inline', cpus: [-1] }), 'INVALID_OPTION', "'cpus'[0]", 'got -1');
    await expectError(() => e.handleInWorkers(p, { module: miscModule, mode: 'inline', cpus: [] }), 'INVALID_OPTION', "'cpus'");
  });

  it.skipIf(Engine.hostInfo().allowedCpus.length < 2)('by default an inline worker is pinned to a CPU no lcore uses, and nothing warns', async () => {
    const e = await engines.create(); // one lcore on the last CPU
    const p = e.addPort('p', { driver: 'null', packetSize: 64 });
    const where: string[] = [];
    e.on('workerMessage', (m: { cpus: string }) => where.push(m.cpus));
    const warnings: EngineWarning[] = [];
    e.on('warning', (w: EngineWarning) => w.code === 'CPU_SHARED' && warnings.push(w)); // (the watchdog's other codes are test/warnings.test.ts's)
    e.handleInWorkers(p, { module: miscModule, export: 'reportCpu', mode: 'inline' });
    await e.start();
    expect(await waitFor(() => where.length > 0)).toBe(true);
    await stopAndCheckPool(e);
    const free = Engine.hostInfo().allowedCpus.filter((c) => c !== lastCpu());
    expect(free.map(String)).toContain(where[0]);
    expect(warnings).toEqual([]);
  });

  it('an inline worker on an lcore CPU (given, or the only CPUs there are) -> a CPU_SHARED warning at start', async () => {
    const allowed = Engine.hostInfo().allowedCpus;
    // Every allowed CPU has an lcore: the default has nowhere else to go.
    const e = await engines.create({ lcores: allowed.slice(0, 4) });
    // A port the lcores poll (the first queue goes to lcore 0): an lcore without one is not started, and shares nothing.
    e.forward(e.addPort('fwd', { driver: 'null', packetSize: 64 }), e.addPort('sink', { driver: 'null' }));
    const p = e.addPort('p', { driver: 'null', packetSize: 64 });
    const q = e.addPort('q', { driver: 'null', packetSize: 64 });
    const warnings: EngineWarning[] = [];
    e.on('warning', (w: EngineWarning) => w.code === 'CPU_SHARED' && warnings.push(w)); // (the watchdog's other codes are test/warnings.test.ts's)
    e.handleInWorkers(p, { module: miscModule, export: 'reportCpu', mode: 'inline' });
    e.handleInWorkers(q, { module: miscModule, export: 'reportCpu', mode: 'inline', cpus: [allowed[0]!] });
    await e.start();
    await stopAndCheckPool(e);
    if (allowed.length <= 4) {
      expect(warnings.length).toBe(1);
      expect(warnings[0]!.code).toBe('CPU_SHARED');
      expect(warnings[0]!.message).toContain("port 'p' queue 0 shares CPU");
      expect(warnings[0]!.message).toContain("port 'q' queue 0 shares CPU");
      expect(warnings[0]!.message).toContain('lcore 0');
      expect(warnings[0]!.cpus).toContain(allowed[0]);
    }
  });

  it('an inline worker on the CPU of an lcore that polls nothing (not started) shares nothing: no warning', async () => {
    const c = lastCpu();
    const e = await engines.create({ lcores: [c] });
    const p = e.addPort('p', { driver: 'null', packetSize: 64 });
    const warnings: EngineWarning[] = [];
    e.on('warning', (w: EngineWarning) => w.code === 'CPU_SHARED' && warnings.push(w)); // (the watchdog's other codes are test/warnings.test.ts's)
    e.handleInWorkers(p, { module: miscModule, export: 'reportCpu', mode: 'inline', cpus: [c] });
    await e.start();
    await stopAndCheckPool(e);
    expect(warnings).toEqual([]);
  });

  it('without a warning listener the CPU_SHARED warning is printed to stderr once', async () => {
    const c = lastCpu();
    const e = await engines.create({ lcores: [c] });
    e.forward(e.addPort('fwd', { driver: 'null', packetSize: 64 }), e.addPort('sink', { driver: 'null' }));
    const p = e.addPort('p', { driver: 'null', packetSize: 64 });
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    e.handleInWorkers(p, { module: miscModule, export: 'reportCpu', mode: 'inline', cpus: [c] });
    await e.start();
    await stopAndCheckPool(e);
    await e.start();
    await stopAndCheckPool(e);
    const lines = printed.mock.calls.map((a) => String(a[0])).filter((l) => l.startsWith('linerate: warning:') && l.includes('shares CPU'));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain(`shares CPU ${c} with lcore 0`);
  });
});

describe('async handlers are refused loudly', () => {
  it('main thread: every burst dropped and counted, one HANDLER_ASYNC error, nothing sent', async () => {
    const input = frames(200);
    const out = tmp.path('async-main.pcap');
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn(input), txFile: out });
    const errors: Error[] = [];
    e.on('error', (err: Error) => errors.push(err));
    const handler = async (batch: import('../src/index.js').PacketBatch) => {
      for (let i = 0; i < batch.count; i++) batch.reply(i); // before the await: undone too
      await null;
      throw new Error('a rejection must not become an unhandled rejection');
    };
    e.handle(p, handler as unknown as (b: import('../src/index.js').PacketBatch) => void);
    await e.start();
    expect(await waitFor(() => e.stats().ports.p.drops.handlerError === input.length)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(LinerateError);
    expect((errors[0] as LinerateError).code).toBe('HANDLER_ASYNC');
    expect(errors[0]!.message).toContain('synchronous');
    expect(s.ports.p.handler!.replied).toBe(0);
    expect(s.ports.p.handler!.errors).toBe(s.ports.p.handler!.batches);
    expect(s.ports.p.txPackets).toBe(0);
    expect(readPcapFile(out).records.length).toBe(0);
  });

  for (const mode of ['pipeline', 'inline'] as const) {
    it(`in a worker (${mode}): HANDLER_ASYNC reaches the 'error' event as a LinerateError, once`, async () => {
      const input = frames(100);
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn(input) });
      const errors: Error[] = [];
      e.on('error', (err: Error) => errors.push(err));
      e.handleInWorkers(p, { module: miscModule, export: 'asyncReply', mode });
      await e.start();
      expect(await waitFor(() => e.stats().ports.p.drops.handlerError === input.length)).toBe(true);
      const s = await stopAndCheckPool(e);
      expect(errors.length).toBe(1);
      expect((errors[0] as LinerateError).code).toBe('HANDLER_ASYNC');
      expect(s.ports.p.handler!.replied).toBe(0);
    });
  }

  it('the types: engine.handle() does not compile with an async handler, and does with a plain one', async () => {
    const ts = (await import('typescript')).default;
    const root = new URL('../', import.meta.url).pathname;
    const file = tmp.path('handler-types.ts');
    writeFileSync(
      file,
      `import { Engine, type PacketBatch } from ${JSON.stringify(root + 'src/index.js')};
declare const e: Engine;
const p = e.addPort('p', { driver: 'null' });
function named(b: PacketBatch): void { b.reply(0); }
e.handle(p, (b) => { b.reply(0); });
e.handle(p, {}, named);
e.handle(p, async (b) => { b.reply(0); });            // line 7
e.handle(p, { match: { udpDstPort: 53 } }, async (b) => { await null; b.reply(0); });   // line 8
`,
    );
    const program = ts.createProgram([file], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, types: ['node'], skipLibCheck: true });
    const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file);
    const lines = diags.map((d) => d.file!.getLineAndCharacterOfPosition(d.start!).line + 1);
    expect(lines, diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')).join('\n')).toEqual([7, 8]);
    expect(ts.flattenDiagnosticMessageText(diags[0]!.messageText, '\n')).toContain('a handler must be synchronous');
  });
});
