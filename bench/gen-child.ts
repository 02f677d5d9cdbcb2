/**
 * The load generator as a child process pinned to its own CPU, driven by JSON
 * lines on stdin: bench/udp-gen.ts (UDP payloads) for bench/udp and bench/soak,
 * bench/bidder-gen.ts (bid requests) for bench/bidder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GeneratorReport } from '../src/index.js';
import { killChild, Lines, track } from './children.js';

const here = dirname(fileURLToPath(import.meta.url));

export type GenChildOptions = {
  ns: string;
  ifc: string;
  cpu: number;
  flows: number;
  idle: 'busy' | 'adaptive';
} & (
  | /** bench/udp-gen.ts: UDP payloads of `size` bytes to port 7. */ { size: number }
  | /** bench/bidder-gen.ts: bid requests to the bidder on `bidderPort`. */ { bidderPort: number }
);

export class GenChild {
  private lines!: Lines;
  private c!: ChildProcess;
  constructor(private readonly o: GenChildOptions) {}

  async start(): Promise<void> {
    const { ns, ifc, cpu, flows, idle } = this.o;
    // Both scripts: NS IF CPU FLOWS X IDLE, X the payload size (udp-gen) or the bidder's port (bidder-gen).
    const [script, x] = 'size' in this.o ? ['udp-gen.js', this.o.size] : ['bidder-gen.js', this.o.bidderPort];
    this.c = track(spawn('taskset', ['-c', String(cpu), process.execPath, join(here, script), ns, ifc, String(cpu), String(flows), String(x), idle], { stdio: ['pipe', 'pipe', 'pipe'] }));
    this.lines = new Lines(this.c);
    await this.lines.next((l) => l.startsWith('{"ready"'), 30_000, 'generator');
  }

  async run(rate: number, secs: number): Promise<GeneratorReport> {
    const p = this.lines.next((l) => l.startsWith('{"report"') || l.startsWith('{"error"'), (secs + 30) * 1000, `generator run at ${rate}`);
    this.c.stdin!.write(JSON.stringify({ cmd: 'run', rate, seconds: secs }) + '\n');
    const j = JSON.parse(await p) as { report?: GeneratorReport; error?: string };
    if (!j.report) throw new Error(`generator: ${j.error}`);
    return j.report;
  }

  async quit(): Promise<{ free: number; size: number } | undefined> {
    const p = this.lines.next((l) => l.startsWith('{"pool"'), 15_000, 'generator quit').catch(() => '');
    this.c.stdin!.write('{"cmd":"quit"}\n');
    const l = await p;
    killChild(this.c, 'SIGTERM');
    return l ? (JSON.parse(l) as { pool: { free: number; size: number } }).pool : undefined;
  }
}
