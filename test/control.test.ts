// The control socket (src/control/, docs/control.md) and the tools on it: every running engine answers info, stats
// and warnings on <dir>/<pid>-<name>.sock; `linerate ls`, `stats`, `doctor --engine` and `top` read it from another
// process. Engines here use null and ring ports (no root needed) and a control directory of their own (the test's
// temp dir), so engines of other processes on this host are never seen.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { ControlClient, Engine, findEngine, listEngines, registerCommand, unregisterCommand, type ControlEvent } from '../src/index.js';
import { expectError, perTestBed, stopAndCheckPool, waitFor } from './helpers/engine.js';
import { udp4 } from './helpers/frames.js';
import { renderFrame, si } from '../src/cli/frame.js';
import { controlDir, defaultEngineName } from '../src/control/dir.js';
import { tmpdir } from 'node:os';

const { engines, tmp } = perTestBed();
const MAIN = new URL('../dist/src/cli/main.js', import.meta.url).pathname;

/** An engine named `name` forwarding null port 'a' to null port 'b' (counters move), its socket in the test's dir. */
async function forwarding(name: string, extra: Parameters<typeof engines.create>[0] = {}): Promise<Engine> {
  const e = await engines.create({ name, control: { dir: tmp.dir }, ...extra });
  e.forward(e.addPort('a', { driver: 'null' }), e.addPort('b', { driver: 'null' }));
  return e;
}

const e0cpu = () => { const c = Engine.hostInfo().allowedCpus; return c[c.length - 1]; };
const sockPath = (name: string) => join(tmp.dir, `${process.pid}-${name}.sock`);

/** Runs the linerate CLI in a child process (async: this process's main thread must stay free to answer it). */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, LINERATE_CONTROL_DIR: tmp.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Sends raw lines on a fresh connection and collects what comes back until the engine closes it or `ms` pass. */
function raw(path: string, data: string, ms = 1000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(path);
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (got += d));
    const t = setTimeout(() => s.destroy(), ms);
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
    s.on('connect', () => s.write(data));
  });
}

describe('control socket', () => {
  it('info, stats and an unknown command; socket 0600 in a 0700 dir, removed at stop', async () => {
    const e = await forwarding('ctl1');
    expect(existsSync(sockPath('ctl1')), 'no socket before start').toBe(false);
    await e.start();
    const path = sockPath('ctl1');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(tmp.dir).mode & 0o777).toBe(0o700);
    const c = await ControlClient.connect(path);
    const info = await c.info();
    expect(info).toMatchObject({ protocol: 1, pid: process.pid, name: 'ctl1', state: 'running', drivers: ['null'], lcores: [{ index: 0 }] });
    expect(info.ports.map((p) => [p.name, p.driver])).toEqual([['a', 'null'], ['b', 'null']]);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.commands).toEqual(expect.arrayContaining(['info', 'stats', 'warnings', 'subscribe']));
    await waitFor(() => e.stats().ports.b!.txPackets > 0);
    const s = await c.stats();
    expect(s.ports.b!.txPackets).toBeGreaterThan(0);
    expect(s.ports.a!.queues.rx[0]!.packets).toBeGreaterThan(0);
    expect(Object.keys(s.ports.a!.drops)).toEqual(expect.arrayContaining(['txFull', 'noMbuf', 'handlerRingFull']));
    expect(s.lcores[0]!.runNs, 'schedstat of the running lcore').toBeGreaterThan(0);
    expect(s.mempool.size).toBe(4096);
    expect(s).toMatchObject({ handlerRings: [], hosts: {}, warnings: [] });
    const err = await c.request('no-such-command').catch((x: unknown) => x);
    expect(err).toMatchObject({ code: 'UNKNOWN_COMMAND' });
    expect((err as Error).message).toContain('stats');
    // Bad lines get BAD_REQUEST replies; the connection survives a bad request.
    const replies = (await raw(path, 'not json\n{"id":7}\n{"id":8,"cmd":"info"}\n', 500)).trim().split('\n').map((l) => JSON.parse(l));
    expect(replies.map((r) => [r.id, r.ok, r.error?.code])).toEqual([[null, false, 'BAD_REQUEST'], [7, false, 'BAD_REQUEST'], [8, true, undefined]]);
    c.close();
    await stopAndCheckPool(e);
    expect(existsSync(path), 'socket removed at stop').toBe(false);
  });

  it('a request line past 64 KiB is refused and the connection closed; the engine keeps answering', async () => {
    const e = await forwarding('ctl2');
    await e.start();
    const got = await raw(sockPath('ctl2'), 'x'.repeat(70 * 1024), 3000);
    expect(JSON.parse(got.trim())).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const c = await ControlClient.connect(sockPath('ctl2'));
    expect((await c.info()).name).toBe('ctl2');
    c.close();
  });

  it('warnings keeps raised ones; subscribe lists the active ones, streams new ones, and says when the engine stops', async () => {
    const e = await engines.create({ name: 'ctl3', control: { dir: tmp.dir }, warnings: { intervalMs: 100, idleRxSeconds: 0.5 } });
    // 'lonely' has no other end on its wire (LINK_DOWN at start); 'quiet' is up and polled but nobody sends (NO_RX later).
    e.echo(e.addPort('lonely', { driver: 'ring', wire: 'lrt-ctl-lonely' }));
    e.echo(e.addPort('quiet', { driver: 'ring', wire: 'lrt-ctl-quiet' }));
    e.addPort('peer', { driver: 'ring', wire: 'lrt-ctl-quiet' });
    e.on('warning', () => {});
    await e.start();
    const c = await ControlClient.connect(sockPath('ctl3'));
    const events: ControlEvent[] = [];
    c.onEvent = (ev) => events.push(ev);
    const sub = await c.request<{ active: { key: string }[] }>('subscribe');
    expect(sub.active.map((w) => w.key)).toContain('LINK_DOWN:lonely');
    await waitFor(() => events.some((ev) => ev.event === 'warning'), 5000);
    expect(events[0]).toMatchObject({ event: 'warning', data: { code: 'NO_RX', port: 'quiet' } });
    const w = await c.request<{ active: { key: string }[]; recent: { event: string; warning: { code: string } }[] }>('warnings');
    expect(w.active.map((x) => x.key).sort()).toEqual(['LINK_DOWN:lonely', 'NO_RX:quiet']);
    expect(w.recent.map((x) => [x.event, x.warning.code])).toEqual([['warning', 'LINK_DOWN'], ['warning', 'NO_RX']]);
    await stopAndCheckPool(e);
    await waitFor(() => events.some((ev) => ev.event === 'stopped'), 2000);
    // stop() clears the active warnings (streamed), then closes the socket.
    expect(events.map((ev) => ev.event)).toEqual(['warning', 'warningCleared', 'warningCleared', 'stopped']);
  });

  it('stats carries host counters and handler ring fill; the frame shows them', async () => {
    const e = await engines.create({ name: 'ctl5', control: { dir: tmp.dir } });
    const peer = e.addPort('peer', { driver: 'ring', wire: 'lrt-ctl-host' });
    const srv = e.addPort('srv', { driver: 'ring', wire: 'lrt-ctl-host' });
    let seen = 0;
    e.handle(peer, (b) => void (seen += b.count));
    const host = e.host(srv, { ipv4: '198.18.0.2/24', neighbors: [{ ip: '198.18.0.9', mac: '02:00:00:00:00:09' }] });
    host.udp({ port: 7 }, () => {});
    await e.start();
    const srvMac = e.info().ports.find((p) => p.name === 'srv')!.mac;
    // UDP to a port nobody listens on: counted (udpNoListener); the host's answer (ARP for the sender, then ICMP) reaches 'peer'.
    expect(e.send(peer, [udp4(srvMac, '02:00:00:00:00:01', '198.18.0.1', '198.18.0.2', 1000, 9, [1, 2, 3])])).toBe(1);
    await waitFor(() => seen > 0);
    const c = await ControlClient.connect(sockPath('ctl5'));
    const s = await c.stats();
    expect(s.hosts.srv).toMatchObject({ udpNoListener: 1, sockets: [expect.objectContaining({ port: 7 })] });
    expect(s.handlerRings.map((f) => [f.port, f.queue])).toEqual(expect.arrayContaining([['peer', 0], ['srv', 0]]));
    for (const f of s.handlerRings) expect(f.capacity).toBeGreaterThan(0);
    expect(s.ports.peer!.handler!.packets).toBeGreaterThan(0);
    // ip neigh: the static entry the host was given.
    const neigh = await c.request<Record<string, { ip: string; mac: string; state: string }[]>>('neighbors');
    expect(Object.keys(neigh)).toEqual(['srv']);
    expect(neigh.srv).toContainEqual(expect.objectContaining({ ip: '198.18.0.9', mac: '02:00:00:00:00:09', state: 'static' }));
    expect(await c.request('neighbors', { port: 'srv' })).toEqual({ srv: expect.any(Array) });
    await expect(c.request('neighbors', { port: 'peer' })).rejects.toMatchObject({ code: 'INVALID_PORT' });
    // handlers: the port's handler counters and rings; the host's sockets.
    const hs = await c.request<{ ports: Record<string, { handler: { packets: number }; rings: { queue: number }[] }>; sockets: Record<string, { port: number }[]> }>('handlers');
    expect(Object.keys(hs.ports)).toEqual(['peer']);
    expect(hs.ports.peer!.handler.packets).toBeGreaterThan(0);
    expect(hs.ports.peer!.rings.map((r) => r.queue)).toEqual([0]);
    expect(hs.sockets.srv).toEqual([expect.objectContaining({ port: 7 })]);
    c.close();
    const frame = (await cli(['stats', 'ctl5', '--interval', '0.1'])).stdout;
    expect(frame).toMatch(/^handler rings: .*peer\/0 0\/\d+ 0%/m);
    expect(frame).toMatch(/^host srv: .*udpNoListener 1/m);
    expect(frame).toMatch(/^  udp 7: rx 0/m);
    await stopAndCheckPool(e);
  });

  it('a 17th client is refused with TOO_MANY_CLIENTS; the others keep working', async () => {
    const e = await forwarding('ctl6');
    await e.start();
    const clients = await Promise.all(Array.from({ length: 16 }, () => ControlClient.connect(sockPath('ctl6'))));
    try {
      await Promise.all(clients.map((c) => c.info()));
      const refused = await raw(sockPath('ctl6'), '', 2000);
      expect(JSON.parse(refused.trim())).toMatchObject({ ok: false, error: { code: 'TOO_MANY_CLIENTS' } });
      expect((await clients[15]!.info()).name).toBe('ctl6');
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('a client that sends and never reads is disconnected once its unread replies pass 4 MiB; the engine keeps answering', async () => {
    const e = await forwarding('ctl7');
    await e.start();
    // Replies of 64 KiB each, cheap to make: 96 of them are 6 MiB, past the 4 MiB limit plus what the socket buffers hold.
    const big = 'x'.repeat(64 * 1024);
    registerCommand('big', () => big);
    onTestFinished(() => unregisterCommand('big'));
    const one = big.length + 30;
    const n = 96;
    const s = connect(sockPath('ctl7'));
    await new Promise((r) => s.once('connect', r));
    s.pause(); // never read
    let received = 0;
    s.on('data', (d: Buffer) => (received += d.length));
    s.write('{"cmd":"big"}\n'.repeat(n));
    // The engine answers others meanwhile, and drops the one that does not read.
    const other = await ControlClient.connect(sockPath('ctl7'));
    expect((await other.info()).name).toBe('ctl7');
    expect(await waitFor(async () => (await other.info()).clients === 1, 10_000), 'the silent client was disconnected').toBe(true);
    other.close();
    const closed = new Promise((r) => s.once('close', r));
    s.resume();
    await closed;
    expect(received, 'cut off before all replies were written').toBeLessThan(n * one);
  });

  it('the socket is removed when the process exits without stopping the engine', async () => {
    const index = new URL('../dist/src/index.js', import.meta.url).href;
    const script = `const { Engine } = await import(${JSON.stringify(index)});
      const e = await Engine.create({ lcores: [${e0cpu()}], idle: 'adaptive', mempool: { mbufs: 1024, hugepages: 'off' } });
      e.forward(e.addPort('a', { driver: 'null' }), e.addPort('b', { driver: 'null' }));
      await e.start();
      console.log('up');
      process.stdin.once('data', () => process.exit(0));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, LINERATE_CONTROL_DIR: tmp.dir }, stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    // No name given and no script (node -e): named 'node'.
    const path = join(tmp.dir, `${child.pid}-node.sock`);
    expect(existsSync(path)).toBe(true);
    expect((await listEngines(tmp.dir)).map((x) => x.name)).toEqual(['node']);
    child.stdin.write('x');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(path), 'removed at process exit').toBe(false);
  });

  it('registerCommand adds a command to the socket; a taken name is refused; a command may take the connection over for bytes', async () => {
    registerCommand<Engine>('ports-up', (args, ctx) => ({ asked: args.x, up: Object.values(ctx.engine.stats().ports).filter((p) => p.linkUp).length }));
    try {
      await expectError(() => registerCommand('ports-up', () => 0), 'INVALID_OPTION', 'taken');
      await expectError(() => registerCommand('stats', () => 0), 'INVALID_OPTION');
      const e = await forwarding('ctl4');
      await e.start();
      const c = await ControlClient.connect(sockPath('ctl4'));
      expect(await c.request('ports-up', { x: 1 })).toEqual({ asked: 1, up: 2 });
      expect((await c.info()).commands).toContain('ports-up');
      c.close();
      // A command that takes the connection over for bytes (as capture -w - will): its reply line, then its bytes.
      registerCommand('blob', (_args, ctx) => {
        ctx.detach((socket) => setTimeout(() => socket.end(Buffer.from([0, 1, 2, 0x0a, 0xff])), 50));
        return { bytes: 5 };
      });
      const got = await new Promise<Buffer>((resolve) => {
        const sock = connect(sockPath('ctl4'));
        const chunks: Buffer[] = [];
        sock.on('data', (d: Buffer) => chunks.push(d));
        sock.on('close', () => resolve(Buffer.concat(chunks)));
        sock.on('connect', () => sock.write('{"id":1,"cmd":"blob"}\n{"id":2,"cmd":"info"}\n'));
      });
      const nl = got.indexOf(0x0a);
      expect(JSON.parse(got.subarray(0, nl).toString())).toEqual({ id: 1, ok: true, result: { bytes: 5 } });
      // The bytes, and nothing for the request after the takeover.
      expect([...got.subarray(nl + 1)]).toEqual([0, 1, 2, 0x0a, 0xff]);
    } finally {
      unregisterCommand('ports-up');
      unregisterCommand('blob');
    }
  });

  it('options: control false opens no socket; a bad name or control option is refused', async () => {
    const e = await engines.create({ name: 'off', control: false });
    e.forward(e.addPort('a', { driver: 'null' }), e.addPort('b', { driver: 'null' }));
    await e.start();
    expect(readdirSync(tmp.dir)).toEqual([]);
    await expectError(() => engines.create({ name: 'a/b' }), 'INVALID_OPTION', "'name'");
    await expectError(() => engines.create({ control: { where: 'x' } as never }), 'UNKNOWN_OPTION', 'where');
    await expectError(() => engines.create({ control: { dir: 'a', path: 'b' } }), 'INVALID_OPTION', 'not both');
  });

  it("names: the script's by default; the control directory; a second running engine of the process with a taken name gets a suffix", async () => {
    expect(defaultEngineName(0, '/srv/app/dist/examples/l2fwd.js')).toBe('l2fwd');
    expect(defaultEngineName(2, '/srv/app/dist/examples/l2fwd.js')).toBe('l2fwd-2');
    expect(defaultEngineName(0, '')).toBe('node');
    expect(defaultEngineName(0, '/srv/app/dist/examples/dns/main.js')).toBe('dns');
    // Where sockets go: the override, root's system-wide directory, the user's runtime directory, a private tmp dir.
    expect(controlDir({ LINERATE_CONTROL_DIR: '/x', XDG_RUNTIME_DIR: '/run/user/0' }, 0)).toBe('/x');
    expect(controlDir({ XDG_RUNTIME_DIR: '/run/user/0' }, 0)).toBe('/run/linerate');
    expect(controlDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe('/run/user/1000/linerate');
    expect(controlDir({}, 1000)).toBe(join(tmpdir(), 'linerate-1000'));
    expect(defaultEngineName(0, '/x/my app.mjs')).toBe('my_app');
    const one = await forwarding('twin');
    const two = await forwarding('twin');
    await one.start();
    await two.start();
    const names = (await listEngines(tmp.dir)).map((x) => x.name);
    expect(names[0]).toBe('twin');
    expect(names[1]).toMatch(/^twin-\d+$/);
  });

  it('a control directory others may write to is refused (not chmod-ed): the engine runs without a socket and says why', async () => {
    const open = join(tmp.dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    const said = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const e = await engines.create({ name: 'nodir', control: { dir: open } });
      e.forward(e.addPort('a', { driver: 'null' }), e.addPort('b', { driver: 'null' }));
      await e.start();
      expect(e.state).toBe('running');
      expect(readdirSync(open)).toEqual([]);
      expect(statSync(open).mode & 0o777).toBe(0o777);
      expect(said).toHaveBeenCalledWith(expect.stringContaining(`engine 'nodir' runs without its control socket`));
      expect(said).toHaveBeenCalledWith(expect.stringContaining('others may write'));
    } finally {
      said.mockRestore();
    }
  });

  it("listEngines removes a dead process's socket (kill -9) and lists the live engine", async () => {
    const e = await forwarding('live');
    await e.start();
    // A process that listens on a socket named like an engine's, then dies without cleaning up.
    const child = spawn(process.execPath, ['-e', `const p=require('path').join(process.argv[1], process.pid+'-ghost.sock'); require('net').createServer().listen(p, () => console.log('up'))`, tmp.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    const ghost = join(tmp.dir, `${child.pid}-ghost.sock`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(ghost), 'kill -9 leaves the socket behind').toBe(true);
    // A file with a socket's name but no socket, of a dead pid: not ours to delete.
    const notSocket = join(tmp.dir, `${child.pid}-file.sock`);
    writeFileSync(notSocket, '');
    const found = await listEngines(tmp.dir);
    expect(existsSync(notSocket), 'a regular file is left alone').toBe(true);
    expect(found.map((x) => [x.pid, x.name])).toEqual([[process.pid, 'live']]);
    expect(existsSync(ghost), 'stale socket removed').toBe(false);
  });

  it("an engine starting removes a dead process's socket (kill -9), so a restarted service leaves no trace of the one before", async () => {
    const child = spawn(process.execPath, ['-e', `const p=require('path').join(process.argv[1], process.pid+'-before.sock'); require('net').createServer().listen(p, () => console.log('up'))`, tmp.dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r));
    const ghost = join(tmp.dir, `${child.pid}-before.sock`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(ghost), 'kill -9 leaves the socket behind').toBe(true);
    const notSocket = join(tmp.dir, `${child.pid}-file.sock`);
    writeFileSync(notSocket, '');
    const e = await forwarding('after');
    await e.start();
    expect(existsSync(ghost), 'stale socket removed at start').toBe(false);
    expect(existsSync(notSocket), 'a regular file is left alone').toBe(true);
    expect(existsSync(sockPath('after'))).toBe(true);
  });
});

describe('linerate ls / stats / doctor --engine', () => {
  it('ls --json and stats --json --once see the engine and its counters moving; stats names the engine it cannot pick', async () => {
    const e = await forwarding('cli1');
    await e.start();
    const ls = await cli(['ls', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)).toEqual([expect.objectContaining({ pid: process.pid, name: 'cli1', socket: sockPath('cli1') })]);
    const text = await cli(['ls']);
    expect(text.stdout).toMatch(new RegExp(`${process.pid}\\s+cli1\\s+.*a\\(null\\) b\\(null\\)`));

    const st = await cli(['stats', '--json', '--once', '--interval', '0.2']);
    expect(st.code, st.stderr).toBe(0);
    const j = JSON.parse(st.stdout);
    expect(j.engine).toMatchObject({ name: 'cli1', pid: process.pid });
    expect(j.stats.ports.b.txPackets).toBeGreaterThan(0);
    expect(j.rates.ports.b.txPps, 'rate from two samples').toBeGreaterThan(0);
    expect(j.rates.ports.a.rxq[0].pps).toBeGreaterThan(0);
    expect(j.rates.cpuPercent[0]).toBeGreaterThan(0);

    const frame = await cli(['stats', 'cli1', '--interval', '0.2']);
    expect(frame.code, frame.stderr).toBe(0);
    const lines = frame.stdout.trimEnd().split('\n');
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(lines.find((l) => l.startsWith('b '))).toMatch(/^b\s+up\s+0\s+0\s+0\s+\S+\s+\S+[kMG]\s/);

    // A second engine, idle (a ring port with nothing on its wire), so the CPU stays for the tools.
    const other = await engines.create({ name: 'cli2', control: { dir: tmp.dir } });
    other.echo(other.addPort('idle', { driver: 'ring', wire: 'lrt-ctl-idle' }));
    other.on('warning', () => {});
    await other.start();
    const amb = await cli(['stats', '--json', '--once']);
    expect(amb.code).toBe(1);
    expect(amb.stderr).toContain('ENGINE_AMBIGUOUS');
    expect(amb.stderr).toContain(`${process.pid} cli1`);
    expect(amb.stderr).toContain(`${process.pid} cli2`);
    await expectError(() => findEngine('nosuch', tmp.dir), 'ENGINE_NOT_FOUND', "'nosuch'", `${process.pid} cli1`);
    expect((await findEngine(`${process.pid}-cli2`, tmp.dir)).name).toBe('cli2');
  });

  it('doctor --engine adds live checks: a link down fails with its fix, active warnings are listed', async () => {
    const e = await engines.create({ name: 'doc', control: { dir: tmp.dir }, warnings: { intervalMs: 100 } });
    e.echo(e.addPort('lonely', { driver: 'ring', wire: 'lrt-ctl-doc' }));
    e.on('warning', () => {});
    await e.start();
    await waitFor(() => e.warnings().length > 0);
    const r = await cli(['doctor', '--json', '--engine', 'doc']);
    const checks = JSON.parse(r.stdout) as { name: string; status: string; fix?: string }[];
    expect(r.code).toBe(1);
    expect(checks.find((c) => c.name === 'kernel'), 'host checks still run').toBeDefined();
    expect(checks.find((c) => c.name === 'engine')).toMatchObject({ status: 'ok' });
    expect(checks.find((c) => c.name === 'port lonely')).toMatchObject({ status: 'fail', fix: expect.stringContaining('wire') });
    expect(checks.find((c) => c.name === 'warning LINK_DOWN:lonely')).toMatchObject({ status: 'warn', fix: expect.stringContaining('ip link') });
  });
});

describe('linerate top in a real terminal (tmux)', () => {
  /** tmux on a private server socket (-L), without the user's config (-f /dev/null). */
  const server = `lrt-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const tmux = (...args: string[]) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn('tmux', ['-L', server, '-f', '/dev/null', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.stderr.on('data', (d) => (out += d));
      c.on('close', (code) => resolve({ code, out }));
    });
  const screen = async () => (await tmux('capture-pane', '-p', '-t', 'top')).out;

  it('draws the frame in 80x24, the counters move between frames, and q quits with status 0', async () => {
    const e = await forwarding('topped');
    await e.start();
    const cmd = `LINERATE_CONTROL_DIR='${tmp.dir}' '${process.execPath}' '${MAIN}' top topped --interval 0.2; echo LRT-EXIT=$?; sleep 60`;
    try {
      expect((await tmux('new-session', '-d', '-s', 'top', '-x', '80', '-y', '24', cmd)).code).toBe(0);
      const portRow = (s: string) => s.split('\n').find((l) => /^b\s+up\s/.test(l));
      let first = '';
      expect(await waitFor(async () => portRow((first = await screen())) !== undefined, 10_000), `top's screen:\n${first}`).toBe(true);
      expect(first).toContain('linerate topped (pid');
      expect(first).toContain('PORT/QUEUE');
      expect(first).toMatch(/^a\s+up\s/m);
      expect(first).toMatch(/^LCORE\s+CPU\s+BUSY%\s+RAN%/m);
      expect(first).toContain('mempool 4096');
      for (const l of first.split('\n')) expect(l.length).toBeLessThanOrEqual(80);
      // Counters move: b's TX packets on a later frame differ from the first frame's.
      let later = '';
      expect(await waitFor(async () => { later = await screen(); return portRow(later) !== undefined && portRow(later) !== portRow(first); }, 10_000), later).toBe(true);
      expect(portRow(later)).toMatch(/^b\s+up\s+0\s+0\s+0\s+\S+\s+\S+[kMG]\s/);
      await tmux('send-keys', '-t', 'top', 'q');
      let after = '';
      expect(await waitFor(async () => (after = await screen()).includes('LRT-EXIT='), 10_000), after).toBe(true);
      expect(after).toContain('LRT-EXIT=0');
      expect(after, 'the alternate screen is left on exit').not.toContain('PORT/QUEUE');
    } finally {
      await tmux('kill-server');
    }
  });
});

describe('the frame (linerate stats / top)', () => {
  it('numbers: three significant digits with SI prefixes, rounding up to the next prefix', () => {
    expect([0, 7, 999, 1000, 12_345, 999_960, 1_234_567, 30.1e9].map(si)).toEqual(['0', '7', '999', '1.00k', '12.3k', '1.00M', '1.23M', '30.1G']);
  });

  it('a port with two rx queues gets a row per queue with its own rate; every line fits 80 columns', async () => {
    const e = await engines.create({ name: 'queues', control: { dir: tmp.dir } });
    e.forward(e.addPort('a', { driver: 'null', rxQueues: 2 }), e.addPort('b', { driver: 'null' }));
    await e.start();
    const c = await ControlClient.connect(sockPath('queues'));
    const prev = await c.stats();
    await new Promise((r) => setTimeout(r, 100));
    const lines = renderFrame(await c.info(), prev, await c.stats());
    c.close();
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    const at = lines.findIndex((l) => /^a\s+up\s/.test(l));
    expect(lines[at + 1]).toMatch(/^ rx 0\s+\S+[kMG]\s+\S+[kMG]\s+\S+[kMG]$/);
    expect(lines[at + 2]).toMatch(/^ rx 1\s+\S+[kMG]\s+\S+[kMG]\s+\S+[kMG]$/);
    expect(lines[at + 3]).toMatch(/^b\s+up\s/);
  });
});
