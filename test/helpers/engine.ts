// Test helpers around Engine: small pools, one lcore on the last allowed CPU,
// adaptive idle, and cleanup that always stops and closes.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, expect } from 'vitest';
import { Engine, LinerateError, type EngineOptions, type EngineStats } from '../../src/index.js';
import { readPcap, tempDir, type PcapFile } from './pcap.js';

/** The last CPU this process may run on (the one tests pin their lcore to). */
export function lastCpu(): number {
  const cpus = Engine.hostInfo().allowedCpus;
  return cpus[cpus.length - 1]!;
}

/** Defaults for tests: 4096 mbufs on 4 KiB pages, one adaptive lcore on the last allowed CPU. */
export function testOptions(extra: EngineOptions = {}): EngineOptions {
  return {
    lcores: [lastCpu()],
    idle: 'adaptive',
    ...extra,
    mempool: { mbufs: 4096, hugepages: 'off', ...(extra.mempool ?? {}) },
  };
}

/**
 * Tracks engines so every test closes what it created, even when it fails:
 * call `engines.create()` in tests and `engines.closeAll()` in afterEach.
 */
export class EngineTracker {
  private readonly list: Engine[] = [];

  async create(extra: EngineOptions = {}, raw = false): Promise<Engine> {
    const e = await Engine.create(raw ? extra : testOptions(extra));
    this.list.push(e);
    return e;
  }

  async closeAll(): Promise<void> {
    const errors: unknown[] = [];
    for (const e of this.list.splice(0)) {
      try {
        if (e.state !== 'closed') {
          await e.stop();
          await e.close();
        }
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) throw errors[0];
  }
}

/** Calls fn and returns the LinerateError it throws (fails the test when it does not). */
export async function catchLinerate(fn: () => unknown): Promise<LinerateError> {
  try {
    await fn();
  } catch (e) {
    expect(e, `expected a LinerateError, got ${String(e)}`).toBeInstanceOf(LinerateError);
    return e as LinerateError;
  }
  throw new Error('expected a LinerateError, nothing was thrown');
}

/** Expects fn to throw a LinerateError with that code and every fragment in its message. */
export async function expectError(fn: () => unknown, code: string, ...fragments: string[]): Promise<LinerateError> {
  const e = await catchLinerate(fn);
  expect(e.code, `code of: ${e.message}`).toBe(code);
  for (const f of fragments) expect(e.message).toContain(f);
  return e;
}

/** Stops the engine and asserts every mbuf is back in the pool (nothing lost, nothing in flight). */
export async function stopAndCheckPool(e: Engine): Promise<EngineStats> {
  await e.stop();
  const s = e.stats();
  expect(s.mempool.inUse.inFlight, 'mbufs in flight after stop').toBe(0);
  expect(s.mempool.inUse.driver, 'mbufs held by drivers after stop').toBe(0);
  expect(s.mempool.free.total, 'free mbufs after stop (a smaller number is a leak)').toBe(s.mempool.size);
  return s;
}

/** Starts, waits for the finite sources to run dry, stops, and checks that no mbuf was lost. */
export async function runToCompletion(e: Engine, timeoutMs = 5_000): Promise<EngineStats> {
  await e.start();
  const done = await e.whenSourcesDone(timeoutMs);
  // Stop first, so that whatever went wrong, the output files are complete for the asserts that follow.
  await e.stop();
  const s = e.stats();
  expect.soft(done, `sources done within ${timeoutMs} ms (mempool: ${JSON.stringify(s.mempool)})`).toBe(true);
  expect.soft(s.mempool.free.total, 'free mbufs after stop (a smaller number is a leak)').toBe(s.mempool.size);
  return s;
}

/** Polls cond (sync or async) every 5 ms until it holds or timeoutMs passes. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return cond();
}

export function readPcapFile(path: string): PcapFile {
  return readPcap(new Uint8Array(readFileSync(path)));
}

/**
 * The hooks most test files need: a fresh temp dir before each test; after it,
 * every engine the tracker made closed and the dir removed. `tmp` always names
 * the current test's dir. Call once at the top level of a test file.
 */
export function perTestBed(): { engines: EngineTracker; tmp: { readonly dir: string; path(name: string): string } } {
  const engines = new EngineTracker();
  let current: ReturnType<typeof tempDir> | undefined;
  beforeEach(() => {
    current = tempDir();
  });
  afterEach(async () => {
    await engines.closeAll();
    current?.cleanup();
  });
  const tmp = {
    get dir(): string {
      return current!.dir;
    },
    path: (name: string): string => current!.path(name),
  };
  return { engines, tmp };
}
