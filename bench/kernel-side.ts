/**
 * B's kernel on the veth bed (scripts/netns.sh --isolate-b keeps it off B's end),
 * as bench/udp and bench/bidder set it: the checksum offload and RPS of both
 * ends, and B's address and ARP for the time a server on B's kernel runs.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { killChild } from './children.js';

/** The ends of the bed (bench/scratch.ts's Bed has them). */
export interface BedEnds {
  nsA: string;
  nsB: string;
  ifA: string;
  ifB: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Transmit checksum offload off on both ends; B's kernel receive work (RPS) on `rxCpu`, A's on `genCpu`. */
export function tuneBed(bed: BedEnds, genCpu: number, rxCpu: number): void {
  for (const [ns, ifc] of [[bed.nsA, bed.ifA], [bed.nsB, bed.ifB]] as const) {
    // A local socket's UDP over a veth carries a partial checksum; the generator's host (af_xdp) would count it bad.
    execFileSync('ip', ['netns', 'exec', ns, 'ethtool', '-K', ifc, 'tx', 'off'], { stdio: 'ignore' });
  }
  // RPS as in bench/kernel: B's kernel rx work on the server CPU, A's on the generator CPU.
  execFileSync('ip', ['netns', 'exec', bed.nsB, 'sh', '-c', `echo ${(1 << rxCpu).toString(16)} > /sys/class/net/${bed.ifB}/queues/rx-0/rps_cpus`]);
  execFileSync('ip', ['netns', 'exec', bed.nsA, 'sh', '-c', `echo ${(1 << genCpu).toString(16)} > /sys/class/net/${bed.ifA}/queues/rx-0/rps_cpus`]);
}

/** B's kernel gets 198.18.0.2/24 and answers ARP (on), or loses both again (off). */
function kernelAddress(bed: BedEnds, on: boolean): void {
  if (on) execFileSync('ip', ['-n', bed.nsB, 'addr', 'replace', '198.18.0.2/24', 'dev', bed.ifB]);
  else execFileSync('ip', ['-n', bed.nsB, 'addr', 'flush', 'dev', bed.ifB]);
  execFileSync('ip', ['netns', 'exec', bed.nsB, 'sysctl', '-qw', `net.ipv4.conf.${bed.ifB}.arp_ignore=${on ? 0 : 8}`]);
}

/**
 * A server on B's kernel: turns B's address on, runs `start` (which spawns the
 * server child and says when it is ready) and returns, once ready, the child
 * and its stop: SIGTERM, up to 3 s to exit, SIGKILL, the address off. If it
 * never gets ready, the child is killed and the address taken off before the
 * error is thrown.
 */
export async function startKernelServer(
  bed: BedEnds,
  start: () => { child: ChildProcess; ready: Promise<unknown> },
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  kernelAddress(bed, true);
  const { child: c, ready } = start();
  try {
    await ready;
  } catch (e) {
    killChild(c);
    kernelAddress(bed, false);
    throw e;
  }
  const stop = async () => {
    killChild(c, 'SIGTERM');
    await Promise.race([new Promise((r) => c.once('exit', r)), sleep(3000)]);
    killChild(c);
    kernelAddress(bed, false);
  };
  return { child: c, stop };
}
