// linerate/metrics: the engine's counters in a prom-client registry, read at scrape time, and the examples'
// --metrics endpoint, its text checked by promtool (Debian's prometheus package) or, where promtool is not
// installed, by the exposition-format checker below (promtool is required under CI=true).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { collectMetrics } from '../src/metrics.js';
import { lastCpu, perTestBed, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { tempDir } from './helpers/pcap.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { engines } = perTestBed();
const tmp = tempDir('linerate-metrics-');
afterAll(() => tmp.cleanup());

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
interface Parsed {
  types: Map<string, string>;
  samples: Sample[];
}

/**
 * Parses Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats) strictly:
 * every sample belongs to a family declared by # TYPE before it, names and labels are well formed, values are
 * numbers, no series appears twice, and counters' samples end in _total. Throws on the first violation.
 */
function parseExposition(text: string): Parsed {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const sampleRe = new RegExp(`^(${name})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(?:,|$)/gy;
  text.split('\n').forEach((line, i) => {
    const where = `line ${i + 1}: ${line}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${name})(?: (.*))?$`).exec(line);
      if (!m) throw new Error(`bad comment, ${where}`);
      if (m[1] === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(m[3] ?? '')) throw new Error(`bad type, ${where}`);
        if (types.has(m[2]!)) throw new Error(`family declared twice, ${where}`);
        types.set(m[2]!, m[3]!);
      }
      return;
    }
    const m = sampleRe.exec(line);
    if (!m) throw new Error(`bad sample, ${where}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      labelRe.lastIndex = 0;
      let consumed = 0;
      for (let l; (l = labelRe.exec(m[2])); consumed = labelRe.lastIndex) {
        if (l[1]! in labels) throw new Error(`label twice, ${where}`);
        labels[l[1]!] = l[2]!;
      }
      if (consumed !== m[2].length) throw new Error(`bad labels, ${where}`);
    }
    const value = Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value, ${where}`);
    const type = types.get(m[1]!);
    if (!type) throw new Error(`sample before its # TYPE, ${where}`);
    if (type === 'counter' && !m[1]!.endsWith('_total')) throw new Error(`counter without _total, ${where}`);
    const key = `${m[1]}{${Object.entries(labels).sort().join(',')}}`;
    if (seen.has(key)) throw new Error(`series twice, ${where}`);
    seen.add(key);
    samples.push({ name: m[1]!, labels, value });
  });
  return { types, samples };
}

const hasPromtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;

/** promtool check metrics when installed (required under CI=true), and always the strict parse above. */
function validate(text: string): Parsed {
  if (hasPromtool) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(r.status, `promtool check metrics: ${r.stdout}${r.stderr}`).toBe(0);
  } else {
    expect(process.env.CI, 'promtool is required under CI=true (apt-get install prometheus)').not.toBe('true');
    console.log('metrics: promtool not installed (apt-get install prometheus); checking the text with the parser in this test only');
  }
  return parseExposition(text);
}

const value = (p: Parsed, name: string, labels: Record<string, string> = {}) =>
  p.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

describe('collectMetrics', () => {
  it('ports, queues, drops, lcores, mempool, handlers and the host layer, with the right types, read at scrape time', async () => {
    const e = await engines.create();
    const src = e.addPort('src', { driver: 'null', packetSize: 64, rate: 50_000 });
    const sink = e.addPort('sink', { driver: 'null' });
    e.forward(src, sink);
    const h = e.addPort('h', { driver: 'null', packetSize: 64, rate: 1_000 });
    let handled = 0;
    e.handle(h, (b) => void (handled += b.count));
    const hp = e.addPort('hp', { driver: 'null', rate: 1_000 });
    e.host(hp, { ipv4: '198.18.0.2/24' }).udp({ port: 7 }, () => {});
    const registry = new Registry();
    const m = collectMetrics(e, { registry });
    await e.start();
    await waitFor(() => handled > 0 && e.stats().ports.sink!.txPackets > 0);
    const first = validate(await registry.metrics());
    // Nothing ran between scrapes; the second scrape reads the counters again.
    await waitFor(() => e.stats().ports.sink!.txPackets > value(first, 'linerate_port_tx_packets_total', { port: 'sink' })!);
    const second = validate(await registry.metrics());
    expect(value(second, 'linerate_port_tx_packets_total', { port: 'sink' })).toBeGreaterThan(value(first, 'linerate_port_tx_packets_total', { port: 'sink' })!);
    await stopAndCheckPool(e);

    const p = validate(await registry.metrics());
    const s = e.stats();
    const types = Object.fromEntries(p.types);
    expect(types).toMatchObject({
      linerate_port_rx_packets_total: 'counter',
      linerate_port_tx_bytes_total: 'counter',
      linerate_port_drops_total: 'counter',
      linerate_port_link_up: 'gauge',
      linerate_rx_queue_packets_total: 'counter',
      linerate_tx_queue_drops_total: 'counter',
      linerate_lcore_busy_percent: 'gauge',
      linerate_lcore_loops_total: 'counter',
      linerate_mempool_free_mbufs: 'gauge',
      linerate_mempool_in_use_mbufs: 'gauge',
      linerate_handler_packets_total: 'counter',
      linerate_host_arp_requests_in_total: 'counter',
      linerate_host_not_ours_total: 'counter',
      linerate_host_socket_rx_total: 'counter',
      linerate_warnings_active: 'gauge',
    });
    expect(value(p, 'linerate_port_rx_packets_total', { port: 'src' })).toBe(s.ports.src!.rxPackets);
    expect(value(p, 'linerate_port_tx_bytes_total', { port: 'sink' })).toBe(s.ports.sink!.txBytes);
    expect(value(p, 'linerate_port_drops_total', { port: 'src', reason: 'no_mbuf' })).toBe(s.ports.src!.drops.noMbuf);
    expect(value(p, 'linerate_port_info', { port: 'hp', driver: 'null' })).toBe(1);
    expect(value(p, 'linerate_rx_queue_packets_total', { port: 'src', queue: '0' })).toBe(s.ports.src!.queues.rx[0]!.packets);
    expect(value(p, 'linerate_lcore_loops_total', { lcore: '0', cpu: String(lastCpu()) })).toBe(s.lcores[0]!.loops);
    expect(value(p, 'linerate_mempool_free_mbufs')).toBe(s.mempool.free.total);
    expect(value(p, 'linerate_mempool_in_use_mbufs', { owner: 'driver' })).toBe(0);
    expect(value(p, 'linerate_handler_packets_total', { port: 'h' })).toBe(s.ports.h!.handler!.packets);
    expect(value(p, 'linerate_handler_verdicts_total', { port: 'h', verdict: 'dropped' })).toBe(s.ports.h!.handler!.dropped);
    const host = e.hostList()[0]!.stats();
    expect(host.notOurs).toBeGreaterThan(0);
    expect(value(p, 'linerate_host_not_ours_total', { port: 'hp' })).toBe(host.notOurs);
    expect(value(p, 'linerate_host_socket_rx_total', { port: 'hp', udp_port: '7' })).toBe(0);

    // A closed engine gives no samples, and the scrape does not fail.
    await e.close();
    const closed = validate(await registry.metrics());
    expect(value(closed, 'linerate_port_rx_packets_total', { port: 'src' })).toBeUndefined();
    m.unregister();
    expect((await registry.metrics()).trim()).toBe('');
  });

  it('two engines in one registry need different prefixes', async () => {
    const registry = new Registry();
    const a = await engines.create();
    const b = await engines.create();
    collectMetrics(a, { registry });
    expect(() => collectMetrics(b, { registry })).toThrow(/already been registered/);
    const m = collectMetrics(b, { registry, prefix: 'second_' });
    expect(m.names).toContain('second_port_rx_packets_total');
    expect(() => collectMetrics(b, { registry, prefix: '9bad' })).toThrow(/prefix/);
  });

  it("is the package's ./metrics export (import { collectMetrics } from 'linerate/metrics')", () => {
    const code = `import('linerate/metrics').then((m) => console.log(typeof m.collectMetrics));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.stdout.trim(), r.stderr).toBe('function');
  });

  it('without prom-client installed: MISSING_DEPENDENCY naming the install command', () => {
    const project = tmp.path('no-prom');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    cpSync(join(root, 'dist', 'src'), join(project, 'dist', 'src'), { recursive: true });
    symlinkSync(join(root, 'node_modules', 'node-gyp-build'), join(project, 'node_modules', 'node-gyp-build'));
    const code = `import('./dist/src/metrics.js').then((m) => { try { m.collectMetrics({}); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); } });`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: project, encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const err = JSON.parse(r.stdout.trim());
    expect(err.code).toBe('MISSING_DEPENDENCY');
    expect(err.message).toContain('npm install prom-client');
  });
});

/** Runs an example with --metrics 127.0.0.1:0, scrapes /metrics once, then lets it finish; returns the text. */
async function scrapeExample(name: string, args: string[]): Promise<{ text: string; code: number | null; out: string; notFound: number }> {
  const child = spawn(process.execPath, [join(root, 'dist', 'examples', `${name}.js`), ...args, '--metrics', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  try {
    expect(await waitFor(() => /metrics: (http:\S+)/.test(out), 20_000), out).toBe(true);
    const url = /metrics: (http:\S+)/.exec(out)![1]!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    const notFound = (await fetch(url.replace('/metrics', '/other'))).status;
    return { text, code: await exited, out, notFound };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('examples --metrics', { timeout: 60_000 }, () => {
  it('l2fwd serves /metrics on loopback while it runs; promtool accepts the text', async () => {
    const r = await scrapeExample('l2fwd', ['--seconds', '2', '--lcores', String(lastCpu()), '--hugepages', 'off', '--mbufs', '4096', '--idle', 'adaptive']);
    expect(r.code, r.out).toBe(0);
    expect(r.notFound).toBe(404);
    const p = validate(r.text);
    expect(p.samples.some((s) => s.name === 'linerate_port_tx_packets_total' && s.labels.port === 'b')).toBe(true);
    expect(p.samples.some((s) => s.name === 'linerate_lcore_busy_percent')).toBe(true);
  });

  it('udp-echo serves the host layer counters', async () => {
    const r = await scrapeExample('udp-echo', ['--seconds', '2', '--lcores', String(lastCpu()), '--hugepages', 'off', '--mbufs', '4096', '--idle', 'adaptive']);
    expect(r.code, r.out).toBe(0);
    const p = validate(r.text);
    expect(p.samples.some((s) => s.name === 'linerate_host_udp_in_total' && s.labels.port === 'p')).toBe(true);
    expect(p.samples.some((s) => s.name === 'linerate_host_socket_rx_total' && s.labels.udp_port === '7')).toBe(true);
  });

  it('a bad --metrics address is refused with the usage', () => {
    const r = spawnSync(process.execPath, [join(root, 'dist', 'examples', 'echo.js'), '--metrics', 'nope:port', '--seconds', '1', '--hugepages', 'off'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).not.toBe(0);
    expect(`${r.stdout}${r.stderr}`).toContain('--metrics must be [HOST:]PORT');
  });
});
