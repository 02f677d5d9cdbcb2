// The README's example, as written: its ts block is type-checked against the
// package's types, compiled, and run with node from a project that has linerate
// in node_modules (a link to this checkout, so `from 'linerate'` resolves as a
// user's would, to the built dist/). It must show what it says it shows.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/netns.js';
import { tempDir } from './helpers/pcap.js';

const tmp = tempDir('linerate-readme-');
afterAll(() => tmp.cleanup());

/** The first ts code block after the heading `## A short example`. */
function readmeExample(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## A short example'));
  const m = /```ts\n([\s\S]*?)\n```/.exec(section);
  if (!m) throw new Error("README.md has no ts block under '## A short example'");
  return m[1]!;
}

describe('README example', { timeout: 120_000 }, () => {
  it('type-checks, runs, and prints a handler that saw the packets and a whole pool', async () => {
    const code = readmeExample();
    expect(code).toContain("from 'linerate'");
    const project = tmp.path('project');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(repoRoot, join(project, 'node_modules', 'linerate'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    const src = join(project, 'example.mts');
    writeFileSync(src, code);

    const ts = (await import('typescript')).default;
    const options = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, skipLibCheck: true, types: ['node'], typeRoots: [join(repoRoot, 'node_modules', '@types')], outDir: project };
    const program = ts.createProgram([src], options);
    const diags = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === src);
    expect(diags.map((d) => `${d.file!.getLineAndCharacterOfPosition(d.start!).line + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`)).toEqual([]);
    // example.mts compiles to example.mjs (an ES module, top-level await and all), next to it.
    expect(program.emit().emitSkipped).toBe(false);

    const r = spawnSync(process.execPath, ['example.mjs'], { cwd: project, encoding: 'utf8', timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
    const m = /handler saw (\d+) packets in (\d+) bursts; sink sent (\d+); dropped (\d+) \(handler ring full: (\d+)\)/.exec(out);
    expect(m, out).not.toBeNull();
    const [seen, bursts, sent, dropped, ringFull] = m!.slice(1).map(Number) as [number, number, number, number, number];
    // The handler ran on the null port's packets and forwarded each to the sink. A host too busy to let the
    // main thread keep up loses some to a full ring, counted: nothing else is lost.
    expect(seen, out).toBeGreaterThan(0);
    expect(bursts).toBeGreaterThan(0);
    expect(sent).toBe(seen);
    expect(dropped).toBe(ringFull);
    expect(seen + ringFull).toBe(20_000);
    const pool = /mempool: (\d+)\/(\d+) mbufs back in the pool/.exec(out);
    expect(pool, out).not.toBeNull();
    expect(pool![1]).toBe(pool![2]);
  });
});
