// The guest's NICs (scripts/vm/run.sh) for guest test files that need them
// bound to vfio-pci on their own: each such file binds in beforeAll what is
// still on a kernel driver and gives exactly that back in afterAll, so the
// files pass in any order (vfio.test.ts checks the kernel drivers first).
import { readdirSync, readFileSync } from 'node:fs';
import { PciBinder } from '../../src/cli/bind.js';
import { Engine } from '../../src/index.js';
import { waitFor } from '../helpers/engine.js';

export const GUEST = process.env.LINERATE_VM_GUEST === '1';
/** e1000e (82574L), wired to V through a QEMU socket backend. */
export const E = '0000:00:03.0';
/** virtio-net, 4 queue pairs, RSS and hash report, on a TAP to the host peer (scripts/vm/peer.mjs). */
export const H = '0000:00:04.0';
/** virtio-net, 1 queue pair, wired to E. */
export const V = '0000:00:05.0';
export const MAC = { E: '52:54:00:4c:52:01', H: '52:54:00:4c:52:02', V: '52:54:00:4c:52:03', host: '02:4c:52:ff:00:01' };

const binder = new PciBinder();
let bound: string[] = [];

/** Binds E, H and V to vfio-pci; remembers which were on a kernel driver. */
export function bindNics(): void {
  bound = [E, H, V].filter((pci) => binder.bind(pci).changed);
}

/** Gives the NICs bindNics() took back to their kernel drivers. */
export function restoreNics(): void {
  for (const pci of bound.splice(0)) binder.unbind(pci);
}

/** The last CPU this process may use: where the tests' one lcore runs. */
export function lastCpu(): number {
  const cpus = Engine.hostInfo().allowedCpus;
  return cpus[cpus.length - 1]!;
}

/** CPU time (user + system, in clock ticks of 10 ms) of this process's thread named `name` (an lcore: lr-lcore-<i>). */
export function threadTicks(name: string): number {
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== name) continue;
      // proc(5): the fields after "(comm)" start at field 3; utime is 14, stime 15.
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[14 - 3]) + Number(f[15 - 3]);
    } catch {
      // the thread ended meanwhile
    }
  }
  throw new Error(`no thread named ${name}`);
}

/** Waits (up to ms) until the rx counters of ports E and V stop moving: what an earlier test left on the wire has arrived. */
export async function rxSettled(e: Engine, ms = 3000): Promise<void> {
  let prev = -1;
  await waitFor(() => {
    const t = e.stats();
    const now = t.ports.E!.rxPackets + t.ports.V!.rxPackets;
    const settled = now === prev;
    prev = now;
    return settled;
  }, ms);
}
