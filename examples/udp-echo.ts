/**
 * udp-echo: a UDP echo service (RFC 862) on the host layer. The port owns the
 * addresses (ARP, neighbour discovery and ping answered natively); every
 * datagram to --port comes back to its sender, byte for byte.
 *
 *   node dist/examples/udp-echo.js                    # self-test: a null port sends it echo requests
 *   sudo node dist/examples/udp-echo.js --driver af_xdp --interface eth1 --ipv4 198.18.0.2/24 --workers 1 --mode inline
 *   sudo node dist/examples/udp-echo.js --driver af_packet --interface veth1 --netns ns1 --ipv4 198.18.0.2/24 --ipv6 fd00:198:18::2/64 --consume
 *   sudo node dist/examples/udp-echo.js --driver vfio --pci 0000:00:04.0 --ipv4 198.18.0.2/24
 */
import { Engine, type DatagramBatch } from '../src/index.js';
import { everySecond, hostService, hostServiceFlags } from './host-service.js';
import { stopSignals } from './stop-signals.js';
import { closeAndExit, COMMON_USAGE, engineOptions, parseFlags, reportAndExit, serveMetrics } from './common.js';
import { echoDatagrams } from './udp-echo-handler.js';
import { udpFrame } from './frames.js';

const usage = `usage: udp-echo [--driver null|af_xdp|af_packet|vfio] [--interface IF] [--netns NS] [--pci ADDR] [--queues 1]
            [--ipv4 A/LEN] [--ipv6 A/LEN] [--gateway4 A] [--gateway6 A] [--owner linerate|kernel] [--port 7]
            [--workers 0] [--mode pipeline|inline] [--consume] [--seconds 0] [--lcores 1] [--mbufs 16384]
            [--hugepages auto|require|off] [--idle busy|adaptive] [--metrics [HOST:]PORT]
  null (default): a self-test; the null port produces echo requests to --ipv4 and sinks the replies.
  af_xdp, af_packet: serve on --interface (in namespace --netns); vfio: the NIC at --pci.
  --workers 0 (default) runs the handler on the main thread; N > 0 in N worker threads
  (one per rx queue: --queues N), --mode pipeline (lcores poll) or inline (workers poll).
  Prints a stats line per second; on SIGINT/SIGTERM (or after --seconds) stops and
  exits 0 when every mbuf is back in the pool, 1 otherwise.
${COMMON_USAGE}`;

const { common, values } = parseFlags(usage, hostServiceFlags(7));
const svc = hostService(values, usage);
const { udpPort, workers, mode } = svc;

try {
  const driver = svc.driver;
  const engine = await Engine.create(engineOptions(common));
  // The null self-test: 198.18.0.1:40000 -> our address and port, to port 0's virtual MAC (native/drivers/registry.cc).
  const port = engine.addPort('p', svc.portOptions((dst, p) => udpFrame('02:4c:52:00:00:00', '198.18.0.1', dst, 40000, p, Buffer.from('echo me'))));
  const host = engine.host(port, svc.hostOptions());
  const sock =
    workers > 0
      ? host.udpInWorkers({ port: udpPort, module: new URL('./udp-echo-handler.js', import.meta.url), mode })
      : host.udp({ port: udpPort }, (b: DatagramBatch) => echoDatagrams(b));
  const info = engine.info();
  if (info.mempool.warning) console.log(`note: ${info.mempool.warning}`);
  console.log(`udp-echo on port ${udpPort} of ${[values.ipv4, values.ipv6].filter(Boolean).join(' ') || '198.18.0.2/24'} (${driver}, owner ${host.owner}, ${workers ? `${workers} ${mode} worker(s)` : 'main thread'}); lcores on CPUs ${info.lcores.join(',')}`);
  const stopped = stopSignals();
  const closeMetrics = await serveMetrics(engine, common.metrics);
  await engine.start();
  let last = { rx: 0, replies: 0 };
  await everySecond(common.seconds, stopped, (elapsed, dt) => {
    const s = host.stats();
    const k = sock.stats();
    const drops = s.udpBadCsum + s.udpBadLength + s.udpNoListener + s.ipBadHeader + s.ipBadCsum + s.ipBadLength + k.ringFull + s.neighbors.holdDrops;
    console.log(
      `[${elapsed}s] rx ${((k.rx - last.rx) / dt / 1e3).toFixed(1)} kpps replies ${((k.replies - last.replies) / dt / 1e3).toFixed(1)} kpps` +
        ` | total rx ${k.rx} replies ${k.replies} | arp ${s.arpRequestsIn}/${s.arpRepliesOut} nd ${s.ndSolicitsIn}/${s.ndAdvertsOut} ping ${s.icmpEchoIn + s.icmp6EchoIn}` +
        ` | drops ${drops} | neighbors ${s.neighbors.entries}`,
    );
    last = { rx: k.rx, replies: k.replies };
  });
  await engine.stop();
  await closeMetrics();
  console.log(`host: ${JSON.stringify(host.stats())}`);
  await closeAndExit(engine);
} catch (e) {
  reportAndExit(e);
}
