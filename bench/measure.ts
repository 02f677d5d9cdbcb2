/**
 * What the netns benchmarks (bench/udp, bench/kernel, bench/dns, bench/soak, bench/bidder)
 * measure the same way: the two CPUs they use, CPU time from /proc, the load
 * average they report beside each figure, and min/median/max over runs.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Engine } from '../src/index.js';

/** USER_HZ: the unit of /proc/<pid>/stat's times and /proc/stat's columns. */
const HZ = 100;

/** The generator's CPU (default the first allowed) and the server's (default the last), from --gen-cpu/--rx-cpu. */
export function benchCpus(a: { 'gen-cpu'?: string; 'rx-cpu'?: string }): { genCpu: number; rxCpu: number } {
  const cpus = Engine.hostInfo().allowedCpus;
  return {
    genCpu: a['gen-cpu'] !== undefined ? Number(a['gen-cpu']) : cpus[0]!,
    rxCpu: a['rx-cpu'] !== undefined ? Number(a['rx-cpu']) : cpus[cpus.length - 1]!,
  };
}

/** Checks the two CPUs differ and puts every thread of this process (the linerate server's) on the server CPU; the generator child is on the other. */
export function pinToRxCpu(genCpu: number, rxCpu: number): void {
  if (genCpu === rxCpu) throw new Error('needs two CPUs: --gen-cpu and --rx-cpu must differ');
  for (const tid of readdirSync('/proc/self/task')) spawnSync('taskset', ['-p', '-c', String(rxCpu), tid], { stdio: 'ignore' });
}

/** CPU seconds (user + system) process `pid` has used, NaN once it is gone. */
export function procCpuS(pid: number): number {
  try {
    const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(rest[11]) + Number(rest[12])) / HZ;
  } catch {
    return NaN;
  }
}

/** Softirq seconds on `cpu` (where the kernel's share of a veth bed's receive work is counted). */
export function softirqS(cpu: number): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `))!;
  return Number(line.split(/\s+/)[7]) / HZ;
}

/** A server's CPU seconds so far: its processes' (threads included) and the softirq time of its CPU. */
export const serverCpuS = (pids: number[], cpu: number): number => pids.reduce((x, p) => x + procCpuS(p), 0) + softirqS(cpu);

/** The 1-, 5- and 15-minute load averages, as /proc/loadavg writes them. */
export const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** min/median/max to 4 significant digits; null for no values. */
export function minMedMax(xs: number[]): { min: number; median: number; max: number } | null {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  const med = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  const r = (v: number) => Number(v.toPrecision(4));
  return { min: r(s[0]!), median: r(med), max: r(s[s.length - 1]!) };
}
