#!/usr/bin/env node
// npm run prebuild: builds prebuilds/<platform>-<arch>/linerate.napi[.glibc].node
// with prebuildify, compiling through cmake-js (see cmake-js-as-node-gyp.mjs for
// the bridge). node-gyp-build loads that file before looking in build/, so a
// package shipped with prebuilds/ installs without a compiler.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');

prebuildify(
  {
    cwd: root,
    napi: true,
    strip: true,
    tagLibc: true,
    nodeGyp: join(root, 'scripts', 'cmake-js-as-node-gyp.mjs'),
    targets: [{ runtime: 'node', target: process.versions.node }],
  },
  (err) => {
    if (err) {
      console.error(`prebuild failed: ${err.message}`);
      process.exit(1);
    }
    const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    console.log(`prebuilds: ${readdirSync(dir).map((f) => join(dir, f)).join(', ')}`);
  },
);
