/**
 * The generator of bench/udp, run as a child process pinned to the generator's
 * CPU: an af_xdp port on namespace A's veth end as host 198.18.0.1/24, a
 * Generator to 198.18.0.2:7. Reads JSON commands on stdin, one a line:
 *   {"cmd":"run","rate":R,"seconds":S}  -> prints {"report": GeneratorReport}
 *   {"cmd":"quit"}                      -> stops, prints {"pool": {free, size}}, exits
 * Prints {"ready":true} once the engine runs. (bench/gen-serve.ts does all this.)
 *
 *   node dist/bench/udp-gen.js NS IF CPU FLOWS SIZE [busy|adaptive]
 */
import { serveGenerator } from './gen-serve.js';

await serveGenerator((sizeText) => ({ to: '198.18.0.2:7', size: Number(sizeText) }));
