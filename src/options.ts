/**
 * Option types and their validation. Everything is checked here, before any
 * native code runs, so a typo fails fast with the option's name in the message.
 * (The native side checks again: it never trusts its caller.)
 */
import type { WarningOptions } from './watchdog.js';
import { LinerateError } from './errors.js';
import { check, checkCpuList, describe, isPow2, type Rule } from './option-check.js';
import { checkControlOptions, type ControlOptions } from './control/dir.js';
// The handler options live next to the handlers; exported here too, with the rest.
export * from './handler/options.js';

/** Mempool configuration. */
export interface MempoolOptions {
  /** Number of mbufs in the pool. Default 8192. */
  mbufs?: number;
  /** Bytes before the packet data, for prepending headers. Multiple of 64. Default 128. */
  headroom?: number;
  /** Largest frame an mbuf holds. Multiple of 64. Default 2048. */
  dataRoom?: number;
  /** Free mbufs each lcore keeps in its private cache. Default 256, at most 512. */
  cacheSize?: number;
  /**
   * `'auto'` (default): hugepages when the host has them, else populated and locked 4 KiB pages, with a warning in
   * `engine.info()` and stats. `'require'`: no fallback, fail with HUGEPAGES_UNAVAILABLE. `'off'`: 4 KiB pages.
   */
  hugepages?: 'auto' | 'require' | 'off';
  /** Hugepage size to use. Default `'2M'`. */
  hugepageSize?: '2M' | '1G';
}

/** Options of {@link Engine.create}. */
export interface EngineOptions {
  /** CPUs to run lcores on, one pinned thread each. Default: the last CPU this process may use. */
  lcores?: number[];
  mempool?: MempoolOptions;
  /**
   * `'busy'` (default) polls flat out; `'adaptive'` backs off when idle and returns to full speed on traffic: an lcore
   * whose queues can all wake it (vfio NICs through MSI-X interrupts, af_xdp and af_packet sockets) blocks until a
   * packet arrives; any other lcore sleeps in short steps (`maxSleepUs`). See docs/tuning.md.
   */
  idle?: 'busy' | 'adaptive';
  /** Longest sleep of an idle lcore in adaptive mode that cannot block on its queues, in microseconds. Default 50. */
  maxSleepUs?: number;
  /**
   * Adaptive idle, an lcore blocked until a packet arrives: the longest wait before it polls anyway, in microseconds
   * (a safety net against a lost interrupt; tx buffers are flushed before it blocks). Default 10000.
   */
  maxWaitUs?: number;
  /** Packets per rx/tx burst, 1..64. Default 32. */
  burst?: number;
  /** Tx buffers are flushed at least this often, in microseconds. Default 100. */
  drainUs?: number;
  /** Slots of each software-RSS ring (power of two). Default 1024. */
  rssRingSize?: number;
  /** The watchdog's thresholds (the `'warning'` event; docs/operations.md). */
  warnings?: WarningOptions;
  /**
   * The engine's name: tools (`linerate ls`, `stats`, `top`) show it and take it to pick the engine; it names the
   * control socket `<pid>-<name>.sock`. Letters, digits, `.`, `_`, `-`, at most 64. Default: the process's script name
   * without extension (`l2fwd` for `node l2fwd.js`; `dns` for `dns/main.js`; `node` without a script), `-1`, `-2`, ... appended for the second
   * and later engines the process creates.
   */
  name?: string;
  /**
   * The control socket (docs/control.md): while the engine runs, tools outside the process read its info, stats and
   * warnings there. Default: on, in the control directory (`$LINERATE_CONTROL_DIR`, else `/run/linerate` for root,
   * else `$XDG_RUNTIME_DIR/linerate`, else `<tmpdir>/linerate-<uid>`). `false` turns it off; `{ dir }` or `{ path }` moves it.
   */
  control?: false | ControlOptions;
}

/** Receive-side scaling for ports with several rx queues. */
export interface RssOptions {
  /**
   * Toeplitz key, at least 40 bytes. Default: the key from Microsoft's RSS specification. Software RSS uses it, and so
   * does hardware RSS where linerate programs the NIC (vfio: the 82574 takes exactly 40 bytes, virtio-net 40 up to the
   * device's `rss_max_key_size`). Drivers whose queues are spread by the kernel (af_packet, af_xdp) refuse a key with
   * `RSS_KEY_UNSUPPORTED` rather than ignore it.
   */
  key?: Uint8Array;
  /**
   * Hash both directions of a flow alike (so they land on the same lcore). Default false. Software RSS only, and
   * af_packet, whose fanout hash is symmetric anyway; elsewhere `INVALID_OPTION` (vfio NICs: give `key` as 0x6d,0x5a
   * repeated, a symmetric Toeplitz key).
   */
  symmetric?: boolean;
}

/** Options every port takes, whatever its driver. */
export interface CommonPortOptions {
  /** Rx queues, each polled by one lcore. Drivers without hardware RSS get software RSS. Default 1. */
  rxQueues?: number;
  rss?: RssOptions;
}

/** `null`: synthetic packets on rx, a sink on tx (benchmarks). */
export interface NullPortOptions extends CommonPortOptions {
  driver: 'null';
  /** Frame length produced on rx, 14..dataRoom. Default 64. */
  packetSize?: number;
  /** Frame bytes; default an Ethernet/IPv4/UDP frame 198.18.0.1:9 -> 198.18.0.2:9 with valid checksums. */
  content?: Uint8Array;
  /** Write the content into every packet (default true). false leaves data untouched, like DPDK's net_null. */
  copy?: boolean;
  /** Stop producing after this many packets (0 = never). */
  count?: number;
  /** Rx rate limit in packets per second, split evenly over the rx queues (a token bucket each, on the TSC); 0 = unlimited (default). */
  rate?: number;
  /**
   * Timestamp every received packet (default false): the mbuf header's timestamp (nanoseconds since the epoch, read
   * from the TSC once per burst) and its timestamp-valid flag. For latency measurements with `latency` on the sink.
   */
  stamp?: boolean;
  /**
   * Measure latency on tx (default false): for every transmitted packet whose timestamp is valid, now − timestamp goes
   * into a histogram per tx queue (64 ns buckets up to 65.5 µs, then powers of two). `stats().ports[name].xstats` then
   * has `latency_count`, `latency_p50_ns`, `latency_p99_ns`, `latency_p999_ns`, `latency_max_ns`, `latency_mean_ns`
   * (a percentile is the upper edge of its bucket, at most the maximum).
   */
  latency?: boolean;
}

/** `ring`: two ports joined in-process by rings (a virtual wire), zero-copy. */
export interface RingPortOptions extends CommonPortOptions {
  driver: 'ring';
  /** The wire's name: the first two ports naming it are its ends. */
  wire: string;
  /** Slots per direction (power of two). Default 1024. */
  size?: number;
}

/** `pcap`: receive from a capture file, transmit into one. */
export interface PcapPortOptions extends CommonPortOptions {
  driver: 'pcap';
  /** File to read packets from (libpcap format, Ethernet link type). */
  rxFile?: string;
  /** File to write transmitted packets to (nanosecond pcap). */
  txFile?: string;
  /** `'once'` (default), `'loop'` forever, or `'pace'` at the recorded timing. */
  mode?: 'once' | 'loop' | 'pace';
  /** Snap length written into the tx file header. Default 65535. */
  snaplen?: number;
}

/**
 * `af_packet`: a kernel network interface through packet sockets with mmap rings (TPACKET_V3 rx, TPACKET_V2 tx),
 * several rx queues by PACKET_FANOUT. Needs CAP_NET_RAW (and CAP_SYS_ADMIN for `netns`). See docs/drivers/af_packet.md.
 */
export interface AfPacketPortOptions extends CommonPortOptions {
  driver: 'af_packet';
  /** The interface to open, e.g. `'eth1'` or a veth end. Required. */
  interface: string;
  /** Network namespace (a name from `ip netns list`) the interface lives in. Default: this process's. */
  netns?: string;
  /** Receive frames for any destination MAC (PACKET_MR_PROMISC). Default true. */
  promiscuous?: boolean;
  /** Bytes per rx ring block: a power of two, a multiple of the page size. Default 65536 (more if `frameSize` needs). */
  blockSize?: number;
  /** Rx ring blocks per queue. Default 64: below the rate that fills a block, a ring lasts `blockCount` x `blockTimeoutMs`. */
  blockCount?: number;
  /** Ring slot size; the largest frame is min(frameSize - 96, mempool.dataRoom). Multiple of 16. Default 2048. */
  frameSize?: number;
  /** A partly filled rx block is handed over after this many milliseconds (tp_retire_blk_tov). Default 1. */
  blockTimeoutMs?: number;
  /** Slots of each tx ring. Default 512. */
  txFrames?: number;
  /** Transmit without the kernel's qdisc layer (PACKET_QDISC_BYPASS). Default true. */
  qdiscBypass?: boolean;
  /**
   * Take received frames away from the kernel's own stack while the port is started: a tcx ingress BPF program drops
   * each frame after the port's packet sockets have their copy, so the kernel neither processes nor answers what
   * linerate handles (no ICMP port unreachable for a UDP port only linerate serves, no second ARP reply, no IP input
   * cost on the receiving CPU). Frames the kernel should still see (ARP, ping, SSH) go to it through the exception
   * path ({@link Engine.exceptionPath}), as with af_xdp. The program is linked with a BPF link, so it goes away when
   * the port stops, closes, or the process dies. Needs Linux 6.6+ (tcx) and CAP_BPF + CAP_NET_ADMIN: `TCX_UNSUPPORTED`
   * or `MISSING_CAPABILITY` at `addPort` otherwise. Default false: a packet socket is a tap, and the interface keeps
   * working for the host as before. See docs/drivers/af_packet.md.
   */
  consume?: boolean;
}

/**
 * `tap`: a TAP device, the kernel side of the exception path (see {@link Engine.exceptionPath}). Frames linerate
 * transmits on it are received by the kernel's stack, and what the kernel sends on it is received here.
 * Needs CAP_NET_ADMIN. See docs/drivers/tap.md.
 */
export interface TapPortOptions extends CommonPortOptions {
  driver: 'tap';
  /** TAP device name; created if missing (at most 15 characters). Required. */
  interface: string;
  /** Network namespace to create the device in. Default: this process's. */
  netns?: string;
  /** MAC address of the kernel's side of the device, e.g. the MAC of the port it stands in for. Default: the kernel's choice. */
  mac?: string;
  /** MTU of the device. Default: the kernel's (1500). */
  mtu?: number;
}

/** An af_xdp early-drop rule: every field given must match; at least one is required. */
export interface DropRule {
  /** IPv4 or IPv6 source prefix, e.g. `'198.18.5.0/24'` or `'fd00:198:18::/48'` (a bare address is a /32 or /128). */
  srcPrefix?: string;
  /** IP protocol (IPv4 protocol, IPv6 next header): a name or a number 0..255. `'icmp'` is 1, `'icmpv6'` 58. */
  protocol?: 'udp' | 'tcp' | 'icmp' | 'icmpv6' | number;
  /** TCP or UDP destination port (first fragments only). */
  dstPort?: number;
}

/**
 * `af_xdp`: XDP sockets on a kernel interface, one per rx queue; the mempool is the UMEM. Zero-copy where the NIC
 * driver supports it, copy mode otherwise (`port.info().details.mode`). Needs CAP_NET_RAW, CAP_NET_ADMIN and
 * CAP_BPF (CAP_SYS_ADMIN for `netns`). See docs/drivers/af_xdp.md.
 */
export interface AfXdpPortOptions extends CommonPortOptions {
  driver: 'af_xdp';
  /** The interface to attach to, e.g. `'eth1'` or a veth end. Required. */
  interface: string;
  /** Network namespace (a name from `ip netns list`) the interface lives in. Default: this process's. */
  netns?: string;
  /** `'auto'` (default): zero-copy if the driver has it, else copy. `'zerocopy'` fails where unsupported. */
  mode?: 'auto' | 'zerocopy' | 'copy';
  /** Slots of each of the four rings per queue (power of two). Default 2048. */
  ringSize?: number;
  /** Packets the XDP program drops before they reach user space, counted per rule (xstats `drop_rule_<i>`). At most 32. */
  dropRules?: DropRule[];
  /**
   * Share the interface with the kernel: only UDP datagrams to these `'address:port'` pairs reach linerate
   * (`'198.18.0.2:53'`, `'[fd00:198:18::2]:53'`); every other frame (ARP, neighbour discovery, ping, TCP, UDP to
   * other ports, IP fragments) is passed to the kernel's stack, which keeps the address. At most 64 pairs. xstats
   * `steer_redirected`, `steer_passed`, `steer_rules`. Default: none, everything to linerate. See
   * docs/drivers/af_xdp.md, "Sharing the interface with the kernel".
   */
  udpSteer?: string[];
  /** With `udpSteer`: steer only frames tagged with this 802.1Q VLAN id (1..4094). Default 0: untagged frames only. */
  udpSteerVlan?: number;
}

/**
 * `vfio`: a PCI NIC bound to vfio-pci (`linerate bind <pci>`), driven from user space: Intel 82574L (e1000e) or
 * virtio-net (modern). Its rings live in DMA-mapped memory and its mbufs come from the mempool (zero copy).
 */
export interface VfioPortOptions extends CommonPortOptions {
  driver: 'vfio';
  /** PCI address of the NIC, e.g. `'0000:00:03.0'` (list them with `linerate devices`). */
  pci: string;
  /**
   * Drive the NIC without an IOMMU (vfio's unsafe no-IOMMU mode): the device can DMA anywhere in memory. Needs the
   * mempool on hugepages. Default false; a warning is printed when set.
   */
  noIommu?: boolean;
  /** Descriptors per rx queue (power of two). Default 512 (e1000e), 256 (virtio-net, or the device's maximum). */
  rxRingSize?: number;
  /** Descriptors per tx queue (power of two). Default as rxRingSize. */
  txRingSize?: number;
  /** Receive every frame, not only those for the NIC's MAC and broadcast. Default false. */
  promiscuous?: boolean;
}

export type PortOptions = NullPortOptions | RingPortOptions | PcapPortOptions | AfPacketPortOptions | TapPortOptions | AfXdpPortOptions | VfioPortOptions;

/** Options of {@link Engine.forward}. */
export interface ForwardOptions {
  /** `'io'` (default) forwards unchanged; `'mac'` rewrites MACs as DPDK's l2fwd does. */
  mode?: 'io' | 'mac';
  /** mac mode: the destination MAC to write. Default 02:00:00:00:00:<output port id>, as l2fwd. */
  dstMac?: string;
}

const common: Record<string, Rule> = {
  driver: { type: 'string' },
  rxQueues: { type: 'int', min: 1, max: 64 },
  rss: { type: 'object' },
};

const driverRules: Record<string, Record<string, Rule>> = {
  null: {
    ...common,
    packetSize: { type: 'int', min: 14, max: 65535 },
    content: { type: 'bytes', minLength: 1 },
    copy: { type: 'bool' },
    count: { type: 'int', min: 0, max: Number.MAX_SAFE_INTEGER },
    rate: { type: 'int', min: 0, max: 1e12 },
    stamp: { type: 'bool' },
    latency: { type: 'bool' },
  },
  ring: { ...common, wire: { type: 'string', nonEmpty: true }, size: { type: 'int', min: 2, max: 1 << 20 } },
  pcap: {
    ...common,
    rxFile: { type: 'string', nonEmpty: true },
    txFile: { type: 'string', nonEmpty: true },
    mode: { type: 'enum', values: ['once', 'loop', 'pace'] },
    snaplen: { type: 'int', min: 64, max: 262144 },
  },
  af_packet: {
    ...common,
    interface: { type: 'string', nonEmpty: true },
    netns: { type: 'string', nonEmpty: true },
    promiscuous: { type: 'bool' },
    blockSize: { type: 'int', min: 4096, max: 1 << 26 },
    blockCount: { type: 'int', min: 1, max: 65536 },
    frameSize: { type: 'int', min: 128, max: 262144 },
    blockTimeoutMs: { type: 'int', min: 1, max: 1000 },
    txFrames: { type: 'int', min: 16, max: 65536 },
    qdiscBypass: { type: 'bool' },
    consume: { type: 'bool' },
  },
  tap: {
    ...common,
    interface: { type: 'string', nonEmpty: true },
    netns: { type: 'string', nonEmpty: true },
    mac: { type: 'string', nonEmpty: true },
    mtu: { type: 'int', min: 68, max: 65521 },
  },
  af_xdp: {
    ...common,
    interface: { type: 'string', nonEmpty: true },
    netns: { type: 'string', nonEmpty: true },
    mode: { type: 'enum', values: ['auto', 'zerocopy', 'copy'] },
    ringSize: { type: 'int', min: 64, max: 16384 },
    dropRules: { type: 'object' },
    udpSteer: { type: 'object' },
    udpSteerVlan: { type: 'int', min: 0, max: 4094 },
  },
  vfio: {
    ...common,
    pci: { type: 'string', nonEmpty: true },
    noIommu: { type: 'bool' },
    rxRingSize: { type: 'int', min: 64, max: 4096 },
    txRingSize: { type: 'int', min: 64, max: 4096 },
    promiscuous: { type: 'bool' },
  },
};

const engineRules: Record<string, Rule> = {
  lcores: { type: 'object' },
  mempool: { type: 'object' },
  idle: { type: 'enum', values: ['busy', 'adaptive'] },
  maxSleepUs: { type: 'int', min: 1, max: 1_000_000 },
  maxWaitUs: { type: 'int', min: 1, max: 10_000_000 },
  burst: { type: 'int', min: 1, max: 64 },
  drainUs: { type: 'int', min: 1, max: 1_000_000 },
  rssRingSize: { type: 'int', min: 2, max: 1 << 20 },
  warnings: { type: 'object' },
};

const mempoolRules: Record<string, Rule> = {
  mbufs: { type: 'int', min: 1, max: 1 << 28 },
  headroom: { type: 'int', min: 0, max: 65408 },
  dataRoom: { type: 'int', min: 64, max: 65408 },
  cacheSize: { type: 'int', min: 0, max: 512 },
  hugepages: { type: 'enum', values: ['auto', 'require', 'off'] },
  hugepageSize: { type: 'enum', values: ['2M', '1G'] },
};

/** Validated, defaulted engine options. @internal */
export interface ResolvedEngineOptions {
  cpus: number[];
  native: Record<string, unknown>;
}

/** @internal */
export function resolveEngineOptions(opts: EngineOptions, allowedCpus: number[]): ResolvedEngineOptions {
  // (check() says "must be an object" for anything else; destructuring first would throw a TypeError instead.)
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) check('Engine.create', opts, engineRules);
  const { control, name, ...rest } = opts;
  check('Engine.create', rest, engineRules);
  checkControlOptions(control, name);
  const mp = opts.mempool ?? {};
  check('mempool', mp, mempoolRules);
  for (const k of ['headroom', 'dataRoom'] as const) {
    const v = mp[k];
    if (v !== undefined && v % 64 !== 0) throw new LinerateError('INVALID_OPTION', `mempool: option '${k}' must be a multiple of 64, got ${v}`);
  }
  if (opts.rssRingSize !== undefined && !isPow2(opts.rssRingSize)) {
    throw new LinerateError('INVALID_OPTION', `Engine.create: option 'rssRingSize' must be a power of two, got ${opts.rssRingSize}`);
  }
  let cpus = opts.lcores;
  if (cpus === undefined) {
    if (allowedCpus.length === 0) throw new LinerateError('CPU_UNAVAILABLE', 'this process may not run on any CPU (sched_getaffinity is empty)');
    cpus = [allowedCpus[allowedCpus.length - 1]];
  }
  cpus = checkCpuList('Engine.create', 'lcores', cpus, allowedCpus);
  return {
    cpus,
    native: {
      mbufs: mp.mbufs,
      headroom: mp.headroom,
      dataRoom: mp.dataRoom,
      cacheSize: mp.cacheSize,
      hugepages: mp.hugepages,
      hugepageSize: mp.hugepageSize === '1G' ? 1 << 30 : mp.hugepageSize === '2M' ? 2 << 20 : undefined,
      idle: opts.idle,
      maxSleepUs: opts.maxSleepUs,
      maxWaitUs: opts.maxWaitUs,
      burst: opts.burst,
      drainUs: opts.drainUs,
      rssRingSize: opts.rssRingSize,
    },
  };
}

/** @internal */
export function validatePortOptions(name: string, opts: PortOptions, knownDrivers: string[]): void {
  if (typeof name !== 'string' || name.length === 0) throw new LinerateError('INVALID_OPTION', 'a port needs a non-empty name');
  if (opts === null || typeof opts !== 'object') throw new LinerateError('INVALID_OPTION', `port '${name}': options must be an object`);
  const driver = (opts as { driver?: unknown }).driver;
  if (typeof driver !== 'string' || !driverRules[driver] || !knownDrivers.includes(driver)) {
    throw new LinerateError('UNKNOWN_DRIVER', `port '${name}': unknown driver ${describe(driver)} (available: ${knownDrivers.join(', ')})`);
  }
  check(`port '${name}' (${driver})`, opts, driverRules[driver]);
  if (opts.rss) check(`port '${name}' rss`, opts.rss, { key: { type: 'bytes', minLength: 40 }, symmetric: { type: 'bool' } });
  if (opts.driver === 'ring' && opts.size !== undefined && !isPow2(opts.size)) {
    throw new LinerateError('INVALID_OPTION', `port '${name}' (ring): option 'size' must be a power of two, got ${opts.size}`);
  }
  if (opts.driver === 'vfio') {
    if (typeof opts.pci !== 'string') throw new LinerateError('INVALID_OPTION', `port '${name}' (vfio): option 'pci' is required, e.g. '0000:00:03.0' (see: linerate devices)`);
    if (!/^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/i.test(opts.pci)) {
      throw new LinerateError('INVALID_OPTION', `port '${name}' (vfio): option 'pci' must be a PCI address like 0000:00:03.0, got '${opts.pci}'`);
    }
    for (const k of ['rxRingSize', 'txRingSize'] as const) {
      const v = opts[k];
      if (v !== undefined && !isPow2(v)) throw new LinerateError('INVALID_OPTION', `port '${name}' (vfio): option '${k}' must be a power of two, got ${v}`);
    }
  }
  if (opts.driver === 'pcap' && !opts.rxFile && !opts.txFile) {
    throw new LinerateError('INVALID_OPTION', `port '${name}' (pcap): give rxFile, txFile or both`);
  }
  if (opts.driver === 'af_xdp') {
    if (opts.ringSize !== undefined && !isPow2(opts.ringSize)) {
      throw new LinerateError('INVALID_OPTION', `port '${name}' (af_xdp): option 'ringSize' must be a power of two, got ${opts.ringSize}`);
    }
    if (opts.dropRules !== undefined) encodeDropRules(`port '${name}' (af_xdp)`, opts.dropRules);
    if (opts.udpSteer !== undefined) encodeUdpSteer(`port '${name}' (af_xdp)`, opts.udpSteer);
    if (opts.udpSteerVlan && !opts.udpSteer?.length) {
      throw new LinerateError('INVALID_OPTION', `port '${name}' (af_xdp): option 'udpSteerVlan' needs 'udpSteer' (the address:port pairs to take)`);
    }
  }
}

/** Parses "aa:bb:cc:dd:ee:ff". @internal */
export function parseMac(s: string, what: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  if (!m) throw new LinerateError('INVALID_OPTION', `${what} must be a MAC address like 02:00:00:00:00:01, got ${describe(s)}`);
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}

const protocolNumbers: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 };

/**
 * Checks af_xdp drop rules and encodes them for the native side:
 * `src=198.18.5.0/24,proto=17,dport=53;...` (native/drivers/af_xdp/drop_rules.h parses and checks again). @internal
 */
export function encodeDropRules(scope: string, rules: readonly DropRule[]): string {
  if (!Array.isArray(rules)) throw new LinerateError('INVALID_OPTION', `${scope}: dropRules must be an array, got ${describe(rules)}`);
  if (rules.length > 32) throw new LinerateError('INVALID_OPTION', `${scope}: at most 32 drop rules, got ${rules.length}`);
  return rules
    .map((r, i) => {
      const where = `${scope}: dropRules[${i}]`;
      if (r === null || typeof r !== 'object') throw new LinerateError('INVALID_OPTION', `${where} must be an object, got ${describe(r)}`);
      const { protocol: _protocol, ...rest } = r;
      check(where, rest, { srcPrefix: { type: 'string', nonEmpty: true }, dstPort: { type: 'int', min: 0, max: 65535 } });
      const f: string[] = [];
      if (r.srcPrefix !== undefined) {
        const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/.exec(r.srcPrefix);
        const v6 = r.srcPrefix.includes(':');
        if (!m || (m[2] !== undefined && Number(m[2]) > (v6 ? 128 : 32))) {
          throw new LinerateError('INVALID_OPTION', `${where}: srcPrefix must be a prefix like '198.18.5.0/24' or 'fd00:198:18::/48', got ${describe(r.srcPrefix)}`);
        }
        f.push(`src=${r.srcPrefix}`);
      }
      if (r.protocol !== undefined) {
        const p = typeof r.protocol === 'string' ? protocolNumbers[r.protocol] : r.protocol;
        if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 255) {
          throw new LinerateError('INVALID_OPTION', `${where}: protocol must be 'udp', 'tcp', 'icmp', 'icmpv6' or 0..255, got ${describe(r.protocol)}`);
        }
        f.push(`proto=${p}`);
      }
      if (r.dstPort !== undefined) f.push(`dport=${r.dstPort}`);
      if (f.length === 0) throw new LinerateError('INVALID_OPTION', `${where} matches every packet; give srcPrefix, protocol or dstPort`);
      return f.join(',');
    })
    .join(';');
}

const ipv4Re = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Checks af_xdp `udpSteer` entries and encodes them for the native side: `198.18.0.2:53,[fd00::2]:53`
 * (native/drivers/af_xdp/udp_steer.h parses and checks again, with inet_pton). @internal
 */
export function encodeUdpSteer(scope: string, entries: readonly string[]): string {
  if (!Array.isArray(entries)) throw new LinerateError('INVALID_OPTION', `${scope}: udpSteer must be an array of 'address:port' strings, got ${describe(entries)}`);
  if (entries.length > 64) throw new LinerateError('INVALID_OPTION', `${scope}: at most 64 udpSteer entries, got ${entries.length}`);
  return entries
    .map((e, i) => {
      const where = `${scope}: udpSteer[${i}]`;
      if (typeof e !== 'string') throw new LinerateError('INVALID_OPTION', `${where} must be a string like '198.18.0.2:53', got ${describe(e)}`);
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(e);
      const port = m ? Number(m[3]) : 0;
      const v6 = m?.[1];
      const v4 = m?.[2];
      const addrOk = v4 !== undefined ? ipv4Re.test(v4) : v6 !== undefined && isIPv6(v6);
      if (!m || !addrOk || port < 1 || port > 65535) {
        throw new LinerateError(
          'INVALID_OPTION',
          `${where} ${describe(e)} is not 'IPV4:PORT' or '[IPV6]:PORT' with a port 1..65535, e.g. '198.18.0.2:53' or '[fd00:198:18::2]:53'`,
        );
      }
      return e;
    })
    .join(',');
}

/** IPv6 text form (RFC 4291 section 2.2), with an optional trailing dotted IPv4. */
function isIPv6(s: string): boolean {
  let head = s;
  let extra = 0;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    if (!ipv4Re.test(s.slice(lastColon + 1))) return false;
    head = s.slice(0, lastColon + 1) + '0';
    extra = 1;
  }
  const halves = head.split('::');
  if (halves.length > 2) return false;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const parts = halves.flatMap(groups);
  if (!parts.every((p) => /^[0-9a-fA-F]{1,4}$/.test(p))) return false;
  const n = parts.length + extra;
  return halves.length === 2 ? n <= 7 : n === 8;
}

/** Driver options as the native side takes them (arrays encoded). @internal */
export function nativeDriverOptions(driverOptions: Record<string, unknown>): Record<string, unknown> {
  const out = { ...driverOptions };
  if (out.dropRules !== undefined) out.dropRules = encodeDropRules('dropRules', out.dropRules as DropRule[]);
  if (out.udpSteer !== undefined) out.udpSteer = encodeUdpSteer('udpSteer', out.udpSteer as string[]);
  return out;
}
