// The load generator (src/gen/) against a host echo on the other end of a ring
// wire in the same engine: counts checked against the server's counters, the
// pacer never ahead of its rate nor above its burst, flows as distinct source
// ports, a known added delay visible in the latency percentiles, typed option
// errors, and every mbuf back in the pool. No timing upper bounds (bench/udp
// measures rate accuracy and latency).
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, createGenerator, LatencyHistogram, type DatagramBatch, type Engine as EngineT } from '../src/index.js';
import { bucketHigh, bucketLow, bucketOf, HISTOGRAM_BUCKETS } from '../src/gen/histogram.js';
import { EngineTracker, expectError, lastCpu, stopAndCheckPool } from './helpers/engine.js';

const slow = { timeout: 60_000 };
const cpus = Engine.hostInfo().allowedCpus;
const genCpu = cpus[0]!;

describe('latency histogram', () => {
  it('maps values to log-linear buckets with at most 1/64 relative width', () => {
    let prevHigh = -1;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      expect(bucketLow(i), `bucket ${i}`).toBe(prevHigh + 1); // contiguous, no gaps or overlaps
      prevHigh = bucketHigh(i);
      expect(bucketOf(bucketLow(i))).toBe(i);
      expect(bucketOf(bucketHigh(i))).toBe(i);
      if (i >= 128) expect((bucketHigh(i) + 1 - bucketLow(i)) / bucketLow(i)).toBeLessThanOrEqual(1 / 64);
    }
    expect(prevHigh).toBe(2 ** 32 - 1);
    expect(bucketOf(1e12)).toBe(HISTOGRAM_BUCKETS - 1);
    expect(bucketOf(-5)).toBe(0);
  });

  it('gives percentiles of known data within a bucket, and exact min, max and count', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 100_000; v++) h.record(v * 10); // 10 ns .. 1 ms, uniform
    const s = h.summary();
    expect(s.count).toBe(100_000);
    expect(s.minUs).toBe(0.01);
    expect(s.maxUs).toBe(1000);
    for (const [p, got] of [[50, s.p50Us], [90, s.p90Us], [99, s.p99Us], [99.9, s.p999Us]] as const) {
      const exact = p * 10; // µs
      expect(got).toBeGreaterThanOrEqual(exact);
      expect(got).toBeLessThanOrEqual(exact * (1 + 1 / 64) + 0.001);
    }
    const later = new LatencyHistogram();
    later.copyFrom(h);
    for (let i = 0; i < 10; i++) later.record(5_000_000); // 5 ms
    const d = new LatencyHistogram();
    d.setDifference(later, h);
    expect(d.count).toBe(10);
    expect(d.summary().p50Us).toBeGreaterThanOrEqual(5000);
    expect(d.summary().p50Us).toBeLessThanOrEqual(5000 * (1 + 1 / 64));
  });
});

describe('load generator over a ring wire', () => {
  const engines = new EngineTracker();
  afterEach(async () => {
    await engines.closeAll();
  });

  /** An engine with two ring ports: 'gen' (198.18.0.1, the generator) and 'srv' (198.18.0.2, a UDP echo on port 7 on the main thread). */
  async function bed(opts: { flows?: number; burst?: number; delayUs?: () => number } = {}) {
    // Rings and a pool deep enough to hold a whole run: on a loaded machine the main-thread
    // server can be off its CPU for a good part of a second, and this test counts, not times.
    const engine: EngineT = await engines.create({ lcores: [lastCpu()], mempool: { mbufs: 32768, hugepages: 'off' } });
    const gp = engine.addPort('gen', { driver: 'ring', wire: 'w', size: 16384 });
    const sp = engine.addPort('srv', { driver: 'ring', wire: 'w', size: 16384 });
    const genHost = engine.host(gp, { ipv4: '198.18.0.1/24' });
    const srvHost = engine.host(sp, { ipv4: '198.18.0.2/24' });
    const srcPorts = new Set<number>();
    const requests = { n: 0 }; // 50-byte datagrams: the generator's requests (its ARP-time probe is shorter)
    const srv = srvHost.udp({ port: 7, ringSize: 16384 }, (b: DatagramBatch) => {
      const d = opts.delayUs?.() ?? 0;
      if (d > 0) {
        const until = performance.now() + d / 1000;
        while (performance.now() < until) {
          /* hold the replies: a server that takes d µs per burst */
        }
      }
      for (let i = 0; i < b.count; i++) {
        srcPorts.add(b.srcPort(i));
        if (b.payloadLength(i) === 50) requests.n++;
        b.reply(i, b.payloadLength(i));
      }
    });
    const gen = createGenerator(genHost, { to: '198.18.0.2:7', cpu: genCpu, flows: opts.flows, burst: opts.burst, size: 50 });
    await engine.start();
    await gen.resolve();
    return { engine, gen, srv, srvHost, genHost, srcPorts, requests };
  }

  it('sends exactly the count, never faster than the rate nor in bigger bursts, and matches every response', slow, async () => {
    const { engine, gen, srv, genHost, requests } = await bed({ burst: 4 });
    const rx0 = srv.stats().rx;
    const n0 = requests.n;
    const r = await gen.run({ rate: 20_000, count: 6000, intervalMs: 0, drainMs: 10_000 });
    expect(r.sent).toBe(6000);
    expect(requests.n - n0).toBe(6000); // what the receiver saw
    expect(srv.stats().rx - rx0).toBeGreaterThanOrEqual(6000); // its socket counter (and maybe a late ARP-time probe)
    expect(r.received).toBe(6000);
    expect(r.lost).toBe(0);
    expect(r.duplicates + r.stale + r.noMbuf).toBe(0);
    expect(r.maxBurst).toBeLessThanOrEqual(4);
    expect(r.maxBurst).toBeGreaterThanOrEqual(1);
    // The pacer's schedule is absolute: the count-th request is not due before count / rate.
    expect(r.seconds).toBeGreaterThanOrEqual(6000 / 20_000);
    expect(r.latency.count).toBe(6000);
    expect(r.latency.p50Us).toBeGreaterThan(0);
    expect(r.latency.p50Us).toBeLessThanOrEqual(r.latency.p999Us);
    expect(r.latency.p999Us).toBeLessThanOrEqual(r.latency.maxUs);
    expect(genHost.stats().udpSends).toBeGreaterThanOrEqual(6000);
    // A second run on the same generator starts from zero.
    const r2 = await gen.run({ rate: 50_000, count: 1000, intervalMs: 0, drainMs: 10_000 });
    expect(r2.sent).toBe(1000);
    expect(r2.received).toBe(1000);
    await stopAndCheckPool(engine);
  });

  it('spreads requests over `flows` source ports and gets every answer back on them', slow, async () => {
    const { engine, gen, srcPorts } = await bed({ flows: 16 });
    const r = await gen.run({ rate: 10_000, count: 1600, intervalMs: 0, drainMs: 10_000 });
    expect(r.received).toBe(1600);
    for (let p = 40000; p < 40016; p++) expect(srcPorts.has(p), `source port ${p}`).toBe(true);
    expect([...srcPorts].filter((p) => p < 40000 || p >= 40016)).toEqual([]);
    await stopAndCheckPool(engine);
  });

  it('shows a server delay in its latency percentiles (against a control run)', slow, async () => {
    let delay = 0;
    const { engine, gen } = await bed({ delayUs: () => delay });
    const control = await gen.run({ rate: 500, count: 500, intervalMs: 0, drainMs: 10_000 });
    delay = 2000;
    const delayed = await gen.run({ rate: 500, count: 500, intervalMs: 0, drainMs: 10_000 });
    expect(control.received).toBe(500);
    expect(delayed.received).toBe(500);
    // Every reply left at least 2 ms after its request arrived.
    expect(delayed.latency.minUs).toBeGreaterThanOrEqual(2000);
    expect(delayed.latency.p50Us).toBeGreaterThanOrEqual(2000);
    expect(control.latency.minUs).toBeLessThan(2000);
    expect(delayed.latency.p50Us).toBeGreaterThan(control.latency.p50Us);
    await stopAndCheckPool(engine);
  });

  it('reports each interval while it runs', slow, async () => {
    const { engine, gen } = await bed();
    const seen: { sent: number; received: number }[] = [];
    gen.on('interval', (iv) => seen.push(iv));
    const r = await gen.run({ rate: 2000, seconds: 1.2, intervalMs: 250, drainMs: 10_000 });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.reduce((a, s) => a + s.sent, 0)).toBeLessThanOrEqual(r.sent);
    expect(r.received).toBe(r.sent);
    await stopAndCheckPool(engine);
  });

  it('rejects what it cannot do, with typed errors', slow, async () => {
    const engine = await engines.create({ lcores: [lastCpu()] });
    const p2 = engine.addPort('two', { driver: 'ring', wire: 'x', rxQueues: 2 });
    engine.addPort('two-peer', { driver: 'ring', wire: 'x' }); // a ring end without a peer keeps what it sends (see the report)
    await expectError(() => createGenerator(engine.host(p2, { ipv4: '198.18.0.1/24' }), { to: '198.18.0.2:7' }), 'INVALID_OPTION', 'one rx queue');
    const p = engine.addPort('g', { driver: 'ring', wire: 'y' });
    const peer = engine.host(engine.addPort('peer', { driver: 'ring', wire: 'y' }), { ipv4: '198.18.0.3/24' });
    peer.udp({ port: 100, ports: 3 }, () => undefined);
    await expectError(() => peer.udp({ port: 102 }, () => undefined), 'PORT_BUSY', '102');
    await expectError(() => peer.udp({ port: 65535, ports: 2 }, () => undefined), 'INVALID_OPTION', 'ports');
    const h = engine.host(p, { ipv4: '198.18.0.1/24' });
    await expectError(() => createGenerator(h, { to: '198.18.0.2' }), 'INVALID_OPTION', 'ADDR:PORT');
    await expectError(() => createGenerator(h, { to: '198.18.0.2:7', size: 40, stampOffset: 30 }), 'INVALID_OPTION', 'stamp');
    await expectError(() => createGenerator(h, { to: '198.18.0.2:7', burst: 64 }), 'INVALID_OPTION', 'burst');
    const gen = createGenerator(h, { to: '198.18.0.9:7', cpu: genCpu, flows: 4 });
    // Its ports are taken: 40000..40003.
    await expectError(() => h.udp({ port: 40002 }, () => undefined), 'PORT_BUSY', '40002');
    await engine.start();
    await expectError(() => gen.resolve(300), 'NEIGHBOR_UNRESOLVED', '198.18.0.9');
    await expectError(() => gen.run({ rate: 10 }), 'INVALID_OPTION', 'seconds, count');
    await stopAndCheckPool(engine);
  });
});
