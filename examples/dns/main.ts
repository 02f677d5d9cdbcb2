/**
 * dns: an authoritative DNS server (UDP) on the host layer (docs/examples/dns.md).
 *
 *   node dist/examples/dns/main.js --zone test/fixtures/dns/example.test.zone            # self-test on a null port
 *   sudo node dist/examples/dns/main.js --zone example.zone --driver af_xdp --interface eth1 --ipv4 192.0.2.53/24 --owner kernel --workers 1 --mode inline
 *
 * SIGHUP reloads the zone files (a bad file keeps the old zones and says why);
 * SIGINT/SIGTERM stop, and the exit code says whether every mbuf came back.
 */
import { Engine } from '../../src/index.js';
import { closeAndExit, engineOptions, parseFlags, reportAndExit, serveMetrics } from '../common.js';
import { udpFrame } from '../frames.js';
import { everySecond, hostService, hostServiceFlags } from '../host-service.js';
import { stopSignals } from '../stop-signals.js';
import { C, COUNTER_NAMES } from './answers.js';
import { parseRrl, type RrlOptions } from './rrl.js';
import { DNS_COUNTER_FAMILIES, DnsServer, dnsStats, sumCounters } from './server.js';
import { serveTcp } from './tcp.js';
import { ZoneError } from './zone.js';

const usage = `usage: dns --zone FILE [--zone FILE...] [--driver null|af_xdp|af_packet|vfio] [--interface IF] [--netns NS] [--pci ADDR]
            [--ipv4 A/LEN] [--ipv6 A/LEN] [--gateway4 A] [--gateway6 A] [--owner linerate|kernel] [--port 53]
            [--workers 0] [--mode pipeline|inline] [--queues N] [--consume] [--seconds 0] [--lcores 1] [--mbufs 16384]
            [--hugepages auto|require|off] [--idle busy|adaptive] [--rrl RATE[,slip=N][,window=S][,table=N]] [--metrics [HOST:]PORT]
  null (default): a self-test; the null port sends a query for the first zone's apex SOA to --ipv4:--port.
  af_xdp, af_packet: serve on --interface (in namespace --netns); vfio: the NIC at --pci.
  --owner kernel: the kernel keeps the addresses (ARP, ping, SSH, DNS over TCP); linerate takes UDP --port only.
  --workers 0 (default) answers on the main thread; N > 0 in N worker threads (one per rx queue),
  --mode pipeline (lcores poll) or inline (workers poll). SIGHUP reloads the zones.
  --rrl: response rate limiting, off by default: RATE responses/s per (IPv4 /24 or IPv6 /56, response class), per
  worker; over it, responses are dropped and every slip-th (default 2; 0 none, 1 all) sent truncated (TC=1).
  --metrics: Prometheus text at /metrics, with dns_responses_total{rcode}, dns_queries_total{qtype}, dns_rrl_total{action}.`;

const { common, values } = parseFlags(usage, { zone: { type: 'string', multiple: true } as unknown as { type: 'string' }, rrl: { type: 'string' }, ...hostServiceFlags(53) });
const svc = hostService(values, usage);
const { udpPort, workers, mode } = svc;

const zoneFiles = (values.zone as unknown as string[] | undefined) ?? [];
if (zoneFiles.length === 0) {
  console.error(`give at least one --zone FILE\n\n${usage}`);
  process.exit(2);
}

let rrl: RrlOptions | undefined;
if (values.rrl !== undefined) {
  try {
    rrl = parseRrl(String(values.rrl));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    process.exit(2);
  }
}

/** A query (RFC 1035 §4.1) for the SOA of `apex` (wire form), for the null self-test. */
function soaQuery(apex: Uint8Array): Buffer {
  return Buffer.from([0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...apex, 0, 6, 0, 1]);
}

try {
  let server: DnsServer;
  try {
    server = new DnsServer(zoneFiles, undefined, rrl);
  } catch (e) {
    if (e instanceof ZoneError) {
      console.error(`error ${e.code}: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
  const driver = svc.driver;
  const engine = await Engine.create(engineOptions(common));
  // The null self-test: a query for the first zone's apex SOA, to our address and port (port 0's virtual MAC).
  const q = soaQuery(server.answers.zones[0].origin);
  const port = engine.addPort('p', svc.portOptions((dst, p) => udpFrame('02:4c:52:00:00:00', '198.18.0.1', dst, 40053, p, q)));
  const host = engine.host(port, svc.hostOptions());
  const sock =
    workers > 0
      ? host.udpInWorkers({ port: udpPort, module: new URL('./server.js', import.meta.url), mode, data: server.workerData(), counters: 32 })
      : host.udp({ port: udpPort }, server.handler);
  engine.on('workerMessage', (m: unknown, w: { queue: number }) => console.log(`worker ${w.queue}: ${JSON.stringify(m)}`));
  engine.on('error', (e: Error) => console.error(`error: ${e.message}`));
  // server.counters: main-thread UDP, and TCP; the workers' are their ctx.counters.
  const counters = () => sumCounters(workers > 0 ? [...engine.workerCounters(port), server.counters] : [server.counters]);
  // host.stats().sockets[i].counters and --metrics show them by rcode, qtype and RRL action.
  sock.labelCounters({ read: counters, families: DNS_COUNTER_FAMILIES });
  const closeMetrics = await serveMetrics(engine, common.metrics);
  console.log(`dns on ${[values.ipv4, values.ipv6].filter(Boolean).join(' ') || '198.18.0.2/24'} port ${udpPort} (${driver}, owner ${host.owner}, ${workers ? `${workers} ${mode} worker(s)` : 'main thread'}): ${server.answers.zones.length} zone(s), ${server.answers.names} names`);
  const stopped = stopSignals();
  process.on('SIGHUP', () => {
    const r = server.reload(workers > 0 ? engine.workerCounters(port) : []);
    console.log(r.ok ? `reloaded: ${r.names} names` : `reload failed, still serving the old zones: ${r.error}`);
  });
  await engine.start();
  // --owner kernel: the kernel keeps TCP, so DNS over TCP is served here from the same zones (not across --netns).
  const tcp: import('node:net').Server[] = [];
  if (host.owner === 'kernel') {
    if (values.netns) console.log('note: no DNS over TCP with --netns (run the server inside the namespace: ip netns exec NS node ...)');
    else {
      for (const a of [values.ipv4, values.ipv6].filter(Boolean).map((x) => String(x).split('/')[0])) {
        try {
          tcp.push(await serveTcp(() => server.answers, server.counters, a, udpPort));
        } catch (e) {
          console.log(`note: no DNS over TCP on ${a}:${udpPort}: ${(e as Error).message}`);
        }
      }
      if (tcp.length) console.log(`dns over tcp on port ${udpPort} (the kernel's)`);
    }
  }
  let lastAnswered = 0;
  await everySecond(common.seconds, stopped, (elapsed, dt) => {
    const c = counters();
    const k = sock.stats();
    const d = dnsStats(c);
    const nonzero = (m: Record<string, number>) => Object.entries(m).filter(([, v]) => v > 0).map(([n, v]) => `${n} ${v}`).join(' ') || '-';
    const rrlPart = rrl ? ` | rrl dropped ${d.rrl.dropped} slipped ${d.rrl.slipped}` : '';
    console.log(
      `[${elapsed}s] answers ${((k.replies - lastAnswered) / dt / 1e3).toFixed(1)} kq/s | total rx ${k.rx} answered ${k.replies} dropped ${k.dropped} ringFull ${k.ringFull}` +
        ` | rcode ${nonzero(d.rcode)} truncated ${d.truncated} | qtype ${nonzero(d.qtype)}${rrlPart}`,
    );
    lastAnswered = k.replies;
  });
  for (const t of tcp) t.close();
  await engine.stop();
  await closeMetrics();
  const c = counters();
  console.log(`counters: ${JSON.stringify(Object.fromEntries(COUNTER_NAMES.map((n) => [n, c[C[n]]])))}`);
  console.log(`stats: ${JSON.stringify(server.stats(workers > 0 ? engine.workerCounters(port) : []))}`);
  await closeAndExit(engine);
} catch (e) {
  reportAndExit(e);
}
