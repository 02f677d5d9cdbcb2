/**
 * Network-namespace test bed for the kernel-facing drivers (af_packet, af_xdp, tap).
 *
 * A {@link TestBed} is two namespaces, `<name>-a` and `<name>-b`, joined by a veth
 * pair (`lrt-a` in A, `lrt-b` in B), created by scripts/netns.sh. Addresses:
 * A = 198.18.0.1/24 + fd00:198:18::1/64, B = 198.18.0.2/24 + fd00:198:18::2/64
 * (B's addresses are left off with `addressB: false`, when linerate owns B's end).
 *
 * Rules every user of this helper keeps:
 * - traffic only inside the test bed's namespaces, addresses only from
 *   198.18.0.0/15 and fd00:198:18::/48; the host namespace is never touched;
 * - every test bed is destroyed in afterAll/finally ({@link TestBed.destroy}),
 *   and every name starts with `lrt-<pid>-`, so {@link cleanupLeftovers} (or
 *   `scripts/netns.sh cleanup`) finds what a crashed run left behind.
 *
 * @example
 * ```ts
 * const gate = netnsGate();
 * describe.skipIf(!gate.run)('af_packet', () => {
 *   let bed: TestBed;
 *   beforeAll(async () => { bed = await TestBed.create({ addressB: false }); });
 *   afterAll(async () => { await bed?.destroy(); });
 *   it('echoes', async () => {
 *     await bed.setNeighbor('a', bed.ipB, bed.macB);
 *     const r = await bed.udpExchange({ port: 7777, payloads: [Buffer.from('hi')] });
 *     ...
 *   });
 * });
 * ```
 * @module
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where scripts/netns.sh lives). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Path of the namespace script. */
export const netnsScript = join(repoRoot, 'scripts', 'netns.sh');

/** One side of the test bed. `'a'` holds the kernel sockets, `'b'` usually linerate. */
export type Side = 'a' | 'b';

/** Result of a command run inside a namespace. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A UDP datagram that came back to a kernel socket in namespace A. */
export interface UdpReply {
  /** Index of the flow (socket) that received it. */
  flow: number;
  /** Local port of that socket. */
  localPort: number;
  /** Sender as the socket saw it. */
  from: string;
  fromPort: number;
  data: Buffer;
}

/** Options of {@link TestBed.udpExchange}. */
export interface UdpExchangeOptions {
  /** Destination UDP port. */
  port: number;
  /** Destination address; default {@link TestBed.ipB} (or ip6B with family 6). */
  to?: string;
  /** 4 (default) or 6. */
  family?: 4 | 6;
  /** Datagrams each flow sends, in order. */
  payloads: Uint8Array[];
  /** Number of flows: sockets with distinct ephemeral source ports, each sending every payload. Default 1. */
  flows?: number;
  /** Source ports, one per flow (default: ephemeral). */
  sourcePorts?: number[];
  /** Replies to wait for before returning early; default flows × payloads. */
  expect?: number;
  /** Give up waiting after this long. Default 3000 ms. */
  timeoutMs?: number;
  /** Pause between sends, in ms, so a slow receiver is not flooded. Default 0. */
  gapMs?: number;
  /** Side to send from. Default 'a'. */
  side?: Side;
  /** Local address to bind to; default the side's veth address (198.18.0.1 / fd00:198:18::1 for A). */
  bind?: string;
}

/** Whether namespace tests can run here, and why not. */
export interface NetnsGate {
  /** true: run the tests. */
  run: boolean;
  /** Why they are skipped (printed once); empty when they run. */
  reason: string;
}

let gateCache: NetnsGate | undefined;

/**
 * Decides whether namespace tests run. Under CI (`CI=true`) they always run, so a
 * missing capability fails loudly instead of skipping. Elsewhere they are skipped,
 * with the reason printed, when the process is not root or `ip netns` is missing.
 */
export function netnsGate(): NetnsGate {
  if (gateCache) return gateCache;
  let reason = '';
  if (process.platform !== 'linux') reason = 'network namespaces need Linux';
  else if (process.getuid?.() !== 0) reason = 'network namespace tests need root (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW): run as root';
  else {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    } catch {
      reason = "'ip' (iproute2) is missing: apt-get install iproute2";
    }
  }
  if (process.env.CI === 'true') gateCache = { run: true, reason: '' };
  else gateCache = { run: reason === '', reason };
  if (!gateCache.run) console.warn(`[netns tests skipped] ${reason}`);
  return gateCache;
}

let counter = 0;
const live = new Set<TestBed>();

/** Options of {@link TestBed.create}. */
export interface TestBedOptions {
  /** rx and tx queues of each veth end (multi-queue veths, for RSS tests). Default 1. */
  queues?: number;
  /** Give B's end its addresses (198.18.0.2, fd00:198:18::2). Default true; false when linerate owns that end. */
  addressB?: boolean;
  /**
   * Keep B's kernel stack off B's end (implies `addressB: false`): no ARP replies, IPv4 from sources routed
   * elsewhere dropped (rp_filter), IPv6 off. For af_packet, whose sockets see a copy of what the kernel sees.
   */
  isolateB?: boolean;
  /** MTU of both ends. Default the kernel's (1500). */
  mtu?: number;
  /** Name tag appended after `lrt-<pid>-`; default a counter. */
  tag?: string;
}

/** Two namespaces joined by a veth pair. Create with {@link TestBed.create}; always {@link TestBed.destroy}. */
export class TestBed {
  readonly ipA = '198.18.0.1';
  readonly ipB = '198.18.0.2';
  readonly ip6A = 'fd00:198:18::1';
  readonly ip6B = 'fd00:198:18::2';
  private destroyed = false;
  private readonly children = new Set<ChildProcess>();

  private constructor(
    /** Base name (`lrt-<pid>-<tag>`); the namespaces are `<name>-a` and `<name>-b`. */
    readonly name: string,
    /** Namespace of side A. */
    readonly nsA: string,
    /** Namespace of side B. */
    readonly nsB: string,
    /** veth end in A (`lrt-a`). */
    readonly ifA: string,
    /** veth end in B (`lrt-b`). */
    readonly ifB: string,
    /** MAC of A's end, "aa:bb:..". */
    readonly macA: string,
    /** MAC of B's end. */
    readonly macB: string,
    readonly queues: number,
  ) {}

  /** Creates the namespaces and the veth pair (scripts/netns.sh up). */
  static async create(opts: TestBedOptions = {}): Promise<TestBed> {
    const name = `lrt-${process.pid}-${opts.tag ?? String(counter++)}`;
    const args = ['up', name, '--queues', String(opts.queues ?? 1)];
    if (opts.isolateB) args.push('--isolate-b');
    else if (opts.addressB === false) args.push('--no-addr-b');
    if (opts.mtu !== undefined) args.push('--mtu', String(opts.mtu));
    const r = await run('bash', [netnsScript, ...args]);
    if (r.code !== 0) {
      await run('bash', [netnsScript, 'down', name]);
      throw new Error(`scripts/netns.sh ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
    }
    const [nsA, nsB, ifA, ifB, macA, macB] = r.stdout.trim().split(/\s+/);
    const bed = new TestBed(name, nsA!, nsB!, ifA!, ifB!, macA!, macB!, opts.queues ?? 1);
    live.add(bed);
    return bed;
  }

  /** Namespace name of a side. */
  ns(side: Side): string {
    return side === 'a' ? this.nsA : this.nsB;
  }

  /** veth name of a side. */
  iface(side: Side): string {
    return side === 'a' ? this.ifA : this.ifB;
  }

  /** Runs `ip netns exec <ns> cmd...`; never throws on a non-zero exit (check `code`). */
  exec(side: Side | string, cmd: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
    const ns = side === 'a' || side === 'b' ? this.ns(side) : side;
    return run('ip', ['netns', 'exec', ns, ...cmd], opts);
  }

  /** Like {@link exec}, but throws with stderr when the command fails. Returns stdout. */
  async sh(side: Side | string, cmd: string[]): Promise<string> {
    const r = await this.exec(side, cmd);
    if (r.code !== 0) throw new Error(`${cmd.join(' ')} in ${side} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A permanent neighbour entry on a side: no ARP/NDP needed to reach `ip` (e.g. when linerate owns B's end). */
  async setNeighbor(side: Side, ip: string, mac: string): Promise<void> {
    await this.sh(side, ['ip', 'neigh', 'replace', ip, 'lladdr', mac, 'dev', this.iface(side), 'nud', 'permanent']);
  }

  /** Packet sockets open in a side's namespace (lines of /proc/net/packet after the header). */
  async packetSockets(side: Side): Promise<string[]> {
    const out = await this.sh(side, ['cat', '/proc/net/packet']);
    return out.split('\n').slice(1).filter((l) => l.trim() !== '');
  }

  /**
   * Turns off tx checksum offload on a side's veth end (`ethtool -K <if> tx off`, or the same ioctl from python3).
   * A local socket's UDP over a veth otherwise carries a partial checksum, which af_xdp hands over as it is (af_packet
   * completes it); echoed back unfinished, the sender's kernel would drop it.
   */
  async disableTxChecksum(side: Side): Promise<void> {
    const dev = this.iface(side);
    let r = await this.exec(side, ['ethtool', '-K', dev, 'tx', 'off']);
    if (r.code === 0) return;
    // SIOCETHTOOL (0x8946) with ETHTOOL_STXCSUM (0x17) and data 0: include/uapi/linux/ethtool.h.
    const py =
      'import socket,fcntl,struct,array,sys\n' +
      "ev=array.array('B',struct.pack('II',0x17,0))\n" +
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" +
      "fcntl.ioctl(s.fileno(),0x8946,struct.pack('16sP',sys.argv[1].encode(),ev.buffer_info()[0]))\n";
    r = await this.exec(side, ['python3', '-c', py, dev]);
    if (r.code !== 0) throw new Error(`cannot turn off tx checksum offload on ${dev}: install ethtool or python3 (${r.stderr.trim()})`);
  }

  /**
   * IPv4 datagrams a side's kernel stack took in: `Ip: InReceives` of /proc/net/snmp in its namespace (RFC 4293
   * ipSystemStatsInReceives, counted in ip_rcv before any check). Counts whether the stack saw a frame at all.
   */
  async ipInReceives(side: Side): Promise<number> {
    const lines = (await this.sh(side, ['cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Ip: '));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    const i = names.indexOf('InReceives');
    if (i < 0 || values[i] === undefined) throw new Error(`no Ip InReceives in /proc/net/snmp: ${lines.join(' | ')}`);
    return Number(values[i]);
  }

  /** Link names in a side's namespace (from `ip -o link`). */
  async links(side: Side): Promise<string[]> {
    const out = await this.sh(side, ['ip', '-o', 'link', 'show']);
    return out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => l.split(':')[1]!.trim().split('@')[0]!);
  }

  /**
   * Sends UDP datagrams from kernel sockets in a namespace (A by default) and
   * collects what comes back to those sockets. Each flow is one socket bound to
   * A's address with its own source port. Runs `node` inside the namespace.
   */
  async udpExchange(o: UdpExchangeOptions): Promise<UdpReply[]> {
    const family = o.family ?? 4;
    const side = o.side ?? 'a';
    const spec = {
      family,
      bind: o.bind ?? (family === 4 ? (side === 'a' ? this.ipA : this.ipB) : side === 'a' ? this.ip6A : this.ip6B),
      to: o.to ?? (family === 4 ? (side === 'a' ? this.ipB : this.ipA) : side === 'a' ? this.ip6B : this.ip6A),
      port: o.port,
      flows: o.flows ?? 1,
      sourcePorts: o.sourcePorts ?? [],
      payloads: o.payloads.map((p) => Buffer.from(p).toString('hex')),
      expect: o.expect ?? (o.flows ?? 1) * o.payloads.length,
      timeoutMs: o.timeoutMs ?? 3000,
      gapMs: o.gapMs ?? 0,
    };
    const r = await this.exec(side, [process.execPath, '-e', UDP_SCRIPT, JSON.stringify(spec)], { timeoutMs: spec.timeoutMs + 10_000 });
    if (r.code !== 0) throw new Error(`udp sender failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        const j = JSON.parse(l) as { flow: number; localPort: number; from: string; fromPort: number; hex: string };
        return { flow: j.flow, localPort: j.localPort, from: j.from, fromPort: j.fromPort, data: Buffer.from(j.hex, 'hex') };
      });
  }

  /** Runs `ping` in a side's namespace (iputils ping, or busybox's). Returns the transmitted/received counts. */
  async ping(side: Side, target: string, count = 3, timeoutS = 2): Promise<{ transmitted: number; received: number; output: string }> {
    const args = ['-c', String(count), '-W', String(timeoutS), '-i', '0.2', target];
    let r = await this.exec(side, ['ping', ...args]);
    if (r.code !== 0 && /exec of "ping" failed|No such file/.test(r.stderr)) {
      // busybox ping has no -i
      r = await this.exec(side, ['busybox', 'ping', '-c', String(count), '-W', String(timeoutS), target]);
    }
    const out = r.stdout + r.stderr;
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(out);
    return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output: out };
  }

  /** Spawns a long-running process inside a namespace; it is killed by {@link destroy} if still alive. */
  spawnIn(side: Side, cmd: string[]): ChildProcess {
    const c = spawn('ip', ['netns', 'exec', this.ns(side), ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(c);
    c.on('exit', () => this.children.delete(c));
    return c;
  }

  /** Kills children this bed spawned, then removes both namespaces (and with them the veth pair). Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const c of this.children) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
    live.delete(this);
    const r = await run('bash', [netnsScript, 'down', this.name]);
    if (r.code !== 0) throw new Error(`scripts/netns.sh down ${this.name} failed: ${r.stderr.trim()}`);
  }
}

/** Namespaces that exist now whose names start with `prefix` (default: this process's `lrt-<pid>-`). */
export function namespacesWithPrefix(prefix = `lrt-${process.pid}-`): string[] {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(/\s+/)[0]!)
      .filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

/** Destroys every test bed of this process still alive, then any namespace left with `prefix`. For afterAll. */
export async function cleanupLeftovers(prefix = `lrt-${process.pid}-`): Promise<void> {
  for (const b of [...live]) await b.destroy().catch(() => undefined);
  for (const ns of namespacesWithPrefix(prefix)) await run('ip', ['netns', 'del', ns]);
}

/** Runs a command; resolves with code/stdout/stderr (code -1 when it could not start or timed out). */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === -1 ? String(err.message) : '') });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** True when `ping` or `busybox` is on PATH (the exception-path tests need one). */
export function havePing(): boolean {
  const dirs = (process.env.PATH ?? '').split(':');
  return dirs.some((d) => existsSync(join(d, 'ping')) || existsSync(join(d, 'busybox')));
}

// The sender run inside the namespace: one socket per flow, sends every payload,
// prints each reply as a JSON line, exits when `expect` replies came or on timeout.
const UDP_SCRIPT = `
const dgram = require('node:dgram');
const s = JSON.parse(process.argv[1]);
const payloads = s.payloads.map((h) => Buffer.from(h, 'hex'));
let got = 0, bound = 0, done = false;
const socks = [];
const finish = () => { if (done) return; done = true; for (const k of socks) k.close(); };
setTimeout(finish, s.timeoutMs);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function go() {
  for (let i = 0; i < payloads.length; i++) {
    for (const k of socks) await new Promise((r) => k.send(payloads[i], s.port, s.to, r));
    if (s.gapMs) await sleep(s.gapMs);
  }
  if (s.expect === 0) setTimeout(finish, 50);
}
for (let f = 0; f < s.flows; f++) {
  const k = dgram.createSocket(s.family === 6 ? 'udp6' : 'udp4');
  socks.push(k);
  k.on('error', (e) => { console.error(String(e)); });
  k.on('message', (m, r) => {
    process.stdout.write(JSON.stringify({ flow: f, localPort: k.address().port, from: r.address, fromPort: r.port, hex: m.toString('hex') }) + '\\n');
    if (++got >= s.expect) finish();
  });
  k.bind({ address: s.bind, port: s.sourcePorts[f] || 0 }, () => { if (++bound === s.flows) go(); });
}
`;
