/**
 * linerate/metrics: an engine's counters as Prometheus metrics, through prom-client (an optional peer dependency:
 * `npm install prom-client`). Nothing runs between scrapes: every metric has a `collect` callback that reads
 * `engine.stats()` (one snapshot per scrape, shared by all metrics) when the registry is asked for its text.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client';
 * import { collectMetrics } from 'linerate/metrics';
 * const registry = new Registry();
 * collectMetrics(engine, { registry });
 * // in an HTTP handler: res.end(await registry.metrics());
 * ```
 *
 * Metric names, types and labels: docs/operations.md.
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Counter as PromCounter, Gauge as PromGauge, Registry } from 'prom-client';
import { LinerateError } from './errors.js';
import type { Engine } from './engine.js';
import type { EngineStats } from './stats.js';
import type { Host, HostStats } from './host/host.js';

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** The registry to register into. Default: prom-client's global `register`. */
  registry?: Registry;
  /** Prefix of every metric name (two engines in one registry need different ones). Default `'linerate_'`. */
  prefix?: string;
}

/** What {@link collectMetrics} registered. */
export interface EngineMetrics {
  /** The registry they are in (`await registry.metrics()` is the text to serve, `registry.contentType` its type). */
  readonly registry: Registry;
  /** The names of the metrics registered. */
  readonly names: string[];
  /** Removes them from the registry again. */
  unregister(): void;
}

type PromClient = typeof import('prom-client');
type Labels = Record<string, string | number>;
type Snapshot = { stats: EngineStats; hosts: { port: string; stats: HostStats }[]; warnings: Map<string, number> };

function loadPromClient(): PromClient {
  try {
    // prom-client is CommonJS; resolved from where linerate is installed, so the application's own copy.
    return createRequire(import.meta.url)('prom-client') as PromClient;
  } catch (e) {
    throw new LinerateError('MISSING_DEPENDENCY', `linerate/metrics needs prom-client, which is not installed; install it with: npm install prom-client`, { cause: e });
  }
}

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();

/** CPU time an lcore thread has run, seconds: /proc/self/task/TID/schedstat, first field (ns). */
function runSeconds(tid: number): number | undefined {
  try {
    const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1e9 : undefined;
  } catch {
    return undefined;
  }
}

/** A metric family: its type, labels and how to read its samples from a snapshot. */
interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  labels: string[];
  read(s: Snapshot, put: (labels: Labels, v: number) => void): void;
}

function families(hosts: readonly Host[]): Family[] {
  const f: Family[] = [];
  const add = (type: Family['type'], name: string, help: string, labels: string[], read: Family['read']) => f.push({ type, name, help, labels, read });
  const ports = (s: Snapshot) => Object.values(s.stats.ports);

  // Ports.
  add('gauge', 'port_info', 'A port of the engine, by driver (always 1).', ['port', 'driver'], (s, put) => ports(s).forEach((p) => put({ port: p.name, driver: p.driver }, 1)));
  add('gauge', 'port_link_up', 'Whether the port reports its link up (1) or down (0).', ['port'], (s, put) => ports(s).forEach((p) => put({ port: p.name }, p.linkUp ? 1 : 0)));
  add('counter', 'port_rx_packets_total', 'Packets received on the port.', ['port'], (s, put) => ports(s).forEach((p) => put({ port: p.name }, p.rxPackets)));
  add('counter', 'port_rx_bytes_total', 'Bytes received on the port (frames without FCS).', ['port'], (s, put) => ports(s).forEach((p) => put({ port: p.name }, p.rxBytes)));
  add('counter', 'port_tx_packets_total', 'Packets transmitted on the port.', ['port'], (s, put) => ports(s).forEach((p) => put({ port: p.name }, p.txPackets)));
  add('counter', 'port_tx_bytes_total', 'Bytes transmitted on the port (frames without FCS).', ['port'], (s, put) => ports(s).forEach((p) => put({ port: p.name }, p.txBytes)));
  add('counter', 'port_drops_total', 'Packets dropped, by reason (stats().ports[name].drops).', ['port', 'reason'], (s, put) =>
    ports(s).forEach((p) => Object.entries(p.drops).forEach(([reason, n]) => put({ port: p.name, reason: snake(reason) }, n))),
  );
  add('gauge', 'port_held_mbufs', 'Mbufs the driver holds now (on a wire, on descriptors).', ['port'], (s, put) => ports(s).forEach((p) => put({ port: p.name }, p.heldMbufs)));
  add('gauge', 'port_driver_stat', 'Driver-specific counters and measurements (stats().ports[name].xstats), by name.', ['port', 'stat'], (s, put) =>
    ports(s).forEach((p) => Object.entries(p.xstats).forEach(([stat, v]) => put({ port: p.name, stat }, v))),
  );

  // Queues.
  const rxq = (s: Snapshot, put: (l: Labels, v: number) => void, pick: (q: EngineStats['ports'][string]['queues']['rx'][number]) => number) =>
    ports(s).forEach((p) => p.queues.rx.forEach((q, i) => put({ port: p.name, queue: i }, pick(q))));
  const txq = (s: Snapshot, put: (l: Labels, v: number) => void, pick: (q: EngineStats['ports'][string]['queues']['tx'][number]) => number) =>
    ports(s).forEach((p) => p.queues.tx.forEach((q, i) => put({ port: p.name, queue: i }, pick(q))));
  add('counter', 'rx_queue_packets_total', 'Packets received on the rx queue.', ['port', 'queue'], (s, put) => rxq(s, put, (q) => q.packets));
  add('counter', 'rx_queue_bytes_total', 'Bytes received on the rx queue.', ['port', 'queue'], (s, put) => rxq(s, put, (q) => q.bytes));
  add('counter', 'rx_queue_drops_total', 'Packets the rx queue lost, by reason (no_mbuf: the mempool was empty; rss_ring_full: its lcore is behind).', ['port', 'queue', 'reason'], (s, put) =>
    ports(s).forEach((p) =>
      p.queues.rx.forEach((q, i) => {
        put({ port: p.name, queue: i, reason: 'no_mbuf' }, q.nombuf);
        put({ port: p.name, queue: i, reason: 'rss_ring_full' }, q.ringFull);
      }),
    ),
  );
  add('counter', 'tx_queue_packets_total', 'Packets transmitted on the tx queue (one per lcore).', ['port', 'queue'], (s, put) => txq(s, put, (q) => q.packets));
  add('counter', 'tx_queue_bytes_total', 'Bytes transmitted on the tx queue.', ['port', 'queue'], (s, put) => txq(s, put, (q) => q.bytes));
  add('counter', 'tx_queue_drops_total', 'Packets dropped on the tx queue, by reason (tx_full, malformed, group_dst).', ['port', 'queue', 'reason'], (s, put) =>
    ports(s).forEach((p) =>
      p.queues.tx.forEach((q, i) => {
        put({ port: p.name, queue: i, reason: 'tx_full' }, q.full);
        put({ port: p.name, queue: i, reason: 'malformed' }, q.malformed);
        put({ port: p.name, queue: i, reason: 'group_dst' }, q.groupDst);
      }),
    ),
  );

  // Lcores.
  const lc = (l: EngineStats['lcores'][number]) => ({ lcore: l.index, cpu: l.cpu });
  add('gauge', 'lcore_busy_percent', 'Share of loop time in polls that moved packets since the engine was created, 0..100.', ['lcore', 'cpu'], (s, put) => s.stats.lcores.forEach((l) => put(lc(l), l.busyPercent)));
  add('counter', 'lcore_loops_total', 'Iterations of the lcore task loop.', ['lcore', 'cpu'], (s, put) => s.stats.lcores.forEach((l) => put(lc(l), l.loops)));
  add('counter', 'lcore_packets_total', 'Packets moved by the lcore.', ['lcore', 'cpu'], (s, put) => s.stats.lcores.forEach((l) => put(lc(l), l.packets)));
  add('counter', 'lcore_sleeps_total', 'Adaptive idle: short sleeps of the lcore.', ['lcore', 'cpu'], (s, put) => s.stats.lcores.forEach((l) => put(lc(l), l.sleeps)));
  add('counter', 'lcore_waits_total', 'Adaptive idle: times the lcore blocked until a packet arrived.', ['lcore', 'cpu'], (s, put) => s.stats.lcores.forEach((l) => put(lc(l), l.waits)));
  add('gauge', 'lcore_cycles_per_packet', 'Busy TSC cycles per packet moved, since the engine was created.', ['lcore', 'cpu'], (s, put) => s.stats.lcores.forEach((l) => put(lc(l), l.cyclesPerPacket)));
  add('counter', 'lcore_run_seconds_total', 'CPU time the lcore thread got from the scheduler (schedstat) in its current run; compare with wall time.', ['lcore', 'cpu'], (s, put) =>
    s.stats.lcores.forEach((l) => {
      const v = l.tid > 0 ? runSeconds(l.tid) : undefined;
      if (v !== undefined) put(lc(l), v);
    }),
  );

  // Mempool.
  add('gauge', 'mempool_mbufs', 'Mbufs in the mempool.', [], (s, put) => put({}, s.stats.mempool.size));
  add('gauge', 'mempool_free_mbufs', 'Free mbufs (pool ring and lcore caches).', [], (s, put) => put({}, s.stats.mempool.free.total));
  add('gauge', 'mempool_in_use_mbufs', 'Mbufs in use, by owner (driver, rings, js, host, in_flight).', ['owner'], (s, put) => {
    const u = s.stats.mempool.inUse;
    for (const [owner, n] of Object.entries({ driver: u.driver, rings: u.rings, js: u.js, host: u.host, in_flight: u.inFlight })) put({ owner }, n);
  });
  add('counter', 'mempool_alloc_failures_total', 'Mbuf allocations that found the pool empty.', [], (s, put) => put({}, s.stats.mempool.allocFailures));

  // Handlers.
  const handlers = (s: Snapshot) => ports(s).flatMap((p) => (p.handler ? [{ port: p.name, h: p.handler }] : []));
  const hc = (name: string, help: string, pick: (h: NonNullable<EngineStats['ports'][string]['handler']>) => number) =>
    add('counter', name, help, ['port'], (s, put) => handlers(s).forEach(({ port, h }) => put({ port }, pick(h))));
  hc('handler_batches_total', "Bursts the port's JS handler was called with.", (h) => h.batches);
  hc('handler_packets_total', "Packets the port's JS handler was called with.", (h) => h.packets);
  hc('handler_errors_total', 'Handler calls that threw or returned a promise (their bursts were dropped).', (h) => h.errors);
  hc('handler_bad_verdicts_total', 'Mbufs that came back from the handler unusable (dropped).', (h) => h.badVerdict);
  hc('handler_doorbells_total', 'Times a sleeping handler consumer was woken.', (h) => h.doorbells);
  hc('handler_workers_exited_total', 'Handler worker threads that ended before stop().', (h) => h.workersExited);
  add('counter', 'handler_verdicts_total', 'Verdicts the handler gave, by verdict (replied, forwarded, dropped).', ['port', 'verdict'], (s, put) =>
    handlers(s).forEach(({ port, h }) => {
      put({ port, verdict: 'replied' }, h.replied);
      put({ port, verdict: 'forwarded' }, h.forwarded);
      put({ port, verdict: 'dropped' }, h.dropped);
    }),
  );

  // The host layer: one counter per HostCounters field, the sockets, the neighbour table.
  const hostCounterNames = [
    'arpRequestsIn', 'arpRepliesOut', 'arpRepliesIn', 'arpOther', 'arpBad', 'ndSolicitsIn', 'ndAdvertsOut', 'ndAdvertsIn', 'ndBad', 'ndOther',
    'icmpEchoIn', 'icmpEchoOut', 'icmp6EchoIn', 'icmp6EchoOut', 'icmpOther', 'icmpBadCsum', 'ipBadHeader', 'ipBadCsum', 'ipBadLength',
    'ipFragments', 'ipOptions', 'ipExtHeaders', 'ipOtherProto', 'notOurs', 'vlanMismatch', 'malformed', 'udpIn', 'udpBadCsum', 'udpBadLength',
    'udpNoListener', 'icmpUnreachOut', 'udpRingFull', 'udpReplies', 'udpSends', 'udpBadSend', 'noRoute', 'toKernel', 'neighborMisses',
    'probesOut', 'heldSent', 'announcesOut',
  ] as const;
  for (const k of hostCounterNames) {
    add('counter', `host_${snake(k)}_total`, `Host layer counter ${k} (host.stats(); docs/host.md).`, ['port'], (s, put) => s.hosts.forEach((h) => put({ port: h.port }, h.stats[k])));
  }
  const sock = (name: string, help: string, pick: (x: HostStats['sockets'][number]) => number) =>
    add('counter', name, help, ['port', 'udp_port'], (s, put) => s.hosts.forEach((h) => h.stats.sockets.forEach((x) => put({ port: h.port, udp_port: x.port }, pick(x)))));
  sock('host_socket_rx_total', 'Datagrams delivered to the UDP socket handler.', (x) => x.rx);
  sock('host_socket_replies_total', 'Replies the UDP socket handler sent.', (x) => x.replies);
  sock('host_socket_sends_total', 'Datagrams the UDP socket sent (sendTo, send).', (x) => x.sends);
  sock('host_socket_dropped_total', 'Datagrams the UDP socket handler dropped.', (x) => x.dropped);
  sock('host_socket_ring_full_total', "Datagrams dropped because the socket handler's ring was full.", (x) => x.ringFull);
  add('gauge', 'host_neighbors', 'Entries in the neighbour table.', ['port'], (s, put) => s.hosts.forEach((h) => put({ port: h.port }, h.stats.neighbors.entries)));
  add('gauge', 'host_neighbor_held_packets', 'Packets waiting for their next hop to resolve.', ['port'], (s, put) => s.hosts.forEach((h) => put({ port: h.port }, h.stats.neighbors.held)));
  add('counter', 'host_neighbor_hold_drops_total', 'Packets dropped because their next hop did not resolve.', ['port'], (s, put) => s.hosts.forEach((h) => put({ port: h.port }, h.stats.neighbors.holdDrops)));

  // Handlers' own counters, named by the application (HostSocket.labelCounters): one family per name, as found now.
  const own = new Map<string, { help: string; label: string }>();
  for (const h of hosts) for (const k of h.socketList()) for (const fam of k.counterFamilies()) if (!own.has(fam.name)) own.set(fam.name, fam);
  for (const [name, fam] of own) {
    add('counter', name, fam.help, ['port', 'udp_port', fam.label], (s, put) =>
      s.hosts.forEach((h) =>
        h.stats.sockets.forEach((x) => {
          const m = x.counters?.[name];
          if (m) for (const [v, n] of Object.entries(m)) put({ port: h.port, udp_port: x.port, [fam.label]: v }, n);
        }),
      ),
    );
  }

  // The watchdog.
  add('gauge', 'warnings_active', 'Warnings active now, by code (engine.warnings(); docs/operations.md).', ['code'], (s, put) => s.warnings.forEach((n, code) => put({ code }, n)));
  return f;
}

/**
 * Registers the engine's counters into a prom-client registry, read at scrape time (no timers): ports
 * (`port`), queues (`port`, `queue`), drops (`reason`), lcores (`lcore`, `cpu`), the mempool by owner, handlers,
 * the host layer of every port that is a host, the counters applications named on host sockets
 * (HostSocket.labelCounters, as known when this is called), and the active warnings. Counters are `counter`s (`_total`),
 * levels are `gauge`s. A closed engine yields no samples.
 * @throws LinerateError MISSING_DEPENDENCY (prom-client is not installed), INVALID_OPTION (a bad prefix); prom-client's
 *   own error when a metric of that name is registered already (use another `prefix`)
 */
export function collectMetrics(engine: Engine, options: CollectMetricsOptions = {}): EngineMetrics {
  const client = loadPromClient();
  const registry = options.registry ?? client.register;
  const prefix = options.prefix ?? 'linerate_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$|^$/.test(prefix)) {
    throw new LinerateError('INVALID_OPTION', `collectMetrics: prefix must match [a-zA-Z_:][a-zA-Z0-9_:]*, got ${String(prefix)}`);
  }
  // One engine snapshot per scrape: every metric's collect runs in the same synchronous pass of registry.metrics(),
  // so the snapshot is dropped at the next microtask.
  let snap: Snapshot | null | undefined;
  const snapshot = (): Snapshot | null => {
    if (snap !== undefined) return snap;
    queueMicrotask(() => (snap = undefined));
    try {
      const warnings = new Map<string, number>();
      for (const w of engine.warnings()) warnings.set(w.code, (warnings.get(w.code) ?? 0) + 1);
      snap = { stats: engine.stats(), hosts: engine.hostList().map((h) => ({ port: h.port.name, stats: h.stats() })), warnings };
    } catch {
      snap = null; // closed: no samples
    }
    return snap;
  };
  const names: string[] = [];
  let hosts: readonly Host[] = [];
  try {
    hosts = engine.hostList();
  } catch {
    // closed: only the fixed families
  }
  for (const fam of families(hosts)) {
    const name = prefix + fam.name;
    const Kind = fam.type === 'counter' ? client.Counter : client.Gauge;
    new Kind({
      name,
      help: fam.help,
      labelNames: fam.labels,
      registers: [registry],
      collect(this: PromCounter<string> | PromGauge<string>) {
        this.reset();
        const s = snapshot();
        if (!s) return;
        const m = this;
        fam.read(s, (labels, v) => {
          if (!Number.isFinite(v)) return;
          if (fam.type === 'counter') (m as PromCounter<string>).inc(labels, v);
          else (m as PromGauge<string>).set(labels, v);
        });
      },
    });
    names.push(name);
  }
  return {
    registry,
    names,
    unregister: () => names.forEach((n) => registry.removeSingleMetric(n)),
  };
}
