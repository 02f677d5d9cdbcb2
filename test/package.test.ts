// linerate as a consumer gets it: the published file list, and the ADDON_LOAD
// hint, which must name a command that exists where the package sits.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/netns.js';
import { tempDir } from './helpers/pcap.js';

const tmp = tempDir('linerate-package-');
afterAll(() => tmp.cleanup());

/** Loads linerate by its package name from `cwd` in a child and returns the LinerateError it throws, if any. */
function loadError(cwd: string, env: NodeJS.ProcessEnv): { code?: string; message?: string } {
  const wrapped = `import('linerate').then((m) => { try { m.Engine.hostInfo(); console.log('{}'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } }, (e) => console.log(JSON.stringify({ message: String(e) })));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', wrapped], { cwd, env, encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const envWithout = (...names: string[]): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !names.includes(k)));

describe('ADDON_LOAD says what to run where the package sits', () => {
  it('installed as a dependency (under node_modules, no build): npm rebuild linerate, not a script the consumer lacks', () => {
    const project = tmp.path('consumer');
    const pkg = join(project, 'node_modules', 'linerate');
    mkdirSync(pkg, { recursive: true });
    for (const f of ['package.json', 'CMakeLists.txt']) cpSync(join(repoRoot, f), join(pkg, f));
    cpSync(join(repoRoot, 'dist', 'src'), join(pkg, 'dist', 'src'), { recursive: true });
    symlinkSync(join(repoRoot, 'node_modules', 'node-gyp-build'), join(project, 'node_modules', 'node-gyp-build'));
    const e = loadError(project, envWithout('LINERATE_ADDON_PATH'));
    expect(e.code, e.message).toBe('ADDON_LOAD');
    expect(e.message).toContain('npm rebuild linerate');
    expect(e.message).not.toContain('build:native');
    expect(e.message).toContain(join(pkg, 'prebuilds'));
  });

  it('in a checkout of this repository: npm run build:native', () => {
    const e = loadError(repoRoot, { ...process.env, LINERATE_ADDON_PATH: tmp.path('missing.node') });
    expect(e.code, e.message).toBe('ADDON_LOAD');
    expect(e.message).toContain('npm run build:native');
    expect(e.message).not.toContain('npm rebuild');
  });
});

describe('the published package', () => {
  it('packing builds the prebuild first (prepack), so a published package always has one', async () => {
    const pkg = (await import('../package.json', { with: { type: 'json' } })).default as { scripts: Record<string, string>; files: string[] };
    expect(pkg.scripts.prepack).toMatch(/scripts\/prebuild\.mjs|npm run prebuild/);
    expect(pkg.files).toContain('prebuilds/');
  });

  it('ships the library, its examples and the native sources, and no tests, benchmarks or build leftovers', () => {
    // --ignore-scripts: the file list only (prepack's compile takes minutes; it is checked above and by hand).
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'CMakeLists.txt', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/handler/worker.js', 'scripts/build-native.mjs']) {
      expect(files, f).toContain(f);
    }
    expect(files.some((f) => f.startsWith('native/core/'))).toBe(true);
    const leftovers = files.filter(
      (f) =>
        /^(test|build|build-[^/]*|test-results|bench|dist\/test|dist\/bench|node_modules|\.ci)\//.test(f) ||
        f.endsWith('.tsbuildinfo') ||
        // Editor, merge, packing and crash leftovers anywhere; scripts other than the install script.
        /\.(tgz|log|orig|rej|swp)$|(^|\/)(core(\.\d+)?|\.DS_Store)$/.test(f) ||
        (f.startsWith('scripts/') && f !== 'scripts/build-native.mjs'),
    );
    expect(leftovers).toEqual([]);
  });
});
