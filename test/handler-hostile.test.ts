// Hostile input through the handler API: a handler (or a consumer) that writes
// what it should not. Its batch bookkeeping is read-only; the engine applies
// only mbufs it handed over and has not had back; a packet never grows past
// its own mbuf; what the JS side never gives back comes back at stop. After
// every case the pool is whole (stopAndCheckPool), and the mischief is counted.
import { writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Engine, type PacketBatch } from '../src/index.js';
import { CHANNEL, MBUF, RING } from '../src/handler/layout.js';
import { loadAddon } from '../src/native.js';
import { EngineTracker, readPcapFile, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { tempDir, udp4Frame, writePcap } from './helpers/pcap.js';

const fixtures = new URL('./fixtures/handlers.mjs', import.meta.url);
const engines = new EngineTracker();
const tmp = tempDir('linerate-hostile-');
afterEach(async () => {
  await engines.closeAll();
});

function frames(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) =>
    udp4Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.0.1', dst: '198.18.0.2', sport: 1000 + i, dport: 9, payload: Uint8Array.of(i & 0xff, i >> 8) }),
  );
}

function pcapIn(name: string, fs: Uint8Array[]): string {
  const path = tmp.path(name);
  writeFileSync(path, writePcap(fs));
  return path;
}

/** Runs until the handler saw every frame (or dropped them on an error), stops, checks the pool. */
async function runAll(e: Engine, n: number, port = 'p') {
  await e.start();
  const ok = await waitFor(() => {
    const s = e.stats().ports[port];
    const h = s.handler!;
    return h.packets === n && h.replied + h.forwarded + h.dropped + h.badVerdict + s.drops.handlerError >= n;
  }, 10_000);
  const s = await stopAndCheckPool(e);
  expect(ok, `the handler saw all ${n} packets: ${JSON.stringify(s.ports[port].handler)}`).toBe(true);
  return s;
}

/** The channel block of (port, queue), as the consumer sees it: to poke at it from inside a handler. */
function channelOf(e: Engine, port: number) {
  const id = (e as unknown as { nat: { id(): number } }).nat.id();
  const buf = loadAddon().attach(id).channelBuffer(port, 0);
  const u32 = new Uint32Array(buf);
  const ring = (off: number) => {
    const w = u32[off / 4] / 4;
    return { w, mask: u32[w + RING.MASK / 4], prodHead: w + RING.PROD_HEAD / 4, prodTail: w + RING.PROD_TAIL / 4, consHead: w + RING.CONS_HEAD / 4, consTail: w + RING.CONS_TAIL / 4, slots: w + RING.SLOTS / 4 };
  };
  return { u32, fromJs: ring(CHANNEL.FROM_JS_OFF), free: ring(CHANNEL.FREE_OFF) };
}

describe('the batch is read-only to a handler', () => {
  const cases: [string, (b: PacketBatch) => void][] = [
    // Old code: the whole burst leaked on every call (to_js advanced, nothing returned).
    ['batch.count = 0', (b) => ((b as { count: number }).count = 0)],
    // Old code: a stale index went back with the burst (a double free).
    ['batch.count += 1', (b) => ((b as { count: number }).count += 1)],
    // Old code: idx was a public Uint32Array; an index the handler does not own went back.
    ['batch.idx[0] = 7', (b) => ((b as unknown as { idx: Uint32Array }).idx[0] = 7)],
    ['batch.port = 5', (b) => ((b as { port: number }).port = 5)],
  ];
  for (const [name, act] of cases) {
    it(`${name} throws (the burst is dropped and counted), and the pool stays whole`, async () => {
      const input = frames(100);
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('ro.pcap', input) });
      const errors: Error[] = [];
      e.on('error', (err: Error) => errors.push(err));
      e.handle(p, (batch) => {
        act(batch);
        for (let i = 0; i < batch.count; i++) batch.drop(i);
      });
      const s = await runAll(e, input.length);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]).toBeInstanceOf(TypeError);
      expect(s.ports.p.drops.handlerError).toBe(input.length);
      expect(s.ports.p.handler!.badVerdict).toBe(0);
    });
  }

  for (const mode of ['pipeline', 'inline'] as const) {
    it(`in a worker (${mode}): batch.count = 0 throws, and the pool stays whole`, async () => {
      const input = frames(100);
      const e = await engines.create();
      const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn(`ro-${mode}.pcap`, input) });
      const errors: Error[] = [];
      e.on('error', (err: Error) => errors.push(err));
      e.handleInWorkers(p, { module: fixtures, export: 'zeroCount', mode });
      const s = await runAll(e, input.length);
      expect(errors.length).toBeGreaterThan(0);
      expect(s.ports.p.drops.handlerError).toBe(input.length);
    });
  }
});

describe('the engine trusts no index from JavaScript', () => {
  it('an index returned twice, or never handed over, is counted as bad and not touched', async () => {
    const input = frames(64);
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('foreign.pcap', input) });
    let injected = 0;
    e.handle(p, (batch) => {
      if (injected === 0) {
        // Push two extra indices into from_js ahead of the consumer's own commit:
        // this burst's first mbuf (so it comes back twice) and one the channel
        // never handed over (mbuf 4095 is free in the pool at this point).
        const ch = channelOf(e, p.id);
        const prod = Atomics.load(ch.u32, ch.fromJs.prodTail);
        ch.u32[ch.fromJs.slots + (prod & ch.fromJs.mask)] = batch.mbuf(0);
        ch.u32[ch.fromJs.slots + ((prod + 1) & ch.fromJs.mask)] = 4095;
        Atomics.store(ch.u32, ch.fromJs.prodHead, prod + 2);
        Atomics.store(ch.u32, ch.fromJs.prodTail, prod + 2);
        injected = 2;
      }
      for (let i = 0; i < batch.count; i++) batch.drop(i);
    });
    const s = await runAll(e, input.length);
    const h = s.ports.p.handler!;
    expect(h.badVerdict).toBe(injected);
    // The double return is ignored whichever copy comes first: every packet is dropped once.
    expect(h.dropped).toBe(input.length);
    expect(s.mempool.freeOverflows).toBe(0);
  });

  it('an mbuf taken from the free ring and never returned comes back at stop, counted', async () => {
    const input = frames(64);
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('leak.pcap', input) });
    let leaked = 0;
    e.handle(p, (batch) => {
      if (leaked === 0) {
        // Consume one entry of the free ring behind the consumer's back (as a
        // consumer that dies holding it would): old code never got it back.
        const ch = channelOf(e, p.id);
        const cons = Atomics.load(ch.u32, ch.free.consTail);
        if (Atomics.load(ch.u32, ch.free.prodTail) !== cons) {
          Atomics.store(ch.u32, ch.free.consHead, cons + 1);
          Atomics.store(ch.u32, ch.free.consTail, cons + 1);
          leaked = 1;
        }
      }
      for (let i = 0; i < batch.count; i++) batch.drop(i);
    });
    const s = await runAll(e, input.length);
    expect(leaked).toBe(1);
    expect(s.ports.p.handler!.unreturned).toBe(1);
  });
});

describe('a packet never grows past its own mbuf', () => {
  it('setLength past the room of a packet that starts late (af_xdp puts data at 256) throws RangeError', async () => {
    // headroom 0: the pool puts packets at 64, so room = dataRoom; the first
    // handler moves each packet to 256 (as af_xdp receives it) and sends it over
    // a ring wire; the second handler sees it with data_off 256 and its room is
    // dataRoom - 192. Old code allowed dataRoom and wrote into the next mbuf.
    const input = frames(50);
    const out = tmp.path('late-out.pcap');
    const e = await engines.create({ mempool: { headroom: 0 } });
    const { slotSize, dataRoom } = e.info().mempool;
    const src = e.addPort('src', { driver: 'pcap', rxFile: pcapIn('late-in.pcap', input) });
    e.addPort('w0', { driver: 'ring', wire: 'late' });
    const w1 = e.addPort('w1', { driver: 'ring', wire: 'late' });
    e.addPort('out', { driver: 'pcap', txFile: out });
    e.handle(src, (batch) => {
      const u8 = batch.bytes, h16 = new Uint16Array(u8.buffer);
      for (let i = 0; i < batch.count; i++) {
        const slot = batch.mbuf(i) * slotSize;
        u8.copyWithin(slot + 256, batch.offset(i), batch.offset(i) + batch.length(i));
        h16[(slot + MBUF.DATA_OFF) / 2] = 256;
        batch.forward(i, 'w0');
      }
    });
    let refused = 0;
    const rooms = new Set<number>();
    e.handle(w1, (batch) => {
      for (let i = 0; i < batch.count; i++) {
        const len = batch.length(i);
        rooms.add(batch.room(i));
        for (const grow of [dataRoom, batch.room(i) + 1]) {
          try {
            batch.setLength(i, grow);
          } catch (err) {
            if (err instanceof RangeError) refused++;
          }
        }
        batch.setLength(i, batch.room(i)); // up to the very end is fine
        batch.setLength(i, len); // and back
        batch.forward(i, 'out');
      }
    });
    await e.start();
    expect(await waitFor(() => e.stats().ports.out.txPackets === input.length, 10_000)).toBe(true);
    const s = await stopAndCheckPool(e);
    expect([...rooms]).toEqual([slotSize - 256]);
    expect(refused).toBe(2 * input.length);
    expect(s.ports.w1.handler!.badVerdict).toBe(0);
    expect(readPcapFile(out).records.map((r) => r.data)).toEqual(input);
  });

  it('alloc and setLength refuse lengths outside the room; non-integers too', async () => {
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('alloc-room.pcap', frames(10)) });
    const { dataRoom } = e.info().mempool;
    const thrown: string[] = [];
    const attempt = (name: string, f: () => unknown) => {
      try {
        f();
      } catch (err) {
        if (err instanceof RangeError) thrown.push(name);
      }
    };
    let once = false;
    e.handle(p, (batch) => {
      if (!once) {
        once = true;
        attempt('alloc(dataRoom + 1)', () => batch.alloc(dataRoom + 1));
        attempt('alloc(0)', () => batch.alloc(0));
        attempt('alloc(1.5)', () => batch.alloc(1.5));
        attempt('setLength(0, -1)', () => batch.setLength(0, -1));
        attempt('setLength(0, 10.5)', () => batch.setLength(0, 10.5));
        attempt('setLength(count, 10)', () => batch.setLength(batch.count, 10));
        const j = batch.alloc(dataRoom);
        if (j >= 0) attempt('setLength(j, room + 1)', () => batch.setLength(j, batch.room(j) + 1));
      }
      for (let i = 0; i < batch.count; i++) batch.drop(i);
    });
    await runAll(e, 10);
    expect(thrown).toEqual(['alloc(dataRoom + 1)', 'alloc(0)', 'alloc(1.5)', 'setLength(0, -1)', 'setLength(0, 10.5)', 'setLength(count, 10)', 'setLength(j, room + 1)']);
  });

  it('a header rewritten past the mbuf (data_len, bypassing setLength) is not transmitted: counted as bad', async () => {
    const input = frames(40);
    const out = tmp.path('overrun-out.pcap');
    const e = await engines.create();
    const { slotSize } = e.info().mempool;
    const p = e.addPort('p', { driver: 'pcap', rxFile: pcapIn('overrun-in.pcap', input), txFile: out });
    e.handle(p, (batch) => {
      const h16 = new Uint16Array(batch.bytes.buffer);
      for (let i = 0; i < batch.count; i++) {
        // data_off + data_len one byte past the slot: a driver would read the next mbuf.
        const slot = batch.mbuf(i) * slotSize;
        h16[(slot + MBUF.DATA_LEN) / 2] = slotSize - (batch.offset(i) - slot) + 1;
        batch.reply(i);
      }
    });
    const s = await runAll(e, input.length);
    expect(s.ports.p.handler!.badVerdict).toBe(input.length);
    expect(s.ports.p.txPackets).toBe(0);
  });
});
