// The aarch64 configuration of scripts/test-native.mjs: the ring tests built for
// arm64 and run there, because arm64 (unlike x86) reorders loads, which is where
// a missing acquire in native/core/ring.h shows (docs/memory-format.md, "Ring").
//
// On an x86 host: cross-compiled with aarch64-linux-gnu-g++, linked statically
// (no arm64 sysroot needed at run time) and run under qemu-user, whose guest
// threads are real host threads. On an arm64 host: built with g++ and run
// directly. Only the tests in `tests` are built: they need nothing but
// native/core. No sanitizer: the point is the optimised arm64 code.
//
// Writes test-results/ctest-aarch64.xml in the shape ctest --output-junit uses
// (one testcase per test executable), so scripts/test.mjs counts it like the
// others. Missing tools: a skip with the reason printed (and a skipped testcase
// in the xml), except under CI=true, where it is a failure: CI installs them
// (.ci/run).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Each test: its name and the sources it is built from (paths from the repository root).
const tests = [{ name: 'ring_test', sources: ['test/native/ring_test.cc', 'native/core/error.cc', 'native/core/cycles.cc'] }];
const runTimeoutMs = 240_000;

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || null;
}

// The compiler and the way to run an arm64 binary on this host, or why there is none.
function toolchain() {
  const arch = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim();
  if (arch === 'aarch64') {
    const cxx = which('g++');
    return cxx ? { cxx, runner: [], how: 'native arm64' } : { missing: 'g++ (apt-get install g++)' };
  }
  const cxx = which('aarch64-linux-gnu-g++');
  const qemu = which('qemu-aarch64') ?? which('qemu-aarch64-static');
  const missing = [];
  if (!cxx) missing.push('aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu)');
  if (!qemu) missing.push('qemu-aarch64 (apt-get install qemu-user)');
  if (missing.length) return { missing: missing.join(' and ') };
  return { cxx, runner: [qemu], how: `${arch} host, qemu-user` };
}

const xmlEscape = (s) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
const cdata = (s) => `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;

function writeJunit(file, cases) {
  const failures = cases.filter((c) => c.status === 'fail').length;
  const skipped = cases.filter((c) => c.status === 'skip').length;
  const time = cases.reduce((a, c) => a + c.time, 0);
  const body = cases
    .map((c) => {
      const inner =
        c.status === 'fail'
          ? `<failure message="${xmlEscape(c.message)}"/>`
          : c.status === 'skip'
            ? `<skipped message="${xmlEscape(c.message)}"/>`
            : '';
      return `  <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(c.name)}" time="${c.time.toFixed(3)}" status="${c.status === 'pass' ? 'run' : c.status}">${inner}<system-out>${cdata(c.output ?? '')}</system-out></testcase>`;
    })
    .join('\n');
  writeFileSync(
    file,
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="aarch64" tests="${cases.length}" failures="${failures}" disabled="0" skipped="${skipped}" time="${time.toFixed(3)}">\n${body}\n</testsuite>\n`,
  );
}

/**
 * Builds and runs the aarch64 tests. Returns { name, tests, failures, skipped, passed, status }
 * or { name, error } like runConfig in test-native.mjs.
 */
export function runAarch64({ root, resultsDir, buildDir = join(root, 'build-native-aarch64') }) {
  const name = 'aarch64';
  const junit = join(resultsDir, 'ctest-aarch64.xml');
  rmSync(junit, { force: true });
  const tc = toolchain();
  if (tc.missing) {
    const reason = `aarch64 ring tests need ${tc.missing}`;
    if (process.env.CI === 'true') {
      const message = `${reason} (CI must have them: .ci/run installs them)`;
      writeJunit(junit, tests.map((t) => ({ name: t.name, status: 'fail', message, time: 0 })));
      return { name, error: message };
    }
    console.log(`native(aarch64): skipped: ${reason}`);
    writeJunit(junit, tests.map((t) => ({ name: t.name, status: 'skip', message: reason, time: 0 })));
    return { name, tests: tests.length, failures: 0, skipped: tests.length, passed: 0, status: 0 };
  }
  console.log(`native(aarch64): ${tc.how}, ${tc.cxx}`);
  mkdirSync(buildDir, { recursive: true });
  const cases = [];
  for (const t of tests) {
    const exe = join(buildDir, t.name);
    // The flags of the Release build (CMakeLists.txt), statically linked.
    const args = ['-std=c++17', '-O3', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fno-strict-aliasing', '-pthread', '-static',
      '-I', join(root, 'native'), '-I', join(root, 'test/native'), ...t.sources.map((s) => join(root, s)), '-o', exe];
    console.log(`$ ${tc.cxx} ${args.join(' ')}`);
    const build = spawnSync(tc.cxx, args, { stdio: 'inherit' });
    if (build.status !== 0 || !existsSync(exe)) {
      cases.push({ name: t.name, status: 'fail', message: `build failed (exit ${build.status})`, time: 0 });
      continue;
    }
    const cmd = [...tc.runner, exe];
    console.log(`$ ${cmd.join(' ')}`);
    const t0 = Date.now();
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8', timeout: runTimeoutMs, maxBuffer: 16 << 20 });
    const time = (Date.now() - t0) / 1000;
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
    process.stdout.write(output);
    if (r.error || r.status !== 0) {
      const why = r.error?.code === 'ETIMEDOUT' ? `timed out after ${runTimeoutMs / 1000} s` : r.error ? String(r.error) : `exit ${r.status ?? r.signal}`;
      console.log(`native(aarch64): ${t.name} failed: ${why} after ${time.toFixed(1)} s`);
      cases.push({ name: t.name, status: 'fail', message: why, time, output });
    } else {
      cases.push({ name: t.name, status: 'pass', message: '', time, output });
    }
  }
  writeJunit(junit, cases);
  const failures = cases.filter((c) => c.status === 'fail').length;
  return { name, tests: cases.length, failures, skipped: 0, passed: cases.length - failures, status: failures ? 1 : 0 };
}
