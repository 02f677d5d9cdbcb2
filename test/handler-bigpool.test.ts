// Pools past 2 GiB and past 4 GiB with a JS handler. A handler sees the pool
// as one Uint8Array; byte offsets past 2^31 (an Int32Array wrapped them
// negative) and header element indices past 2^32 bytes (`>>> 2` wrapped them)
// must stay exact. Past what a typed array can cover on this Node (4 GiB on
// Node 20), handle() refuses with a clear error instead of failing at start().
// Each test maps a few GiB of 4 KiB pages: one test per size, and the engine
// is closed (its memory unmapped) before the next.
import { constants as bufferConstants } from 'node:buffer';
import { afterEach, describe, expect, it } from 'vitest';
import type { Engine, PacketBatch } from '../src/index.js';
import { EngineTracker, readPcapFile, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { tempDir } from './helpers/pcap.js';

const engines = new EngineTracker();
const tmp = tempDir('linerate-bigpool-');
afterEach(async () => {
  await engines.closeAll();
});

const SLOT = 64 + 128 + 2048; // the default slot
const MARKS = 16;

/**
 * With the per-lcore caches off, the pool's free ring hands mbufs out in index
 * order, so a null source reaches the highest indices after one pass over the
 * pool. For every packet in an mbuf whose bytes start at or past `fromByte`:
 * offset(i) must be the mbuf's own data (64 + headroom into its slot, where the
 * null driver writes), and the frame there must read as the null driver's
 * IPv4/UDP frame. The first MARKS such packets get their mbuf index written
 * into the payload and go out to a pcap file, which must carry those edits.
 */
async function highMbufsReadAndWrite(e: Engine, fromByte: number): Promise<void> {
  const out = tmp.path('high.pcap');
  const mp = e.info().mempool;
  expect(mp.slotSize).toBe(SLOT);
  const src = e.addPort('src', { driver: 'null', packetSize: 64 });
  e.addPort('out', { driver: 'pcap', txFile: out });
  const firstHigh = Math.ceil(fromByte / SLOT);
  const bad: string[] = [];
  let marked = 0;
  let seenHigh = 0;
  e.handle(src, (batch: PacketBatch) => {
    const u8 = batch.bytes;
    for (let i = 0; i < batch.count; i++) {
      const m = batch.mbuf(i);
      if (m < firstHigh || marked >= MARKS) {
        batch.drop(i);
        continue;
      }
      seenHigh++;
      const o = batch.offset(i);
      const want = m * SLOT + 64 + mp.headroom;
      if (o !== want && bad.length < 5) bad.push(`mbuf ${m}: offset ${o}, want ${want}`);
      // Ethertype IPv4 and UDP destination port 9 (the null driver's frame).
      if ((u8[o + 12] !== 0x08 || u8[o + 13] !== 0x00 || u8[o + 36] !== 0 || u8[o + 37] !== 9) && bad.length < 5) {
        bad.push(`mbuf ${m}: frame reads ${u8[o + 12]},${u8[o + 13]} ... ${u8[o + 36]},${u8[o + 37]}`);
      }
      // Into the UDP payload (14 + 20 + 8 = 42): the mbuf index, little-endian.
      u8[o + 42] = m & 0xff;
      u8[o + 43] = (m >> 8) & 0xff;
      u8[o + 44] = (m >> 16) & 0xff;
      u8[o + 45] = (m / 2 ** 24) & 0xff;
      batch.forward(i, 'out');
      marked++;
    }
  });
  await e.start();
  expect(await waitFor(() => e.stats().ports.out.txPackets >= MARKS, 120_000), 'the high mbufs come round').toBe(true);
  await stopAndCheckPool(e);
  expect(bad).toEqual([]);
  expect(seenHigh).toBe(MARKS);
  const got = readPcapFile(out).records.map((r) => r.data);
  expect(got.length).toBe(MARKS);
  for (const f of got) {
    const m = f[42] + f[43] * 2 ** 8 + f[44] * 2 ** 16 + f[45] * 2 ** 24;
    expect(m).toBeGreaterThanOrEqual(firstHigh);
    expect(m).toBeLessThan(mp.mbufs);
  }
}

describe('pools past 2 GiB and 4 GiB', () => {
  it('2.35 GB (2^20 mbufs): offset(i) of mbufs past 2 GiB reads and writes their own bytes', async () => {
    const e = await engines.create({ mempool: { mbufs: 1 << 20, cacheSize: 0 } });
    expect(e.info().mempool.mbufs * SLOT).toBeGreaterThan(2 ** 31);
    await highMbufsReadAndWrite(e, 2 ** 31);
  }, 180_000);

  it('4.4 GB: refused by handle() where a typed array cannot cover it (Node 20), working where it can', async () => {
    const mbufs = 1_950_000; // 4.37e9 bytes > 2^32
    const e = await engines.create({ mempool: { mbufs, cacheSize: 0 } });
    const bytes = mbufs * SLOT;
    expect(bytes).toBeGreaterThan(2 ** 32);
    if (bytes > bufferConstants.MAX_LENGTH) {
      const p = e.addPort('p', { driver: 'null' });
      const noop = () => {};
      for (const call of [() => e.handle(p, noop), () => e.handleInWorkers(p, { module: new URL('./fixtures/handlers.mjs', import.meta.url) })]) {
        expect(call).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('buffer.constants.MAX_LENGTH') }));
      }
      // The message says how many mbufs would fit.
      expect(call(() => e.handle(p, noop))).toContain(`at most ${Math.floor(bufferConstants.MAX_LENGTH / SLOT)} mbufs`);
    } else {
      await highMbufsReadAndWrite(e, 2 ** 32);
    }
  }, 180_000);
});

function call(f: () => void): string {
  try {
    f();
  } catch (e) {
    return (e as Error).message;
  }
  return '';
}
