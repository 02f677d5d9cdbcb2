// linerate devices / bind / unbind against a fake sysfs tree in a temp dir. The
// fake plays the kernel's part on writes (unbind removes the driver link and the
// interface, drivers_probe honours driver_override, drivers/<x>/bind links), so
// the whole sequence runs here; scripts/vm runs it for real inside the guest.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, existsSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PciBinder, bindCommand, normalizePci } from '../src/cli/bind.js';
import { LinerateError } from '../src/errors.js';

interface FakeDev {
  pci: string;
  id: string; // vendor:device
  cls?: string;
  driver?: string;
  group?: number;
  iface?: { name: string; up: boolean; addrs?: string[]; routes?: number; virtio?: boolean };
}

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** Builds the tree and returns the binder plus the fake kernel's state. */
function fakeSysfs(devs: FakeDev[], opts: { vfioLoaded?: boolean; modprobeWorks?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'lr-sysfs-'));
  roots.push(root);
  const P = (...p: string[]) => join(root, ...p);
  const drivers = new Set<string>(['e1000e', 'virtio-pci', 'ixgbe']);
  if (opts.vfioLoaded !== false) drivers.add('vfio-pci');
  const addDriver = (d: string) => {
    mkdirSync(P('sys/bus/pci/drivers', d), { recursive: true });
    writeFileSync(P('sys/bus/pci/drivers', d, 'bind'), '');
    writeFileSync(P('sys/bus/pci/drivers', d, 'unbind'), '');
  };
  for (const d of drivers) addDriver(d);
  writeFileSync(P('sys/bus/pci/drivers_probe'), '');
  mkdirSync(P('proc/net'), { recursive: true });
  mkdirSync(P('sys/module/vfio/parameters'), { recursive: true });
  writeFileSync(P('sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'N\n');
  const defaults = new Map<string, string | undefined>();
  const ifaceOf = new Map<string, FakeDev['iface']>();
  let route = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n';
  const addrs: Record<string, string[]> = {};
  const linkDriver = (pci: string, d: string | undefined) => {
    const l = P('sys/bus/pci/devices', pci, 'driver');
    if (existsSync(l) || isLink(l)) unlinkSync(l);
    if (d) symlinkSync(`../../drivers/${d}`, l);
    const iface = ifaceOf.get(pci);
    if (iface) {
      const dir = iface.virtio ? P('sys/bus/pci/devices', pci, 'virtio0', 'net', iface.name) : P('sys/bus/pci/devices', pci, 'net', iface.name);
      // The kernel driver owns the interface: it exists only while bound to it.
      if (d && d !== 'vfio-pci') mkdirSync(dir, { recursive: true });
      else rmSync(dir, { recursive: true, force: true });
    }
  };
  for (const d of devs) {
    const dir = P('sys/bus/pci/devices', d.pci);
    mkdirSync(dir, { recursive: true });
    const [v, dv] = d.id.split(':');
    writeFileSync(join(dir, 'vendor'), `0x${v}\n`);
    writeFileSync(join(dir, 'device'), `0x${dv}\n`);
    writeFileSync(join(dir, 'class'), `${d.cls ?? '0x020000'}\n`);
    writeFileSync(join(dir, 'driver_override'), '(null)\n');
    if (d.group !== undefined) {
      mkdirSync(P('sys/kernel/iommu_groups', String(d.group), 'devices'), { recursive: true });
      symlinkSync(dir, P('sys/kernel/iommu_groups', String(d.group), 'devices', d.pci));
      symlinkSync(`../../../kernel/iommu_groups/${d.group}`, join(dir, 'iommu_group'));
    }
    defaults.set(d.pci, d.driver);
    if (d.iface) {
      ifaceOf.set(d.pci, d.iface);
      mkdirSync(P('sys/class/net', d.iface.name), { recursive: true });
      writeFileSync(P('sys/class/net', d.iface.name, 'flags'), d.iface.up ? '0x1003\n' : '0x1002\n');
      addrs[d.iface.name] = d.iface.addrs ?? [];
      for (let i = 0; i < (d.iface.routes ?? 0); i++) route += `${d.iface.name}\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n`;
    }
    linkDriver(d.pci, d.driver);
  }
  writeFileSync(P('proc/net/route'), route);
  const probes: string[] = [];
  const binder = new PciBinder({
    root,
    addresses: (n) => addrs[n] ?? [],
    modprobe: (m) => {
      if (opts.modprobeWorks === false) throw new Error(`modprobe: FATAL: Module ${m} not found`);
      if (m === 'vfio-pci') addDriver('vfio-pci');
    },
    afterWrite: (path, value) => {
      const v = value.trim();
      if (basename(path) === 'unbind') linkDriver(v, undefined);
      else if (path === P('sys/bus/pci/drivers_probe')) {
        probes.push(v);
        const o = readFileSync(P('sys/bus/pci/devices', v, 'driver_override'), 'utf8').trim();
        const want = o && o !== '(null)' ? o : defaults.get(v);
        if (want && existsSync(P('sys/bus/pci/drivers', want))) linkDriver(v, want);
      } else if (basename(path) === 'bind') linkDriver(v, basename(dirname(path)));
      else if (basename(path) === 'driver_override' && v === '') writeFileSync(path, '(null)\n');
    },
  });
  const driverOf = (pci: string) => (isLink(P('sys/bus/pci/devices', pci, 'driver')) ? basename(readlinkSync(P('sys/bus/pci/devices', pci, 'driver'))) : undefined);
  return { root, binder, driverOf, probes, P };
}

function isLink(p: string): boolean {
  try {
    readlinkSync(p);
    return true;
  } catch {
    return false;
  }
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LinerateError);
    return (e as LinerateError).code;
  }
  return 'no error';
}

const E1000E: FakeDev = { pci: '0000:00:03.0', id: '8086:10d3', driver: 'e1000e', group: 2, iface: { name: 'enp0s3', up: false } };
const VIRTIO: FakeDev = { pci: '0000:00:04.0', id: '1af4:1041', driver: 'virtio-pci', group: 3, iface: { name: 'eth1', up: true, addrs: ['192.0.2.7'], virtio: true } };
const BRIDGE: FakeDev = { pci: '0000:00:00.0', id: '8086:29c0', cls: '0x060000', group: 0 };

describe('linerate devices', () => {
  it('lists network-class devices with driver, group, interfaces and what would refuse a bind', () => {
    const { binder } = fakeSysfs([BRIDGE, E1000E, VIRTIO]);
    const list = binder.devices();
    expect(list.map((d) => d.pci)).toEqual(['0000:00:03.0', '0000:00:04.0']);
    const [e, v] = list;
    expect(e).toMatchObject({ vendor: '8086', device: '10d3', driver: 'e1000e', iommuGroup: 2, linerateDriver: 'e1000e', inUse: [] });
    expect(e!.interfaces).toEqual([{ name: 'enp0s3', up: false, addresses: [], routes: 0 }]);
    expect(v).toMatchObject({ driver: 'virtio-pci', iommuGroup: 3, linerateDriver: 'virtio_net' });
    expect(v!.interfaces[0]).toMatchObject({ name: 'eth1', up: true, addresses: ['192.0.2.7'] });
    expect(v!.inUse[0]).toMatch(/eth1 is up with address 192\.0\.2\.7/);
  });

  it('counts routes through an interface that has no address', () => {
    const { binder } = fakeSysfs([{ ...E1000E, iface: { name: 'enp0s3', up: true, routes: 2 } }]);
    expect(binder.describe('00:03.0').inUse).toEqual(['interface enp0s3 is up and carries 2 route(s)']);
  });

  it('shows the other members of an IOMMU group', () => {
    const { binder } = fakeSysfs([E1000E, { pci: '0000:00:03.1', id: '8086:10d3', driver: 'e1000e', group: 2 }]);
    expect(binder.describe('0000:00:03.0').groupPeers).toEqual([{ pci: '0000:00:03.1', driver: 'e1000e' }]);
  });

  it('prints a table and JSON', () => {
    const { root } = fakeSysfs([E1000E]);
    const lines: string[] = [];
    const orig = console.log;
    console.log = (s: string) => lines.push(s);
    try {
      expect(bindCommand('devices', [], { root, addresses: () => [] })).toBe(0);
      expect(bindCommand('devices', ['--json'], { root, addresses: () => [] })).toBe(0);
    } finally {
      console.log = orig;
    }
    expect(lines[0]).toMatch(/0000:00:03\.0 {2}8086:10d3 {2}Intel 82574L/);
    expect(lines[0]).toMatch(/driver: e1000e .*iommu group: 2/);
    expect(JSON.parse(lines[1]!)[0].pci).toBe('0000:00:03.0');
  });
});

describe('linerate bind / unbind', () => {
  it('normalizes and rejects PCI addresses', () => {
    expect(normalizePci('00:03.0')).toBe('0000:00:03.0');
    expect(normalizePci('0000:AF:1f.7')).toBe('0000:af:1f.7');
    expect(codeOf(() => normalizePci('eth0'))).toBe('INVALID_OPTION');
  });

  it('binds through driver_override, remembers the driver, and restores it on unbind', () => {
    const { binder, driverOf, P, probes } = fakeSysfs([E1000E]);
    const r = binder.bind('00:03.0');
    expect(r).toMatchObject({ pci: '0000:00:03.0', from: 'e1000e', to: 'vfio-pci', changed: true, warnings: [] });
    expect(driverOf('0000:00:03.0')).toBe('vfio-pci');
    expect(readFileSync(P('sys/bus/pci/devices/0000:00:03.0/driver_override'), 'utf8')).toBe('vfio-pci');
    expect(readFileSync(P('sys/bus/pci/drivers/e1000e/unbind'), 'utf8')).toBe('0000:00:03.0');
    expect(probes).toEqual(['0000:00:03.0']);
    const state = JSON.parse(readFileSync(P('run/linerate/bind-0000:00:03.0.json'), 'utf8'));
    expect(state).toMatchObject({ pci: '0000:00:03.0', driver: 'e1000e', interfaces: ['enp0s3'] });
    expect(binder.describe('0000:00:03.0')).toMatchObject({ driver: 'vfio-pci', boundFrom: 'e1000e', interfaces: [] });

    // Binding again changes nothing and keeps the original driver in the state.
    expect(binder.bind('0000:00:03.0')).toMatchObject({ changed: false, to: 'vfio-pci' });
    expect(JSON.parse(readFileSync(P('run/linerate/bind-0000:00:03.0.json'), 'utf8')).driver).toBe('e1000e');

    const u = binder.unbind('0000:00:03.0');
    expect(u).toMatchObject({ from: 'vfio-pci', to: 'e1000e', changed: true, warnings: [] });
    expect(driverOf('0000:00:03.0')).toBe('e1000e');
    expect(readFileSync(P('sys/bus/pci/drivers/e1000e/bind'), 'utf8')).toBe('0000:00:03.0');
    expect(readFileSync(P('sys/bus/pci/devices/0000:00:03.0/driver_override'), 'utf8')).toBe('(null)\n');
    expect(existsSync(P('run/linerate/bind-0000:00:03.0.json'))).toBe(false);
    expect(binder.describe('0000:00:03.0').interfaces.map((i) => i.name)).toEqual(['enp0s3']);
    // Unbinding a device that is not on vfio-pci does nothing.
    expect(binder.unbind('0000:00:03.0')).toMatchObject({ changed: false, to: 'e1000e' });
  });

  it('refuses an interface that is up with an address, unless forced', () => {
    const { binder, driverOf } = fakeSysfs([VIRTIO]);
    expect(codeOf(() => binder.bind('0000:00:04.0'))).toBe('DEVICE_IN_USE');
    expect(driverOf('0000:00:04.0')).toBe('virtio-pci');
    expect(binder.bind('0000:00:04.0', { force: true })).toMatchObject({ from: 'virtio-pci', changed: true });
    expect(driverOf('0000:00:04.0')).toBe('vfio-pci');
    expect(binder.unbind('0000:00:04.0').to).toBe('virtio-pci');
  });

  it('refuses a device that is not a NIC unless forced, and one that does not exist', () => {
    const { binder } = fakeSysfs([BRIDGE]);
    expect(codeOf(() => binder.bind('0000:00:00.0'))).toBe('DEVICE_IN_USE');
    expect(codeOf(() => binder.bind('0000:00:09.0'))).toBe('DEVICE_NOT_FOUND');
  });

  it('says IOMMU_OFF when the device has no IOMMU group', () => {
    const { binder } = fakeSysfs([{ ...E1000E, group: undefined }]);
    const err = (() => {
      try {
        binder.bind('0000:00:03.0');
      } catch (e) {
        return e as LinerateError;
      }
    })();
    expect(err?.code).toBe('IOMMU_OFF');
    expect(err?.message).toMatch(/intel_iommu=on/);
  });

  it('loads vfio-pci when it is missing, and says VFIO_UNAVAILABLE when modprobe fails', () => {
    const ok = fakeSysfs([E1000E], { vfioLoaded: false });
    expect(ok.binder.bind('0000:00:03.0').to).toBe('vfio-pci');
    const bad = fakeSysfs([E1000E], { vfioLoaded: false, modprobeWorks: false });
    expect(codeOf(() => bad.binder.bind('0000:00:03.0'))).toBe('VFIO_UNAVAILABLE');
    expect(bad.driverOf('0000:00:03.0')).toBe('e1000e');
  });

  it('warns when another device of the group is still bound to a kernel driver', () => {
    const { binder } = fakeSysfs([E1000E, { pci: '0000:00:03.1', id: '8086:10d3', driver: 'e1000e', group: 2 }]);
    const r = binder.bind('0000:00:03.0');
    expect(r.warnings[0]).toMatch(/group 2 also holds 0000:00:03\.1 bound to e1000e.*linerate bind 0000:00:03\.1/);
  });

  it('lets the kernel pick a driver on unbind when no state was kept', () => {
    const { binder, driverOf, P } = fakeSysfs([E1000E]);
    binder.bind('0000:00:03.0');
    rmSync(P('run/linerate/bind-0000:00:03.0.json'));
    expect(binder.unbind('0000:00:03.0').to).toBe('e1000e');
    expect(driverOf('0000:00:03.0')).toBe('e1000e');
  });

  it('the CLI exits 1 with the code and the fix on errors', () => {
    const { root } = fakeSysfs([VIRTIO]);
    const errs: string[] = [];
    const orig = console.error;
    console.error = (s: string) => errs.push(s);
    try {
      expect(bindCommand('bind', ['0000:00:04.0'], { root, addresses: () => ['192.0.2.7'] })).toBe(1);
      expect(bindCommand('bind', [], { root })).toBe(2);
    } finally {
      console.error = orig;
    }
    expect(errs[0]).toMatch(/^error DEVICE_IN_USE: refusing to bind 0000:00:04\.0/);
  });
});
