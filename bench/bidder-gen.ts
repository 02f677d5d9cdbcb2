/**
 * The generator of bench/bidder, a child process pinned to the generator's
 * CPU: an af_xdp port on namespace A's veth end as host 198.18.0.1/24, sending
 * bid requests (examples/bidder/requests.ts writes each one, with its send time
 * and a 1 ms deadline on the bidder's clock) to 198.18.0.2:PORT, the stamp in
 * the request id. Reads JSON commands on stdin, one a line:
 *   {"cmd":"run","rate":R,"seconds":S}  -> prints {"report": GeneratorReport}
 *   {"cmd":"quit"}                      -> stops, prints {"pool": {free, size}}, exits
 * Prints {"ready":true} once the engine runs. (bench/gen-serve.ts does all this.)
 *
 *   node dist/bench/bidder-gen.js NS IF CPU FLOWS PORT [busy|adaptive]
 */
import { STAMP_OFFSET } from '../examples/bidder/wire.js';
import { serveGenerator } from './gen-serve.js';

await serveGenerator((portText) => ({
  to: `198.18.0.2:${portText}`,
  payloadModule: new URL('../examples/bidder/requests.js', import.meta.url),
  payloadExport: 'writeRequest',
  stampOffset: STAMP_OFFSET,
}));
