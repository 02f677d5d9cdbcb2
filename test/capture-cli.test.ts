// `linerate capture` on a veth in a network namespace: the filter expression
// from the command line, -c ends it, Ctrl-C (SIGINT) ends it with a complete
// file; tshark reads both. Datagrams come from the kernel in the other namespace.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { netnsGate, repoRoot, TestBed } from './helpers/netns.js';
import { tempDir } from './helpers/pcap.js';
import { Engine } from '../src/index.js';

const gate = netnsGate();
const tmp = tempDir('linerate-capture-cli-');
afterAll(() => tmp.cleanup());
const cli = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** Starts `linerate capture`; resolves once it prints that it captures. */
function startCapture(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [cli, 'capture', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let err = '';
  const started = new Promise<void>((res, rej) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('capturing on')) res();
    });
    child.on('exit', (code) => rej(new Error(`linerate capture exited (${code}) before capturing: ${err}`)));
  });
  const exited = new Promise<number>((res) => child.on('exit', (code) => res(code ?? -1)));
  return { child, started, exited, stderr: () => err };
}

describe.skipIf(!gate.run)('linerate capture (af_packet, netns)', () => {
  it('captures what the expression selects; -c ends it; SIGINT ends it with a complete file', async () => {
    const bed = await TestBed.create({ tag: 'cap' });
    try {
      const send = (port: number) => bed.exec('a', ['bash', '-c', `echo hello > /dev/udp/${bed.ipB}/${port}`]);
      // -c 3 with a filter: only datagrams to 7777 count.
      const f1 = tmp.path('c.pcapng');
      const c1 = startCapture(['-i', bed.ifB, '--netns', bed.nsB, '-w', f1, '-c', '3', 'udp', 'dst', 'port', '7777']);
      await c1.started;
      let code: number | undefined;
      void c1.exited.then((c) => (code = c));
      for (let i = 0; i < 100 && code === undefined; i++) {
        await send(9999);
        await send(7777);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await c1.exited, c1.stderr()).toBe(0);
      expect(c1.stderr()).toMatch(/3 packets captured/);
      const ports = execFileSync('tshark', ['-r', f1, '-T', 'fields', '-e', 'udp.dstport'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(ports.trim().split('\n')).toEqual(['7777', '7777', '7777']);
      // No count: SIGINT ends it, and the file is complete (tshark reads it without complaint).
      const f2 = tmp.path('int.pcapng');
      const c2 = startCapture(['-i', bed.ifB, '--netns', bed.nsB, '-w', f2, '--direction', 'rx', 'udp']);
      await c2.started;
      await send(7777);
      await send(7778);
      await new Promise((r) => setTimeout(r, 200));
      c2.child.kill('SIGINT');
      expect(await c2.exited, c2.stderr()).toBe(0);
      const got = execFileSync('tshark', ['-r', f2, '-T', 'fields', '-e', 'udp.dstport'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(got.trim().split('\n')).toEqual(['7777', '7778']);
      // -w -: pcapng on stdout, read by tshark from a pipe.
      const sh = `'${process.execPath}' '${cli}' capture -i ${bed.ifB} --netns ${bed.nsB} -w - -c 1 udp port 7779 | tshark -r - -T fields -e udp.dstport`;
      const piped = spawn('bash', ['-c', sh], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      piped.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number>((res) => piped.on('exit', (c) => res(c ?? -1)));
      await new Promise<void>((res) => piped.stderr.on('data', (d: Buffer) => ((err += d.toString()), err.includes('capturing on') && res())));
      let done = false;
      void exited.then(() => (done = true));
      for (let i = 0; i < 100 && !done; i++) {
        await send(7779);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await exited, err).toBe(0);
      expect(out.trim()).toBe('7779');
    } finally {
      await bed.destroy();
    }
  }, 60_000);
});

// No namespace needed: the engine is this process's, on null ports; the CLI
// reaches it through its control socket (src/capture/control-command.ts).
describe('linerate capture --engine (a running engine, through its control socket)', () => {
  it('captures -c packets of a port of a running engine; SIGINT ends an open one with a complete file; a wrong port is INVALID_PORT', async () => {
    const dir = tmp.path('ctl');
    const env = { ...process.env, LINERATE_CONTROL_DIR: dir };
    const e = await Engine.create({ name: 'capsrc', control: { dir }, mempool: { mbufs: 4096, hugepages: 'off' } });
    try {
      // The null port's frames: UDP 198.18.0.1:9 -> 198.18.0.2:9 (native/core/net.cc udp4_frame), 100 a second.
      const a = e.addPort('a', { driver: 'null', rate: 100 });
      e.forward(a, e.addPort('sink', { driver: 'null' }));
      await e.start();
      const f1 = tmp.path('remote.pcapng');
      const c1 = startCapture(['--engine', 'capsrc', '-i', 'a', '-w', f1, '-c', '4', 'udp', 'port', '9'], env);
      await c1.started;
      expect(await c1.exited, c1.stderr()).toBe(0);
      const ports = execFileSync('tshark', ['-r', f1, '-T', 'fields', '-e', 'udp.dstport'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(ports.trim().split('\n')).toEqual(['9', '9', '9', '9']);
      // No count: SIGINT half-closes, the engine finishes the file (its statistics block too).
      const f2 = tmp.path('remote-int.pcapng');
      const c2 = startCapture(['--engine', 'capsrc', '-i', 'a', '-w', f2], env);
      await c2.started;
      await new Promise((r) => setTimeout(r, 300));
      c2.child.kill('SIGINT');
      expect(await c2.exited, c2.stderr()).toBe(0);
      const n = execFileSync('tshark', ['-r', f2, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(n.trim().split('\n').length).toBeGreaterThanOrEqual(1);
      const info = execFileSync('capinfos', ['-c', f2], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(info).toMatch(/Number of packets/);
      // The engine has no capture left on the port: another one may start.
      const c3 = startCapture(['--engine', 'capsrc', '-i', 'nope', '-w', tmp.path('x.pcapng')], env);
      c3.started.catch(() => {}); // it never starts: the engine refused
      expect(await c3.exited).toBe(1);
      expect(c3.stderr()).toMatch(/INVALID_PORT: capture: no port 'nope'/);
      const c4 = startCapture(['--engine', 'capsrc', '-i', 'a', '-w', tmp.path('y.pcapng'), '-c', '1'], env);
      await c4.started;
      expect(await c4.exited, c4.stderr()).toBe(0);
    } finally {
      await e.close();
    }
  }, 60_000);
});
