// The bundled examples as a user runs them: `node dist/examples/<name>.js ...`
// in a child process (npm test builds dist/). Each must do its job, print the
// pool check and exit 0; a bad flag exits 1 with the usage.
// The af_packet and af_xdp runs need root (always under CI=true; elsewhere
// skipped with the reason printed), on a veth pair between two namespaces.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { lastCpu } from './helpers/engine.js';
import { cleanupLeftovers, netnsGate, TestBed } from './helpers/netns.js';
import { expectedEcho, hex, readPcap, tempDir, udp4Frame, writePcap } from './helpers/pcap.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const example = (name: string) => join(root, 'dist', 'examples', `${name}.js`);
const cpu = () => String(lastCpu());

/** Runs an example to its end; returns its exit code and output. */
function runExample(name: string, args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [example(name), ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const poolLine = /mempool: (\d+)\/(\d+) mbufs back in the pool/;
/** The example's final pool check says every mbuf came back. */
function expectPoolWhole(out: string): void {
  const m = poolLine.exec(out);
  expect(m, out).not.toBeNull();
  expect(m![1]).toBe(m![2]);
  expect(out).not.toContain('MISSING');
}

const tmp = tempDir('linerate-examples-');
afterAll(() => tmp.cleanup());

describe('examples', { timeout: 90_000 }, () => {
  it('l2fwd forwards between two null ports for --seconds and gives every mbuf back', () => {
    const r = runExample('l2fwd', ['--seconds', '1', '--lcores', cpu(), '--hugepages', 'off', '--mbufs', '4096']);
    expect(r.code, r.out).toBe(0);
    const a = /^a: rx (\d+) tx (\d+)/m.exec(r.out);
    const b = /^b: rx (\d+) tx (\d+)/m.exec(r.out);
    expect(a && b, r.out).toBeTruthy();
    expect(Number(a![2]), 'a transmitted what b received').toBeGreaterThan(0);
    expect(Number(b![2])).toBeGreaterThan(0);
    expectPoolWhole(r.out);
  });

  it('echo --driver pcap writes every request back, addresses and ports swapped, byte for byte', () => {
    const requests = Array.from({ length: 12 }, (_, i) =>
      udp4Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.0.1', dst: '198.18.0.2', sport: 40000 + i, dport: 53, payload: 20 + i }),
    );
    writeFileSync(tmp.path('in.pcap'), writePcap(requests));
    const r = runExample('echo', ['--driver', 'pcap', '--rx-file', tmp.path('in.pcap'), '--tx-file', tmp.path('out.pcap'), '--lcores', cpu(), '--hugepages', 'off']);
    expect(r.code, r.out).toBe(0);
    const replies = readPcap(readFileSync(tmp.path('out.pcap'))).records.map((x) => hex(x.data));
    expect(replies).toEqual(requests.map((f) => hex(expectedEcho(f))));
    expectPoolWhole(r.out);
  });

  it('udp-echo without flags: a null port sends it echo requests, the host answers them, every mbuf comes back', () => {
    const r = runExample('udp-echo', ['--seconds', '1', '--lcores', cpu(), '--hugepages', 'off', '--mbufs', '4096']);
    expect(r.code, r.out).toBe(0);
    const host = JSON.parse(/^host: (.*)$/m.exec(r.out)![1]) as { udpIn: number; udpReplies: number; udpBadCsum: number };
    expect(host.udpIn).toBeGreaterThan(0);
    expect(host.udpReplies).toBeGreaterThan(0);
    expect(host.udpBadCsum).toBe(0);
    expectPoolWhole(r.out);
    const bad = runExample('udp-echo', ['--mode', 'inline']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('--mode inline needs --workers N');
  });

  it('a bad flag or a missing argument exits 1 with the reason and the usage', () => {
    const r = runExample('echo', ['--driver', 'af_packet']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('--driver af_packet needs --interface');
    expect(r.out).toContain('usage: echo');
    const bad = runExample('echo', ['--driver', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain("--driver must be null, pcap, af_packet or af_xdp, got 'nope'");
  });
});

const gate = netnsGate();
const beds: TestBed[] = [];
afterEach(async () => {
  for (const b of beds.splice(0)) await b.destroy();
});
afterAll(() => cleanupLeftovers());

describe.skipIf(!gate.run)('echo example on a veth end', { timeout: 90_000 }, () => {
  /** Starts the echo example on B's end, waits until it runs, returns a stop function that resolves to its output and exit code. */
  async function startEcho(b: TestBed, args: string[], name = 'echo') {
    const c = spawn(process.execPath, [example(name), '--interface', b.ifB, '--netns', b.nsB, '--lcores', cpu(), '--hugepages', 'off', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
    // runLive prints the mempool line, then starts the engine; the first rate line comes a second later.
    const started = await new Promise<boolean>((resolve) => {
      const t = setInterval(() => {
        if (/\[1s\]/.test(out)) {
          clearInterval(t);
          resolve(true);
        }
      }, 50);
      void exited.then(() => {
        clearInterval(t);
        resolve(false);
      });
    });
    return {
      started,
      output: () => out,
      stop: async () => {
        if (c.exitCode === null) c.kill('SIGTERM');
        const code = await exited;
        return { code, out };
      },
    };
  }

  for (const [driver, extra] of [
    ['af_packet', ['--consume']],
    ['af_xdp', []],
  ] as const) {
    it(`${driver}: kernel UDP from the other namespace comes back; SIGTERM stops it with every mbuf home`, async () => {
      const b = await TestBed.create({ addressB: false });
      beds.push(b);
      await b.setNeighbor('a', b.ipB, b.macB);
      // af_xdp hands a local socket's partial UDP checksum over unfinished (docs/examples.md).
      if (driver === 'af_xdp') await b.disableTxChecksum('a');
      const echo = await startEcho(b, ['--driver', driver, ...extra]);
      try {
        expect(echo.started, echo.output()).toBe(true);
        const sent = Array.from({ length: 10 }, (_, i) => Buffer.from(`${driver}-${i}`));
        const k0 = await b.ipInReceives('b');
        const got = await b.udpExchange({ port: 5353, payloads: sent, timeoutMs: 5000 });
        expect(got.map((x) => x.data.toString())).toEqual(sent.map((x) => x.toString()));
        expect(got.every((x) => x.from === b.ipB && x.fromPort === 5353)).toBe(true);
        // af_packet with --consume and af_xdp alike: B's kernel stack saw none of it.
        expect((await b.ipInReceives('b')) - k0).toBe(0);
      } finally {
        const r = await echo.stop();
        expect(r.code, r.out).toBe(0);
        expect(r.out).toMatch(/^p: rx \d+ tx \d+/m);
        expectPoolWhole(r.out);
      }
    });
  }

  it('udp-echo --driver af_xdp --workers 1 --mode inline: the kernel resolves it, pings it, gets its UDP back; SIGTERM stops it cleanly', async () => {
    const b = await TestBed.create({ addressB: false });
    beds.push(b);
    await b.disableTxChecksum('a');
    const srv = await startEcho(b, ['--driver', 'af_xdp', '--ipv4', `${b.ipB}/24`, '--ipv6', `${b.ip6B}/64`, '--workers', '1', '--mode', 'inline'], 'udp-echo');
    try {
      expect(srv.started, srv.output()).toBe(true);
      expect((await b.ping('a', b.ipB, 2)).received).toBe(2);
      const sent = Array.from({ length: 10 }, (_, i) => Buffer.from(`udp-echo-${i}`));
      const got = await b.udpExchange({ port: 7, payloads: sent, timeoutMs: 5000 });
      expect(got.map((x) => x.data.toString())).toEqual(sent.map((x) => x.toString()));
      const got6 = await b.udpExchange({ port: 7, family: 6, payloads: sent, timeoutMs: 5000 });
      expect(got6.length).toBe(10);
    } finally {
      const r = await srv.stop();
      expect(r.code, r.out).toBe(0);
      expect(r.out).toMatch(/"udpReplies":20/);
      expectPoolWhole(r.out);
    }
  });
});
