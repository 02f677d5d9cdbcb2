/**
 * The bed's own stalls: how much of its time each CPU takes away from a thread
 * that never stops running. A child process pinned to each CPU spins on the
 * monotonic clock for `seconds`, all CPUs at once (as a generator and a polling
 * server load them during a run), and records every gap between two reads.
 * Nothing else of the benchmark runs meanwhile, so every gap is the machine's:
 * timer and other interrupts, kernel threads, and on a VM the hypervisor taking
 * the vCPU away (this machine's vCPUs are PVM guests: docs/bench.md, "Bidder").
 *
 * What a gap means for a server pinned to that CPU: a request that arrives
 * while the CPU is away waits for it. Over a steady stream, the share of
 * requests delayed more than θ by the machine alone is Σ max(0, gap − θ) / T
 * (for each gap, the requests of its first gap − θ wait longer than θ). That is
 * the floor no server on the bed goes under: with θ = 1 ms, the share of
 * requests an ideal bidder would read past their deadline; with θ = 100 µs, the
 * share of requests whose latency exceeds 100 µs whatever the server does.
 */
import { spawn } from 'node:child_process';
import { track } from './children.js';

export interface CpuStalls {
  cpu: number;
  seconds: number;
  /** Gaps longer than 100 µs and 1 ms. */
  over100us: number;
  over1ms: number;
  maxUs: number;
  /** Σ max(0, gap − θ) / T, in %: the share of a steady stream delayed more than θ by the machine alone. */
  delayedOver100usPct: number;
  delayedOver1msPct: number;
}

// Runs in each child (node -e): spins on performance.now() (no allocation in the loop) and prints one JSON line.
const PROBE = `
const secs = Number(process.argv[1]), cpu = Number(process.argv[2]);
let prev = performance.now(); const t0 = prev, end = t0 + secs * 1000;
let n100 = 0, n1 = 0, ex100 = 0, ex1 = 0, max = 0;
while (prev < end) {
  const now = performance.now(), g = now - prev;
  if (g > 0.1) { n100++; ex100 += g - 0.1; if (g > max) max = g; if (g > 1) { n1++; ex1 += g - 1; } }
  prev = now;
}
const T = prev - t0;
console.log(JSON.stringify({ cpu, seconds: Number((T / 1000).toFixed(3)), over100us: n100, over1ms: n1, maxUs: Math.round(max * 1000),
  delayedOver100usPct: Number((100 * ex100 / T).toFixed(4)), delayedOver1msPct: Number((100 * ex1 / T).toFixed(4)) }));
`;

/** Measures every CPU in `cpus` at once for `seconds`. */
export async function measureStalls(cpus: number[], seconds: number): Promise<CpuStalls[]> {
  return Promise.all(
    cpus.map(
      (cpu) =>
        new Promise<CpuStalls>((resolve, reject) => {
          const c = track(spawn('taskset', ['-c', String(cpu), process.execPath, '-e', PROBE, String(seconds), String(cpu)], { stdio: ['ignore', 'pipe', 'inherit'] }));
          let out = '';
          c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
          c.on('error', reject);
          c.on('exit', (code) => {
            try {
              if (code !== 0) throw new Error(`exit ${code}`);
              resolve(JSON.parse(out.trim()) as CpuStalls);
            } catch (e) {
              reject(new Error(`stall probe on cpu ${cpu}: ${(e as Error).message} (${out.trim()})`));
            }
          });
        }),
    ),
  );
}

/** One line: `cpu 0: 27 gaps > 1 ms (max 3.8 ms), 0.149% of a stream delayed > 1 ms, 0.392% > 100 µs`. */
export function stallLine(s: CpuStalls): string {
  return `cpu ${s.cpu}: ${s.over1ms} gaps > 1 ms, ${s.over100us} > 100 µs (max ${(s.maxUs / 1000).toFixed(2)} ms); a steady stream delayed by the machine alone: ${s.delayedOver1msPct}% > 1 ms, ${s.delayedOver100usPct}% > 100 µs`;
}
