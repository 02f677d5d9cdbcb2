/**
 * The same answer code on a Node `dgram` socket: the kernel's UDP path, one
 * Buffer per datagram. A reference for correctness tests and the baseline the
 * linerate server is compared with (docs/examples/dns.md).
 *
 *   node dist/examples/dns/dgram.js --zone FILE [--zone FILE...] [--listen 127.0.0.1] [--port 5300]
 */
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { Answers, COUNTERS } from './answers.js';
import { loadZoneFile } from './zone.js';

const { values } = parseArgs({ options: { zone: { type: 'string', multiple: true }, listen: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '5300' } } });
try {
  const answers = new Answers((values.zone ?? []).map((f) => loadZoneFile(f)));
  const counters = new Float64Array(COUNTERS);
  const sock = createSocket(isIPv6(values.listen!) ? 'udp6' : 'udp4');
  const buf = new Uint8Array(65536);
  sock.on('message', (msg, rinfo) => {
    buf.set(msg, 0);
    const n = answers.answer(buf, 0, msg.length, 65535, counters);
    if (n > 0) sock.send(buf.subarray(0, n), rinfo.port, rinfo.address);
  });
  sock.bind(Number(values.port), values.listen, () => console.log(`dns (dgram) on ${values.listen}:${values.port}, ${answers.names} names`));
} catch (e) {
  console.error(String((e as Error).message));
  process.exit(1);
}
