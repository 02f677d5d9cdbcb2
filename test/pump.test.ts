/**
 * The loop pump (native/binding/loop_pump.h): the pipeline consumer's way of
 * running once per event-loop turn. Each case runs in a child node process,
 * where an uncaught exception, a worker's teardown or a GC count cannot be
 * blurred by the test runner.
 */
import { describe, expect, it } from 'vitest';
import { addonLocation, childScript } from './helpers/child.js';
import { run } from './helpers/netns.js';

async function child(body: string, nodeArgs: string[] = []): Promise<{ code: number; out: Record<string, unknown>; raw: string }> {
  const r = await run(process.execPath, [...nodeArgs, '-e', childScript(body), addonLocation()], { timeoutMs: 60_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let out: Record<string, unknown> = {};
  try {
    out = JSON.parse(last) as Record<string, unknown>;
  } catch {
    /* reported through raw */
  }
  return { code: r.code, out, raw: r.stdout + r.stderr };
}

describe('loop pump', () => {
  it('calls once per loop turn while armed, lets timers run, stops on disarm and close, holds the loop only while armed', async () => {
    const r = await child(`
      let n = 0, atTimer = -1, afterDisarm = -1;
      const p = addon.createPump(() => {
        // A timer set from a turn fires while the pump keeps the loop turning.
        if (++n === 1) setTimeout(() => { atTimer = n; }, 1);
      });
      p.arm(); p.arm(); // idempotent: still one call per turn
      setTimeout(() => {
        p.disarm();
        const atDisarm = n;
        setTimeout(() => {
          afterDisarm = n - atDisarm;
          p.close();
          p.arm(); // no effect after close
          const atClose = n;
          setTimeout(() => console.log(JSON.stringify({ n, atTimer, afterDisarm, afterClose: n - atClose })), 20);
        }, 20);
      }, 30);`);
    expect(r.code, r.raw).toBe(0);
    expect(r.out.atTimer, r.raw).toBeGreaterThan(1); // the timer fired while the pump was armed
    expect(r.out.n as number).toBeGreaterThan(r.out.atTimer as number);
    expect(r.out.afterDisarm).toBe(0);
    expect(r.out.afterClose).toBe(0);
  });

  it('re-arms without garbage: over 300000 turns it causes a fraction of the GCs of setImmediate re-arming', async () => {
    const body = (useImmediate: boolean) => `
      const { PerformanceObserver } = require('node:perf_hooks');
      globalThis.gc();
      let gcs = 0, n = 0;
      const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
      obs.observe({ entryTypes: ['gc'] });
      const done = () => setTimeout(() => { obs.disconnect(); console.log(JSON.stringify({ n, gcs })); }, 50);
      ${
        useImmediate
          ? `const tick = () => { if (++n < 300000) setImmediate(tick); else done(); }; setImmediate(tick);`
          : `const p = addon.createPump(() => { if (++n === 300000) { p.close(); done(); } }); p.arm();`
      }`;
    const pump = await child(body(false), ['--expose-gc']);
    expect(pump.code, pump.raw).toBe(0);
    expect(pump.out.n).toBe(300000);
    const imm = await child(body(true), ['--expose-gc']);
    expect(imm.code, imm.raw).toBe(0);
    expect(imm.out.n).toBe(300000);
    // Node itself allocates an object per loop turn (its immediate check, see
    // channel-consumer.ts), so neither count is 0: measured here 20 against
    // 124. The pump adds nothing to Node's share; setImmediate adds an
    // Immediate per turn. Hence the consumer also takes many bursts per turn.
    expect((pump.out.gcs as number) * 3, `pump ${pump.out.gcs} GCs, setImmediate ${imm.out.gcs}`).toBeLessThan(imm.out.gcs as number);
  });

  it("sends an exception from the pumped function to 'uncaughtException'", async () => {
    const r = await child(`
      let calls = 0;
      const p = addon.createPump(() => { calls++; throw new Error('boom from pump'); });
      process.on('uncaughtException', (e) => { p.close(); console.log(JSON.stringify({ message: e.message, calls })); });
      p.arm();`);
    expect(r.code, r.raw).toBe(0);
    expect(r.out).toEqual({ message: 'boom from pump', calls: 1 });
  });

  it('lets a worker exit or be terminated while its pump is armed', async () => {
    const r = await child(`
      const { Worker } = require('node:worker_threads');
      const src = (how) => \`
        const addon = require(\${JSON.stringify(where.endsWith('.node') ? where : req.resolve('node-gyp-build'))});
        const a = \${where.endsWith('.node') ? 'addon' : 'addon(' + JSON.stringify(where) + ')'};
        const { parentPort } = require('node:worker_threads');
        let n = 0;
        const p = a.createPump(() => { if (++n === 1000) parentPort.postMessage('spinning'); });
        p.arm();
        \${how === 'exit' ? "setTimeout(() => process.exit(7), 20);" : ''}\`;
      const results = {};
      const one = (how) => new Promise((resolve) => {
        const w = new Worker(src(how), { eval: true });
        w.once('message', () => { if (how === 'terminate') w.terminate(); });
        w.once('error', (e) => { results[how] = 'error: ' + e.message; resolve(); });
        w.once('exit', (code) => { results[how] ??= code; resolve(); });
      });
      one('exit').then(() => one('terminate')).then(() => console.log(JSON.stringify(results)));`);
    expect(r.code, r.raw).toBe(0);
    expect(r.out).toEqual({ exit: 7, terminate: 1 });
  });
});
