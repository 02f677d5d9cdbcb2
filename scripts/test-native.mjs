#!/usr/bin/env node
// Builds the C++ tests (test/native/*_test.cc) twice and runs them with ctest:
//   build-native-asan/  AddressSanitizer + UndefinedBehaviorSanitizer (and LeakSanitizer)
//   build-native-tsan/  ThreadSanitizer (the ring and mempool thread tests matter most)
// and the ring tests once more for arm64, whose weaker memory order is where a
// missing acquire shows (scripts/native-aarch64.mjs: cross-compiled and run
// under qemu-user on x86; skipped with the reason outside CI when the tools are
// missing):
//   build-native-aarch64/
// JUnit results go to test-results/ctest-<asan|tsan|aarch64>.xml; one summary
// line per configuration; the exit code is non-zero when anything failed.
//
// Usage: node scripts/test-native.mjs [asan|tsan|aarch64 ...]   (default: all three)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runAarch64 } from './native-aarch64.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = join(root, 'test-results');
const jobs = '2';

const configs = [
  {
    name: 'asan',
    dir: 'build-native-asan',
    sanitize: 'address,undefined',
    env: {
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1',
      UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
    },
  },
  {
    name: 'tsan',
    dir: 'build-native-tsan',
    sanitize: 'thread',
    env: { TSAN_OPTIONS: 'halt_on_error=1' },
  },
  {
    name: 'aarch64',
    // Not a ctest build: only the ring tests, compiled by hand (native-aarch64.mjs).
    run: () => runAarch64({ root, resultsDir, buildDir: join(root, 'build-native-aarch64') }),
  },
];

function run(cmd, args, opts = {}) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

// Like run(), but also keeps the output (to look for a known TSan failure mode).
function runTee(cmd, args, opts = {}) {
  console.log(`$ ${[cmd, ...args].join(' ')}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ status: code ?? 1, out }));
  });
}

// <testsuite tests="3" failures="0" disabled="0" skipped="0" ...> from ctest --output-junit.
function parseJunit(file) {
  if (!existsSync(file)) return null;
  const xml = readFileSync(file, 'utf8');
  const tag = xml.match(/<testsuite\b[^>]*>/);
  if (!tag) return null;
  const attr = (name) => {
    const m = tag[0].match(new RegExp(`\\b${name}="(\\d+)"`));
    return m ? Number(m[1]) : 0;
  };
  const tests = attr('tests');
  const failures = attr('failures') + attr('errors');
  const skipped = attr('skipped') + attr('disabled');
  return { tests, failures, skipped, passed: tests - failures - skipped };
}

async function runConfig(c) {
  const buildDir = join(root, c.dir);
  const junit = join(resultsDir, `ctest-${c.name}.xml`);
  rmSync(junit, { force: true });
  const configure = run('cmake', [
    '-S', root,
    '-B', buildDir,
    '-DLINERATE_TESTS=ON',
    '-DLINERATE_ADDON=OFF',
    `-DLINERATE_SANITIZE=${c.sanitize}`,
  ]);
  if (configure !== 0) return { name: c.name, error: 'cmake configure failed' };
  const build = run('cmake', ['--build', buildDir, '-j', jobs]);
  if (build !== 0) return { name: c.name, error: 'build failed' };

  const ctestArgs = ['--output-on-failure', '--output-junit', junit];
  const env = { ...process.env, ...c.env };
  let r = await runTee('ctest', ctestArgs, { cwd: buildDir, env });
  // ThreadSanitizer maps its shadow memory at fixed addresses. With the high
  // mmap ASLR entropy of recent kernels (vm.mmap_rnd_bits = 32) the program can
  // land where the shadow must go and TSan aborts with "FATAL: ThreadSanitizer:
  // unexpected memory mapping" before any test runs. That is the host, not a
  // bug in the tests: run again with address randomisation off for this process
  // tree (setarch -R; ctest passes the personality on to the test binaries).
  if (c.name === 'tsan' && r.status !== 0 && /unexpected memory mapping/.test(r.out)) {
    console.log('ThreadSanitizer hit "unexpected memory mapping" (kernel ASLR entropy); retrying under setarch -R');
    const arch = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim();
    rmSync(junit, { force: true });
    r = await runTee('setarch', [arch, '-R', 'ctest', ...ctestArgs], { cwd: buildDir, env });
  }
  const res = parseJunit(junit);
  if (!res) return { name: c.name, error: `ctest exited ${r.status} without ${junit}` };
  return { name: c.name, ...res, status: r.status };
}

async function main() {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !configs.some((c) => c.name === w));
  if (unknown.length) {
    console.error(`unknown configuration(s): ${unknown.join(', ')} (known: ${configs.map((c) => c.name).join(', ')})`);
    process.exit(2);
  }
  mkdirSync(resultsDir, { recursive: true });
  const t0 = Date.now();
  const results = [];
  for (const c of configs) {
    if (wanted.length && !wanted.includes(c.name)) continue;
    results.push(c.run ? c.run() : await runConfig(c));
  }
  let ok = true;
  console.log('');
  for (const r of results) {
    if (r.error) {
      ok = false;
      console.log(`native(${r.name}): ERROR ${r.error}`);
      continue;
    }
    const bad = r.failures > 0 || r.status !== 0 || r.tests === 0;
    if (bad) ok = false;
    const extra = r.skipped ? `, ${r.skipped} skipped` : '';
    const note = r.failures === 0 && r.status !== 0 ? ` (ctest exited ${r.status})` : '';
    console.log(`native(${r.name}): ${r.passed} passed, ${r.failures} failed${extra}${note}`);
  }
  console.log(`native: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
