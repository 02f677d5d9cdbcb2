#!/usr/bin/env node
// Builds the native addon with cmake-js, unless a usable binary is already there.
//
// `npm install` runs this. node-gyp-build (the loader) looks in prebuilds/ and
// build/Release/; when a prebuild for this platform loads, nothing is compiled.
// --force always compiles (npm run build:native).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const force = process.argv.includes('--force');
const debug = process.argv.includes('--debug');

if (!force) {
  try {
    require('node-gyp-build')(root);
    console.log('linerate: using the existing native addon (npm run build:native rebuilds it)');
    process.exit(0);
  } catch {
    // Nothing loadable: compile below.
  }
}

const missing = ['cmake', 'make', 'g++'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
if (missing.length) {
  console.error(
    `linerate: cannot build the native addon: ${missing.join(', ')} not found.\n` +
      `  Debian/Ubuntu: apt-get install -y cmake make g++\n` +
      `  Fedora: dnf install -y cmake make gcc-c++`,
  );
  process.exit(1);
}

const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--directory', root, '--parallel', '2'];
if (debug) args.push('--debug');
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (r.status !== 0) {
  console.error('linerate: the native build failed; the compiler output is above. Retry with: npm run build:native');
  process.exit(r.status ?? 1);
}
