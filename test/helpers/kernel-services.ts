// Kernel services in namespace B of a test bed (test/helpers/netns.ts), for the
// tests where linerate shares an interface with the kernel: a TCP echo on port 22
// (SSH-like) and a UDP echo on 7778 that says it is the kernel.
import type { ChildProcess } from 'node:child_process';
import { waitFor } from './engine.js';
import type { TestBed } from './netns.js';

/** A long-running node script inside B; resolves once it printed 'ready'. */
export async function serverInB(bed: TestBed, script: string): Promise<ChildProcess> {
  const c = bed.spawnIn('b', [process.execPath, '-e', script]);
  let out = '';
  let err = '';
  c.stdout!.on('data', (d) => (out += String(d)));
  c.stderr!.on('data', (d) => (err += String(d)));
  const ok = await waitFor(() => out.includes('ready') || c.exitCode !== null, 10_000);
  if (!ok || !out.includes('ready')) throw new Error(`server in B did not start: ${err}`);
  return c;
}

// The kernel's own services in B: a TCP echo on port 22 (SSH-like) and a UDP echo on 7778 that says it is the kernel.
export const TCP_ECHO = `require('node:net').createServer((s) => s.pipe(s)).listen({ port: 22, host: '::' }, () => console.log('ready'));`;
export const UDP_KERNEL = `
const dgram = require('node:dgram'); let n = 0;
for (const [type, addr] of [['udp4', '198.18.0.2'], ['udp6', 'fd00:198:18::2']]) {
  const s = dgram.createSocket(type);
  s.on('message', (m, r) => s.send(Buffer.concat([Buffer.from('kernel:'), m]), r.port, r.address));
  s.bind(7778, addr, () => { if (++n === 2) console.log('ready'); });
}`;

/** From A: connect to B's TCP port 22 over `family`, send `data`, return what came back. */
export async function tcpExchange(bed: TestBed, family: 4 | 6, data: string): Promise<string> {
  const host = family === 4 ? bed.ipB : bed.ip6B;
  const script = `
    const s = require('node:net').connect({ host: '${host}', port: 22 }, () => s.end(${JSON.stringify(data)}));
    let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => { process.stdout.write(got); process.exit(0); });
    s.on('error', (e) => { console.error(String(e)); process.exit(1); }); setTimeout(() => process.exit(2), 8000);`;
  const r = await bed.exec('a', [process.execPath, '-e', script]);
  if (r.code !== 0) throw new Error(`tcp client in A failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}
