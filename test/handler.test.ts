// JS packet handlers: verdicts byte for byte in every mode, ordering, and the
// failure paths (throws, full rings, dead workers, stop during traffic), each
// leaving the mempool whole.
import { existsSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine, PacketBatch } from '../src/index.js';
import { EngineTracker, lastCpu, readPcapFile, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { arpFrame, tempDir, udp4Frame, udp6Frame, writePcap } from './helpers/pcap.js';

const fixtures = new URL('./fixtures/handlers.mjs', import.meta.url);
const engines = new EngineTracker();
const tmp = tempDir('linerate-handler-');
afterEach(async () => {
  await engines.closeAll();
});

beforeAll(() => {
  // Worker handlers run the compiled worker entry (dist/); `npm test` builds it.
  expect(existsSync(new URL('../dist/src/handler/worker.js', import.meta.url)), 'dist/ is built (npm run build:ts)').toBe(true);
});

/** N UDP frames with distinct source ports (one flow each, in order). */
function frames(n: number, dport = 9): Uint8Array[] {
  return Array.from({ length: n }, (_, i) =>
    udp4Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.0.1', dst: '198.18.0.2', sport: 1000 + i, dport, payload: Uint8Array.of(i & 0xff, i >> 8) }),
  );
}

function swapped(f: Uint8Array): Uint8Array {
  const out = Uint8Array.from(f);
  out.set(f.subarray(6, 12), 0);
  out.set(f.subarray(0, 6), 6);
  return out;
}

function pcapIn(name: string, fs: Uint8Array[]): string {
  const path = tmp.path(name);
  writeFileSync(path, writePcap(fs));
  return path;
}

const swapReply = (batch: PacketBatch) => {
  const u8 = batch.bytes;
  for (let i = 0; i < batch.count; i++) {
    const o = batch.offset(i);
    for (let k = 0; k < 6; k++) {
      const t = u8[o + k];
      u8[o + k] = u8[o + 6 + k];
      u8[o + 6 + k] = t;
    }
    batch.reply(i);
  }
};

async function runUntil(e: Engine, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  await e.start();
  expect(await waitFor(cond, timeoutMs), 'condition within the timeout').toBe(true);
}

describe('verdicts, byte for byte', () => {
  for (const mode of ['main', 'pipeline', 'inline'] as const) {
    it(`reply: MACs swapped, order kept (${mode})`, async () => {
      const input = frames(300);
      const out = tmp.path(`reply-${mode}.pcap`);
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn(`in-${mode}.pcap`, input), txFile: out });
      if (mode === 'main') e.handle(p, swapReply);
      else e.handleInWorkers(p, { module: fixtures, mode });
      await runUntil(e, () => (e.stats().ports.p.handler?.replied ?? 0) === input.length);
      const s = await stopAndCheckPool(e);
      expect(s.ports.p.handler?.packets).toBe(input.length);
      expect(s.ports.p.txPackets).toBe(input.length);
      const got = readPcapFile(out).records.map((r) => r.data);
      expect(got.length).toBe(input.length);
      for (let i = 0; i < input.length; i++) expect(got[i]).toEqual(swapped(input[i]));
    });
  }

  it('coalescing: with a window, a trickle reaches the handler in full bursts and nothing is held back', async () => {
    const run = async (coalesceUs: number) => {
      const e = await engines.create();
      // 200k packets/s: one packet per 5 us, so nearly every rx burst holds one packet.
      const p = e.addPort('p', { driver: 'null', packetSize: 64, rate: 200_000, count: 3000 });
      // A ring that holds the whole run: a stalled test thread cannot turn into drops.
      e.handle(p, { coalesceUs, ringSize: 4096 }, (batch) => {
        for (let i = 0; i < batch.count; i++) batch.drop(i);
      });
      // Every packet arrives and comes back, the last partial burst too (its window runs out).
      await runUntil(e, () => (e.stats().ports.p.handler?.dropped ?? 0) === 3000);
      const s = await stopAndCheckPool(e);
      expect(s.ports.p.handler!.packets).toBe(3000);
      return s.ports.p.handler!.packets / s.ports.p.handler!.batches;
    };
    // 1 ms collects ~200 packets, more than a burst (32): bursts go over full
    // (without the window they hold 1-4 packets here; a stalled consumer only makes them bigger).
    // A stalled producer makes them smaller: the null port's token bucket holds one burst, so an
    // lcore the hypervisor takes away for a few ms (bench/stalls.ts) misses those packets and
    // closes windows short. The mean fell to 22 in one CI run (Node 22 matrix, 2026-12-04);
    // 12 is still three times what no window gives.
    expect(await run(1000)).toBeGreaterThan(12);
    await run(0);
  });

  it('rejects bad handler options with INVALID_OPTION', async () => {
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'null' });
    const noop = () => {};
    expect(() => e.handle(p, { coalesceUs: -1 }, noop)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('coalesceUs') }));
    expect(() => e.handle(p, { coalesceUs: Number.NaN }, noop)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => e.handle(p, { ringSize: 100 }, noop)).toThrow(expect.objectContaining({ code: 'INVALID_OPTION', message: expect.stringContaining('power of two') }));
    expect(() => e.handleInWorkers(p, { module: fixtures, coalesceUs: 5000 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('forward to another port, drop, and alloc new packets', async () => {
    const input = frames(64);
    const outB = tmp.path('fwd-b.pcap');
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'pcap', rxFile: pcapIn('fwd-in.pcap', input) });
    const b = e.addPort('b', { driver: 'pcap', txFile: outB });
    const extra = udp6Frame({ srcMac: '02:00:00:00:00:0a', dstMac: '02:00:00:00:00:0b', src: 'fd00:198:18::1', dst: 'fd00:198:18::2', sport: 7, dport: 7, payload: Uint8Array.of(1, 2, 3) });
    let allocated = 0;
    e.handle(a, (batch) => {
      const n = batch.count;
      for (let i = 0; i < n; i++) {
        if (i % 2 === 0) batch.forward(i, b);
        else batch.drop(i);
      }
      const j = batch.alloc(extra.length);
      if (j >= 0) {
        batch.bytes.set(extra, batch.offset(j));
        batch.forward(j, 'b');
        allocated++;
      }
    });
    await runUntil(e, () => {
      const h = e.stats().ports.a.handler!;
      return h.packets === input.length && h.forwarded + h.dropped === input.length + allocated;
    });
    const s = await stopAndCheckPool(e);
    const h = s.ports.a.handler!;
    expect(h.dropped).toBe(input.length / 2);
    expect(allocated).toBeGreaterThan(0);
    expect(h.forwarded).toBe(input.length / 2 + allocated);
    const got = readPcapFile(outB).records.map((r) => r.data);
    const expected = input.filter((_, i) => i % 2 === 0);
    expect(got.filter((f) => f.length !== extra.length || f[12] !== 0x86)).toEqual(expected);
    expect(got.filter((f) => f.length === extra.length && f[12] === 0x86)).toEqual(Array(allocated).fill(extra));
  });

  it('match: matching packets to the handler, the rest through the native path (echo) or dropped and counted', async () => {
    const dns = frames(10, 53);
    const other = frames(6, 9);
    const arp = [arpFrame({ senderIp: '198.18.0.1', targetIp: '198.18.0.2' })];
    const mixed = [...dns, ...other, ...arp];
    const out = tmp.path('match.pcap');
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('match-in.pcap', mixed), txFile: out });
    e.echo(p);
    let seen = 0;
    e.handle(p, { match: { udpDstPort: 53 } }, (batch) => {
      seen += batch.count;
      for (let i = 0; i < batch.count; i++) batch.drop(i);
    });
    // The broadcast ARP request takes the native path too, where echo drops it (drops.groupDst).
    await runUntil(e, () => e.stats().ports.p.txPackets === other.length && e.stats().ports.p.drops.groupDst === arp.length && seen === dns.length);
    const s = await stopAndCheckPool(e);
    expect(seen).toBe(dns.length);
    expect(s.ports.p.drops.unmatched).toBe(0);
    expect(s.ports.p.drops.groupDst).toBe(arp.length);
    expect(readPcapFile(out).records.length).toBe(other.length);

    // The same without a native path: non-matching packets are dropped and counted.
    const e2 = await engines.create();
    const p2 = e2.addPort('p', { driver: 'pcap', rxFile: pcapIn('match-in2.pcap', mixed) });
    e2.handle(p2, { match: { udpDstPort: 53 } }, (batch) => {
      for (let i = 0; i < batch.count; i++) batch.drop(i);
    });
    await runUntil(e2, () => e2.stats().ports.p.rxPackets === mixed.length && e2.stats().ports.p.handler!.dropped === dns.length);
    const s2 = await stopAndCheckPool(e2);
    expect(s2.ports.p.drops.unmatched).toBe(other.length + arp.length);
  });

  it('send(): new frames out of a port', async () => {
    const out = tmp.path('send.pcap');
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', txFile: out });
    const fs = frames(5);
    await e.start();
    expect(e.send(p, fs)).toBe(5);
    const s = await stopAndCheckPool(e);
    expect(s.ports.p.txPackets).toBe(5);
    expect(readPcapFile(out).records.map((r) => r.data)).toEqual(fs);
  });
});

describe('failures leave the pool whole', () => {
  it('a handler that throws: its burst is dropped and counted, an error event is emitted, the engine goes on', async () => {
    const input = frames(200);
    const out = tmp.path('throw.pcap');
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('throw-in.pcap', input), txFile: out });
    let calls = 0;
    const errors: Error[] = [];
    e.on('error', (err: Error) => errors.push(err));
    e.handle(p, (batch) => {
      if (calls++ === 0) throw new Error('boom');
      swapReply(batch);
    });
    await runUntil(e, () => {
      const s = e.stats().ports.p;
      return s.handler!.packets === input.length && s.handler!.replied + s.drops.handlerError === input.length;
    });
    const s = await stopAndCheckPool(e);
    expect(errors.length).toBe(1);
    expect(errors[0].message).toBe('boom');
    expect(s.ports.p.handler!.errors).toBe(1);
    expect(s.ports.p.drops.handlerError).toBeGreaterThan(0);
    expect(s.ports.p.handler!.replied).toBe(input.length - s.ports.p.drops.handlerError);
  });

  it('a throwing handler in a worker: error event with the message', async () => {
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('wthrow-in.pcap', frames(100)) });
    const errors: Error[] = [];
    e.on('error', (err: Error) => errors.push(err));
    e.handleInWorkers(p, { module: fixtures, export: 'throwFirst' });
    await runUntil(e, () => errors.length > 0 && e.stats().ports.p.handler!.packets === 100);
    const s = await stopAndCheckPool(e);
    expect(errors[0].message).toContain('on purpose');
    expect(s.ports.p.drops.handlerError).toBeGreaterThan(0);
  });

  it('a full ring is a counted drop (slow handler, fast source)', async () => {
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'null', packetSize: 64 });
    e.handle(p, { ringSize: 64 }, (batch) => {
      const until = Date.now() + 5;
      while (Date.now() < until); // a slow handler
      for (let i = 0; i < batch.count; i++) batch.drop(i);
    });
    await runUntil(e, () => e.stats().ports.p.drops.handlerRingFull > 0 && e.stats().ports.p.handler!.packets > 0);
    await stopAndCheckPool(e);
  });

  it('a tiny ring with allocations keeps flowing (ringSize 4, 8 alloc() per call)', async () => {
    // One commit gives back the burst plus what was allocated (here up to 4 + 8):
    // more than 2 x ringSize, so on old code the first commit never fit in
    // from_js and the channel stalled for good after one call.
    const e = await engines.create();
    // Paced (one packet every 50 us): the 4-slot ring drops what the consumer does not keep up with, and flow goes on.
    const p = e.addPort('p', { driver: 'null', rate: 20_000 });
    let allocated = 0;
    e.handle(p, { ringSize: 4 }, (batch) => {
      for (let i = 0; i < batch.count; i++) batch.drop(i);
      for (let k = 0; k < 8; k++) {
        const j = batch.alloc(60);
        if (j < 0) break;
        batch.drop(j);
        allocated++;
      }
    });
    await runUntil(e, () => {
      const s = e.stats().ports.p;
      // Ten ring-fulls handled and given back, allocations included (old code: 4 packets, then nothing).
      return s.handler!.packets >= 40 && s.handler!.dropped >= 40 + 8 * 10;
    });
    const s = await stopAndCheckPool(e);
    // Everything the handler got, and everything it allocated, came back (the pool is whole: stopAndCheckPool).
    // Their drop verdicts were applied, except for a last commit still in from_js when the lcore stopped
    // (at most what from_js holds: 2 x burst here), which stop() frees without applying.
    const h = s.ports.p.handler!;
    expect(h.dropped).toBeLessThanOrEqual(h.packets + allocated);
    expect(h.dropped).toBeGreaterThanOrEqual(h.packets + allocated - 64);
    expect(s.ports.p.handler!.badVerdict).toBe(0);
  });

  for (const mode of ['pipeline', 'inline'] as const) {
    it(`a worker that dies mid-burst is reported, and its mbufs come back (${mode})`, async () => {
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'null', packetSize: 64 });
      const exits: { code: number }[] = [];
      e.on('workerExit', (x: { code: number }) => exits.push(x));
      e.handleInWorkers(p, { module: fixtures, export: 'exitMidBurst', mode });
      await runUntil(e, () => exits.length === 1);
      expect(exits[0].code).toBe(3);
      if (mode === 'pipeline') {
        // Its queue's packets are now dropped and counted.
        expect(await waitFor(() => e.stats().ports.p.drops.handlerRingFull > 0)).toBe(true);
      }
      const s = await stopAndCheckPool(e);
      expect(s.ports.p.handler!.workersExited).toBe(1);
    });
  }

  it('stop() during traffic with workers on several queues returns every mbuf', async () => {
    const cpus = Engine.hostInfo().allowedCpus;
    const e = await engines.create({ lcores: cpus.length > 1 ? cpus.slice(-2) : [lastCpu()] });
    const a = e.addPort('a', { driver: 'null', packetSize: 64, rxQueues: 2 });
    e.addPort('b', { driver: 'null' });
    e.handleInWorkers(a, { module: fixtures, export: 'forwardToOne' });
    await runUntil(e, () => (e.stats().ports.b.txPackets ?? 0) > 10_000);
    const s = await stopAndCheckPool(e);
    expect(s.ports.a.handler!.forwarded).toBeGreaterThan(0);
  });
});
