#!/usr/bin/env node
// prebuildify drives node-gyp (`node-gyp rebuild --target=... --arch=... --release`)
// and has no cmake-js backend. It lets us name the node-gyp binary, though
// (opts.nodeGyp / PREBUILD_NODE_GYP), so this stands in for node-gyp: it ignores
// node-gyp's flags (a Node-API addon is the same binary for every Node version)
// and runs `cmake-js compile`, which leaves build/Release/linerate.node where
// prebuildify looks for it.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const debug = process.argv.includes('--debug');
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--directory', root, '--parallel', '2', ...(debug ? ['--debug'] : [])];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
