// Packet capture (issue 13): pcapng that tshark reads back with the same bytes,
// lengths, direction and queue; the filter selects on the lcore; a full capture
// ring loses copies (counted), never forwarded traffic; every mbuf comes back.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Engine, type Port } from '../src/index.js';
import { expectError, perTestBed, readPcapFile, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { hex, udp4Frame } from './helpers/pcap.js';

const { engines, tmp } = perTestBed();

const DNS = udp4Frame({ src: '198.18.0.9', dst: '198.18.0.1', sport: 4000, dport: 53, payload: 30 });
const OTHER = udp4Frame({ src: '198.18.0.2', dst: '198.18.0.1', sport: 4000, dport: 9, payload: 200 });

/** A wire: frames sent on `inj` arrive on `w` (rx), which forwards them to a null sink. */
async function wireBed(): Promise<{ e: Engine; inj: Port; w: Port; sink: Port }> {
  const e = await engines.create();
  const inj = e.addPort('inj', { driver: 'ring', wire: 'cap' });
  const w = e.addPort('w', { driver: 'ring', wire: 'cap' });
  const sink = e.addPort('sink', { driver: 'null' });
  e.forward(w, sink);
  await e.start();
  return { e, inj, w, sink };
}

function tshark(args: string[]): string {
  return execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('capture to pcapng', () => {
  it('tshark reads the file: the same bytes, lengths, direction and queue; the filter chose them', async () => {
    const { e, inj, w } = await wireBed();
    const file = tmp.path('cap.pcapng');
    const cap = e.capture(w, { filter: 'udp port 53', file, direction: 'rx' });
    const frames = [DNS, OTHER, DNS, OTHER, OTHER, DNS];
    expect(e.send(inj, frames)).toBe(frames.length);
    expect(await waitFor(() => cap.stats().seen === frames.length)).toBe(true);
    const s = await cap.stop();
    expect(s).toEqual({ seen: 6, accepted: 3, filtered: 3, dropped: 0, written: 3 });
    // tshark reads it; re-written as classic pcap, the bytes are ours to compare.
    const back = tmp.path('back.pcap');
    tshark(['-r', file, '-F', 'pcap', '-w', back]);
    const f = readPcapFile(back);
    expect(f.records.map((r) => hex(r.data))).toEqual([hex(DNS), hex(DNS), hex(DNS)]);
    expect(f.records.map((r) => r.origLen)).toEqual([DNS.length, DNS.length, DNS.length]);
    const fields = tshark(['-r', file, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.packet_flags_direction', '-e', 'frame.interface_queue', '-e', 'udp.dstport']);
    expect(fields.trim().split('\n')).toEqual(Array(3).fill('w\t0x00000001\t0\t53'));
    // The statistics block at the end: what the capture saw, accepted and dropped.
    const info = execFileSync('capinfos', [file], { encoding: 'utf8' });
    expect(info).toContain('Filter string = udp port 53');
    expect(info).toContain('Time precision = nanoseconds (9)');
    expect(info).toContain('Number of stat entries = 1');
    // isb_ifrecv (option 4) is the block's first counter: what the capture saw.
    const raw = readFileSync(file);
    const isbAt = raw.length - raw.readUInt32LE(raw.length - 4);
    expect(raw.readUInt32LE(isbAt)).toBe(5);
    const opts = raw.subarray(isbAt + 20);
    const at = (code: number) => {
      for (let o = 0; o + 4 <= opts.length; o += 4 + ((opts.readUInt16LE(o + 2) + 3) & ~3)) if (opts.readUInt16LE(o) === code) return Number(opts.readBigUInt64LE(o + 4));
      return -1;
    };
    expect([at(4), at(6), at(7), at(8)]).toEqual([6, 3, 0, 3]);
    await stopAndCheckPool(e);
  });

  it('queue: only the frames of that rx queue; out of range, or with tx, is INVALID_OPTION', async () => {
    const e = await engines.create();
    // A null port with two rx queues (one lcore polls both), forwarding to a sink.
    const w = e.addPort('w', { driver: 'null', rxQueues: 2, rate: 2000 });
    e.forward(w, e.addPort('sink', { driver: 'null' }));
    await e.start();
    for (const q of [1, 0]) {
      const file = tmp.path(`q${q}.pcapng`);
      const cap = e.capture(w, { queue: q, count: 10, file });
      const s = await cap.done;
      expect(s.written).toBe(10);
      const queues = tshark(['-r', file, '-T', 'fields', '-e', 'frame.interface_queue', '-e', 'frame.packet_flags_direction']);
      expect(queues.trim().split('\n')).toEqual(Array(10).fill(`${q}\t0x00000001`));
    }
    await expectError(() => e.capture(w, { queue: 2 }), 'INVALID_OPTION', '0 to 1');
    await expectError(() => e.capture(w, { queue: 0, direction: 'both' }), 'INVALID_OPTION', "direction 'rx'");
    await stopAndCheckPool(e);
  });

  it('snaplen cuts the copy, not the original length; tx captures what is sent, outbound', async () => {
    const { e, inj, sink } = await wireBed();
    const file = tmp.path('tx.pcapng');
    const cap = e.capture(sink, { file, direction: 'tx', snaplen: 60 });
    e.send(inj, [OTHER, DNS]);
    expect(await waitFor(() => cap.stats().accepted === 2)).toBe(true);
    await cap.stop();
    const back = tmp.path('tx.pcap');
    tshark(['-r', file, '-F', 'pcap', '-w', back]);
    const f = readPcapFile(back);
    expect(f.records.map((r) => [r.data.length, r.origLen])).toEqual([[60, OTHER.length], [60, DNS.length]]);
    expect(hex(f.records[0]!.data)).toBe(hex(OTHER.subarray(0, 60)));
    expect(tshark(['-r', file, '-T', 'fields', '-e', 'frame.packet_flags_direction']).trim().split('\n')).toEqual(['0x00000002', '0x00000002']);
    await stopAndCheckPool(e);
  });

  it('count ends the capture; raw cBPF (tcpdump -ddd text) works like the expression', async () => {
    const { e, inj, w } = await wireBed();
    const file = tmp.path('count.pcapng');
    // tcpdump -ddd 'ether proto 0x0800': ldh [12]; jeq #0x800; ret #262144; ret #0
    const cap = e.capture(w, { bpf: '4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0', file, count: 2 });
    e.send(inj, [OTHER, DNS, OTHER, DNS]);
    const s = await cap.done;
    expect(s.written).toBe(2);
    const back = tmp.path('count.pcap');
    tshark(['-r', file, '-F', 'pcap', '-w', back]);
    expect(readPcapFile(back).records.map((r) => hex(r.data))).toEqual([hex(OTHER), hex(DNS)]);
    await stopAndCheckPool(e);
  });

  it('a full capture ring drops copies, counted; the forwarding path loses nothing', async () => {
    const { e, inj, w, sink } = await wireBed();
    const out: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const stream = new Writable({ write: (c, _e, cb) => (out.push(c as Buffer), cb()) });
    // 2 records per queue, drained every 5 s: everything past the first 2 copies is dropped.
    const cap = e.capture(w, { file: stream, ringSize: 2, drainMs: 5000, direction: 'rx' });
    const N = 1000;
    for (let i = 0; i < N; i += 50) expect(e.send(inj, Array(50).fill(DNS))).toBe(50);
    expect(await waitFor(() => e.stats().ports.sink!.txPackets === N)).toBe(true);
    const s = await cap.stop();
    expect(s.seen).toBe(N);
    expect(s.accepted).toBe(N);
    expect(s.written).toBe(2);
    expect(s.dropped).toBe(N - 2);
    const st = e.stats();
    expect(st.ports.w!.rxPackets).toBe(N);
    expect(st.ports.sink!.txPackets).toBe(N);
    expect(st.ports.sink!.dropped).toBe(0);
    expect(Buffer.concat(out).length).toBeGreaterThan(0);
    await stopAndCheckPool(e);
  });

  it('at 1 Mpps (null source): a 2-record ring drops copies, forwarding loses nothing, every mbuf comes back', async () => {
    // Paced so that the source outlasts attaching the capture (which needs a running engine).
    const N = 500_000;
    const e = await engines.create();
    const src = e.addPort('src', { driver: 'null', count: N, rate: 1_000_000 });
    const sink = e.addPort('sink', { driver: 'null' });
    e.forward(src, sink);
    await e.start();
    const cap = e.capture(src, { ringSize: 2, drainMs: 1000, direction: 'rx' });
    expect(await e.whenSourcesDone(20_000)).toBe(true);
    const s = await cap.stop();
    const st = await stopAndCheckPool(e);
    expect(st.ports.src!.rxPackets).toBe(N);
    expect(st.ports.sink!.txPackets).toBe(N);
    expect(st.ports.sink!.dropped).toBe(0);
    expect(s.seen).toBeGreaterThan(0);
    expect(s.dropped).toBeGreaterThan(0);
    expect(s.written + s.dropped).toBe(s.accepted);
  });

  it('stopping the engine ends its captures with a complete file', async () => {
    const { e, inj, w } = await wireBed();
    const file = tmp.path('stop.pcapng');
    const cap = e.capture(w, { file });
    e.send(inj, [DNS]);
    expect(await waitFor(() => cap.stats().seen === 1)).toBe(true);
    await e.stop();
    expect((await cap.done).written).toBe(1);
    expect(tshark(['-r', file, '-T', 'fields', '-e', 'udp.dstport']).trim()).toBe('53');
    expect(readFileSync(file).length).toBeGreaterThan(100);
  });

  it('errors: bad expression, refused program, a second capture, a stopped engine', async () => {
    const { e, w } = await wireBed();
    await expectError(() => e.capture(w, { filter: 'udp port' }), 'CAPTURE_FILTER_INVALID', 'pcap-filter');
    await expectError(() => e.capture(w, { bpf: '1,6 0 0 x' }), 'CAPTURE_BPF_INVALID');
    await expectError(() => e.capture(w, { bpf: '2,21 0 5 1,6 0 0 1' }), 'CAPTURE_BPF_INVALID', 'jump out of the program');
    await expectError(() => e.capture(w, { ringSize: 3 }), 'INVALID_OPTION');
    const c = e.capture(w, {});
    await expectError(() => e.capture(w, {}), 'CAPTURE_BUSY');
    await c.stop();
    await e.capture(w, {}).stop(); // free again after stop
    await e.stop();
    await expectError(() => e.capture(w, {}), 'ENGINE_STOPPED');
  });
});

describe('capture output errors', () => {
  it('an unwritable file stops the capture and rejects done with CAPTURE_OUTPUT', async () => {
    const e = await engines.create();
    const inj = e.addPort('inj', { driver: 'ring', wire: 'x' });
    const w = e.addPort('w', { driver: 'ring', wire: 'x' });
    e.forward(w, e.addPort('sink', { driver: 'null' }));
    await e.start();
    const cap = e.capture(w, { file: tmp.path('no/such/dir/x.pcapng') });
    e.send(inj, [DNS]);
    await expect(cap.done).rejects.toMatchObject({ code: 'CAPTURE_OUTPUT' });
    expect(() => e.capture(w, {}).stop()).not.toThrow(); // the port is free again
    await stopAndCheckPool(e);
  });
});
