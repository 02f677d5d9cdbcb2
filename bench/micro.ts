/**
 * bench/micro: tinybench micro-benchmarks of the PacketBatch calls a handler
 * makes (offset, length, reply, forward, drop, alloc) and of the per-burst work
 * around the handler (load + store), on a PacketBatch over a plain ArrayBuffer
 * laid out like a mempool (no engine, no native code). Each task runs 32 bursts
 * of 32 calls (over a working set of 128 mbufs); figures are nanoseconds per
 * call (per packet). The peer, measured in
 * the same run, is a plain Int32Array read per packet: what `offset(i)` would
 * cost with no method at all. `--runs N` repeats the whole suite, interleaved;
 * min / median / max over the runs. The last line is one JSON object.
 *
 *   node dist/bench/micro.js [--time 500] [--runs 5]
 */
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import { PacketBatch, batchControl, type MbufSource } from '../src/handler/batch.js';
import { MBUF } from '../src/handler/layout.js';
import { fmtSpread, loadAvg, numberArg, round, spread } from './handler-common.js';
import handler from './handler-module.js';

const usage = `usage: node dist/bench/micro.js [--time MS] [--runs N]
  --time MS   measuring time per task and run (default 500)
  --runs N    repetitions of the whole suite (default 5)`;

let values;
try {
  ({ values } = parseArgs({
    options: { time: { type: 'string', default: '500' }, runs: { type: 'string', default: '5' }, help: { type: 'boolean', short: 'h', default: false } },
    strict: true,
  }));
} catch (e) {
  console.error(`bench/micro: ${(e as Error).message}\n${usage}`);
  process.exit(2);
}
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const time = numberArg('bench/micro', usage, 'time', values.time, 10, 60_000, false);
const runs = numberArg('bench/micro', usage, 'runs', values.runs, 1, 100, true);

// A pool like the engine's default: 64-byte header, 128 headroom, 2048 data room.
const HEADROOM = 128;
const DATA_ROOM = 2048;
const SLOT = MBUF.HEADER_SIZE + HEADROOM + DATA_ROOM;
// A working set of 128 mbufs (the engine recycles a few hundred hot ones, LIFO, through its caches).
const MBUFS = 128;
const BURST = 32;
/** Bursts per task invocation: the timer's own cost (~30 ns) spread over 1024 calls. */
const REPEAT = 32;
const pool = new ArrayBuffer(SLOT * MBUFS);
const h16 = new Uint16Array(pool);
const u8 = new Uint8Array(pool);
// The null driver's default frame: Ethernet / IPv4 / UDP to port 9, 64 bytes.
const frame = Uint8Array.from([
  0x02, 0x4c, 0x52, 0x00, 0x00, 0x01, 0x02, 0x4c, 0x52, 0x00, 0x00, 0x00, 0x08, 0x00, 0x45, 0x00, 0x00, 0x32, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
  0x00, 0x00, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x00, 0x09, 0x00, 0x09, 0x00, 0x1e, 0x00, 0x00,
]);
for (let m = 0; m < MBUFS; m++) {
  const h = (m * SLOT) / 2;
  h16[h + MBUF.DATA_OFF / 2] = MBUF.HEADER_SIZE + HEADROOM;
  h16[h + MBUF.DATA_LEN / 2] = 64;
  u8.set(frame, m * SLOT + MBUF.HEADER_SIZE + HEADROOM);
}
const portIds = new Map([
  ['a', 0],
  ['b', 1],
]);
const portB = { id: 1 };

/** batch.alloc()'s source: cycles through the pool. */
class FakeSource implements MbufSource {
  private next = 0;
  take(): number {
    const m = this.next;
    this.next = (m + 1) % MBUFS;
    return m;
  }
}
const source = new FakeSource();
const batch = new PacketBatch(pool, SLOT, HEADROOM, DATA_ROOM, BURST * 2, portIds);
const ctl = batchControl(batch);
const peer = new Int32Array(BURST * 2);
let base = 0;
/** A burst of 32 mbufs, a different one each time (as the engine's would be). */
function loadBurst(): void {
  const idx = ctl.indices;
  for (let i = 0; i < BURST; i++) idx[i] = (base + i) % MBUFS;
  base = (base + BURST) % MBUFS;
  ctl.load(BURST, 0, 0, source);
}
loadBurst();
for (let i = 0; i < peer.length; i++) peer[i] = i * SLOT;
let sink = 0;

interface TaskDef {
  name: string;
  fn: () => void;
  /** Calls (packets) per task run. */
  calls: number;
}

const tasks: TaskDef[] = [
  {
    name: 'peer: Int32Array read',
    calls: BURST,
    fn: () => {
      let s = 0;
      for (let i = 0; i < BURST; i++) s += peer[i];
      sink += s;
    },
  },
  {
    name: 'offset(i)',
    calls: BURST,
    fn: () => {
      let s = 0;
      for (let i = 0; i < batch.count; i++) s += batch.offset(i);
      sink += s;
    },
  },
  {
    name: 'length(i)',
    calls: BURST,
    fn: () => {
      let s = 0;
      for (let i = 0; i < batch.count; i++) s += batch.length(i);
      sink += s;
    },
  },
  {
    name: 'reply(i)',
    calls: BURST,
    fn: () => {
      for (let i = 0; i < batch.count; i++) batch.reply(i);
    },
  },
  {
    name: 'forward(i, id)',
    calls: BURST,
    fn: () => {
      for (let i = 0; i < batch.count; i++) batch.forward(i, 1);
    },
  },
  {
    name: 'forward(i, port)',
    calls: BURST,
    fn: () => {
      for (let i = 0; i < batch.count; i++) batch.forward(i, portB);
    },
  },
  {
    name: "forward(i, 'b')",
    calls: BURST,
    fn: () => {
      for (let i = 0; i < batch.count; i++) batch.forward(i, 'b');
    },
  },
  {
    name: 'drop(i)',
    calls: BURST,
    fn: () => {
      for (let i = 0; i < batch.count; i++) batch.drop(i);
    },
  },
  {
    name: 'alloc(60) (fake source)',
    calls: BURST,
    fn: () => {
      ctl.setCount(0); // room for 32 new packets (load() would reset more; the engine does that per burst)
      for (let i = 0; i < BURST; i++) sink += batch.alloc(60);
      ctl.setCount(BURST);
    },
  },
  {
    name: 'load + store (per-burst engine side)',
    calls: BURST,
    fn: () => {
      loadBurst();
      ctl.store();
    },
  },
  {
    name: 'bench handler (read type+port, swap MACs, forward)',
    calls: BURST,
    fn: () => {
      handler(batch);
    },
  },
];

async function runSuite(): Promise<Map<string, number>> {
  const bench = new Bench({ time, warmupTime: Math.min(200, time), throws: true });
  for (const t of tasks) {
    const f = t.fn;
    bench.add(t.name, () => {
      for (let r = 0; r < REPEAT; r++) f();
    });
  }
  await bench.run();
  const out = new Map<string, number>();
  for (const t of tasks) {
    const r = bench.getTask(t.name)?.result;
    if (!r || !('latency' in r)) throw new Error(`task ${t.name}: no result`);
    // The median sample: robust to the preemptions a shared machine adds to some samples.
    out.set(t.name, (r.latency.p50 * 1e6) / (t.calls * REPEAT)); // ms per invocation -> ns per call
  }
  return out;
}

async function main(): Promise<void> {
  const load0 = loadAvg();
  console.log(`bench/micro: PacketBatch calls over a plain ArrayBuffer (${MBUFS} mbufs of ${SLOT} bytes), bursts of ${BURST} x ${REPEAT} per sample, ${runs} run(s) x ${time} ms per task, Node ${process.version}`);
  const all = new Map<string, number[]>(tasks.map((t) => [t.name, []]));
  for (let r = 0; r < runs; r++) {
    const res = await runSuite();
    for (const [k, v] of res) all.get(k)!.push(v);
    console.log(`run ${r + 1}/${runs}: ` + tasks.map((t) => `${t.name} ${res.get(t.name)!.toFixed(2)}`).join(', ') + ' (ns/call)');
  }
  const peerMedian = spread(all.get(tasks[0].name)!)!.median;
  const results: Record<string, unknown> = {};
  console.log('ns per call, min / median / max over runs; x peer = median / median of the plain Int32Array read:');
  for (const t of tasks) {
    const s = spread(all.get(t.name)!, 3)!;
    const ratio = round(s.median / peerMedian, 2);
    results[t.name] = { nsPerCall: s, xPeer: ratio };
    console.log(`  ${t.name.padEnd(52)} ${fmtSpread(s, 2).padStart(22)}   x peer ${ratio.toFixed(2)}`);
  }
  const load1 = loadAvg();
  console.log(`load average: ${load0} at the start, ${load1} at the end (2 CPUs)`);
  console.log(JSON.stringify({ bench: 'micro', node: process.version, burst: BURST, runs, timeMs: time, loadAverage: [load0, load1], tasks: results, sink: sink !== 0 }));
}

main().catch((e: unknown) => {
  console.error(`bench/micro: ${(e as Error).message}`);
  process.exit(2);
});
