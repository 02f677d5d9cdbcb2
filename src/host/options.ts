/**
 * Options of the host layer ({@link Engine.host}, {@link Host.udp},
 * {@link Host.udpInWorkers}) and their checking.
 */
import { LinerateError } from '../errors.js';
import { describe } from '../option-check.js';
import type { HandleInWorkersOptions, HandleOptions } from '../handler/options.js';
import { parseCidr, parseIp, parseMacBytes, type IpBytes } from './address.js';

/** A static neighbour: an address and the MAC to send to it. */
export interface StaticNeighbor {
  ip: string;
  mac: string;
}

/** Options of {@link Engine.host}: the addresses the port owns and how it shares the interface. */
export interface HostOptions {
  /** IPv4 address and prefix length, e.g. '198.18.0.2/24'. Give ipv4, ipv6 or both. */
  ipv4?: string;
  /** IPv4 gateway for destinations off the ipv4 prefix. */
  gateway4?: string;
  /** IPv6 address and prefix length, e.g. 'fd00:198:18::2/64'. */
  ipv6?: string;
  /** IPv6 gateway for destinations off the ipv6 prefix. */
  gateway6?: string;
  /**
   * 'linerate' (default): linerate answers ARP, neighbour discovery and ping for
   * these addresses; what it does not serve goes to the port's exception path (a
   * tap) when it has one, else is dropped and counted. 'kernel': the kernel keeps
   * the addresses (docs/host.md).
   */
  owner?: 'linerate' | 'kernel';
  /** Static neighbour entries (never aged, never overwritten by learning). */
  neighbors?: StaticNeighbor[];
  /** 802.1Q VLAN id of the host's traffic (1..4094); untagged without it. */
  vlan?: number;
  /** TTL / hop limit of what the host sends. Default 64. */
  ttl?: number;
  /**
   * Answer UDP to a port no socket serves with ICMP port unreachable (RFC 792,
   * RFC 4443), at most 1000 a second (bursts of 50). Default false: such datagrams are only
   * counted (udpNoListener), as a server under attack should not amplify.
   */
  icmpUnreachable?: boolean;
  /** Neighbour table entries (a power of two). Default 1024. */
  neighborCapacity?: number;
  /** Packets held per unresolved neighbour while it resolves (1..16). Default 4. */
  holdPackets?: number;
}

/** Options of {@link Host.udp}. */
export interface HostUdpOptions extends Pick<HandleOptions, 'ringSize' | 'coalesceUs'> {
  /** The UDP port this socket serves (1..65535), on every address of the host. */
  port: number;
  /**
   * How many consecutive UDP ports the socket serves, from `port` (default 1). A
   * datagram it sends (sendTo) leaves from the source port it names with
   * {@link DatagramBatch.setSrcPort} when that is one of these, else from `port`.
   * One socket, many source ports: a load generator's flows.
   */
  ports?: number;
}

/** Options of {@link Host.udpInWorkers}: the socket's, and the workers' as in {@link HandleInWorkersOptions}. */
export interface HostUdpWorkerOptions extends HostUdpOptions, Pick<HandleInWorkersOptions, 'module' | 'export' | 'mode' | 'cpus' | 'data' | 'counters'> {
  /**
   * Inline mode: call the handler after every poll, also when nothing came (a
   * batch with count 0), so it can send at its own pace with alloc() and
   * sendTo() (the load generator, src/gen/, does). Default false: the handler runs
   * only for received datagrams.
   */
  pollEmpty?: boolean;
}

/** What the native host takes: addresses as bytes. @internal */
export interface NativeHostConfig {
  ipv4?: Uint8Array;
  prefix4: number;
  gateway4?: Uint8Array;
  ipv6?: Uint8Array;
  prefix6: number;
  gateway6?: Uint8Array;
  owner: 'linerate' | 'kernel';
  vlan: number;
  ttl: number;
  icmpUnreachable: boolean;
  neighborCapacity: number;
  holdPackets: number;
  neighbors: { ip: Uint8Array; mac: Uint8Array }[];
}

const KNOWN = new Set(['ipv4', 'gateway4', 'ipv6', 'gateway6', 'owner', 'neighbors', 'vlan', 'ttl', 'icmpUnreachable', 'neighborCapacity', 'holdPackets']);

function intIn(v: unknown, min: number, max: number, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new LinerateError('INVALID_OPTION', `host: ${what} must be an integer in ${min}..${max}, got ${describe(v)}`);
  }
  return v;
}

function onPrefix(gw: IpBytes, net: IpBytes & { prefix: number }): boolean {
  for (let bit = 0; bit < net.prefix; bit++) {
    const m = 0x80 >> (bit % 8);
    if ((gw.bytes[bit >> 3] & m) !== (net.bytes[bit >> 3] & m)) return false;
  }
  return true;
}

/** One family's address and gateway (ipv4/gateway4 or ipv6/gateway6), checked; undefined without an address. */
function addressOf(addr: string | undefined, gateway: string | undefined, family: 4 | 6): { bytes: Uint8Array; prefix: number; gateway?: Uint8Array } | undefined {
  const name = `ipv${family}`, gwName = `gateway${family}`;
  if (addr === undefined) {
    if (gateway !== undefined) throw new LinerateError('INVALID_OPTION', `host: ${gwName} needs ${name}`);
    return undefined;
  }
  const a = parseCidr(addr, `host: ${name}`);
  if (a.family !== family) throw new LinerateError('INVALID_OPTION', `host: ${name} '${addr}' is an IPv${a.family} address; give it as ipv${a.family}`);
  if (gateway === undefined) return { bytes: a.bytes, prefix: a.prefix };
  const g = parseIp(gateway, `host: ${gwName}`);
  // An IPv6 gateway may be link-local (fe80::/10, RFC 4291 section 2.5.6), as routers usually are.
  const linkLocal = family === 6 && g.bytes[0] === 0xfe && (g.bytes[1] & 0xc0) === 0x80;
  if (g.family !== family || !(linkLocal || onPrefix(g, a))) {
    throw new LinerateError('INVALID_OPTION', family === 4 ? `host: gateway4 '${gateway}' must be an IPv4 address on ${addr}` : `host: gateway6 '${gateway}' must be link-local or on ${addr}`);
  }
  return { bytes: a.bytes, prefix: a.prefix, gateway: g.bytes };
}

/** Checks HostOptions; every error names the option and what is wrong. @internal */
export function resolveHostOptions(o: HostOptions): NativeHostConfig {
  if (o === null || typeof o !== 'object') throw new LinerateError('INVALID_OPTION', 'host: options must be an object');
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new LinerateError('UNKNOWN_OPTION', `host: unknown option '${k}' (known: ${[...KNOWN].join(', ')})`);
  if (o.ipv4 === undefined && o.ipv6 === undefined) throw new LinerateError('INVALID_OPTION', "host: give ipv4 ('198.18.0.2/24'), ipv6 ('fd00:198:18::2/64') or both");
  const cfg: NativeHostConfig = {
    prefix4: 32,
    prefix6: 128,
    owner: 'linerate',
    vlan: intIn(o.vlan, 1, 4094, 'vlan', 0),
    ttl: intIn(o.ttl, 1, 255, 'ttl', 64),
    icmpUnreachable: o.icmpUnreachable ?? false,
    neighborCapacity: intIn(o.neighborCapacity, 16, 1 << 20, 'neighborCapacity', 1024),
    holdPackets: intIn(o.holdPackets, 1, 16, 'holdPackets', 4),
    neighbors: [],
  };
  if ((cfg.neighborCapacity & (cfg.neighborCapacity - 1)) !== 0) throw new LinerateError('INVALID_OPTION', `host: neighborCapacity must be a power of two, got ${cfg.neighborCapacity}`);
  if (o.icmpUnreachable !== undefined && typeof o.icmpUnreachable !== 'boolean') throw new LinerateError('INVALID_OPTION', `host: icmpUnreachable must be a boolean, got ${describe(o.icmpUnreachable)}`);
  if (o.owner !== undefined && o.owner !== 'linerate' && o.owner !== 'kernel') throw new LinerateError('INVALID_OPTION', `host: owner must be 'linerate' or 'kernel', got ${describe(o.owner)}`);
  cfg.owner = o.owner ?? 'linerate';
  const v4 = addressOf(o.ipv4, o.gateway4, 4);
  if (v4) [cfg.ipv4, cfg.prefix4, cfg.gateway4] = [v4.bytes, v4.prefix, v4.gateway];
  const v6 = addressOf(o.ipv6, o.gateway6, 6);
  if (v6) [cfg.ipv6, cfg.prefix6, cfg.gateway6] = [v6.bytes, v6.prefix, v6.gateway];
  if (o.neighbors !== undefined) {
    if (!Array.isArray(o.neighbors)) throw new LinerateError('INVALID_OPTION', 'host: neighbors must be an array of { ip, mac }');
    o.neighbors.forEach((n, i) => {
      const ip = parseIp(n?.ip, `host: neighbors[${i}].ip`);
      const mac = parseMacBytes(n?.mac, `host: neighbors[${i}].mac`);
      if (mac[0] & 1) throw new LinerateError('INVALID_OPTION', `host: neighbors[${i}].mac '${n.mac}' is a group address`);
      cfg.neighbors.push({ ip: ip.bytes, mac });
    });
  }
  return cfg;
}

/** Checks HostUdpOptions.ports against the first port. @internal */
export function checkPortCount(first: number, count: unknown, scope: string): number {
  if (count === undefined) return 1;
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || first + count - 1 > 65535) {
    throw new LinerateError('INVALID_OPTION', `${scope}: ports must be an integer in 1..${65536 - first} (port ${first} and the ones after it), got ${JSON.stringify(count)}`);
  }
  return count;
}

/** Checks a UDP port option. @internal */
export function checkUdpPort(port: unknown, scope: string): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new LinerateError('INVALID_OPTION', `${scope}: port must be an integer in 1..65535, got ${describe(port)}`);
  }
  return port;
}
