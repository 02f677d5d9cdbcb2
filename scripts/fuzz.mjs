#!/usr/bin/env node
// Coverage-guided fuzzing of every parser of untrusted bytes (docs/reliability.md).
//
//   npm run fuzz -- --minutes N        every target N minutes (fractions allowed; default 1)
//   npm run fuzz -- --minutes 10 --only host_input_fuzz,host_options
//   node scripts/fuzz.mjs --native --minutes 0.08   only the libFuzzer targets (the CI step)
//   node scripts/fuzz.mjs --js                      only the fast-check targets
//
// Native targets: the libFuzzer harnesses of test/fuzz/*_fuzz.cc, built with
// clang (-fsanitize=fuzzer,address,undefined; CMake option LINERATE_FUZZ) into
// build-fuzz/. Each runs from its committed seeds (test/fuzz/corpus/<name>)
// plus what earlier runs found (build-fuzz/corpus/<name>, kept between runs),
// with its dictionary when there is one. libFuzzer stops a target at its first
// crash and writes the input to build-fuzz/crashes/; make it a regression test
// (a C++ test case in test/native/ with the input) and fix the bug.
// JS targets: the fast-check properties of test/fuzz/js-targets.ts, run through
// vitest for the same time each.
//
// Ends with one JSON line:
//   {"targets": [{"name", "kind": "native"|"js", "runs", "crashes"}, ...]}
// and exits 1 when a target crashed or could not run. Without clang's fuzzer
// runtime the native targets are skipped with the reason (and "skipped": true
// in their line), except under CI=true, where that is a failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fuzzSrc = join(root, 'test', 'fuzz');
const buildDir = join(root, 'build-fuzz');
const ci = process.env.CI === 'true';

function parseArgs(argv) {
  const a = { minutes: 1, only: null, native: true, js: true };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--minutes') a.minutes = Number(argv[++i]);
    else if (k === '--only') a.only = argv[++i].split(',');
    else if (k === '--native') a.js = false;
    else if (k === '--js') a.native = false;
    else {
      console.error(`unknown argument '${k}' (usage: node scripts/fuzz.mjs [--minutes N] [--only a,b] [--native|--js])`);
      process.exit(2);
    }
  }
  if (!(a.minutes > 0)) {
    console.error(`--minutes must be a number > 0, got '${a.minutes}'`);
    process.exit(2);
  }
  return a;
}

// clang++ and its libFuzzer runtime: link a one-line fuzzer to find out.
function fuzzerToolchain() {
  const v = spawnSync('clang++', ['--version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return { ok: false, reason: 'clang++ is not installed (Debian: apt-get install clang libclang-rt-14-dev)' };
  const dir = mkdtempSync(join(tmpdir(), 'lrt-fuzz-probe-'));
  try {
    writeFileSync(join(dir, 'p.cc'), 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n');
    const r = spawnSync('clang++', ['-fsanitize=fuzzer,address,undefined', join(dir, 'p.cc'), '-o', join(dir, 'p')], { encoding: 'utf8' });
    if (r.status !== 0) {
      return { ok: false, reason: `clang++ cannot link a libFuzzer program (the fuzzer runtime is missing; Debian: apt-get install libclang-rt-14-dev for clang 14): ${(r.stderr || '').trim().split('\n').pop()}` };
    }
    return { ok: true, version: v.stdout.split('\n')[0] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd, args, opts = {}) {
  console.error(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: ['ignore', 2, 2], ...opts });
  return r.status ?? 1;
}

function nativeTargets() {
  return readdirSync(fuzzSrc)
    .filter((f) => f.endsWith('_fuzz.cc'))
    .map((f) => f.replace(/\.cc$/, ''))
    .sort();
}

function buildNative(targets) {
  const configure = run('cmake', ['-S', root, '-B', buildDir, '-DLINERATE_FUZZ=ON', '-DLINERATE_ADDON=OFF', '-DCMAKE_CXX_COMPILER=clang++', '-DCMAKE_BUILD_TYPE=RelWithDebInfo']);
  if (configure !== 0) return 'cmake configure failed';
  const build = run('cmake', ['--build', buildDir, '-j', '2', '--target', ...targets]);
  return build === 0 ? null : 'build failed';
}

// One libFuzzer run of `seconds`; its final stats give the inputs executed.
function runNative(name, seconds) {
  const base = name.replace(/_fuzz$/, '');
  const corpus = join(buildDir, 'corpus', base);
  const crashes = join(buildDir, 'crashes');
  mkdirSync(corpus, { recursive: true });
  mkdirSync(crashes, { recursive: true });
  const seeds = join(fuzzSrc, 'corpus', base);
  const dict = join(fuzzSrc, `${base}.dict`);
  const args = [
    `-max_total_time=${Math.max(1, Math.round(seconds))}`,
    '-print_final_stats=1',
    '-timeout=10',
    `-artifact_prefix=${crashes}/${base}-`,
    ...(existsSync(dict) ? [`-dict=${dict}`] : []),
    corpus,
    ...(existsSync(seeds) ? [seeds] : []),
  ];
  console.error(`$ ${join(buildDir, name)} ${args.join(' ')}`);
  return new Promise((resolvePromise) => {
    const child = spawn(join(buildDir, name), args, {
      cwd: buildDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' },
    });
    let out = '';
    const keep = (d) => {
      out += d;
      if (out.length > 1 << 20) out = out.slice(-(1 << 19));
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => {
      const runs = Number(/stat::number_of_executed_units:\s*(\d+)/.exec(out)?.[1] ?? /#(\d+)\s+DONE/.exec(out)?.[1] ?? 0);
      const crashed = code !== 0;
      if (crashed) {
        // The report: from the sanitizer's or libFuzzer's first line to the artifact.
        const from = out.search(/==\d+==ERROR|runtime error|fuzz invariant broken|ERROR: libFuzzer/);
        console.error(out.slice(from >= 0 ? Math.max(0, from - 2000) : -6000));
      }
      const artifact = /Test unit written to (\S+)/.exec(out)?.[1];
      console.error(`${name}: ${runs} inputs, ${crashed ? `CRASH (exit ${code})${artifact ? `, input in ${artifact}` : ''}` : 'no crash'}`);
      resolvePromise({ name, kind: 'native', runs, crashes: crashed ? 1 : 0, ...(artifact ? { artifact } : {}) });
    });
  });
}

function runJs(only, seconds) {
  const dir = mkdtempSync(join(tmpdir(), 'lrt-fuzz-js-'));
  const report = join(dir, 'report.jsonl');
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const args = [vitest, 'run', 'test/fuzz/parsers.test.ts', '--reporter=default'];
  if (only) args.push('-t', only.map((n) => n.replace(/[^\w]/g, '')).join('|'));
  const env = { ...process.env, LINERATE_FUZZ_MS: String(Math.round(seconds * 1000)), LINERATE_FUZZ_REPORT: report };
  const status = run(process.execPath, args, { cwd: root, env });
  const lines = existsSync(report) ? readFileSync(report, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  rmSync(dir, { recursive: true, force: true });
  if (lines.length === 0) return [{ name: 'js', kind: 'js', runs: 0, crashes: 1, error: `vitest exited ${status} without a report` }];
  return lines;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const seconds = a.minutes * 60;
  const targets = [];
  let failed = false;

  if (a.native) {
    const names = nativeTargets().filter((n) => !a.only || a.only.includes(n) || a.only.includes(n.replace(/_fuzz$/, '')));
    if (names.length) {
      const tc = fuzzerToolchain();
      if (!tc.ok) {
        console.error(`${ci ? 'error' : 'skipped'}: native fuzz targets: ${tc.reason}`);
        for (const n of names) targets.push({ name: n, kind: 'native', runs: 0, crashes: 0, skipped: true, reason: tc.reason });
        if (ci) failed = true;
      } else {
        console.error(`native fuzz targets with ${tc.version}`);
        const err = buildNative(names);
        if (err) {
          console.error(`error: ${err}`);
          for (const n of names) targets.push({ name: n, kind: 'native', runs: 0, crashes: 0, error: err });
          failed = true;
        } else {
          for (const n of names) targets.push(await runNative(n, seconds));
        }
      }
    }
  }
  if (a.js) {
    const names = a.only ? a.only.filter((n) => !n.endsWith('_fuzz')) : null;
    if (!names || names.length) targets.push(...runJs(names, seconds));
  }
  if (targets.some((t) => t.crashes > 0 || t.error)) failed = true;
  console.log(JSON.stringify({ targets: targets.map(({ name, kind, runs, crashes, skipped }) => ({ name, kind, runs, crashes, ...(skipped ? { skipped } : {}) })) }));
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
