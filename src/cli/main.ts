#!/usr/bin/env node
/**
 * The linerate command: `linerate doctor [--json]`, `linerate gen ...`, `linerate version`.
 */
import { createRequire } from 'node:module';
import { runChecks } from './doctor.js';
import { bindCommand } from './bind.js';
import { genCommand } from './gen.js';
import { captureMain } from './capture.js';

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
    const checks = runChecks();
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
    process.exit(bindCommand(cmd, rest));
    break;
  case 'gen':
    process.exit(await genCommand(rest));
    break;
  case 'capture':
    process.exit(await captureMain(rest));
    break;
  case 'version':
  case '--version':
    console.log(version());
    break;
  default:
    console.log('usage: linerate doctor [--json]   preflight checks of this host, with fixes\n       linerate version');
    console.log('       linerate devices [--json]  network PCI devices: driver, IOMMU group, interface, addresses\n       linerate bind <pci>... [--force]   hand NICs to vfio-pci (for the vfio driver)\n       linerate unbind <pci>...   give them back to their kernel driver');
    console.log('       linerate gen --driver af_xdp --interface IF --ipv4 A/LEN --to ADDR:PORT [--rate 1M] [--seconds 10] ...   UDP load generator (linerate gen --help)');
    console.log('       linerate capture -i IF -w FILE|- [-c N] [-s SNAPLEN] [FILTER...]   capture to pcapng, tcpdump-style (linerate capture --help)');
    process.exit(cmd === 'help' || cmd === '--help' ? 0 : 2);
}
