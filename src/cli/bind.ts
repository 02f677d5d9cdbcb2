/**
 * `linerate devices`, `linerate bind <pci>`, `linerate unbind <pci>`: hand a PCI
 * NIC to vfio-pci (so the vfio drivers can own it) and give it back.
 *
 * Binding goes through driver_override (Documentation/ABI/testing/sysfs-bus-pci):
 * write "vfio-pci" to the device's driver_override, unbind it from its driver,
 * and ask the PCI core to probe it again (drivers_probe), which now matches only
 * vfio-pci. The original driver is remembered in a state file under
 * /run/linerate/ and restored by unbind.
 *
 * Binding a NIC takes it away from the kernel: its interface disappears with
 * its addresses and routes. An interface that is up and has an address or
 * carries a route is refused unless --force (the classic way to cut the branch
 * you sit on, an SSH session over that NIC, is one command away).
 *
 * Every path is relative to a root directory, so tests run this against a fake
 * sysfs tree (test/bind.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { basename, join } from 'node:path';
import { LinerateError } from '../errors.js';

/** The driver the vfio drivers need. */
export const VFIO_DRIVER = 'vfio-pci';

/** Where the tool looks and writes; every path can be pointed at a fake tree. */
export interface SysfsOptions {
  /** Root of the tree: '/' on a real host, a temp dir in tests. */
  root?: string;
  /** Addresses of a kernel interface (default: os.networkInterfaces()). */
  addresses?: (ifname: string) => string[];
  /** Loads a kernel module (default: modprobe). Throws when it cannot. */
  modprobe?: (module: string) => void;
  /** Called after every sysfs write: tests use it to play the kernel's part. */
  afterWrite?: (path: string, value: string) => void;
}

/** One network-class PCI device, as `linerate devices` shows it. */
export interface PciNetDevice {
  /** Full PCI address, 0000:00:03.0. */
  pci: string;
  vendor: string;
  device: string;
  /** What the IDs are, when known ("Intel 82574L", "virtio-net (modern)"). */
  model: string;
  /** Current kernel driver, undefined when none. */
  driver?: string;
  /** IOMMU group number, undefined when the IOMMU is off. */
  iommuGroup?: number;
  /** Other devices in the same IOMMU group and their drivers. */
  groupPeers: { pci: string; driver?: string }[];
  /** Kernel interfaces of the device (eth0, ...). */
  interfaces: { name: string; up: boolean; addresses: string[]; routes: number }[];
  /** Which linerate driver serves it once bound to vfio-pci (vfio: e1000e, virtio_net), if any. */
  linerateDriver?: string;
  /** Driver it had before `linerate bind`, from the state file. */
  boundFrom?: string;
  /** Why binding it would be refused without --force; empty when it would not be. */
  inUse: string[];
}

export interface BindResult {
  pci: string;
  /** What it was bound to before (undefined: no driver). */
  from?: string;
  to: string;
  changed: boolean;
  warnings: string[];
}

interface State {
  pci: string;
  driver?: string;
  driverOverride?: string;
  interfaces: string[];
  boundAt: string;
}

const MODELS: Record<string, { model: string; driver?: string }> = {
  '8086:10d3': { model: 'Intel 82574L (e1000e)', driver: 'e1000e' },
  '8086:10f6': { model: 'Intel 82574LA (e1000e)', driver: 'e1000e' },
  '8086:100e': { model: 'Intel 82540EM (e1000)' },
  '8086:10fb': { model: 'Intel 82599 (ixgbe): use af_xdp' },
  '8086:1572': { model: 'Intel X710 (i40e): use af_xdp' },
  '8086:1583': { model: 'Intel XL710 (i40e): use af_xdp' },
  '8086:1592': { model: 'Intel E810 (ice): use af_xdp' },
  '1af4:1000': { model: 'virtio-net (transitional)', driver: 'virtio_net' },
  '1af4:1041': { model: 'virtio-net (modern)', driver: 'virtio_net' },
};

/** "00:03.0" or "0000:00:03.0" to "0000:00:03.0"; throws INVALID_OPTION otherwise. */
export function normalizePci(addr: string): string {
  const m = /^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/i.exec(String(addr).trim());
  if (!m) throw new LinerateError('INVALID_OPTION', `'${addr}' is not a PCI address like 0000:00:03.0; list NICs with: linerate devices`);
  return `${(m[1] ?? '0000').toLowerCase()}:${m[2]!.toLowerCase()}:${m[3]!.toLowerCase()}.${m[4]}`;
}

function defaultAddresses(ifname: string): string[] {
  return (networkInterfaces()[ifname] ?? []).map((a) => a.address);
}

function defaultModprobe(module: string): void {
  execFileSync('modprobe', [module], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The bind tool over one sysfs tree. */
export class PciBinder {
  readonly root: string;
  private readonly addresses: (ifname: string) => string[];
  private readonly modprobe: (module: string) => void;
  private readonly afterWrite?: (path: string, value: string) => void;

  constructor(opts: SysfsOptions = {}) {
    this.root = opts.root ?? '/';
    this.addresses = opts.addresses ?? defaultAddresses;
    this.modprobe = opts.modprobe ?? defaultModprobe;
    this.afterWrite = opts.afterWrite;
  }

  private p(...parts: string[]): string {
    return join(this.root, ...parts);
  }
  private dev(pci: string, ...parts: string[]): string {
    return this.p('sys/bus/pci/devices', pci, ...parts);
  }
  private read(path: string): string | undefined {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  private write(path: string, value: string, what: string): void {
    try {
      writeFileSync(path, value);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const hint = err.code === 'EACCES' || err.code === 'EPERM' ? '; run as root' : '';
      throw new LinerateError('BIND_FAILED', `${what}: writing '${value.trim()}' to ${path} failed: ${err.message}${hint}`, { cause: e });
    }
    this.afterWrite?.(path, value);
  }
  private link(path: string): string | undefined {
    try {
      return basename(readlinkSync(path));
    } catch {
      return undefined;
    }
  }
  private stateFile(pci: string): string {
    return this.p('run/linerate', `bind-${pci}.json`);
  }
  private readState(pci: string): State | undefined {
    const s = this.read(this.stateFile(pci));
    if (!s) return undefined;
    try {
      return JSON.parse(s) as State;
    } catch {
      return undefined;
    }
  }

  /** Current driver of a device, undefined when unbound. */
  driverOf(pci: string): string | undefined {
    return this.link(this.dev(pci, 'driver'));
  }

  /** IOMMU group of a device, undefined when it has none (IOMMU off). */
  groupOf(pci: string): number | undefined {
    const g = this.link(this.dev(pci, 'iommu_group'));
    return g === undefined ? undefined : Number(g);
  }

  /** Devices of an IOMMU group. */
  groupMembers(group: number): string[] {
    try {
      return readdirSync(this.p('sys/kernel/iommu_groups', String(group), 'devices')).sort();
    } catch {
      return [];
    }
  }

  /** Kernel interfaces of a device: net/<if> directly or under virtioN/net/<if>. */
  interfacesOf(pci: string): string[] {
    const out: string[] = [];
    const scan = (dir: string) => {
      try {
        out.push(...readdirSync(join(dir, 'net')));
      } catch {
        // no net/ here
      }
    };
    scan(this.dev(pci));
    try {
      for (const e of readdirSync(this.dev(pci))) if (/^virtio\d+$/.test(e)) scan(this.dev(pci, e));
    } catch {
      // no such device
    }
    return out.sort();
  }

  private routesVia(ifname: string): number {
    let n = 0;
    for (const line of (this.read(this.p('proc/net/route')) ?? '').split('\n').slice(1)) {
      if (line.split(/\s+/)[0] === ifname) n++;
    }
    for (const line of (this.read(this.p('proc/net/ipv6_route')) ?? '').split('\n')) {
      const f = line.trim().split(/\s+/);
      // Skip the loopback-ish local and multicast entries the kernel adds to every up interface.
      if (f.length >= 10 && f[9] === ifname && !f[0]!.startsWith('ff') && f[0] !== 'fe800000000000000000000000000000') n++;
    }
    return n;
  }

  private interfaceInfo(name: string): PciNetDevice['interfaces'][number] {
    const flags = parseInt(this.read(this.p('sys/class/net', name, 'flags')) ?? '0', 16);
    const up = (flags & 0x1) !== 0; // IFF_UP, include/uapi/linux/if.h
    const addresses = this.addresses(name).filter((a) => !a.startsWith('fe80:'));
    return { name, up, addresses, routes: this.routesVia(name) };
  }

  /** Network-class (0x02xxxx) PCI devices, in address order. */
  devices(): PciNetDevice[] {
    let entries: string[];
    try {
      entries = readdirSync(this.p('sys/bus/pci/devices')).sort();
    } catch {
      return [];
    }
    return entries.filter((pci) => (this.read(this.dev(pci, 'class')) ?? '').startsWith('0x02')).map((pci) => this.describe(pci));
  }

  /** One device; DEVICE_NOT_FOUND when there is no such PCI device. */
  describe(pci: string): PciNetDevice {
    pci = normalizePci(pci);
    if (!existsSync(this.dev(pci))) {
      throw new LinerateError('DEVICE_NOT_FOUND', `no PCI device ${pci}; list network devices with: linerate devices`);
    }
    const vendor = (this.read(this.dev(pci, 'vendor')) ?? '').replace(/^0x/, '');
    const device = (this.read(this.dev(pci, 'device')) ?? '').replace(/^0x/, '');
    const known = MODELS[`${vendor}:${device}`];
    const iommuGroup = this.groupOf(pci);
    const groupPeers =
      iommuGroup === undefined ? [] : this.groupMembers(iommuGroup).filter((d) => d !== pci).map((d) => ({ pci: d, driver: this.driverOf(d) }));
    const interfaces = this.interfacesOf(pci).map((n) => this.interfaceInfo(n));
    const inUse: string[] = [];
    for (const i of interfaces) {
      if (!i.up) continue;
      if (i.addresses.length) inUse.push(`interface ${i.name} is up with address ${i.addresses.join(', ')}`);
      else if (i.routes) inUse.push(`interface ${i.name} is up and carries ${i.routes} route(s)`);
    }
    return {
      pci,
      vendor,
      device,
      model: known?.model ?? 'unknown',
      driver: this.driverOf(pci),
      iommuGroup,
      groupPeers,
      interfaces,
      linerateDriver: known?.driver,
      boundFrom: this.readState(pci)?.driver,
      inUse,
    };
  }

  private ensureVfioPci(): void {
    if (existsSync(this.p('sys/bus/pci/drivers', VFIO_DRIVER))) return;
    try {
      this.modprobe(VFIO_DRIVER);
    } catch (e) {
      throw new LinerateError(
        'VFIO_UNAVAILABLE',
        `the vfio-pci module is not loaded and modprobe vfio-pci failed (${(e as Error).message.split('\n')[0]}); ` +
          'install the kernel modules of this kernel (Debian: linux-image-$(uname -r)) and run: modprobe vfio-pci',
        { cause: e },
      );
    }
    if (!existsSync(this.p('sys/bus/pci/drivers', VFIO_DRIVER))) {
      throw new LinerateError('VFIO_UNAVAILABLE', 'vfio-pci did not register after modprobe; check dmesg, then run: modprobe vfio-pci');
    }
  }

  private noIommuMode(): boolean {
    return /^[Y1]/.test(this.read(this.p('sys/module/vfio/parameters/enable_unsafe_noiommu_mode')) ?? '');
  }

  /**
   * Binds a device to vfio-pci. Refuses (DEVICE_IN_USE) a device whose interface
   * is up with an address or a route unless force; IOMMU_OFF when the device has
   * no IOMMU group (and no-IOMMU mode is off). Binding a bound device does nothing.
   */
  bind(pciIn: string, opts: { force?: boolean } = {}): BindResult {
    const d = this.describe(pciIn);
    const pci = d.pci;
    const warnings: string[] = [];
    if (d.driver === VFIO_DRIVER) return { pci, from: d.boundFrom ?? VFIO_DRIVER, to: VFIO_DRIVER, changed: false, warnings };
    const cls = this.read(this.dev(pci, 'class')) ?? '';
    if (!cls.startsWith('0x02') && !opts.force) {
      throw new LinerateError('DEVICE_IN_USE', `${pci} is not a network device (class ${cls}); add --force to bind it anyway`);
    }
    if (d.inUse.length && !opts.force) {
      throw new LinerateError(
        'DEVICE_IN_USE',
        `refusing to bind ${pci}: ${d.inUse.join('; ')}. Binding it removes the interface and its addresses from the kernel ` +
          `(a session over it would drop). Take it down first (ip link set ${d.interfaces[0]!.name} down) or add --force`,
      );
    }
    if (d.iommuGroup === undefined && !this.noIommuMode()) {
      throw new LinerateError(
        'IOMMU_OFF',
        `${pci} has no IOMMU group: the IOMMU is off. Enable VT-d/AMD-Vi in the firmware and add intel_iommu=on (Intel) or ` +
          'amd_iommu=on (AMD) to the kernel command line, then reboot. (Unsafe alternative: ' +
          'echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode and the vfio option noIommu: true)',
      );
    }
    this.ensureVfioPci();
    const state: State = {
      pci,
      driver: d.driver,
      driverOverride: (() => {
        const o = this.read(this.dev(pci, 'driver_override'));
        return o && o !== '(null)' ? o : undefined;
      })(),
      interfaces: d.interfaces.map((i) => i.name),
      boundAt: new Date().toISOString(),
    };
    mkdirSync(this.p('run/linerate'), { recursive: true });
    // Only remember the first driver: binding twice must not forget the kernel's driver.
    if (!this.readState(pci)) writeFileSync(this.stateFile(pci), JSON.stringify(state, null, 2) + '\n');
    this.write(this.dev(pci, 'driver_override'), VFIO_DRIVER, `bind ${pci}`);
    if (d.driver) this.write(this.dev(pci, 'driver', 'unbind'), pci, `bind ${pci}`);
    this.write(this.p('sys/bus/pci/drivers_probe'), pci, `bind ${pci}`);
    const now = this.driverOf(pci);
    if (now !== VFIO_DRIVER) {
      throw new LinerateError(
        'BIND_FAILED',
        `${pci} is not bound to vfio-pci after drivers_probe (driver now: ${now ?? 'none'}); see dmesg | tail, and try: linerate unbind ${pci}`,
      );
    }
    for (const peer of d.groupPeers) {
      if (peer.driver && peer.driver !== VFIO_DRIVER && peer.driver !== 'pcieport') {
        warnings.push(
          `IOMMU group ${d.iommuGroup} also holds ${peer.pci} bound to ${peer.driver}: the group is not viable for vfio until it is bound ` +
            `to vfio-pci too (linerate bind ${peer.pci}) or unbound`,
        );
      }
    }
    return { pci, from: d.driver, to: VFIO_DRIVER, changed: true, warnings };
  }

  /**
   * Gives a device back to the driver it had before `bind` (from the state file),
   * or lets the kernel pick one when there is no state. Unbinding a device not
   * bound to vfio-pci only clears a leftover state file.
   */
  unbind(pciIn: string): BindResult {
    const d = this.describe(pciIn);
    const pci = d.pci;
    const state = this.readState(pci);
    const warnings: string[] = [];
    if (d.driver !== VFIO_DRIVER) {
      if (state) rmSync(this.stateFile(pci), { force: true });
      return { pci, from: d.driver, to: d.driver ?? 'none', changed: false, warnings };
    }
    // Clearing driver_override: writing a newline (Documentation/ABI/testing/sysfs-bus-pci).
    this.write(this.dev(pci, 'driver_override'), state?.driverOverride ?? '\n', `unbind ${pci}`);
    this.write(this.dev(pci, 'driver', 'unbind'), pci, `unbind ${pci}`);
    const target = state?.driver;
    if (target && existsSync(this.p('sys/bus/pci/drivers', target))) {
      this.write(this.p('sys/bus/pci/drivers', target, 'bind'), pci, `unbind ${pci}`);
    } else {
      if (target) {
        try {
          this.modprobe(target.replace(/-/g, '_'));
        } catch {
          warnings.push(`the original driver ${target} is not loaded and modprobe ${target} failed`);
        }
      }
      this.write(this.p('sys/bus/pci/drivers_probe'), pci, `unbind ${pci}`);
    }
    rmSync(this.stateFile(pci), { force: true });
    const now = this.driverOf(pci);
    if (target && now !== target) warnings.push(`${pci} is bound to ${now ?? 'no driver'}, not to ${target} as before`);
    return { pci, from: VFIO_DRIVER, to: now ?? 'none', changed: true, warnings };
  }
}

function formatDevice(d: PciNetDevice): string {
  const ifs = d.interfaces.length
    ? d.interfaces
        .map((i) => `${i.name} ${i.up ? 'up' : 'down'}${i.addresses.length ? ` ${i.addresses.join(',')}` : ''}${i.routes ? ` ${i.routes} route(s)` : ''}`)
        .join('; ')
    : '-';
  const lines = [
    `${d.pci}  ${d.vendor}:${d.device}  ${d.model}`,
    `    driver: ${d.driver ?? 'none'}${d.boundFrom ? ` (was ${d.boundFrom})` : ''}   iommu group: ${d.iommuGroup ?? 'none (IOMMU off)'}   interface: ${ifs}`,
  ];
  if (d.groupPeers.length) lines.push(`    group also holds: ${d.groupPeers.map((p) => `${p.pci} (${p.driver ?? 'no driver'})`).join(', ')}`);
  if (d.linerateDriver) lines.push(`    linerate: { driver: 'vfio', pci: '${d.pci}' } serves it (${d.linerateDriver})`);
  if (d.inUse.length) lines.push(`    in use: ${d.inUse.join('; ')} (bind refuses without --force)`);
  return lines.join('\n');
}

/** The CLI commands; returns the exit code. */
export function bindCommand(cmd: 'devices' | 'bind' | 'unbind', args: string[], opts: SysfsOptions = {}): number {
  const binder = new PciBinder(opts);
  const json = args.includes('--json');
  const force = args.includes('--force');
  const addrs = args.filter((a) => !a.startsWith('--'));
  try {
    if (cmd === 'devices') {
      const list = binder.devices();
      if (json) console.log(JSON.stringify(list, null, 2));
      else if (list.length === 0) console.log('no network-class PCI devices');
      else console.log(list.map(formatDevice).join('\n'));
      return 0;
    }
    if (addrs.length === 0) {
      console.error(`usage: linerate ${cmd} <pci-address>...${cmd === 'bind' ? ' [--force]' : ''}`);
      return 2;
    }
    const results: BindResult[] = [];
    for (const a of addrs) {
      const r = cmd === 'bind' ? binder.bind(a, { force }) : binder.unbind(a);
      results.push(r);
      if (!json) {
        console.log(r.changed ? `${r.pci}: ${r.from ?? 'no driver'} -> ${r.to}` : `${r.pci}: already ${r.to}`);
        for (const w of r.warnings) console.log(`  warning: ${w}`);
      }
    }
    if (json) console.log(JSON.stringify(results, null, 2));
    return 0;
  } catch (e) {
    if (e instanceof LinerateError) {
      console.error(`error ${e.code}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
