// examples/dns against Knot DNS. One zone (test/fixtures/dns/example.test.zone)
// is loaded into knotd (UDP sockets on namespace A's loopback) and into the
// linerate server (af_xdp host on B's end of the veth pair); kdig in A asks
// both the same questions and the answers are compared section by section
// (rcode, flags, EDNS, RRsets; IDs and order within a section aside).
// Malformed queries from a raw socket get FORMERR or nothing, and the server
// keeps serving with every mbuf back in the pool. Runs as root (CI=true).
import { copyFileSync, writeFileSync } from 'node:fs';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { C } from '../examples/dns/answers.js';
import { DnsServer } from '../examples/dns/server.js';
import { EngineTracker, lastCpu, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { cleanupLeftovers, netnsGate, TestBed } from './helpers/netns.js';
import { tempDir } from './helpers/pcap.js';

const gate = netnsGate();
const haveKnot = (() => {
  try {
    execFileSync('knotd', ['--version']);
    execFileSync('kdig', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
const slow = { timeout: 90_000 };
const ZONE = new URL('./fixtures/dns/example.test.zone', import.meta.url).pathname;
const KNOT_PORT = 5300;

/** The query corpus: kdig arguments after the server. */
const CORPUS: string[][] = [
  ['www.example.test', 'A'],
  ['WwW.ExAmPlE.TeSt', 'A'],
  ['EXAMPLE.TEST', 'SOA'],
  ['example.test', 'NS'],
  ['example.test', 'MX'],
  ['example.test', 'A'],
  ['example.test', 'AAAA'],
  ['example.test', 'TXT'],
  ['example.test', 'CAA'],
  ['example.test', 'ANY'],
  ['mixedcase.example.test', 'ANY'],
  ['www.example.test', 'CNAME'],
  ['chain.example.test', 'A'],
  ['chain.example.test', 'AAAA'],
  ['outside.example.test', 'A'],
  ['dangling.example.test', 'A'],
  ['loop1.example.test', 'A'],
  ['_sip._udp.example.test', 'SRV'],
  ['1.0.example.test', 'PTR'],
  ['txt.example.test', 'TXT'],
  ['ns1.example.test', 'AAAA'],
  ['ns2.example.test', 'A'],
  ['nope.example.test', 'A'],
  ['deep.nope.example.test', 'MX'],
  ['web.example.test', 'MX'],
  ['ent.example.test', 'A'],
  ['c.ent.example.test', 'TXT'],
  ['b.c.ent.example.test', 'A'],
  ['x.wild.example.test', 'A'],
  ['X.Y.WILD.example.test', 'TXT'],
  ['x.wild.example.test', 'MX'],
  ['wild.example.test', 'A'],
  ['exists.wild.example.test', 'A'],
  ['exists.wild.example.test', 'MX'],
  ['foo.wcname.example.test', 'A'],
  ['sub.example.test', 'A'],
  ['sub.example.test', 'NS'],
  ['deep.sub.example.test', 'AAAA'],
  ['ns.sub.example.test', 'A'],
  ['sub.example.test', 'DS'],
  ['example.com', 'A'],
  ['test', 'SOA'],
  ['example.test', 'TYPE999'],
  ['example.test', 'AXFR', '+notcp'],
  ['example.test', 'SOA', '+edns=1'],
  ['example.test', 'NS', '+dnssec'],
  ['example.test', 'NS', '+bufsize=0'],
  ['big.example.test', 'TXT', '+ignore'],
  ['big.example.test', 'TXT', '+bufsize=600', '+ignore'],
  ['big.example.test', 'TXT', '+bufsize=4096'],
  ['big.example.test', 'TXT', '+bufsize=511', '+ignore'],
  ['example.test', 'A', '+norec', '+cdflag'],
];

interface Parsed {
  header: string;
  edns: string;
  sections: Record<string, string[]>;
}

/** kdig's text output reduced to what is compared: status and flags, the EDNS line, each section's RRs sorted, lower case. */
function parse(out: string): Parsed {
  const lines = out.toLowerCase().split('\n');
  // kdig prints no sections for an answer with an error rcode to a transfer (AXFR): its error line stands for the header.
  const error = /server replied with error '(\w+)'/.exec(out.toLowerCase())?.[0];
  const header = error ?? [lines.find((l) => l.startsWith(';; ->>header<<-'))?.replace(/id: \d+/, ''), lines.find((l) => l.startsWith(';; flags:'))].join(' | ');
  const edns = lines.find((l) => l.startsWith(';; version:')) ?? '';
  const sections: Record<string, string[]> = {};
  let cur: string | undefined;
  for (const l of lines) {
    const m = /^;; (answer|authority|additional) section:/.exec(l);
    if (m) { cur = m[1]; sections[cur] = []; continue; }
    if (!l.trim() || l.startsWith(';;')) { cur = undefined; continue; }
    if (cur) sections[cur].push(l.trim().split(/\s+/).join(' '));
  }
  for (const k of Object.keys(sections)) sections[k].sort();
  return { header, edns, sections };
}

describe.skipIf(!gate.run || !haveKnot)('examples/dns against Knot DNS (af_xdp host in namespace B, knotd in A)', () => {
  let bed: TestBed;
  let knot: ChildProcess | undefined;
  const engines = new EngineTracker();
  const tmp = tempDir();

  const kdig = async (server: string, port: number, args: string[]) => {
    const r = await bed.exec('a', ['kdig', `@${server}`, '-p', String(port), '+retry=0', '+time=2', ...args]);
    return r.stdout + r.stderr;
  };

  beforeAll(async () => {
    bed = await TestBed.create({ isolateB: true, tag: 'dns' });
    await bed.disableTxChecksum('a');
    copyFileSync(ZONE, tmp.path('example.test.zone'));
    writeFileSync(
      tmp.path('knot.conf'),
      `server:\n  listen: 127.0.0.1@${KNOT_PORT}\n  rundir: ${tmp.dir}\n  identity: ""\n  nsid: ""\n` +
        `database:\n  storage: ${tmp.dir}/db\n` +
        `template:\n  - id: default\n    storage: ${tmp.dir}\n    zonefile-sync: -1\n    journal-content: none\n` +
        `zone:\n  - domain: example.test\n    file: example.test.zone\n` +
        `log:\n  - target: stderr\n    any: error\n`,
    );
    knot = bed.spawnIn('a', ['knotd', '-c', tmp.path('knot.conf')]);
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      up = /status: NOERROR/.test(await kdig('127.0.0.1', KNOT_PORT, ['example.test', 'SOA', '+time=1']));
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    expect(up, 'knotd answers').toBe(true);
  }, 60_000);
  afterEach(async () => {
    await engines.closeAll();
  });
  afterAll(async () => {
    if (knot?.pid) process.kill(knot.pid, 'SIGKILL');
    await engines.closeAll();
    await bed?.destroy();
    await cleanupLeftovers();
    tmp.cleanup();
  });

  async function serve(opts: { workers?: 'pipeline' | 'inline'; zone?: string } = {}) {
    const server = new DnsServer([opts.zone ?? ZONE]);
    const engine = await engines.create({ lcores: [lastCpu()] });
    const port = engine.addPort('p', { driver: 'af_xdp', interface: bed.iface('b'), netns: bed.ns('b') });
    const host = engine.host(port, { ipv4: `${bed.ipB}/24`, ipv6: `${bed.ip6B}/64` });
    const sock = opts.workers
      ? host.udpInWorkers({ port: 53, module: new URL('../dist/examples/dns/server.js', import.meta.url), mode: opts.workers, data: server.workerData(), counters: 32 })
      : host.udp({ port: 53 }, server.handler);
    await engine.start();
    return { server, engine, port, host, sock };
  }

  it('answers the corpus as Knot does, section by section, in both families', slow, async () => {
    const { engine, server, host } = await serve();
    const diffs: string[] = [];
    const run = async (q: string[], ours: string) => {
      const [k, l] = await Promise.all([kdig('127.0.0.1', KNOT_PORT, q), kdig(ours, 53, q)]);
      const pk = parse(k), pl = parse(l);
      if (!/status|error/.test(pk.header)) diffs.push(`${q.join(' ')}: knot gave no answer: ${k}`);
      if (JSON.stringify(pk) !== JSON.stringify(pl)) diffs.push(`${q.join(' ')}:\n knot ${JSON.stringify(pk)}\n ours ${JSON.stringify(pl)}`);
    };
    for (let i = 0; i < CORPUS.length; i += 6) await Promise.all(CORPUS.slice(i, i + 6).map((q) => run(q, bed.ipB)));
    for (const q of [CORPUS[1], CORPUS[22], CORPUS[29], CORPUS[36]]) await run(q, bed.ip6B);
    expect(diffs).toEqual([]);
    // Counters by rcode and type (main thread).
    const c = server.counters;
    expect(c[C.NXDOMAIN]).toBeGreaterThanOrEqual(2);
    expect(c[C.REFUSED]).toBe(2);
    expect(c[C.NOTIMP]).toBe(1);
    expect(c[C.BADVERS]).toBe(1);
    expect(c[C.TRUNCATED]).toBeGreaterThanOrEqual(3);
    expect(c[C.XFR]).toBe(1);
    expect(c[C.A]).toBeGreaterThanOrEqual(15);
    expect(host.stats().udpBadCsum).toBe(0);
    await stopAndCheckPool(engine);
  });

  it('gives malformed queries FORMERR or no answer, keeps serving, and leaks no mbuf', slow, async () => {
    const { engine, server } = await serve();
    // A raw client in A: sends each case, then a good query, and prints what came back as hex.
    const script = `
      const s = require('node:dgram').createSocket('udp4');
      const cases = JSON.parse(process.argv[1]).map((h) => Buffer.from(h, 'hex'));
      const got = [];
      s.on('message', (m) => got.push(m.toString('hex')));
      s.bind(0, () => { for (const c of cases) s.send(c, 53, '${bed.ipB}'); });
      setTimeout(() => { console.log(JSON.stringify(got)); process.exit(0); }, 1500);`;
    const hdr = (qd: number, ar = 0) => `abcd0100${qd.toString(16).padStart(4, '0')}00000000${ar.toString(16).padStart(4, '0')}`;
    const q = (name: string) => name.split('.').map((l) => l.length.toString(16).padStart(2, '0') + Buffer.from(l).toString('hex')).join('') + '00' + '00010001';
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    const random = Array.from({ length: 40 }, (_, k) => Buffer.from(Array.from({ length: 12 + (k * 7) % 90 }, rnd)).toString('hex'));
    const cases = [
      hdr(1) + '07657861',                                  // truncated name
      hdr(1) + 'c00c00010001',                              // pointer loop in the question
      hdr(1) + '40' + '61'.repeat(64) + '0000010001',       // label > 63
      hdr(1) + ('3f' + '61'.repeat(63)).repeat(5) + '0000010001', // name > 255
      hdr(0),                                               // QDCOUNT 0
      hdr(2) + q('a.example.test') + q('b.example.test'),   // QDCOUNT 2
      hdr(1, 2) + q('example.test') + '0000290200000000000000' + '0000290200000000000000', // two OPTs
      '0102',                                               // shorter than a header: no answer
    ];
    const send = async (list: string[]) => {
      const r = await bed.exec('a', [process.execPath, '-e', script, JSON.stringify(list)], { timeoutMs: 10_000 });
      return JSON.parse(r.stdout.trim() || '[]') as string[];
    };
    const replies = await send(cases);
    expect(replies.length).toBe(7);
    for (const h of replies) expect(parseInt(h.slice(6, 8), 16) & 0x0f, h).toBe(1); // FORMERR
    expect(server.counters[C.FORMERR]).toBe(7);
    expect(server.counters[C.DROPPED]).toBe(1);
    // Random bytes: whatever is answered is a response (QR) with our ID; the server lives on.
    for (const h of await send(random)) expect(random.some((c) => c.slice(0, 4) === h.slice(0, 4)) && (parseInt(h.slice(4, 6), 16) & 0x80) !== 0, h).toBe(true);
    expect(await kdig(bed.ipB, 53, ['example.test', 'SOA'])).toMatch(/status: NOERROR/);
    await stopAndCheckPool(engine);
  });

  for (const mode of ['pipeline', 'inline'] as const) {
    it(`serves from ${mode} workers and reloads them; a bad reload keeps the old zone`, slow, async () => {
      const file = tmp.path(`reload-${mode}.zone`);
      const zone = (a: string) => `$ORIGIN r.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n  NS ns\nns A 198.18.0.1\nhost A ${a}\n`;
      writeFileSync(file, zone('198.18.0.10'));
      const { engine, server, port } = await serve({ workers: mode, zone: file });
      expect(await kdig(bed.ipB, 53, ['host.r.test', 'A', '+short'])).toContain('198.18.0.10');
      writeFileSync(file, zone('198.18.0.11'));
      expect(server.reload(engine.workerCounters(port))).toMatchObject({ ok: true });
      expect(await kdig(bed.ipB, 53, ['host.r.test', 'A', '+short'])).toContain('198.18.0.11');
      await waitFor(() => engine.workerCounters(port).every((c) => c[C.GENERATION] === 1));
      writeFileSync(file, `${zone('198.18.0.12')}bad A 999.1.1.1\n`);
      const bad = server.reload(engine.workerCounters(port));
      expect(bad).toMatchObject({ ok: false, error: expect.stringMatching(/reload-.*\.zone:7: '999\.1\.1\.1' is not an IPv4 address/) });
      expect(await kdig(bed.ipB, 53, ['host.r.test', 'A', '+short'])).toContain('198.18.0.11');
      const counted = engine.workerCounters(port).reduce((a, c) => a + c[C.NOERROR], 0);
      expect(counted).toBeGreaterThanOrEqual(3);
      await stopAndCheckPool(engine);
    });
  }
});

describe.skipIf(!gate.run || !haveKnot)("examples/dns/main with --owner kernel: UDP on af_xdp, TCP from the kernel's socket", () => {
  let bed: TestBed;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    bed = await TestBed.create({ tag: 'dnsk' }); // B's kernel owns 198.18.0.2 and fd00:198:18::2
    await bed.disableTxChecksum('a');
    await bed.disableTxChecksum('b');
  }, 60_000);
  afterAll(async () => {
    if (child?.pid && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await bed?.destroy();
    await cleanupLeftovers();
  });

  it('answers UDP through af_xdp and TCP through the kernel; a truncated answer is retried over TCP', slow, async () => {
    // The whole server runs inside B, so its TCP listener is in B's stack.
    const main = new URL('../dist/examples/dns/main.js', import.meta.url).pathname;
    child = bed.spawnIn('b', [process.execPath, main, '--zone', ZONE, '--driver', 'af_xdp', '--interface', bed.iface('b'),
      '--ipv4', `${bed.ipB}/24`, '--ipv6', `${bed.ip6B}/64`, '--owner', 'kernel', '--lcores', String(lastCpu()), '--hugepages', 'off', '--mbufs', '4096']);
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    child.stderr!.on('data', (d) => (out += String(d)));
    const exited = new Promise<number | null>((r) => child!.once('exit', r));
    expect(await waitFor(() => out.includes('dns over tcp'), 20_000), out).toBe(true);
    const dig = async (args: string[]) => (await bed.exec('a', ['kdig', `@${bed.ipB}`, '+retry=0', '+time=2', ...args])).stdout;
    expect(await dig(['www.example.test', 'A', '+notcp'])).toMatch(/status: NOERROR[\s\S]*198\.18\.0\.80/);
    expect(await dig(['www.example.test', 'A', '+tcp'])).toMatch(/status: NOERROR[\s\S]*198\.18\.0\.81[\s\S]*\(TCP\)/);
    const big = await dig(['big.example.test', 'TXT']); // TC over UDP (512), then kdig asks again over TCP
    expect(big).toMatch(/ANSWER: 7/);
    expect(big).toMatch(/\(TCP\)/);
    expect((await bed.ping('a', bed.ipB, 2)).received).toBe(2); // the kernel's
    child.kill('SIGINT');
    expect(await exited, out).toBe(0);
    expect(out).toMatch(/mempool: (\d+)\/\1 mbufs back in the pool/);
    expect(await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.iface('b')])).not.toContain('prog/xdp');
  });
});
