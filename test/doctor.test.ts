// `linerate doctor`: the checks a user sees before anything runs. Each failing
// check names what to run.
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { kernelCheck, runChecks } from '../src/cli/doctor.js';

describe('doctor: kernel version', () => {
  it('a kernel older than 5.10 is too old for af_xdp and for consume; the fix says what to boot', () => {
    const c = kernelCheck('5.4.0-150-generic');
    expect(c.status).toBe('warn');
    expect(c.detail).toContain('af_xdp');
    expect(c.detail).toContain('5.10+');
    expect(c.detail).toContain('6.6+');
    expect(c.fix).toContain('6.6 or newer');
  });

  it('5.10 to 6.5: af_xdp works, af_packet consume (tcx) does not', () => {
    for (const r of ['5.10.0-28-amd64', '6.1.0-18-amd64', '6.5.13']) {
      const c = kernelCheck(r);
      expect(c.status, r).toBe('warn');
      expect(c.detail, r).not.toContain('af_xdp');
      expect(c.detail, r).toContain('consume');
      expect(c.fix, r).toContain('6.6 or newer');
    }
  });

  it('6.6 and later are new enough for every driver', () => {
    for (const r of ['6.6.0', '6.18.44-fc-v1252', '7.0.1']) {
      expect(kernelCheck(r).status, r).toBe('ok');
      expect(kernelCheck(r).fix, r).toBeUndefined();
    }
  });

  it('a release string that is not a version is a warning that says how to check', () => {
    const c = kernelCheck('unknown');
    expect(c.status).toBe('warn');
    expect(c.fix).toContain('uname -r');
  });

  it('runChecks includes the kernel check for this host', () => {
    const k = runChecks().find((c) => c.name === 'kernel');
    expect(k).toEqual(kernelCheck(release()));
  });
});
