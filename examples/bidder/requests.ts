/**
 * Sample bid requests: a PayloadWriter for the load generator (docs/gen.md,
 * `payloadModule`), so `createGenerator(host, { payloadModule: <this module>,
 * payloadExport: 'writeRequest', stampOffset: STAMP_OFFSET })` drives the
 * bidder. Request `seq` draws country, device, slot, segments and floor from
 * the value sets of make-campaigns.ts with a hash of `seq` (no allocation, the
 * generator calls it per packet), stamps its send time on the bidder's clock
 * and gives it a deadline of DEADLINE_US. The generator then writes its stamp
 * over the request id.
 *
 * Run as a program it writes one request with no deadline (tmax 0) to stdout,
 * for `linerate gen --payload FILE --stamp-offset 4` (a fixed payload cannot
 * carry a fresh send time, so it must not carry a deadline either):
 *
 *   node dist/examples/bidder/requests.js > bid.bin
 */
import { pathToFileURL } from 'node:url';
import { monoUs } from './clock.js';
import { SAMPLE_COUNTRIES, SAMPLE_DEVICES, SAMPLE_SLOTS } from './make-campaigns.js';
import { countryCode, DEVICES, REQ, REQUEST_BYTES, VERSION, writeU16, writeU32, writeU64 } from './wire.js';

/** The deadline a sample request gives the bidder: 1 ms after it is sent (the SLA). */
export const DEADLINE_US = 1000;

const countries = Uint16Array.from(SAMPLE_COUNTRIES, countryCode);
const devices = Uint8Array.from(SAMPLE_DEVICES, (d) => DEVICES.indexOf(d as (typeof DEVICES)[number]));
const widths = Uint16Array.from(SAMPLE_SLOTS, (s) => Number(s.split('x')[0]));
const heights = Uint16Array.from(SAMPLE_SLOTS, (s) => Number(s.split('x')[1]));

/** A 32-bit mix of `x` (murmur3's finaliser), for drawing fields from a sequence number. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Writes sample request `seq` (52 bytes) at `offset`; the generator's PayloadWriter. */
export function writeRequest(bytes: Uint8Array, offset: number, room: number, seq: number, flow: number): number {
  if (room < REQUEST_BYTES) return 0;
  const h = mix(seq + 1), g = mix(h ^ 0x5bd1e995);
  const o = offset;
  bytes[o + REQ.VERSION] = VERSION;
  bytes[o + REQ.DEVICE] = devices[h % devices.length]!;
  writeU16(bytes, o + REQ.COUNTRY, countries[(h >>> 8) % countries.length]!);
  writeU32(bytes, o + REQ.ID, seq); // the generator's stamp goes over these 16 bytes
  writeU32(bytes, o + REQ.ID + 4, flow);
  writeU64(bytes, o + REQ.SENT_US, Math.floor(monoUs()));
  writeU32(bytes, o + REQ.TMAX_US, DEADLINE_US);
  writeU32(bytes, o + REQ.PUBLISHER, 1 + (g % 1000));
  writeU32(bytes, o + REQ.FLOOR, (g >>> 10) % 2000);
  const s = (h >>> 16) % widths.length;
  writeU16(bytes, o + REQ.WIDTH, widths[s]!);
  writeU16(bytes, o + REQ.HEIGHT, heights[s]!);
  writeU32(bytes, o + REQ.SEGMENTS, mix(g));
  writeU32(bytes, o + REQ.SEGMENTS + 4, mix(g + 1));
  return REQUEST_BYTES;
}

export default writeRequest;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const b = new Uint8Array(REQUEST_BYTES);
  writeRequest(b, 0, b.length, 0, 0);
  writeU32(b, REQ.TMAX_US, 0);
  process.stdout.write(b);
}
