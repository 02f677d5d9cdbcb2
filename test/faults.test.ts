// Faults survived (issue 14, docs/reliability.md "Faults"): what happens when the
// process is killed mid-traffic, the interface goes down and up, the namespace
// is deleted under a running port, a handler worker hangs, and an example gets
// SIGTERM mid-traffic. Each test makes the fault happen and checks the outcome:
// counters, warnings, nothing left attached, every mbuf back in the pool.
// The af_xdp ones run as root on a veth bed (always under CI=true).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Engine, EngineWarning } from '../src/index.js';
import { addonLocation, childScript } from './helpers/child.js';
import { EngineTracker, lastCpu, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { cleanupLeftovers, namespacesWithPrefix, netnsGate, repoRoot, run, TestBed } from './helpers/netns.js';

const gate = netnsGate();
const engines = new EngineTracker();
const beds: TestBed[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await engines.closeAll();
  for (const b of beds.splice(0)) await b.destroy();
});
afterAll(() => cleanupLeftovers());

const slow = { timeout: 90_000 };
const payloads = (n: number, tag: string) => Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i}`));

async function xdpAttached(bed: TestBed): Promise<boolean> {
  return (await bed.sh('b', ['ip', '-d', 'link', 'show', 'dev', bed.ifB])).includes('prog/xdp');
}
/** XDP sockets open in B's namespace (the XDP line of /proc/net/protocols). */
async function xdpSockets(bed: TestBed): Promise<number> {
  const line = (await bed.sh('b', ['cat', '/proc/net/protocols'])).split('\n').find((l) => /^XDP\s/.test(l));
  return line ? Number(line.trim().split(/\s+/)[2]) : 0;
}

/** A bed whose B end linerate owns, A's kernel able to reach it (static neighbour, finished checksums). */
async function xdpBed(tag: string): Promise<TestBed> {
  const b = await TestBed.create({ queues: 1, addressB: false, tag });
  beds.push(b);
  await b.disableTxChecksum('a');
  await b.setNeighbor('a', b.ipB, b.macB);
  return b;
}

/**
 * A child process (the native addon, no JS engine around it) holding one port, echoing on it, until it is
 * killed: `port` is the addPort arguments as JS source (name, driver, options). Returns once it prints ready
 * (if it exits first, the test fails with its output).
 */
async function portHolder(mbufs: number, port: string): Promise<ChildProcess> {
  const script = childScript(`
      const e = new addon.NativeEngine([${lastCpu()}], { mbufs: ${mbufs}, hugepages: 'off', idle: 'adaptive' });
      const id = e.addPort(${port}, 1, undefined, false);
      e.echo(id);
      e.start();
      console.log('ready');
      setInterval(() => {}, 1000);`);
  const c = spawn(process.execPath, ['-e', script, addonLocation()], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  c.stdout!.on('data', (d) => (out += d));
  c.stderr!.on('data', (d) => (out += d));
  expect(await waitFor(() => out.includes('ready') || c.exitCode !== null, 15_000), out).toBe(true);
  return c;
}

/**
 * UDP from A to B's address, as fast as a kernel socket sends, until killed. `echoed()` is how many came back so
 * far (the flood prints its count every 50 ms), so a test can wait until traffic really flows.
 */
function flood(b: TestBed, port: number): { child: ChildProcess; echoed: () => number; log: () => string } {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    let rx = 0;
    const m = Buffer.alloc(64, 0x61);
    s.on('message', () => rx++);
    s.on('error', (e) => console.error(String(e)));
    const go = () => { for (let i = 0; i < 32; i++) s.send(m, ${port}, '${b.ipB}'); setTimeout(go, 1); };
    s.bind(0, '${b.ipA}', go);
    setInterval(() => console.log('rx ' + rx), 50);`;
  const c = spawn('ip', ['netns', 'exec', b.nsA, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  let rx = 0;
  c.stdout!.on('data', (d) => {
    out += d;
    const m = /rx (\d+)\n$/.exec(out);
    if (m) rx = Number(m[1]);
    if (out.length > 4096) out = out.slice(-1024);
  });
  c.stderr!.on('data', (d) => (out += d));
  return { child: c, echoed: () => rx, log: () => out };
}

describe.skipIf(!gate.run)('faults on an af_xdp port', () => {
  it('kill -9 mid-traffic: no XDP program, no XDP socket, no BPF link left; a second start on the interface works', slow, async () => {
    const b = await xdpBed('kill');
    const c = await portHolder(2048, `'k', 'af_xdp', { interface: '${b.ifB}', netns: '${b.nsB}' }`);
    expect(await xdpAttached(b)).toBe(true);
    // Traffic in flight: echoes are coming back when the process dies.
    const f = flood(b, 7800);
    expect(await waitFor(() => f.echoed() > 100, 15_000), f.log()).toBe(true);
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    f.child.kill('SIGKILL');
    // The BPF link (and with it the program) and the XDP sockets die with the process's last fds.
    expect(await waitFor(async () => !(await xdpAttached(b)) && (await xdpSockets(b)) === 0, 5000)).toBe(true);
    // A second start on the same interface attaches and serves.
    const e = await engines.create();
    e.echo(e.addPort('again', { driver: 'af_xdp', interface: b.ifB, netns: b.nsB }));
    await e.start();
    expect((await b.udpExchange({ port: 7802, payloads: payloads(5, 'again') })).length).toBe(5);
    await stopAndCheckPool(e);
    expect(await xdpAttached(b)).toBe(false);
  });

  it('the interface goes down and up while running: linkUp false and LINK_DOWN, then it resumes; pool whole', slow, async () => {
    const b = await xdpBed('updown');
    const e = await engines.create({ warnings: { intervalMs: 100 } });
    const raised: EngineWarning[] = [];
    const cleared: EngineWarning[] = [];
    e.on('warning', (w: EngineWarning) => raised.push(w));
    e.on('warningCleared', (w: EngineWarning) => cleared.push(w));
    const p = e.addPort('u', { driver: 'af_xdp', interface: b.ifB, netns: b.nsB });
    e.echo(p);
    await e.start();
    expect((await b.udpExchange({ port: 7810, payloads: payloads(5, 'before') })).length).toBe(5);
    await b.sh('b', ['ip', 'link', 'set', 'dev', b.ifB, 'down']);
    expect(await waitFor(() => !p.stats().linkUp, 3000)).toBe(true);
    expect(await waitFor(() => raised.some((w) => w.code === 'LINK_DOWN' && w.port === 'u'), 3000)).toBe(true);
    await b.sh('b', ['ip', 'link', 'set', 'dev', b.ifB, 'up']);
    expect(await waitFor(() => p.stats().linkUp, 3000)).toBe(true);
    expect(await waitFor(() => cleared.some((w) => w.code === 'LINK_DOWN' && w.port === 'u'), 3000)).toBe(true);
    // The program stayed attached and the socket bound: echoes resume with no restart.
    expect(await xdpAttached(b)).toBe(true);
    const after = await b.udpExchange({ port: 7811, payloads: payloads(5, 'after'), timeoutMs: 5000 });
    expect(after.map((x) => x.data.toString())).toEqual(payloads(5, 'after').map(String));
    await stopAndCheckPool(e);
  });

  it('the namespace is deleted under a running port: it lives on unnamed while the port holds it, the port serves on, and stop and close let it go with its veth pair', slow, async () => {
    const b = await xdpBed('nsdel');
    const e = await engines.create();
    const p = e.addPort('n', { driver: 'af_xdp', interface: b.ifB, netns: b.nsB });
    e.echo(p);
    await e.start();
    expect((await b.udpExchange({ port: 7820, payloads: payloads(3, 'before') })).length).toBe(3);
    // `ip netns del` removes the name (the bind mount); the kernel frees a namespace only when nothing refers to it,
    // and the port's XDP sockets do (as would a process inside it). So the device, its program and the socket stay.
    const del = await run('ip', ['netns', 'del', b.nsB]);
    expect(del.code, del.stderr).toBe(0);
    expect(namespacesWithPrefix(`${b.name}-b`)).toEqual([]);
    const after = await b.udpExchange({ port: 7821, payloads: payloads(3, 'unnamed'), timeoutMs: 5000 });
    expect(after.map((x) => x.data.toString())).toEqual(payloads(3, 'unnamed').map(String));
    expect(p.stats().linkUp).toBe(true);
    await stopAndCheckPool(e);
    await e.close();
    // The last reference gone, the namespace is freed, and its veth end with it, which takes A's end along.
    const gone = async () => (await run('ip', ['-n', b.nsA, 'link', 'show', 'dev', b.ifA])).code !== 0;
    expect(await waitFor(gone, 5000)).toBe(true);
  });
});

describe.skipIf(!gate.run)('faults on a tap port', () => {
  it('kill -9 while running, after traffic through it: the TAP device goes with the process (it is not persistent); a second start creates it again', slow, async () => {
    const b = await TestBed.create({ tag: 'tapkill' });
    beds.push(b);
    const c = await portHolder(1024, `'t', 'tap', { interface: 'lrt-tapk', netns: '${b.nsB}', mac: '02:4c:52:00:00:aa' }`);
    expect(await b.links('b')).toContain('lrt-tapk');
    // Traffic through the TAP (B's kernel to a static neighbour behind it, echoed back), then the kill.
    await b.sh('b', ['ip', 'addr', 'add', '198.18.1.1/24', 'dev', 'lrt-tapk']);
    await b.sh('b', ['ip', 'neigh', 'replace', '198.18.1.2', 'lladdr', '02:4c:52:00:00:bb', 'dev', 'lrt-tapk', 'nud', 'permanent']);
    const echoed = await b.udpExchange({ side: 'b', bind: '198.18.1.1', to: '198.18.1.2', port: 4444, payloads: payloads(3, 'tap') });
    expect(echoed.length).toBe(3);
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    expect(await waitFor(async () => !(await b.links('b')).includes('lrt-tapk'), 5000)).toBe(true);
    const e = await engines.create();
    e.echo(e.addPort('t2', { driver: 'tap', interface: 'lrt-tapk', netns: b.nsB }));
    await e.start();
    expect(await b.links('b')).toContain('lrt-tapk');
    await stopAndCheckPool(e);
    await e.close();
    expect(await b.links('b')).not.toContain('lrt-tapk');
  });
});

describe('a handler worker that hangs', () => {
  it('pipeline: HANDLER_RING_FULL raised, what piles up dropped and counted (handlerRingFull), stop() ends it, pool whole', async () => {
    const e: Engine = await engines.create({ warnings: { intervalMs: 100 } });
    const raised: EngineWarning[] = [];
    e.on('warning', (w: EngineWarning) => raised.push(w));
    const p = e.addPort('h', { driver: 'null', packetSize: 64, rate: 50_000 });
    e.handleInWorkers(p, { module: new URL('./fixtures/hang.mjs', import.meta.url), mode: 'pipeline', ringSize: 256 });
    await e.start();
    expect(await waitFor(() => raised.some((w) => w.code === 'HANDLER_RING_FULL' && w.port === 'h' && w.queue === 0), 10_000)).toBe(true);
    expect(await waitFor(() => e.stats().ports.h!.drops.handlerRingFull > 0, 5000)).toBe(true);
    const d0 = e.stats().ports.h!.drops.handlerRingFull;
    expect(await waitFor(() => e.stats().ports.h!.drops.handlerRingFull > d0, 5000)).toBe(true);
    // stop() waits its grace period for the worker, then terminates it and takes back every mbuf.
    await stopAndCheckPool(e);
  });

  it('inline: WORKER_STALLED raised for its queue (the queue is not polled meanwhile), stop() ends it, pool whole; a healthy idle one raises nothing', async () => {
    const e: Engine = await engines.create({ warnings: { intervalMs: 100, workerStallSeconds: 0.5 } });
    const raised: EngineWarning[] = [];
    e.on('warning', (w: EngineWarning) => raised.push(w));
    // Queue h: the handler spins forever on its first burst. Queue q: a worker that gets no traffic at all (idle is not a stall).
    const h = e.addPort('h', { driver: 'null', packetSize: 64, rate: 50_000 });
    const q = e.addPort('q', { driver: 'ring', wire: 'quiet' });
    e.handleInWorkers(h, { module: new URL('./fixtures/hang.mjs', import.meta.url), mode: 'inline' });
    e.handleInWorkers(q, { module: new URL('./fixtures/hang.mjs', import.meta.url), mode: 'inline' });
    await e.start();
    expect(await waitFor(() => raised.some((w) => w.code === 'WORKER_STALLED'), 10_000)).toBe(true);
    const w = raised.find((x) => x.code === 'WORKER_STALLED')!;
    expect(w).toMatchObject({ code: 'WORKER_STALLED', key: 'WORKER_STALLED:h:0', port: 'h', queue: 0 });
    expect(w.message).toContain("port 'h' queue 0 has not returned from its handler");
    // The hung queue receives nothing more: its one burst is all.
    const rx = e.stats().ports.h!.rxPackets;
    await new Promise((r) => setTimeout(r, 300));
    expect(e.stats().ports.h!.rxPackets).toBe(rx);
    expect(raised.filter((x) => x.code === 'WORKER_STALLED').map((x) => x.port)).toEqual(['h']);
    await stopAndCheckPool(e);
    expect(e.warnings()).toEqual([]);
  });
});

describe.skipIf(!gate.run)('SIGTERM mid-traffic in the examples', { timeout: 90_000 }, () => {
  it('udp-echo (af_xdp, inline worker) under a UDP flood: exits 0, prints the pool count, every mbuf back', async () => {
    const b = await TestBed.create({ addressB: false, tag: 'term' });
    beds.push(b);
    await b.disableTxChecksum('a');
    const c = spawn(
      process.execPath,
      [join(repoRoot, 'dist', 'examples', 'udp-echo.js'), '--driver', 'af_xdp', '--interface', b.ifB, '--netns', b.nsB, '--lcores', String(lastCpu()), '--hugepages', 'off', '--ipv4', `${b.ipB}/24`, '--workers', '1', '--mode', 'inline'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(c);
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
    expect(await waitFor(() => /\[1s\]/.test(out) || c.exitCode !== null, 20_000), out).toBe(true);
    // The kernel in A resolves B through linerate's ARP, then the flood runs while the signal arrives.
    expect((await b.udpExchange({ port: 7, payloads: payloads(3, 'warm'), timeoutMs: 5000 })).length).toBe(3);
    const f = flood(b, 7);
    expect(await waitFor(() => f.echoed() > 100, 15_000), f.log()).toBe(true);
    c.kill('SIGTERM');
    const code = await exited;
    f.child.kill('SIGKILL');
    expect(code, out).toBe(0);
    const m = /mempool: (\d+)\/(\d+) mbufs back in the pool/.exec(out);
    expect(m, out).not.toBeNull();
    expect(m![1]).toBe(m![2]);
    expect(out).toMatch(/"udpReplies":[1-9]\d{2,}/);
  });
});
