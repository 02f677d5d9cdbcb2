/**
 * Helpers for the kernel-facing driver tests (af_packet, tap): engines that are
 * always closed, the mempool check after stop(), frame builders, and the addon
 * path for child processes.
 * @module
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { expect } from 'vitest';
import { Engine, LinerateError, type EngineOptions } from '../../src/index.js';
import { repoRoot } from './netns.js';

// The same checks as the other tests: one definition in helpers/engine.ts.
export { lastCpu, stopAndCheckPool, waitFor } from './engine.js';
import { lastCpu } from './engine.js';

/** Tracks engines so each test closes what it made, even when it fails. */
export class Engines {
  private readonly list: Engine[] = [];

  /** 4096 mbufs on 4 KiB pages, one adaptive lcore on the last CPU, unless overridden. */
  async create(extra: EngineOptions = {}): Promise<Engine> {
    const e = await Engine.create({
      lcores: [lastCpu()],
      idle: 'adaptive',
      ...extra,
      mempool: { mbufs: 4096, hugepages: 'off', ...(extra.mempool ?? {}) },
    });
    this.list.push(e);
    return e;
  }

  async closeAll(): Promise<void> {
    for (const e of this.list.splice(0)) {
      if (e.state === 'closed') continue;
      try {
        await e.stop();
      } finally {
        await e.close();
      }
    }
  }
}

/** Expects fn to throw a LinerateError with that code and these fragments in its message. */
export async function expectCode(fn: () => unknown, code: string, ...fragments: string[]): Promise<LinerateError> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a LinerateError').toBeInstanceOf(LinerateError);
  const le = err as LinerateError;
  expect(le.code, le.message).toBe(code);
  for (const f of fragments) expect(le.message).toContain(f);
  return le;
}

/** The addon binary this process uses (LINERATE_ADDON_PATH, or what node-gyp-build finds), for child processes. */
export function addonPath(): string {
  if (process.env.LINERATE_ADDON_PATH) return process.env.LINERATE_ADDON_PATH;
  const require = createRequire(import.meta.url);
  const ngb = require('node-gyp-build') as { resolve?: (dir: string) => string; path?: (dir: string) => string };
  return (ngb.resolve ?? ngb.path)!(repoRoot);
}

/** "aa:bb:.." -> bytes. */
export function macBytes(mac: string): number[] {
  return mac.split(':').map((h) => parseInt(h, 16));
}

/** Internet checksum (RFC 1071) of a byte range. */
export function csum(b: Uint8Array, sum = 0): number {
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

/**
 * An Ethernet/IPv4/UDP frame with valid checksums, then `mangle` may break it.
 * Addresses from 198.18.0.0/15 only.
 */
export function udp4Frame(o: { dst: string; src: string; sport: number; dport: number; payload: Uint8Array; srcIp?: string; dstIp?: string }): Uint8Array {
  const ip = (s: string) => s.split('.').map(Number);
  const srcIp = ip(o.srcIp ?? '198.18.0.1');
  const dstIp = ip(o.dstIp ?? '198.18.0.2');
  const udpLen = 8 + o.payload.length;
  const f = new Uint8Array(14 + 20 + udpLen);
  f.set(macBytes(o.dst), 0);
  f.set(macBytes(o.src), 6);
  f[12] = 0x08;
  f[13] = 0x00;
  const h = f.subarray(14, 34);
  h[0] = 0x45;
  h[2] = (20 + udpLen) >> 8;
  h[3] = (20 + udpLen) & 0xff;
  h[8] = 64;
  h[9] = 17;
  h.set(srcIp, 12);
  h.set(dstIp, 16);
  const hc = ~csum(h) & 0xffff;
  h[10] = hc >> 8;
  h[11] = hc & 0xff;
  const u = f.subarray(34);
  u[0] = o.sport >> 8;
  u[1] = o.sport & 0xff;
  u[2] = o.dport >> 8;
  u[3] = o.dport & 0xff;
  u[4] = udpLen >> 8;
  u[5] = udpLen & 0xff;
  u.set(o.payload, 8);
  const pseudo = new Uint8Array(12);
  pseudo.set(srcIp, 0);
  pseudo.set(dstIp, 4);
  pseudo[9] = 17;
  pseudo[10] = udpLen >> 8;
  pseudo[11] = udpLen & 0xff;
  let c = ~csum(u, csum(pseudo)) & 0xffff;
  if (c === 0) c = 0xffff;
  u[6] = c >> 8;
  u[7] = c & 0xff;
  return f;
}

/**
 * Opens ports in a child process that runs as root but without the given
 * capabilities (e.g. `['net_raw']`, removed from its bounding set with setpriv),
 * and returns what each addPort threw ({ code: 'opened' } when it did not).
 */
export async function withoutCapabilities(
  drop: string[],
  ports: [driver: string, options: Record<string, unknown>][],
  inNetns?: string,
): Promise<{ code: string; message: string }[]> {
  const script = `
    const a = require(${JSON.stringify(addonPath())});
    const e = new a.NativeEngine([${lastCpu()}], { mbufs: 512, hugepages: 'off' });
    const out = [];
    for (const [i, [driver, opts]] of ${JSON.stringify(ports)}.entries()) {
      try { e.addPort('p' + i, driver, opts, 1, undefined, false); out.push({ code: 'opened', message: '' }); }
      catch (err) { out.push({ code: err.code, message: err.message }); }
    }
    e.close();
    console.log(JSON.stringify(out));`;
  const caps = drop.map((c) => `-${c}`).join(',');
  const text = await new Promise<string>((resolve) => {
    const argv = ['setpriv', `--bounding-set=${caps}`, `--inh-caps=${caps}`, process.execPath, '-e', script];
    // inNetns: the child starts inside that namespace (entered with all capabilities, before they are dropped).
    const full = inNetns ? ['ip', 'netns', 'exec', inNetns, ...argv] : argv;
    const c = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    c.stdout.on('data', (d) => (s += d));
    c.stderr.on('data', (d) => (s += d));
    c.on('close', () => resolve(s));
    c.on('error', (e) => resolve(`setpriv failed: ${String(e)}`));
  });
  const last = text.trim().split('\n').pop() ?? '';
  if (!last.startsWith('[')) throw new Error(`child without capabilities printed: ${text}`);
  return JSON.parse(last) as { code: string; message: string }[];
}
