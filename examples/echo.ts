/**
 * echo: send every packet back to where it came from (MACs swapped; for UDP over
 * IPv4/IPv6 also addresses and ports, checksums kept valid).
 *
 *   node dist/examples/echo.js                         # a null port echoing its own traffic
 *   node dist/examples/echo.js --driver pcap --rx-file in.pcap --tx-file replies.pcap
 *   sudo node dist/examples/echo.js --driver af_xdp --interface eth1 --queues 2 --lcores 1,2
 *   sudo node dist/examples/echo.js --driver af_packet --interface eth1 --consume
 */
import { Engine, type PortOptions } from '../src/index.js';
import { COMMON_USAGE, engineOptions, parseFlags, reportAndExit, runLive } from './common.js';

const usage = `usage: echo [--driver null|pcap|af_packet|af_xdp] [--size 64] [--seconds 0] [--lcores 1]
            [--rx-file in.pcap --tx-file replies.pcap] [--interface IF [--netns NS] [--queues 1] [--consume]]
            [--mbufs 16384] [--hugepages auto|require|off] [--idle busy|adaptive] [--metrics [HOST:]PORT]
  null (default): one port produces UDP packets of --size bytes and echoes them.
  pcap: the packets of --rx-file are echoed into --tx-file, once.
  af_packet, af_xdp: what arrives on --interface (in network namespace --netns) goes back out of it,
    spread over --queues rx queues. Needs root (or the capabilities in docs/drivers/). With af_packet,
    --consume keeps the echoed traffic away from the kernel's own stack (docs/drivers/af_packet.md).
${COMMON_USAGE}`;

const { common, values } = parseFlags(usage, {
  driver: { type: 'string', default: 'null' },
  size: { type: 'string', default: '64' },
  'rx-file': { type: 'string' },
  'tx-file': { type: 'string' },
  interface: { type: 'string' },
  netns: { type: 'string' },
  queues: { type: 'string', default: '1' },
  consume: { type: 'boolean', default: false },
});

/** The port to echo on, from the flags. */
function portOptions(): PortOptions {
  const driver = String(values.driver);
  if (driver === 'pcap') {
    if (!values['rx-file'] || !values['tx-file']) throw new Error(`--driver pcap needs --rx-file and --tx-file\n\n${usage}`);
    return { driver: 'pcap', rxFile: String(values['rx-file']), txFile: String(values['tx-file']) };
  }
  if (driver === 'af_packet' || driver === 'af_xdp') {
    if (!values.interface) throw new Error(`--driver ${driver} needs --interface\n\n${usage}`);
    const kernelPort = {
      interface: String(values.interface),
      ...(values.netns ? { netns: String(values.netns) } : {}),
      rxQueues: Number(values.queues),
    };
    if (driver === 'af_xdp') {
      if (values.consume) throw new Error(`--consume is for af_packet (af_xdp takes the traffic out of the kernel's stack anyway)\n\n${usage}`);
      return { driver, ...kernelPort };
    }
    return { driver, ...kernelPort, consume: Boolean(values.consume) };
  }
  if (driver !== 'null') throw new Error(`--driver must be null, pcap, af_packet or af_xdp, got '${driver}'\n\n${usage}`);
  return { driver: 'null', packetSize: Number(values.size) };
}

try {
  const engine = await Engine.create(engineOptions(common));
  const p = engine.addPort('p', portOptions());
  engine.echo(p);
  await runLive(engine, common.seconds, ['p'], common.metrics);
} catch (e) {
  reportAndExit(e);
}
