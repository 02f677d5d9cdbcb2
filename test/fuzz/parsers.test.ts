// The property-based fuzz targets of the TypeScript parsers (test/fuzz/js-targets.ts),
// a fixed number of inputs each in the suite. For longer runs:
//   npm run fuzz -- --minutes 5
// (scripts/fuzz.mjs sets LINERATE_FUZZ_MS and LINERATE_FUZZ_REPORT and runs this file.)
import { appendFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jsTargets, runJsTarget } from './js-targets.js';

const ms = Number(process.env.LINERATE_FUZZ_MS ?? 0) || undefined;
const report = process.env.LINERATE_FUZZ_REPORT;

describe('fuzz: TypeScript parsers (fast-check)', () => {
  for (const t of jsTargets) {
    it(
      `${t.name}: a valid result or a typed LinerateError, never another exception`,
      async () => {
        const r = await runJsTarget(t, ms ? { ms } : { runs: 2000 });
        if (report) appendFileSync(report, JSON.stringify({ name: t.name, kind: 'js', runs: r.runs, crashes: r.failure ? 1 : 0 }) + '\n');
        expect(r.failure).toBeUndefined();
        expect(r.runs).toBeGreaterThan(0);
      },
      (ms ?? 0) + 60_000,
    );
  }
});
