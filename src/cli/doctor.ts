/**
 * `linerate doctor`: preflight checks of the host, each with what to run when it
 * fails. The kernel-bypass failure mode we guard against is silence (a pool
 * that quietly runs on swappable 4 KiB pages, a CPU that is not ours): doctor
 * says it out loud.
 */
import { readFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { Engine } from '../engine.js';
import { addonBuildHint } from '../native.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to run to fix it, when not ok. */
  fix?: string;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

// Capability bits, from include/uapi/linux/capability.h.
const CAPS: Record<string, number> = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_IPC_LOCK: 14, CAP_SYS_ADMIN: 21, CAP_BPF: 39 };

function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(read('/proc/self/status') ?? '');
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

function memlockLimit(): string {
  try {
    return execFileSync('sh', ['-c', 'ulimit -l'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** Kernel versions that drivers need, oldest first (docs/drivers/af_xdp.md, docs/drivers/af_packet.md). */
const KERNEL_NEEDS: { version: [number, number]; what: string }[] = [
  { version: [5, 10], what: 'af_xdp (XDP sockets with need_wakeup, BPF links for XDP, one UMEM shared by several queues)' },
  { version: [6, 6], what: "af_packet's consume option (tcx ingress programs)" },
];

/**
 * The kernel check: which drivers the running kernel (`uname -r`, e.g. "6.1.0-18-amd64") is too old for.
 * Too old for some is a warning (the other drivers work); a release that cannot be read is a warning too.
 */
export function kernelCheck(kernelRelease: string): Check {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return { name: 'kernel', status: 'warn', detail: `cannot read the kernel version from '${kernelRelease}'`, fix: 'check it with: uname -r (af_xdp needs Linux 5.10+, af_packet consume 6.6+)' };
  const have = [Number(m[1]), Number(m[2])] as const;
  const older = (v: [number, number]) => have[0] < v[0] || (have[0] === v[0] && have[1] < v[1]);
  const missing = KERNEL_NEEDS.filter((n) => older(n.version));
  if (missing.length === 0) return { name: 'kernel', status: 'ok', detail: `Linux ${kernelRelease}: new enough for every driver` };
  const needed = missing[missing.length - 1]!.version.join('.');
  return {
    name: 'kernel',
    status: 'warn',
    detail: `Linux ${kernelRelease} is too old for: ${missing.map((n) => `${n.what} needs ${n.version.join('.')}+`).join('; ')}`,
    fix: `boot a kernel ${needed} or newer (your distribution's current or backports kernel, e.g. Debian: apt-get install -t <release>-backports linux-image-amd64, then reboot), or do without ${missing.map((n) => n.what.split(' (')[0]).join(' and ')}`,
  };
}

/** Runs every check. */
export function runChecks(): Check[] {
  // The kernel first: it needs no addon, and says which drivers can work at all.
  const checks: Check[] = [kernelCheck(release())];
  let host;
  try {
    host = Engine.hostInfo();
    checks.push({ name: 'native addon', status: 'ok', detail: `loaded; drivers: ${host.drivers.join(', ')}` });
  } catch (e) {
    checks.push({ name: 'native addon', status: 'fail', detail: (e as Error).message, fix: addonBuildHint() });
    return checks;
  }
  checks.push({
    name: 'cpus',
    status: host.allowedCpus.length > 1 ? 'ok' : 'warn',
    detail: `this process may run on CPUs ${host.allowedCpus.join(',')}`,
    fix: host.allowedCpus.length > 1 ? undefined : 'one CPU: the lcore and the JS thread will share it; give the process more CPUs (taskset, cgroup cpuset)',
  });
  const isolated = read('/sys/devices/system/cpu/isolated') ?? '';
  checks.push({
    name: 'isolcpus',
    status: isolated ? 'ok' : 'warn',
    detail: isolated ? `isolated CPUs: ${isolated}` : 'no CPU is isolated from the scheduler; lcores share their CPUs with other work',
    fix: isolated ? undefined : 'add isolcpus=<cpus> nohz_full=<cpus> to the kernel command line for the lcore CPUs (docs/tuning.md)',
  });
  const hp2 = host.hugepages2M, hp1 = host.hugepages1G;
  checks.push({
    name: 'hugepages',
    status: hp2 > 0 || hp1 > 0 ? 'ok' : 'warn',
    detail: `free 2 MiB pages: ${hp2}, free 1 GiB pages: ${hp1}`,
    fix:
      hp2 > 0 || hp1 > 0
        ? undefined
        : 'mempools fall back to 4 KiB pages; reserve hugepages as root: echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages',
  });
  checks.push({
    name: 'hugetlbfs',
    status: host.hugetlbfs2M ? 'ok' : 'warn',
    detail: host.hugetlbfs2M ? `mounted at ${host.hugetlbfs2M}` : 'not mounted (MAP_HUGETLB is used instead; fine for linerate)',
    fix: host.hugetlbfs2M ? undefined : 'mkdir -p /dev/hugepages && mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages',
  });
  const ml = memlockLimit();
  const caps = effectiveCaps();
  const hasLock = (caps >> BigInt(CAPS.CAP_IPC_LOCK)) & 1n;
  checks.push({
    name: 'locked memory',
    status: ml === 'unlimited' || hasLock ? 'ok' : 'warn',
    detail: `ulimit -l: ${ml}${hasLock ? ', CAP_IPC_LOCK held' : ''}`,
    fix: ml === 'unlimited' || hasLock ? undefined : 'pools on 4 KiB pages cannot be locked: ulimit -l unlimited, or grant CAP_IPC_LOCK',
  });
  for (const [cap, bit] of Object.entries(CAPS)) {
    if (cap === 'CAP_IPC_LOCK') continue;
    const has = (caps >> BigInt(bit)) & 1n;
    checks.push({
      name: cap,
      status: has ? 'ok' : 'warn',
      detail: has ? 'held' : 'not held (needed by the af_packet, af_xdp, tap and vfio drivers)',
      fix: has ? undefined : `run as root, or: setcap ${cap.toLowerCase()}+ep $(command -v node)`,
    });
  }
  const vfio = existsSync('/dev/vfio/vfio');
  checks.push({
    name: 'vfio',
    status: vfio ? 'ok' : 'warn',
    detail: vfio ? '/dev/vfio/vfio present' : 'no /dev/vfio/vfio (only needed for vfio-pci NIC drivers)',
    fix: vfio ? undefined : 'modprobe vfio-pci, and enable the IOMMU (intel_iommu=on or amd_iommu=on)',
  });
  return checks;
}

/** What to do about each warning (docs/operations.md, "Warnings"). */
const WARNING_FIXES: Record<string, string> = {
  LINK_DOWN: 'check the cable or peer: ip link show; bring a veth peer up (ip link set PEER up); a ring port needs the other end of its wire',
  NO_RX: 'check that traffic reaches the port: the peer sends, addresses and VLAN match, the NIC is the right one (ip -s link show IF on the peer)',
  ALL_DROPPED: 'read the drop reasons (linerate stats): txFull = the output cannot take them, noMbuf = pool exhausted, handlerRingFull = a slow handler',
  MEMPOOL_LOW: 'raise mempool.mbufs in Engine.create, or find the holder in linerate stats (mempool in use by owner)',
  LCORE_DESCHEDULED: "move other work off the lcore's CPU: ps -eLo pid,tid,psr,pcpu,comm; isolcpus= or a cpuset (docs/tuning.md)",
  HANDLER_RING_FULL: 'make the handler faster, run it in workers over more rx queues (handleInWorkers, rxQueues), or raise ringSize',
  WORKER_DIED: "look for process.exit() or an uncaught error in the worker module ('workerExit' and 'error' events); restart the engine",
  CPU_SHARED: 'give handleInWorkers({ cpus }) CPUs of their own, or use fewer lcores or queues (docs/tuning.md)',
};

/**
 * `linerate doctor --engine [ENGINE]`: live checks of a running engine through its control socket: its ports' links,
 * the mempool, handler rings, and every warning active now, each with its fix.
 * @throws LinerateError ENGINE_NOT_FOUND, ENGINE_AMBIGUOUS, CONTROL_FAILED
 */
export async function engineChecks(which: string | undefined): Promise<Check[]> {
  const { findEngine, ControlClient } = await import('../control/client.js');
  const e = await findEngine(which);
  const c = await ControlClient.connect(e.path);
  try {
    const info = await c.info();
    const s = await c.stats();
    const warnings = (await c.request<{ active: { code: string; message: string; key: string }[] }>('warnings')).active;
    const checks: Check[] = [{ name: 'engine', status: 'ok', detail: `${info.name} (pid ${info.pid}), running ${Math.round(info.uptimeSeconds)} s, linerate ${info.version}` }];
    for (const p of Object.values(s.ports)) {
      checks.push({
        name: `port ${p.name}`,
        status: p.linkUp ? 'ok' : 'fail',
        detail: `${p.driver}, link ${p.linkUp ? 'up' : 'down'}, rx ${p.rxPackets} tx ${p.txPackets} dropped ${p.dropped}`,
        fix: p.linkUp ? undefined : WARNING_FIXES.LINK_DOWN,
      });
    }
    const m = s.mempool;
    const free = m.size ? m.free.total / m.size : 1;
    checks.push({
      name: 'mempool',
      status: m.freeOverflows > 0 ? 'fail' : free < 0.05 ? 'warn' : 'ok',
      detail: `${m.free.total} of ${m.size} mbufs free, ${m.allocFailures} allocation failures${m.freeOverflows ? `, ${m.freeOverflows} free overflows (an mbuf freed twice)` : ''}`,
      fix: m.freeOverflows > 0 ? 'an mbuf was freed twice: a bug in linerate; report it with the engine setup' : free < 0.05 ? WARNING_FIXES.MEMPOOL_LOW : undefined,
    });
    for (const w of warnings) {
      checks.push({ name: `warning ${w.key}`, status: 'warn', detail: w.message, fix: WARNING_FIXES[w.code] });
    }
    if (warnings.length === 0) checks.push({ name: 'warnings', status: 'ok', detail: 'none active (the watchdog checks links, traffic, drops, mempool, lcores, handler rings, workers)' });
    return checks;
  } finally {
    c.close();
  }
}
