// examples/dns/main.js as a user runs it (npm test builds dist/): the null-port
// self-test answers its SOA query and gives every mbuf back; SIGHUP reloads the
// zone, and a reload of a broken file keeps the old zone and says where it broke;
// a broken zone at start exits 1 with the file and line.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { lastCpu, waitFor } from './helpers/engine.js';
import { tempDir } from './helpers/pcap.js';

const MAIN = new URL('../dist/examples/dns/main.js', import.meta.url).pathname;
const ZONE = new URL('./fixtures/dns/example.test.zone', import.meta.url).pathname;
const tmp = tempDir('linerate-dns-');
afterAll(() => tmp.cleanup());
const common = ['--lcores', String(lastCpu()), '--hugepages', 'off', '--mbufs', '4096'];

describe('examples/dns/main', { timeout: 60_000 }, () => {
  it('self-tests on a null port, reloads on SIGHUP, keeps the old zone when the new one is bad', async () => {
    const zone = tmp.path('z.zone');
    copyFileSync(ZONE, zone);
    const child = spawn(process.execPath, [MAIN, '--zone', zone, '--seconds', '20', ...common], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    try {
      expect(await waitFor(() => /\[1s\] answers [1-9]/.test(out), 15_000), out).toBe(true);
      writeFileSync(zone, `${readFileSync(ZONE, 'utf8')}broken IN A 1.2.3\n`);
      child.kill('SIGHUP');
      expect(await waitFor(() => out.includes('reload failed'), 5_000), out).toBe(true);
      expect(out).toMatch(/reload failed, still serving the old zones: .*z\.zone:\d+: '1\.2\.3' is not an IPv4 address/);
      writeFileSync(zone, `${readFileSync(ZONE, 'utf8')}added IN A 198.18.0.3\n`);
      child.kill('SIGHUP');
      expect(await waitFor(() => /reloaded: \d+ names/.test(out), 5_000), out).toBe(true);
      child.kill('SIGINT');
      expect(await exited, out).toBe(0);
      expect(out).toMatch(/mempool: (\d+)\/\1 mbufs back in the pool/);
      expect(out).toMatch(/"SOA":[1-9]/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses a bad zone at start with the file and line, and a run without --zone', () => {
    const bad = tmp.path('bad.zone');
    writeFileSync(bad, '$ORIGIN b.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nx HINFO "a" "b"\n');
    const r = spawnSync(process.execPath, [MAIN, '--zone', bad, ...common], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error ZONE_UNSUPPORTED: .*bad\.zone:5: type HINFO is not supported/);
    const none = spawnSync(process.execPath, [MAIN, ...common], { encoding: 'utf8', timeout: 30_000 });
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/give at least one --zone FILE/);
  });
});
