/**
 * echo: send every packet back to where it came from (MACs swapped; for UDP over
 * IPv4/IPv6 also addresses and ports, checksums kept valid).
 *
 *   node dist/examples/echo.js                         # a null port echoing its own traffic
 *   node dist/examples/echo.js --driver pcap --rx-file in.pcap --tx-file replies.pcap
 */
import { Engine } from '../src/index.js';
import { engineOptions, parseFlags, reportAndExit, runLive } from './common.js';

const usage = `usage: echo [--driver null|pcap] [--size 64] [--seconds 0] [--lcores 1]
            [--rx-file in.pcap --tx-file replies.pcap] [--mbufs 16384] [--hugepages auto|require|off] [--idle busy|adaptive]
  null (default): one port produces UDP packets of --size bytes and echoes them.
  pcap: the packets of --rx-file are echoed into --tx-file, once.`;

const { common, values } = parseFlags(usage, {
  driver: { type: 'string', default: 'null' },
  size: { type: 'string', default: '64' },
  'rx-file': { type: 'string' },
  'tx-file': { type: 'string' },
});

try {
  const engine = await Engine.create(engineOptions(common));
  if (values.driver === 'pcap') {
    if (!values['rx-file'] || !values['tx-file']) throw new Error(`--driver pcap needs --rx-file and --tx-file\n\n${usage}`);
    const p = engine.addPort('p', { driver: 'pcap', rxFile: String(values['rx-file']), txFile: String(values['tx-file']) });
    engine.echo(p);
    await runLive(engine, common.seconds, ['p']);
  } else {
    const p = engine.addPort('p', { driver: 'null', packetSize: Number(values.size) });
    engine.echo(p);
    await runLive(engine, common.seconds, ['p']);
  }
} catch (e) {
  reportAndExit(e);
}
