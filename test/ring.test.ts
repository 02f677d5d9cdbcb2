// SharedRing (src/ring.ts) against the ring format of native/core/ring.h:
// semantics on rings JS creates, the header checks, and interop with lr::Ring on
// the same memory (native enqueues, JS dequeues and the reverse, byte-identical
// headers, wrap-around of the 32-bit counters, a random model check).
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { SharedRing } from '../src/ring.js';
import { LinerateError } from '../src/errors.js';
import { loadAddon } from '../src/native.js';

const SP = SharedRing.SINGLE_PRODUCER;
const SC = SharedRing.SINGLE_CONSUMER;
const SPSC = SP | SC;
const ALL_FLAGS = [0, SP, SC, SPSC];
const NEAR_WRAP = 0xfffffff0;

// Header words, from the format table in native/core/ring.h.
const W_PROD_HEAD = 64 / 4;
const W_PROD_TAIL = 68 / 4;
const W_CONS_HEAD = 128 / 4;
const W_CONS_TAIL = 132 / 4;

/** Moves every counter of an empty ring to v (as set_counters in test/native/ring_test.cc). */
function setCounters(buffer: ArrayBufferLike, offset: number, v: number): void {
  const h = new Uint32Array(buffer, offset, 64);
  h[W_PROD_HEAD] = v;
  h[W_PROD_TAIL] = v;
  h[W_CONS_HEAD] = v;
  h[W_CONS_TAIL] = v;
}

function counters(buffer: ArrayBufferLike, offset = 0): number[] {
  const h = new Uint32Array(buffer, offset, 64);
  return [h[W_PROD_HEAD]!, h[W_PROD_TAIL]!, h[W_CONS_HEAD]!, h[W_CONS_TAIL]!];
}

function jsRing(size: number, flags: number, offset = 0): SharedRing {
  return SharedRing.init(new ArrayBuffer(offset + SharedRing.bytesFor(size)), offset, size, flags);
}

function seq(from: number, n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = (from + i) >>> 0;
  return a;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

/** Deterministic PRNG (mulberry32), so a failure replays. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('SharedRing on JS memory', () => {
  it('bytesFor is the 256-byte header plus 4 bytes per slot, and refuses bad sizes', () => {
    expect(SharedRing.bytesFor(2)).toBe(264);
    expect(SharedRing.bytesFor(1024)).toBe(256 + 4096);
    for (const bad of [0, 1, 3, 6, 2 ** 31, 1.5, -4]) expect(code(() => SharedRing.bytesFor(bad))).toBe('INVALID_OPTION');
  });

  it('init writes the documented header', () => {
    const buf = new ArrayBuffer(64 + SharedRing.bytesFor(16));
    new Uint8Array(buf).fill(0xaa);
    SharedRing.init(buf, 64, 16, SPSC);
    const dv = new DataView(buf, 64);
    expect(dv.getUint32(0, true)).toBe(0x4c52524e);
    expect(new TextDecoder().decode(new Uint8Array(buf, 64, 4))).toBe('NRRL');
    expect(dv.getUint16(4, true)).toBe(1);
    expect(dv.getUint16(6, true)).toBe(SPSC);
    expect(dv.getUint32(8, true)).toBe(16);
    expect(dv.getUint32(12, true)).toBe(15);
    expect(dv.getUint32(16, true)).toBe(16);
    // Padding and every counter are zero; the slots are left alone; bytes before the ring too.
    for (let i = 20; i < 256; i++) expect(dv.getUint8(i)).toBe(0);
    expect(new Uint8Array(buf, 64 + 256, 64).every((b) => b === 0xaa)).toBe(true);
    expect(new Uint8Array(buf, 0, 64).every((b) => b === 0xaa)).toBe(true);
  });

  it('init refuses bad sizes, flags and placements', () => {
    const buf = new ArrayBuffer(4096);
    expect(code(() => SharedRing.init(buf, 0, 12, 0))).toBe('INVALID_OPTION');
    expect(code(() => SharedRing.init(buf, 0, 16, 4))).toBe('INVALID_OPTION');
    expect(code(() => SharedRing.init(buf, 2, 16, 0))).toBe('INVALID_OPTION');
    expect(code(() => SharedRing.init(buf, -4, 16, 0))).toBe('INVALID_OPTION');
    expect(code(() => SharedRing.init(buf, 0, 1024, 0))).toBe('INVALID_OPTION'); // 4352 bytes > 4096
    expect(SharedRing.init(buf, 0, 16, 0).size).toBe(16);
  });

  for (const flags of ALL_FLAGS) {
    describe(`flags ${flags}`, () => {
      it('empty: dequeue moves nothing; capacity == size', () => {
        const r = jsRing(8, flags);
        const out = new Uint32Array([7, 7, 7, 7]);
        expect(r.capacity).toBe(8);
        expect(r.size).toBe(8);
        expect(r.flags).toBe(flags);
        expect(r.count()).toBe(0);
        expect(r.freeCount()).toBe(8);
        expect(r.dequeueBulk(out, 1)).toBe(0);
        expect(r.dequeueBurst(out, 4)).toBe(0);
        expect(out[0]).toBe(7);
        expect(r.enqueueBulk(out, 0)).toBe(0);
        expect(r.dequeueBurst(out, 0)).toBe(0);
        expect(r.count()).toBe(0);
      });

      it('full: bulk moves nothing, burst moves what fits; every slot is usable', () => {
        const r = jsRing(8, flags);
        expect(r.enqueueBulk(seq(0, 6), 6)).toBe(6);
        expect(r.enqueueBulk(seq(6, 3), 3)).toBe(0);
        expect(r.count()).toBe(6);
        expect(r.enqueueBurst(seq(6, 5), 5)).toBe(2);
        expect(r.count()).toBe(8);
        expect(r.freeCount()).toBe(0);
        expect(r.enqueueBurst(seq(0, 1), 1)).toBe(0);
        expect(r.enqueueBulk(seq(0, 1), 1)).toBe(0);
        // More than capacity in one bulk never fits.
        expect(jsRing(8, flags).enqueueBulk(seq(0, 9), 9)).toBe(0);
        const out = new Uint32Array(16);
        expect(r.dequeueBulk(out, 9)).toBe(0);
        expect(r.dequeueBurst(out, 16)).toBe(8);
        expect(Array.from(out.subarray(0, 8))).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      });

      it('bulk vs burst on dequeue', () => {
        const r = jsRing(16, flags);
        r.enqueueBulk(seq(100, 5), 5);
        const out = new Uint32Array(8);
        expect(r.dequeueBulk(out, 6)).toBe(0);
        expect(r.count()).toBe(5);
        expect(r.dequeueBulk(out, 2)).toBe(2);
        expect(Array.from(out.subarray(0, 2))).toEqual([100, 101]);
        expect(r.dequeueBurst(out, 8)).toBe(3);
        expect(Array.from(out.subarray(0, 3))).toEqual([102, 103, 104]);
      });

      it('FIFO order across many laps of the slots', () => {
        const r = jsRing(8, flags);
        const out = new Uint32Array(5);
        let next = 0;
        let expected = 0;
        for (let lap = 0; lap < 200; lap++) {
          next += r.enqueueBurst(seq(next, 5), 5);
          const got = r.dequeueBurst(out, 3 + (lap % 3));
          for (let i = 0; i < got; i++) expect(out[i]).toBe(expected++);
        }
        expect(next - expected).toBe(r.count());
      });

      it('wrap-around of the free-running counters past 2^32', () => {
        const r = jsRing(8, flags);
        setCounters(r.buffer, 0, NEAR_WRAP);
        expect(r.count()).toBe(0);
        expect(r.freeCount()).toBe(8);
        const out = new Uint32Array(8);
        let next = 0;
        let expected = 0;
        for (let i = 0; i < 12; i++) {
          expect(r.enqueueBulk(seq(next, 6), 6)).toBe(6);
          next += 6;
          expect(r.count()).toBe(6);
          expect(r.enqueueBulk(seq(0, 3), 3)).toBe(0);
          expect(r.dequeueBulk(out, 6)).toBe(6);
          for (let j = 0; j < 6; j++) expect(out[j]).toBe(expected++);
        }
        // 72 entries passed: every counter went past 2^32 and back to small values.
        expect(counters(r.buffer)).toEqual([(NEAR_WRAP + 72) >>> 0, (NEAR_WRAP + 72) >>> 0, (NEAR_WRAP + 72) >>> 0, (NEAR_WRAP + 72) >>> 0]);
        expect((NEAR_WRAP + 72) >>> 0).toBe(56);
        // Full across the wrap: head near 2^32, tail past it.
        setCounters(r.buffer, 0, 0xfffffffc);
        expect(r.enqueueBurst(seq(1000, 10), 10)).toBe(8);
        expect(r.count()).toBe(8);
        expect(r.freeCount()).toBe(0);
        expect(r.dequeueBurst(out, 8)).toBe(8);
        expect(Array.from(out)).toEqual(Array.from(seq(1000, 8)));
        expect(counters(r.buffer)).toEqual([4, 4, 4, 4]);
      });

      it('a count larger than the array is refused', () => {
        const r = jsRing(8, flags);
        expect(code(() => r.enqueueBurst(new Uint32Array(2), 3))).toBe('INVALID_OPTION');
        expect(code(() => r.dequeueBurst(new Uint32Array(2), 3))).toBe('INVALID_OPTION');
        expect(code(() => r.dequeueBurst(new Uint32Array(2), -1))).toBe('INVALID_OPTION');
        expect(r.count()).toBe(0);
      });
    });
  }

  it('works in a SharedArrayBuffer at a 64-byte offset, and attach sees the same ring', () => {
    const sab = new SharedArrayBuffer(128 + SharedRing.bytesFor(32));
    const a = SharedRing.init(sab, 128, 32, SPSC);
    const b = SharedRing.attach(sab, 128);
    expect(a.enqueueBulk(seq(5, 20), 20)).toBe(20);
    expect(b.count()).toBe(20);
    const out = new Uint32Array(20);
    expect(b.dequeueBulk(out, 20)).toBe(20);
    expect(Array.from(out)).toEqual(Array.from(seq(5, 20)));
    expect(a.count()).toBe(0);
  });

  it('consumerSleeping is the word at byte 192', () => {
    const r = jsRing(8, 0);
    const h = new Uint32Array(r.buffer, 0, 64);
    expect(r.consumerSleeping).toBe(false);
    r.consumerSleeping = true;
    expect(h[192 / 4]).toBe(1);
    h[192 / 4] = 0;
    expect(r.consumerSleeping).toBe(false);
  });
});

describe('SharedRing.attach checks the header', () => {
  function fresh(): ArrayBuffer {
    const buf = new ArrayBuffer(SharedRing.bytesFor(16));
    SharedRing.init(buf, 0, 16, 0);
    return buf;
  }
  function attachError(buf: ArrayBuffer): LinerateError {
    try {
      SharedRing.attach(buf, 0);
    } catch (e) {
      expect(e).toBeInstanceOf(LinerateError);
      return e as LinerateError;
    }
    throw new Error('attach accepted a bad header');
  }

  it('accepts a fresh header', () => {
    const r = SharedRing.attach(fresh(), 0);
    expect(r.size).toBe(16);
    expect(r.capacity).toBe(16);
  });

  it('bad magic', () => {
    const buf = fresh();
    new DataView(buf).setUint32(0, 0x4c52524f, true);
    const e = attachError(buf);
    expect(e.code).toBe('RING_FORMAT');
    expect(e.message).toMatch(/magic/);
  });

  it('bad version', () => {
    const buf = fresh();
    new DataView(buf).setUint16(4, 2, true);
    const e = attachError(buf);
    expect(e.code).toBe('RING_FORMAT');
    expect(e.message).toMatch(/version 2/);
  });

  it('size not a power of two, size too small, mask and capacity that disagree', () => {
    for (const [off, v] of [
      [8, 12],
      [8, 1],
      [8, 0],
      [12, 7],
      [16, 15],
    ] as const) {
      const buf = fresh();
      new DataView(buf).setUint32(off, v, true);
      expect(attachError(buf).code).toBe('RING_FORMAT');
    }
  });

  it('slots that do not fit in the buffer, or a header that does not', () => {
    const buf = new ArrayBuffer(SharedRing.bytesFor(16));
    SharedRing.init(buf, 0, 16, 0);
    new DataView(buf).setUint32(8, 32, true);
    new DataView(buf).setUint32(12, 31, true);
    new DataView(buf).setUint32(16, 32, true);
    expect(attachError(buf).code).toBe('RING_FORMAT');
    expect(code(() => SharedRing.attach(new ArrayBuffer(128), 0))).toBe('RING_FORMAT');
    expect(code(() => SharedRing.attach(fresh(), 6))).toBe('INVALID_OPTION');
  });
});

describe('interop with lr::Ring on the same memory', () => {
  const addon = loadAddon();

  it('ringCreate gives native memory holding the same header bytes SharedRing.init writes', () => {
    for (const flags of ALL_FLAGS) {
      for (const size of [2, 8, 1024]) {
        const nbuf = addon.ringCreate(size, flags);
        expect(nbuf).toBeInstanceOf(ArrayBuffer);
        expect(nbuf.byteLength).toBe(SharedRing.bytesFor(size));
        const jbuf = new ArrayBuffer(SharedRing.bytesFor(size));
        SharedRing.init(jbuf, 0, size, flags);
        expect(new Uint8Array(nbuf, 0, 256)).toEqual(new Uint8Array(jbuf, 0, 256));
        const r = SharedRing.attach(nbuf, 0);
        expect([r.size, r.capacity, r.flags]).toEqual([size, size, flags]);
      }
    }
  });

  it('ringCreate refuses a bad size with INVALID_OPTION', () => {
    expect(code(() => addon.ringCreate(12, 0))).toBe('INVALID_OPTION');
    expect(code(() => addon.ringCreate(2 ** 31, 0))).toBe('INVALID_OPTION');
  });

  it('native attach refuses what SharedRing.attach refuses, with RING_FORMAT', () => {
    for (const [off, bytes, v] of [
      [0, 4, 0x12345678],
      [4, 2, 7],
      [8, 4, 12],
      [12, 4, 3],
    ] as const) {
      const buf = addon.ringCreate(16, 0);
      const dv = new DataView(buf);
      if (bytes === 4) dv.setUint32(off, v, true);
      else dv.setUint16(off, v, true);
      expect(code(() => addon.ringCount(buf, 0))).toBe('RING_FORMAT');
      expect(code(() => addon.ringEnqueue(buf, 0, new Uint32Array(1), 1, true))).toBe('RING_FORMAT');
      expect(code(() => SharedRing.attach(buf, 0))).toBe('RING_FORMAT');
    }
    // Arguments that would reach outside the buffer are refused before attach.
    const buf = addon.ringCreate(16, 0);
    expect(code(() => addon.ringCount(buf, 8))).toBe('RING_FORMAT'); // in bounds, but no ring there
    expect(code(() => addon.ringCount(buf, 128))).toBe('INVALID_OPTION'); // header would pass the end
    expect(code(() => addon.ringCount(buf, 2))).toBe('INVALID_OPTION');
    expect(code(() => addon.ringCount(new ArrayBuffer(100), 0))).toBe('INVALID_OPTION');
    expect(code(() => addon.ringEnqueue(buf, 0, new Uint32Array(2), 3, false))).toBe('INVALID_OPTION');
    expect(code(() => addon.ringEnqueue(buf, 0, new Int32Array(2) as unknown as Uint32Array, 1, false))).toBe('INVALID_OPTION');
  });

  it('native attach accepts a header SharedRing.init wrote into native memory, and into JS memory', () => {
    const nbuf = addon.ringCreate(64, 0);
    new Uint8Array(nbuf).fill(0xff); // nothing of the native header is left
    expect(code(() => addon.ringCount(nbuf, 0))).toBe('RING_FORMAT');
    const r = SharedRing.init(nbuf, 0, 64, SPSC);
    expect(addon.ringCount(nbuf, 0)).toBe(0);
    expect(r.enqueueBulk(seq(1, 10), 10)).toBe(10);
    expect(addon.ringCount(nbuf, 0)).toBe(10);

    const jbuf = new ArrayBuffer(256 + SharedRing.bytesFor(16));
    const j = SharedRing.init(jbuf, 256, 16, 0);
    expect(addon.ringEnqueue(jbuf, 256, seq(40, 3), 3, true)).toBe(3);
    expect(j.count()).toBe(3);
    const out = new Uint32Array(3);
    expect(j.dequeueBulk(out, 3)).toBe(3);
    expect(Array.from(out)).toEqual([40, 41, 42]);
  });

  for (const flags of ALL_FLAGS) {
    for (const start of [0, NEAR_WRAP]) {
      it(`native enqueues, JS dequeues, and the reverse (flags ${flags}, counters from 0x${start.toString(16)})`, () => {
        const size = 16;
        const buf = addon.ringCreate(size, flags);
        setCounters(buf, 0, start);
        const r = SharedRing.attach(buf, 0);
        const out = new Uint32Array(size);
        let v = 1;
        for (let round = 0; round < 20; round++) {
          // native -> JS
          const n = 1 + (round % size);
          expect(addon.ringEnqueue(buf, 0, seq(v, n), n, true)).toBe(n);
          expect(r.count()).toBe(n);
          expect(r.dequeueBulk(out, n)).toBe(n);
          expect(Array.from(out.subarray(0, n))).toEqual(Array.from(seq(v, n)));
          v += n;
          // JS -> native
          const m = size - (round % size);
          expect(r.enqueueBulk(seq(v, m), m)).toBe(m);
          expect(addon.ringCount(buf, 0)).toBe(m);
          expect(addon.ringEnqueue(buf, 0, seq(0, 1), 1, true)).toBe(m === size ? 0 : 1);
          const extra = m === size ? 0 : 1;
          expect(addon.ringDequeue(buf, 0, out, size, false)).toBe(m + extra);
          expect(Array.from(out.subarray(0, m))).toEqual(Array.from(seq(v, m)));
          v += m;
        }
        const end = counters(buf);
        expect(end[0]).toBe(end[1]);
        expect(end[2]).toBe(end[3]);
        expect(end[0]).toBe(end[2]);
        if (start === NEAR_WRAP) expect(end[0]!).toBeLessThan(start); // went past 2^32
      });
    }
  }

  it('native burst and bulk agree with JS on a partly full ring across the wrap', () => {
    const buf = addon.ringCreate(8, 0);
    setCounters(buf, 0, 0xfffffffe);
    const r = SharedRing.attach(buf, 0);
    expect(r.enqueueBulk(seq(10, 5), 5)).toBe(5);
    expect(addon.ringEnqueue(buf, 0, seq(20, 4), 4, true)).toBe(0);
    expect(addon.ringEnqueue(buf, 0, seq(20, 4), 4, false)).toBe(3);
    expect(r.freeCount()).toBe(0);
    const out = new Uint32Array(8);
    expect(addon.ringDequeue(buf, 0, out, 8, true)).toBe(8);
    expect(Array.from(out)).toEqual([10, 11, 12, 13, 14, 20, 21, 22]);
    expect(counters(buf)).toEqual([6, 6, 6, 6]);
  });

  for (const [flags, size, seed] of [
    [0, 8, 1],
    [SPSC, 16, 2],
    [SP, 4, 3],
    [SC, 32, 4],
  ] as const) {
    it(`10k random interleaved JS and native operations match an array model (flags ${flags}, size ${size})`, () => {
      const rand = rng(seed);
      const buf = addon.ringCreate(size, flags);
      setCounters(buf, 0, (NEAR_WRAP + Math.floor(rand() * 32)) >>> 0);
      const r = SharedRing.attach(buf, 0);
      const model: number[] = [];
      const io = new Uint32Array(size + 3);
      let value = 0;
      for (let op = 0; op < 10_000; op++) {
        const native = rand() < 0.5;
        const bulk = rand() < 0.5;
        const n = Math.floor(rand() * (size + 3));
        if (rand() < 0.5) {
          for (let i = 0; i < n; i++) io[i] = (value + i) >>> 0;
          const fits = Math.min(n, size - model.length);
          const want = bulk ? (n <= size - model.length ? n : 0) : fits;
          const got = native ? addon.ringEnqueue(buf, 0, io, n, bulk) : bulk ? r.enqueueBulk(io, n) : r.enqueueBurst(io, n);
          expect(got).toBe(want);
          for (let i = 0; i < got; i++) model.push(io[i]!);
          value += got;
        } else {
          io.fill(0xdeadbeef);
          const want = bulk ? (n <= model.length ? n : 0) : Math.min(n, model.length);
          const got = native ? addon.ringDequeue(buf, 0, io, n, bulk) : bulk ? r.dequeueBulk(io, n) : r.dequeueBurst(io, n);
          expect(got).toBe(want);
          const expected = model.splice(0, got);
          for (let i = 0; i < got; i++) if (io[i] !== expected[i]) expect(io[i]).toBe(expected[i]);
          if (got < io.length) expect(io[got]).toBe(0xdeadbeef); // nothing written past what moved
        }
        expect(r.count()).toBe(model.length);
        if (op % 64 === 0) expect(addon.ringCount(buf, 0)).toBe(model.length);
        expect(r.freeCount()).toBe(size - model.length);
      }
      const [ph, pt, ch, ct] = counters(buf);
      expect(ph).toBe(pt);
      expect(ch).toBe(ct);
      expect((pt! - ct!) >>> 0).toBe(model.length);
    });
  }
});

// Real threads on a SharedArrayBuffer: JS producers and consumers in workers, so
// the CAS reservations and the in-order publication wait actually contend.
// (Native memory cannot be shared with a worker, so native <-> JS across threads
// is for the pipeline tests; here both sides run src/ring.ts.)
describe('SharedRing across worker threads', () => {
  // src/ring.ts (with errors.ts) bundled to CommonJS for an eval'd worker.
  const ringJs = buildSync({
    entryPoints: [fileURLToPath(new URL('../src/ring.ts', import.meta.url))],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    write: false,
  }).outputFiles[0]!.text;

  // workerData: { sab, role: 'producer' | 'consumer', id, perProducer, producers, seed }
  // ctl (Int32Array over sab at 0): [0] entries consumed in total, [1] workers
  // ready, [2] go: every worker starts together, so the sides really overlap.
  const workerSrc = `
    const { workerData, parentPort } = require('node:worker_threads');
    const module = { exports: {} };
    (function (module, exports) { ${ringJs} })(module, module.exports);
    const { SharedRing } = module.exports;
    const { sab, role, id, perProducer, producers, seed } = workerData;
    const ctl = new Int32Array(sab, 0, 16);
    const r = SharedRing.attach(sab, 64);
    let a = seed >>> 0;
    const rand = () => { a = (a * 1664525 + 1013904223) >>> 0; return a; };
    const io = new Uint32Array(32);
    const total = perProducer * producers;
    Atomics.add(ctl, 1, 1);
    Atomics.wait(ctl, 2, 0);
    if (role === 'producer') {
      let i = 0;
      while (i < perProducer) {
        const want = Math.min(1 + (rand() % 32), perProducer - i);
        for (let k = 0; k < want; k++) io[k] = (id << 24) | (i + k);
        i += (rand() & 1) ? r.enqueueBurst(io, want) : r.enqueueBulk(io, want);
      }
      parentPort.postMessage({ done: true });
    } else {
      const last = new Array(producers).fill(-1);
      const count = new Array(producers).fill(0);
      let bad = 0;
      while (Atomics.load(ctl, 0) < total) {
        const want = 1 + (rand() % 32);
        const n = (rand() & 1) ? r.dequeueBurst(io, want) : r.dequeueBulk(io, want);
        for (let k = 0; k < n; k++) {
          const p = io[k] >>> 24, s = io[k] & 0xffffff;
          if (p >= producers || s <= last[p]) bad++;
          last[p] = s;
          count[p]++;
        }
        if (n) Atomics.add(ctl, 0, n);
      }
      parentPort.postMessage({ bad, count });
    }
  `;

  // A broken protocol loses or repeats entries, and then a side waits forever:
  // the worker is terminated (that stops a spinning loop too) and the test fails.
  function run(sab: SharedArrayBuffer, role: string, id: number, perProducer: number, producers: number): Promise<{ bad?: number; count?: number[] }> {
    return new Promise((resolve, reject) => {
      const w = new Worker(workerSrc, { eval: true, workerData: { sab, role, id, perProducer, producers, seed: 17 + id * 101 + (role === 'producer' ? 0 : 7) } });
      const timer = setTimeout(() => {
        void w.terminate();
        reject(new Error(`${role} ${id} did not finish in 40 s: the ring lost or repeated entries`));
      }, 40_000);
      w.once('message', (m: { bad?: number; count?: number[] }) => {
        clearTimeout(timer);
        resolve(m);
        void w.terminate();
      });
      w.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  for (const [name, flags, producers, consumers] of [
    ['SPSC', SPSC, 1, 1],
    ['MPMC', 0, 2, 2],
    ['MP, single consumer', SC, 2, 1],
  ] as const) {
    it(`${name}: every entry arrives once, in order per producer`, async () => {
      const perProducer = 60_000;
      const sab = new SharedArrayBuffer(64 + SharedRing.bytesFor(64));
      SharedRing.init(sab, 64, 64, flags);
      setCounters(sab, 64, NEAR_WRAP - 1000); // and through the wrap
      const jobs = [];
      for (let c = 0; c < consumers; c++) jobs.push(run(sab, 'consumer', c, perProducer, producers));
      for (let p = 0; p < producers; p++) jobs.push(run(sab, 'producer', p, perProducer, producers));
      const ctl = new Int32Array(sab, 0, 16);
      const deadline = Date.now() + 20_000;
      while (Atomics.load(ctl, 1) < producers + consumers && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      Atomics.store(ctl, 2, 1);
      Atomics.notify(ctl, 2);
      const results = await Promise.all(jobs);
      const perP = new Array<number>(producers).fill(0);
      for (const res of results.slice(0, consumers)) {
        expect(res.bad).toBe(0);
        res.count!.forEach((c, p) => (perP[p] += c));
      }
      expect(perP).toEqual(new Array(producers).fill(perProducer));
      const r = SharedRing.attach(sab, 64);
      expect(r.count()).toBe(0);
      const [ph, pt, ch, ct] = counters(sab, 64);
      expect([ph, pt, ch]).toEqual([ct, ct, ct]);
      expect(ct).toBe((NEAR_WRAP - 1000 + perProducer * producers) >>> 0);
    }, 60_000);
  }
});
