/**
 * l2fwd: forward between two ports, as DPDK's l2fwd example does.
 *
 *   node dist/examples/l2fwd.js                       # two null ports, 64-byte packets, both directions
 *   node dist/examples/l2fwd.js --mode io --size 1500 --seconds 10
 *   node dist/examples/l2fwd.js --driver pcap --rx-file in.pcap --tx-file out.pcap
 */
import { Engine, type PortOptions } from '../src/index.js';
import { COMMON_USAGE, engineOptions, parseFlags, reportAndExit, runLive } from './common.js';

const usage = `usage: l2fwd [--driver null|pcap] [--mode mac|io] [--size 64] [--seconds 0] [--lcores 1]
             [--rx-file in.pcap --tx-file out.pcap] [--mbufs 16384] [--hugepages auto|require|off] [--idle busy|adaptive]
             [--metrics [HOST:]PORT]
  null (default): ports a and b produce packets of --size bytes; a is forwarded to b and b to a.
  pcap: packets of --rx-file are forwarded into --tx-file, once.
  --seconds 0 runs until Ctrl-C (or until a pcap input is done).
${COMMON_USAGE}`;

const { common, values } = parseFlags(usage, {
  driver: { type: 'string', default: 'null' },
  mode: { type: 'string', default: 'mac' },
  size: { type: 'string', default: '64' },
  'rx-file': { type: 'string' },
  'tx-file': { type: 'string' },
});

try {
  const engine = await Engine.create(engineOptions(common));
  const mode = values.mode as 'mac' | 'io';
  if (values.driver === 'pcap') {
    if (!values['rx-file'] || !values['tx-file']) throw new Error(`--driver pcap needs --rx-file and --tx-file\n\n${usage}`);
    const a = engine.addPort('in', { driver: 'pcap', rxFile: String(values['rx-file']) });
    const b = engine.addPort('out', { driver: 'pcap', txFile: String(values['tx-file']) });
    engine.forward(a, b, { mode });
    await runLive(engine, common.seconds, ['out'], common.metrics);
  } else {
    const port: PortOptions = { driver: 'null', packetSize: Number(values.size) };
    const a = engine.addPort('a', port);
    const b = engine.addPort('b', port);
    engine.forward(a, b, { mode });
    engine.forward(b, a, { mode });
    await runLive(engine, common.seconds, ['a', 'b'], common.metrics);
  }
} catch (e) {
  reportAndExit(e);
}
