// The vfio drivers' tests need PCI NICs behind an IOMMU: this boots the QEMU test
// bed (scripts/vm/run.sh: TCG, q35 + emulated Intel IOMMU, e1000e and virtio-net
// NICs, a TAP peer in a host namespace) and runs test/vm/*.test.ts inside it. It
// fails when the guest does not boot, a module does not load, or any guest test
// fails, and says which.
//
// Needs root (namespace, TAP) and /dev/net/tun; qemu-system-x86, linux-image-amd64
// and busybox-static are installed through apt when missing (scripts/vm/install.sh).
// Set LINERATE_SKIP_VM=1 to skip it. `npm run test:vm` runs only this.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = join(import.meta.dirname, '..');

function skipReason(): string | undefined {
  if (process.env.LINERATE_SKIP_VM === '1') return 'LINERATE_SKIP_VM=1';
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs Linux on x86-64';
  if (process.getuid?.() !== 0) return 'needs root (network namespace, TAP device)';
  if (!existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  if (process.env.LINERATE_VM_GUEST === '1') return 'already inside the guest';
  return undefined;
}

const reason = skipReason();
const out = mkdtempSync(join(tmpdir(), 'linerate-vm-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  testResults: { name: string; status: string; message?: string; assertionResults: { fullName: string; status: string; failureMessages: string[] }[] }[];
}

async function runGuest(n: number): Promise<{ code: number | null; tail: string; dir: string }> {
  const dir = join(out, `attempt-${n}`);
  const args = ['--out', dir, '--timeout', '420'];
  if (process.env.LINERATE_ADDON_PATH) args.push('--env', `LINERATE_ADDON_PATH=${process.env.LINERATE_ADDON_PATH}`);
  args.push('--', process.execPath, 'node_modules/vitest/vitest.mjs', 'run', '--config', 'test/vm/vitest.config.ts', '--configLoader', 'runner');
  const child = spawn('bash', [join(repo, 'scripts/vm/run.sh'), ...args], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  const tail = log
    .split('\n')
    .filter((l) => !/^lrvm: pci /.test(l))
    .slice(-80)
    .join('\n');
  return { code, tail, dir };
}

describe.skipIf(reason)('QEMU guest: vfio drivers on e1000e and virtio-net behind an IOMMU', () => {
  it('boots, loads vfio-pci, runs test/vm inside, and every guest test passes', async () => {
    const started = Date.now();
    // One more boot only when the test bed itself failed (no boot: 125, timeout: 124,
    // the guest watchdog ended a command that hung: 137),
    // never for a guest test that failed; both logs are kept for the message.
    let attempt = await runGuest(1);
    let first = '';
    if (attempt.code === 124 || attempt.code === 125 || attempt.code === 137) {
      first = `first attempt: run.sh exit ${attempt.code}\n${attempt.tail}\n`;
      console.log(`vm: the test bed failed (run.sh exit ${attempt.code}), booting once more\n${attempt.tail}`);
      attempt = await runGuest(2);
    }
    const { code, tail, dir } = attempt;
    const boot = existsSync(join(dir, 'boot')) ? readFileSync(join(dir, 'boot'), 'utf8') : '';
    expect(boot, `the guest booted and reported back:\n${first}${tail}`).toMatch(/chroot ready/);
    expect(boot, 'kernel modules loaded').toMatch(/modules ok: .*vfio-pci/);
    expect(boot, 'the guest has an IOMMU').not.toMatch(/iommu groups: 0\b/);
    const reportPath = join(dir, 'results', 'vitest.json');
    expect(existsSync(reportPath), `the guest's vitest wrote its report (run.sh exit ${code}):\n${first}${tail}`).toBe(true);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as VitestReport;
    const failed = report.testResults.flatMap((f) =>
      f.assertionResults.filter((a) => a.status === 'failed').map((a) => `${a.fullName}: ${a.failureMessages.join(' ').slice(0, 400)}`),
    );
    const broken = report.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).map((f) => `${f.name}: ${f.message ?? ''}`);
    expect([...failed, ...broken], 'guest tests that failed').toEqual([]);
    expect(report.numPassedTests, 'guest tests that passed').toBeGreaterThanOrEqual(10);
    expect(code, `run.sh exit code:\n${tail}`).toBe(0);
    console.log(`vm: ${report.numPassedTests} guest tests passed in ${Math.round((Date.now() - started) / 1000)} s (boot included)`);
  }, 900_000);
});
