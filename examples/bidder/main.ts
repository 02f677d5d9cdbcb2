/**
 * bidder: a real-time bidding server on the host layer (docs/examples/bidder.md).
 *
 *   node dist/examples/bidder/main.js                                   # self-test on a null port, sample campaigns
 *   sudo node dist/examples/bidder/main.js --campaigns c.json --driver af_xdp --interface eth1 --ipv4 198.18.0.2/24 --port 9000 --workers 1 --mode inline
 *
 * A stats line per second (requests, bids, no-bids, late, budget spent).
 * SIGHUP reloads the campaign file (a bad file keeps the old campaigns and says
 * why); SIGINT/SIGTERM stop, and the exit code says whether every mbuf came back.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/index.js';
import { closeAndExit, COMMON_USAGE, engineOptions, parseFlags, reportAndExit, serveMetrics } from '../common.js';
import { udpFrame } from '../frames.js';
import { everySecond, hostService, hostServiceFlags } from '../host-service.js';
import { stopSignals } from '../stop-signals.js';
import { C, COUNTER_NAMES, COUNTERS } from './bid.js';
import { CampaignError } from './campaigns.js';
import { makeCampaigns } from './make-campaigns.js';
import { reloadOnSighup } from './reload-on-hup.js';
import { BidderServer } from './server.js';
import { statsLine, sumCounters } from './stats.js';
import { encodeRequest } from './wire.js';

const usage = `usage: bidder [--campaigns FILE] [--max-campaigns 65536] [--driver null|af_xdp|af_packet|vfio] [--interface IF] [--netns NS] [--pci ADDR]
            [--ipv4 A/LEN] [--ipv6 A/LEN] [--gateway4 A] [--gateway6 A] [--owner linerate|kernel] [--port 9000]
            [--workers 0] [--mode pipeline|inline] [--queues N] [--consume] [--seconds 0] [--lcores 1] [--mbufs 16384]
            [--hugepages auto|require|off] [--idle busy|adaptive] [--metrics [HOST:]PORT]
  null (default): a self-test; the null port sends a bid request (no deadline) to --ipv4:--port.
  --campaigns defaults to the sample file examples/bidder/campaigns.sample.json.
  af_xdp, af_packet: serve on --interface (in namespace --netns); vfio: the NIC at --pci.
  --workers 0 (default) bids on the main thread; N > 0 in N worker threads (one per rx queue),
  --mode pipeline (lcores poll) or inline (workers poll). SIGHUP reloads the campaigns.
${COMMON_USAGE}`;

const { common, values } = parseFlags(usage, { campaigns: { type: 'string' }, 'max-campaigns': { type: 'string', default: '65536' }, ...hostServiceFlags(9000) });
const svc = hostService(values, usage);
const { udpPort, workers, mode } = svc;

/**
 * The sample campaigns: the file in the sources (dist/ holds no JSON), or, in an
 * installed package that has no sources, the same 20 campaigns written to a temp file.
 */
function sampleFile(): string {
  for (const rel of ['./campaigns.sample.json', '../../../examples/bidder/campaigns.sample.json']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  const p = join(tmpdir(), `linerate-bidder-sample-${process.pid}.json`);
  writeFileSync(p, JSON.stringify({ campaigns: makeCampaigns(20, 1, 5_000_000) }));
  process.on('exit', () => rmSync(p, { force: true }));
  return p;
}

/** The null self-test's request: mobile, US, 300x250, every segment, no floor, no deadline (tmax 0). */
function selfTestRequest(): Uint8Array {
  return encodeRequest({ device: 'mobile', country: 'US', id: new Uint8Array(16).fill(0x42), sentUs: 0, tmaxUs: 0, publisher: 1, floor: 0, width: 300, height: 250, segLo: -1 >>> 0, segHi: -1 >>> 0 });
}

try {
  const file = typeof values.campaigns === 'string' ? values.campaigns : sampleFile();
  let server: BidderServer;
  try {
    server = new BidderServer(file, { maxCampaigns: Number(values['max-campaigns']) });
  } catch (e) {
    if (e instanceof CampaignError) {
      console.error(`error ${e.code}: ${e.message}`);
      process.exit(1);
    }
    throw e;
  }
  const engine = await Engine.create(engineOptions(common));
  // The null self-test: 198.18.0.1:40000 -> our address and port, to port 0's virtual MAC (native/drivers/registry.cc).
  const port = engine.addPort('p', svc.portOptions((dst, p) => udpFrame('02:4c:52:00:00:00', '198.18.0.1', dst, 40000, p, selfTestRequest())));
  const host = engine.host(port, svc.hostOptions());
  const sock =
    workers > 0
      ? host.udpInWorkers({ port: udpPort, module: new URL('./server.js', import.meta.url), mode, data: server.workerData(), counters: COUNTERS })
      : host.udp({ port: udpPort }, server.handler);
  engine.on('workerMessage', (m: unknown, w: { queue: number }) => console.log(`worker ${w.queue}: ${JSON.stringify(m)}`));
  engine.on('error', (e: Error) => console.error(`error: ${e.message}`));
  const counters = () => sumCounters(workers > 0 ? engine.workerCounters(port) : [server.counters]);
  console.log(`bidder on ${[values.ipv4, values.ipv6].filter(Boolean).join(' ') || '198.18.0.2/24'} port ${udpPort} (${svc.driver}, owner ${host.owner}, ${workers ? `${workers} ${mode} worker(s)` : 'main thread'}): ${server.index.size} campaigns from ${file}, ${server.index.bucketCount} index buckets`);
  const stopped = stopSignals();
  reloadOnSighup(server);
  const closeMetrics = await serveMetrics(engine, common.metrics);
  await engine.start();
  let lastC = counters();
  await everySecond(common.seconds, stopped, (elapsed, dt) => {
    const c = counters();
    const k = sock.stats();
    console.log(`${statsLine(elapsed, c, lastC, dt)} | ringFull ${k.ringFull}`);
    lastC = c;
  });
  await engine.stop();
  await closeMetrics();
  const c = counters();
  console.log(`counters: ${JSON.stringify(Object.fromEntries(COUNTER_NAMES.filter((n) => n !== 'GENERATION').map((n) => [n, c[C[n]]])))}`);
  await closeAndExit(engine);
} catch (e) {
  reportAndExit(e);
}
