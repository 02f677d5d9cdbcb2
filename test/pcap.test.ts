// The pcap driver: byte-for-byte round trips (both magics, both byte orders),
// every way an input file can be wrong, loop and pace modes, snaplen, and the
// output read back by tshark.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Engine } from '../src/index.js';
import { expectError, perTestBed, readPcapFile, runToCompletion, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { PCAP_MAGIC_NANO, hex, readPcap, udp4Frame, udp6Frame, writePcap, type WritePcapOptions } from './helpers/pcap.js';

const { engines, tmp } = perTestBed();

/** Frames of many sizes, 14 bytes (bare Ethernet header) up to the data room (2048). */
function sampleFrames(): Uint8Array[] {
  const frames: Uint8Array[] = [];
  frames.push(Uint8Array.from({ length: 14 }, (_, i) => i + 1));
  for (let i = 0; i < 40; i++) frames.push(udp4Frame({ src: `198.18.0.${i + 1}`, dst: '198.18.1.1', sport: 1000 + i, dport: 80, payload: i * 37 }));
  for (let i = 0; i < 20; i++) frames.push(udp6Frame({ src: `fd00:198:18::${i + 1}`, dst: 'fd00:198:18::ff', sport: 2000 + i, dport: 443, payload: 1 + i * 61 }));
  frames.push(udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2, payload: 2048 - 42 }));
  return frames;
}

/** pcap rxFile -> forward io -> pcap txFile; returns the output file and the engine stats. */
async function roundTrip(input: Uint8Array, extra: { mbufs?: number; snaplen?: number } = {}) {
  const inFile = tmp.path('in.pcap');
  const outFile = tmp.path('out.pcap');
  writeFileSync(inFile, input);
  const e = await engines.create({ mempool: { mbufs: extra.mbufs ?? 4096 } });
  const src = e.addPort('src', { driver: 'pcap', rxFile: inFile });
  const out = e.addPort('out', { driver: 'pcap', txFile: outFile, ...(extra.snaplen ? { snaplen: extra.snaplen } : {}) });
  e.forward(src, out);
  const s = await runToCompletion(e);
  return { file: readPcapFile(outFile), raw: new Uint8Array(readFileSync(outFile)), stats: s, outFile, engine: e };
}

describe('pcap round trip', () => {
  const variants: [string, WritePcapOptions][] = [
    ['microsecond, little-endian', {}],
    ['nanosecond, little-endian', { nano: true }],
    ['microsecond, big-endian', { bigEndian: true }],
    ['nanosecond, big-endian', { nano: true, bigEndian: true }],
  ];
  for (const [name, opts] of variants) {
    it(`${name} input comes out byte for byte in a nanosecond pcap`, async () => {
      const frames = sampleFrames();
      const { file, stats } = await roundTrip(writePcap(frames, opts));
      expect(file.magic).toBe(PCAP_MAGIC_NANO);
      expect(file.bigEndian).toBe(false); // written in host order (x86-64, arm64: little-endian)
      expect([file.versionMajor, file.versionMinor]).toEqual([2, 4]);
      expect(file.snaplen).toBe(65535);
      expect(file.linktype).toBe(1);
      expect(file.records).toHaveLength(frames.length);
      file.records.forEach((r, i) => {
        expect(hex(r.data), `record ${i + 1}`).toBe(hex(frames[i]!));
        expect(r.origLen).toBe(frames[i]!.length);
        expect(r.tsFrac).toBeLessThan(1_000_000_000);
      });
      // Transmit time, not the recorded time: now, give or take a day.
      expect(Math.abs(file.records[0]!.tsSec - Date.now() / 1000)).toBeLessThan(86_400);
      const bytes = frames.reduce((a, f) => a + f.length, 0);
      expect(stats.ports.src!.rxPackets).toBe(frames.length);
      expect(stats.ports.src!.rxBytes).toBe(bytes);
      expect(stats.ports.out!.txPackets).toBe(frames.length);
      expect(stats.ports.out!.txBytes).toBe(bytes);
      expect(stats.ports.src!.xstats.records).toBe(frames.length);
      expect(stats.ports.src!.xstats.delivered).toBe(frames.length);
    });
  }

  it('info() tells the input timestamp resolution and the record count', async () => {
    const f = tmp.path('in.pcap');
    writeFileSync(f, writePcap(sampleFrames(), { nano: false }));
    const e = await engines.create();
    const p = e.addPort('p', { driver: 'pcap', rxFile: f, txFile: tmp.path('o.pcap') });
    expect(p.info().details).toMatchObject({ rxFile: f, mode: 'once', records: String(sampleFrames().length), rxTimestamps: 'microsecond' });
  });

  it('more records than mbufs: the pool is reused and every record arrives', async () => {
    const frames = Array.from({ length: 5000 }, (_, i) => udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: i, dport: 1, payload: i % 200 }));
    const { file, stats } = await roundTrip(writePcap(frames), { mbufs: 1024 });
    expect(file.records).toHaveLength(5000);
    file.records.forEach((r, i) => expect(hex(r.data)).toBe(hex(frames[i]!)));
    expect(stats.ports.src!.drops.noMbuf).toBe(0);
  });

  it('snaplen cuts what is written and is the file header SnapLen', async () => {
    const frames = [udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2, payload: 100 })];
    const { file } = await roundTrip(writePcap(frames), { snaplen: 64 });
    expect(file.snaplen).toBe(64);
    expect(file.records).toHaveLength(1);
    expect(file.records[0]!.data.length).toBe(64);
    expect(file.records[0]!.origLen).toBe(frames[0]!.length);
    expect(hex(file.records[0]!.data)).toBe(hex(frames[0]!.subarray(0, 64)));
  });

  it('a capture with no records: the source is done at once and the output is a bare header', async () => {
    const { raw, file, stats } = await roundTrip(writePcap([]));
    expect(raw.length).toBe(24);
    expect(file.records).toHaveLength(0);
    expect(stats.ports.src!.rxPackets).toBe(0);
  });

  it('a txFile holds a valid header as soon as the port is added', async () => {
    const out = tmp.path('o.pcap');
    const e = await engines.create();
    e.addPort('p', { driver: 'pcap', txFile: out });
    const f = readPcap(new Uint8Array(readFileSync(out)));
    expect(f.records).toHaveLength(0);
    expect(f.magic).toBe(PCAP_MAGIC_NANO);
  });
});

describe('pcap input errors', () => {
  const frames = () => [udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2, payload: 50 }), udp4Frame({ src: '198.18.0.3', dst: '198.18.0.4', sport: 3, dport: 4, payload: 60 })];

  async function addWith(bytes: Uint8Array, dataRoom?: number): Promise<() => unknown> {
    const f = tmp.path('bad.pcap');
    writeFileSync(f, bytes);
    const e: Engine = await engines.create(dataRoom ? { mempool: { dataRoom } } : {});
    return () => e.addPort('p', { driver: 'pcap', rxFile: f });
  }

  it('cut inside a record\'s data -> PCAP_TRUNCATED naming the record and how to repair', async () => {
    const whole = writePcap(frames());
    const err = await expectError(await addWith(whole.subarray(0, whole.length - 10)), 'PCAP_TRUNCATED', 'record 2', 'bad.pcap');
    expect(err.message).toMatch(/editcap|tshark/);
  });

  it('cut inside a record header -> PCAP_TRUNCATED', async () => {
    const one = writePcap(frames().slice(0, 1));
    const whole = writePcap(frames());
    await expectError(await addWith(whole.subarray(0, one.length + 7)), 'PCAP_TRUNCATED', 'record 2');
  });

  it('garbage -> PCAP_FORMAT naming the magic it found', async () => {
    const junk = Uint8Array.from({ length: 200 }, (_, i) => (i * 131 + 7) & 0xff);
    await expectError(await addWith(junk), 'PCAP_FORMAT', 'not a pcap file', 'magic');
  });

  it('shorter than a file header -> PCAP_FORMAT', async () => {
    await expectError(await addWith(new Uint8Array(10)), 'PCAP_FORMAT', '24');
  });

  it('a pcapng file -> PCAP_FORMAT saying how to convert it', async () => {
    const ng = new Uint8Array(64);
    new DataView(ng.buffer).setUint32(0, 0x0a0d0d0a, true);
    new DataView(ng.buffer).setUint32(8, 0x1a2b3c4d, true);
    await expectError(await addWith(ng), 'PCAP_FORMAT', 'pcapng', 'editcap');
  });

  it('a format version other than 2.4 -> PCAP_FORMAT', async () => {
    await expectError(await addWith(writePcap(frames(), { versionMajor: 2, versionMinor: 2 })), 'PCAP_FORMAT', '2.2');
  });

  it('a captured length above the original length -> PCAP_FORMAT (corrupt record)', async () => {
    const f = frames()[0]!;
    await expectError(await addWith(writePcap([{ data: f, origLen: f.length - 1 }])), 'PCAP_FORMAT', 'record 1');
  });

  it('link type 101 (raw IP) -> PCAP_LINKTYPE naming it', async () => {
    await expectError(await addWith(writePcap(frames(), { linktype: 101 })), 'PCAP_LINKTYPE', '101');
  });

  it('link type 101 in a big-endian file -> PCAP_LINKTYPE too', async () => {
    await expectError(await addWith(writePcap(frames(), { linktype: 101, bigEndian: true })), 'PCAP_LINKTYPE', '101');
  });

  it('a frame bigger than the data room -> FRAME_TOO_LARGE saying which dataRoom would do', async () => {
    const big = udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2, payload: 3000 });
    const err = await expectError(await addWith(writePcap([...frames(), big]), 2048), 'FRAME_TOO_LARGE', 'record 3', String(big.length), 'dataRoom');
    expect(err.message).toContain('3072'); // the next multiple of 64
  });

  it('the same big frame is accepted with a large enough data room', async () => {
    const big = udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2, payload: 3000 });
    const add = await addWith(writePcap([big]), 3072);
    add();
  });
});

describe('pcap modes', () => {
  it("loop delivers more than the file's records, in file order, and is never 'done'", async () => {
    const frames = Array.from({ length: 10 }, (_, i) => udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: i, dport: 1, payload: 10 + i }));
    const inFile = tmp.path('in.pcap');
    const outFile = tmp.path('out.pcap');
    writeFileSync(inFile, writePcap(frames));
    const e = await engines.create();
    const src = e.addPort('src', { driver: 'pcap', rxFile: inFile, mode: 'loop' });
    const out = e.addPort('out', { driver: 'pcap', txFile: outFile });
    e.forward(src, out);
    await e.start();
    expect(await waitFor(() => e.stats().ports.out!.txPackets > 35)).toBe(true);
    expect(await e.whenSourcesDone(50)).toBe(false);
    const s = await stopAndCheckPool(e);
    expect(s.ports.src!.rxPackets).toBeGreaterThan(35);
    expect(s.ports.src!.xstats.loops).toBeGreaterThanOrEqual(3);
    // The loop runs flat out until stop: the file can hold millions of records. Compare cheaply.
    const recs = readPcapFile(outFile).records;
    expect(recs.length).toBe(s.ports.out!.txPackets);
    const want = frames.map((f) => hex(f));
    const bad = recs.findIndex((r, i) => r.data.length !== frames[i % 10]!.length || hex(r.data) !== want[i % 10]);
    expect(bad, bad >= 0 ? `record ${bad + 1}: ${hex(recs[bad]!.data)}` : '').toBe(-1);
  });

  it('pace holds a record back until its recorded time', async () => {
    // Second record stamped 60 s after the first: within a short wait only the first is due.
    const f1 = udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 1 });
    const f2 = udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 2, dport: 2 });
    const inFile = tmp.path('in.pcap');
    writeFileSync(inFile, writePcap([{ data: f1, tsSec: 1_700_000_000, tsFrac: 0 }, { data: f2, tsSec: 1_700_000_060, tsFrac: 0 }]));
    const e = await engines.create();
    const src = e.addPort('src', { driver: 'pcap', rxFile: inFile, mode: 'pace' });
    const sink = e.addPort('sink', { driver: 'null' });
    e.forward(src, sink);
    await e.start();
    expect(await waitFor(() => e.stats().ports.src!.rxPackets >= 1)).toBe(true);
    expect(await e.whenSourcesDone(200)).toBe(false);
    const s = await stopAndCheckPool(e);
    expect(s.ports.src!.rxPackets).toBe(1);
    expect(s.ports.sink!.txPackets).toBe(1);
  });

  it('pace delivers records stamped close together, all of them', async () => {
    const frames = Array.from({ length: 20 }, (_, i) => ({ data: udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: i, dport: 1 }), tsSec: 1_700_000_000, tsFrac: i * 1000 }));
    const inFile = tmp.path('in.pcap');
    writeFileSync(inFile, writePcap(frames));
    const e = await engines.create();
    const src = e.addPort('src', { driver: 'pcap', rxFile: inFile, mode: 'pace' });
    const sink = e.addPort('sink', { driver: 'null' });
    e.forward(src, sink);
    const s = await runToCompletion(e);
    expect(s.ports.sink!.txPackets).toBe(20);
  });
});

describe('tshark reads what the pcap driver writes', () => {
  const hasTshark = spawnSync('sh', ['-c', 'command -v tshark']).status === 0;
  const inCi = process.env.CI === 'true';
  if (!hasTshark && !inCi) console.log('tshark tests skipped: tshark is not installed (apt-get install -y tshark)');

  it.skipIf(!hasTshark && !inCi)('tshark -r out.pcap lists every frame with its length', async () => {
    expect(hasTshark, 'CI must have tshark installed (apt-get install -y tshark)').toBe(true);
    const frames = sampleFrames();
    const { outFile } = await roundTrip(writePcap(frames));
    const r = spawnSync('tshark', ['-r', outFile, '-T', 'fields', '-e', 'frame.len', '-e', 'frame.cap_len'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.split('\t').map(Number));
    expect(lines).toEqual(frames.map((f) => [f.length, f.length]));
  });

  it.skipIf(!hasTshark && !inCi)('tshark decodes the UDP ports of the frames', async () => {
    expect(hasTshark, 'CI must have tshark installed (apt-get install -y tshark)').toBe(true);
    const frames = Array.from({ length: 10 }, (_, i) => udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 5000 + i, dport: 6000 + i, payload: 20 }));
    const { outFile } = await roundTrip(writePcap(frames));
    const r = spawnSync('tshark', ['-r', outFile, '-T', 'fields', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE'], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(lines.map((l) => [Number(l[0]), Number(l[1])])).toEqual(frames.map((_, i) => [5000 + i, 6000 + i]));
    // Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
    for (const l of lines) expect([l[2], l[3]]).toEqual(['1', '1']);
  });
});
