#!/usr/bin/env node
/**
 * The linerate command: `linerate doctor [--json] [--engine]`, `ls`, `stats`, `top`, `gen ...`, `version`.
 */
import { createRequire } from 'node:module';
import type { Check } from './doctor.js';

const require = createRequire(import.meta.url);
const [cmd = 'help', ...rest] = process.argv.slice(2);

function version(): string {
  for (const p of ['../../package.json', '../../../package.json']) {
    try {
      return (require(p) as { version: string }).version;
    } catch {
      // try the next layout (dist/src/cli vs src/cli)
    }
  }
  return 'unknown';
}

switch (cmd) {
  case 'doctor': {
    // Each command loads only what it needs: `linerate ls` need not load the addon.
    const { engineChecks, runChecks } = await import('./doctor.js');
    const checks: Check[] = runChecks();
    const at = rest.indexOf('--engine');
    if (at >= 0) {
      const which = rest[at + 1] !== undefined && !rest[at + 1]!.startsWith('-') ? rest[at + 1] : undefined;
      try {
        checks.push(...(await engineChecks(which)));
      } catch (e) {
        const err = e as { code?: string; message: string };
        checks.push({ name: 'engine', status: 'fail', detail: `${err.code ?? 'ERROR'}: ${err.message}`, fix: 'linerate ls lists the running engines; name one: linerate doctor --engine PID|NAME' });
      }
    }
    if (rest.includes('--json')) {
      console.log(JSON.stringify(checks));
    } else {
      for (const c of checks) {
        console.log(`${c.status.toUpperCase().padEnd(4)} ${c.name}: ${c.detail}`);
        if (c.fix) console.log(`     fix: ${c.fix}`);
      }
    }
    process.exit(checks.some((c) => c.status === 'fail') ? 1 : 0);
    break;
  }
  case 'devices':
  case 'bind':
  case 'unbind':
    process.exit((await import('./bind.js')).bindCommand(cmd, rest));
    break;
  case 'ls':
  case 'stats':
  case 'top':
    process.exit(await (await import('./live.js')).liveCommand(cmd, rest));
    break;
  case 'gen':
    process.exit(await (await import('./gen.js')).genCommand(rest));
    break;
  case 'capture':
    process.exit(await (await import('./capture.js')).captureMain(rest));
    break;
  case 'version':
  case '--version':
    console.log(version());
    break;
  default:
    console.log('usage: linerate doctor [--json] [--engine [ENGINE]]   preflight checks of this host (and live ones of a running engine), with fixes\n       linerate version');
    console.log('       linerate ls [--json]       the running engines of this host\n       linerate stats [ENGINE] [--json] [--watch S]   counters and rates of a running engine\n       linerate top [ENGINE] [--once]   live view of a running engine (q quits)');
    console.log('       linerate devices [--json]  network PCI devices: driver, IOMMU group, interface, addresses\n       linerate bind <pci>... [--force]   hand NICs to vfio-pci (for the vfio driver)\n       linerate unbind <pci>...   give them back to their kernel driver');
    console.log('       linerate gen --driver af_xdp --interface IF --ipv4 A/LEN --to ADDR:PORT [--rate 1M] [--seconds 10] ...   UDP load generator (linerate gen --help)');
    console.log('       linerate capture -i IF -w FILE|- [-c N] [-s SNAPLEN] [FILTER...]   capture to pcapng, tcpdump-style (linerate capture --help)');
    process.exit(cmd === 'help' || cmd === '--help' ? 0 : 2);
}
