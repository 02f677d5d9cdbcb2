// linerate installed the way a user installs it: a packed tarball, `npm install`ed
// into a fresh project on a PATH that has node and npm but no compiler, cmake,
// make or python (issue 14). The prebuild must load and run an engine; without a
// matching prebuild the error must say what was tried and what to install. The
// same consumer project checks the package's public surface: every public name of
// 'linerate' and 'linerate/metrics' imports at run time (ESM through `exports`) and
// type-checks with tsc (types through `exports`).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/netns.js';
import { tempDir } from './helpers/pcap.js';

const tmp = tempDir('linerate-install-');
afterAll(() => { if (!process.env.LINERATE_KEEP_TMP) tmp.cleanup(); });

const bin = tmp.path('bin');
const consumer = tmp.path('consumer');
const installed = join(consumer, 'node_modules', 'linerate');
/** PATH holds only bin/: node, npm, npx and sh (npm runs the install script through sh). */
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'LINERATE_ADDON_PATH' && k !== 'NODE_OPTIONS')),
  PATH: bin,
  npm_config_update_notifier: 'false',
};

function sh(cmd: string, args: string[], cwd: string, timeout = 60_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout });
}
const out = (r: SpawnSyncReturns<string>): string => `exit ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}\n${r.stderr}`;

/**
 * The tarball as `npm pack` makes it after `npm run prebuild`. The prebuild is the
 * repository's prebuilds/ when `npm run prebuild` was run; otherwise the addon this
 * checkout built (build/Release), which is the binary prebuildify would produce
 * (it compiles the same CMake target: scripts/prebuild.mjs), under the name
 * prebuildify gives it: <package name>.<libc>.node (docs/building.md). Packing runs in a copy of the published files
 * (so the checkout is not touched) with --ignore-scripts (prepack would compile
 * for minutes; package.test.ts checks that prepack runs the prebuild).
 */
function pack(): string {
  const stage = tmp.path('stage');
  mkdirSync(stage);
  for (const f of ['package.json', 'README.md', 'CMakeLists.txt', 'native', 'dist/src', 'dist/examples', 'scripts/build-native.mjs']) {
    cpSync(join(repoRoot, f), join(stage, f), { recursive: true });
  }
  const platform = `${process.platform}-${process.arch}`;
  const prebuilds = join(repoRoot, 'prebuilds', platform);
  const dest = join(stage, 'prebuilds', platform);
  mkdirSync(dest, { recursive: true });
  if (existsSync(prebuilds) && readdirSync(prebuilds).some((f) => f.endsWith('.node'))) cpSync(prebuilds, dest, { recursive: true });
  else cpSync(join(repoRoot, 'build', 'Release', 'linerate.node'), join(dest, 'linerate.glibc.node'));
  shipped = readdirSync(dest).filter((f) => f.endsWith('.node'));
  const r = spawnSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp.dir], { cwd: stage, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, out(r)).toBe(0);
  return join(tmp.dir, r.stdout.trim().split('\n').pop()!);
}

/** Runs `code` (an ES module) with node in the consumer project and returns its last stdout line as JSON. */
function runInConsumer(code: string): Record<string, unknown> {
  const r = sh('node', ['--input-type=module', '-e', code], consumer, 30_000);
  expect(r.status, out(r)).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

let installLog = '';
/** The prebuild file names the tarball carries. */
let shipped: string[] = [];

beforeAll(() => {
  mkdirSync(bin);
  for (const tool of ['node', 'npm', 'npx', 'sh']) {
    const which = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    symlinkSync(tool === 'node' ? process.execPath : which.stdout.trim(), join(bin, tool));
  }
  const tarball = pack();
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'linerate-consumer', version: '1.0.0', private: true, type: 'module' }));
  // From npm's cache when it holds linerate's dependencies (CI's npm ci put them there); the registry otherwise.
  // --foreground-scripts: the install script's output is in the log (npm hides it otherwise).
  const flags = ['--no-audit', '--no-fund', '--no-package-lock', '--foreground-scripts'];
  let r = sh('npm', ['install', '--offline', ...flags, tarball], consumer, 120_000);
  if (r.status !== 0) r = sh('npm', ['install', '--prefer-offline', ...flags, tarball], consumer, 120_000);
  installLog = out(r);
  expect(r.status, installLog).toBe(0);
}, 180_000);

describe('npm install of the packed tarball on a PATH without a compiler', () => {
  it('the PATH really has no compiler, cmake, make or python', () => {
    const r = sh('sh', ['-c', 'for t in cmake make g++ gcc cc c++ clang python python3; do command -v $t; done; true'], tmp.dir);
    expect(r.stdout.trim()).toBe('');
  });

  it('installs, compiles nothing, and the prebuild runs an engine that forwards frames with every mbuf back', () => {
    // The install script (scripts/build-native.mjs) found the prebuild and compiled nothing.
    expect(installLog).toContain('linerate: using the existing native addon');
    expect(installLog).not.toMatch(/cmake-js|cannot build the native addon/);
    expect(existsSync(join(installed, 'build'))).toBe(false);
    const r = runInConsumer(`
      import { Engine } from 'linerate';
      const cpus = Engine.hostInfo().allowedCpus;
      const e = await Engine.create({ lcores: [cpus[cpus.length - 1]], idle: 'adaptive', mempool: { mbufs: 1024, hugepages: 'off' } });
      const a = e.addPort('a', { driver: 'null', count: 500, packetSize: 64 });
      const b = e.addPort('b', { driver: 'null' });
      e.forward(a, b);
      await e.start();
      const done = await e.whenSourcesDone(10000);
      await e.stop();
      const s = e.stats();
      await e.close();
      const { createRequire } = await import('node:module');
      const addon = createRequire(import.meta.url)('node-gyp-build').path(new URL('./node_modules/linerate/', import.meta.url).pathname);
      console.log(JSON.stringify({ done, rx: s.ports.a.rxPackets, tx: s.ports.b.txPackets, free: s.mempool.free.total, size: s.mempool.size, addon }));
    `);
    expect(r).toMatchObject({ done: true, rx: 500, tx: 500, size: 1024, free: 1024 });
    expect(shipped.map((f) => join(installed, 'prebuilds', `${process.platform}-${process.arch}`, f))).toContain(r.addon);
  });
});

describe('the public surface, as a consumer sees it through exports', () => {
  /** Every name the package's entry points declare (their .d.ts, as tsc reads them). */
  const declared = new Map<string, string[]>();
  function declaredNames(entry: string): string[] {
    if (declared.has(entry)) return declared.get(entry)!;
    const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true, noEmit: true });
    const checker = program.getTypeChecker();
    const sym = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
    const names = checker.getExportsOfModule(sym).map((s) => s.getName()).sort();
    declared.set(entry, names);
    return names;
  }
  const entries = { linerate: 'dist/src/index.d.ts', 'linerate/metrics': 'dist/src/metrics.d.ts' } as const;

  it('every value the .d.ts declares is exported at run time by the ESM entry, and nothing undeclared', () => {
    for (const [spec, dts] of Object.entries(entries)) {
      const declared = declaredNames(join(installed, dts));
      const r = runInConsumer(`const m = await import('${spec}'); console.log(JSON.stringify({ names: Object.keys(m).sort() }));`);
      const runtime = r.names as string[];
      expect(runtime.length, spec).toBeGreaterThan(0);
      expect(runtime.filter((n) => !declared.includes(n)), `${spec}: exported but not declared`).toEqual([]);
    }
    // Encapsulation: only the entry points are importable, not files inside dist/.
    const deep = sh('node', ['--input-type=module', '-e', `import('linerate/dist/src/native.js').then(() => console.log('open'), (e) => console.log(e.code))`], consumer);
    expect(deep.stdout.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('tsc type-checks a consumer that imports every public name of linerate and linerate/metrics', () => {
    const lines: string[] = [];
    const all: string[] = [];
    for (const [spec, dts] of Object.entries(entries)) {
      const names = declaredNames(join(installed, dts));
      expect(names.length, spec).toBeGreaterThan(spec === 'linerate' ? 20 : 2);
      const local = names.map((n) => `${n} as ${spec === 'linerate' ? '' : 'm_'}${n}`);
      lines.push(`import { ${local.join(', ')} } from '${spec}';`);
      all.push(...names.map((n) => `${spec === 'linerate' ? '' : 'm_'}${n}`));
    }
    // Re-exporting as types works for values, types and namespaces alike, and makes tsc resolve each one.
    lines.push(`export type { ${all.join(', ')} };`);
    // A use that needs real types, not `any` from an unresolved module.
    lines.push(`export async function open(): Promise<Engine> { return Engine.create({ lcores: [0] }); }`);
    lines.push(`export const code: LinerateErrorCode = 'ADDON_LOAD';`);
    writeFileSync(join(consumer, 'consumer.ts'), lines.join('\n') + '\n');
    // And the check has teeth: a name the package does not export is an error (in its own file, same run:
    // checking @types/node and linerate's .d.ts takes most of tsc's ~10 s).
    writeFileSync(join(consumer, 'teeth.ts'), `import { NoSuchName } from 'linerate';\nexport type { NoSuchName };\n`);
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'] },
        files: ['consumer.ts', 'teeth.ts'],
      }),
    );
    // What a TypeScript consumer has: @types/node, and prom-client (linerate/metrics' optional peer) for its types.
    mkdirSync(join(consumer, 'node_modules', '@types'), { recursive: true });
    if (!existsSync(join(consumer, 'node_modules', '@types', 'node'))) symlinkSync(join(repoRoot, 'node_modules', '@types', 'node'), join(consumer, 'node_modules', '@types', 'node'));
    for (const dep of ['prom-client', 'tdigest', 'bintrees', '@opentelemetry']) {
      if (!existsSync(join(consumer, 'node_modules', dep)) && existsSync(join(repoRoot, 'node_modules', dep))) symlinkSync(join(repoRoot, 'node_modules', dep), join(consumer, 'node_modules', dep));
    }
    const r = sh('node', [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--pretty', 'false'], consumer);
    const errors = r.stdout.trim().split('\n').filter((l) => /error TS/.test(l));
    expect(errors.filter((l) => !l.startsWith('teeth.ts')), out(r)).toEqual([]);
    expect(errors.join('\n'), out(r)).toMatch(/^teeth\.ts.*NoSuchName/);
  }, 60_000);
});

describe('no matching prebuild', () => {
  it('ADDON_LOAD says where it looked, what it looked for, and what to install', () => {
    rmSync(join(installed, 'prebuilds'), { recursive: true, force: true });
    const r = runInConsumer(`
      import { Engine } from 'linerate';
      try { Engine.hostInfo(); console.log('{}'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
    `);
    expect(r.code, String(r.message)).toBe('ADDON_LOAD');
    const m = String(r.message);
    // What was tried: the platform's prebuild directory and the build directories, and the ABI it wanted.
    expect(m).toContain(join(installed, 'prebuilds', `${process.platform}-${process.arch}`));
    expect(m).toContain(join(installed, 'build', 'Release'));
    expect(m).toMatch(/platform=linux arch=x64 runtime=node/);
    // What to do: rebuild from the consumer project, with the tools that needs.
    expect(m).toContain('npm rebuild linerate');
    expect(m).toContain('apt-get install -y cmake make g++');
  });
});
