/**
 * The bidder's wire format (docs/examples/bidder.md, "Request and response").
 * One request per UDP datagram, 52 bytes; the response is written over the
 * request in the same buffer (the same mbuf on linerate), 32 bytes. Every
 * integer is little-endian, as the load generator's stamp is (docs/gen.md,
 * "The stamp and the server").
 *
 * The request id is 16 opaque bytes at offset 4 that the bidder never reads
 * and never writes: the response keeps them where they were. That is where
 * `linerate gen` puts its stamp (run tag, sequence, send time: stampOffset 4),
 * so the generator matches responses and measures latency with no help.
 *
 * Request:
 *   0  u8     version (1)
 *   1  u8     device: DEVICES index (0 unknown)
 *   2  2×u8   country: ISO 3166-1 alpha-2, ASCII ('US'); 0 0 unknown
 *   4  16×u8  request id (opaque, echoed)
 *   20 u64    sent: the sender's send time, µs of CLOCK_MONOTONIC (clock.ts)
 *   28 u32    tmax: the deadline, µs after `sent`; 0: none
 *   32 u32    publisher id
 *   36 u32    floor price, micro-units (1e-6 of the currency) per impression
 *   40 u16    slot width, pixels
 *   42 u16    slot height, pixels
 *   44 u64    user segments: bit s set = the user is in segment s (0..63)
 *   52        end
 *
 * Response:
 *   0  u8     version (1)
 *   1  u8     result: 1 bid, 0 no bid
 *   2  u16    0
 *   4  16×u8  request id (the request's bytes, untouched)
 *   20 u32    price, micro-units (0 for no bid)
 *   24 u32    campaign id (0 for no bid)
 *   28 u32    creative id (0 for no bid)
 *   32        end
 */

export const VERSION = 1;
export const REQUEST_BYTES = 52;
export const RESPONSE_BYTES = 32;

/** Byte offsets of the request's fields. */
export const REQ = {
  VERSION: 0,
  DEVICE: 1,
  COUNTRY: 2,
  ID: 4,
  SENT_US: 20,
  TMAX_US: 28,
  PUBLISHER: 32,
  FLOOR: 36,
  WIDTH: 40,
  HEIGHT: 42,
  SEGMENTS: 44,
} as const;

/** Byte offsets of the response's fields. */
export const RESP = { VERSION: 0, RESULT: 1, ID: 4, PRICE: 20, CAMPAIGN: 24, CREATIVE: 28 } as const;

/** Where the request id (and so the generator's stamp) lies: give this as `stampOffset`. */
export const STAMP_OFFSET = REQ.ID;
export const ID_BYTES = 16;

/** Device types by their wire number (0 is unknown). */
export const DEVICES = ['unknown', 'desktop', 'mobile', 'tablet', 'ctv'] as const;
export type Device = (typeof DEVICES)[number];

/** A request as values (tools and tests; the hot path reads the bytes). */
export interface BidRequest {
  device: Device;
  /** Two ASCII letters, or '' for unknown. */
  country: string;
  id: Uint8Array;
  sentUs: number;
  tmaxUs: number;
  publisher: number;
  floor: number;
  width: number;
  height: number;
  /** 64-bit bitmap as two 32-bit halves: segments 0..31 in lo, 32..63 in hi. */
  segLo: number;
  segHi: number;
}

/** A response as values. */
export interface BidResponse {
  bid: boolean;
  id: Uint8Array;
  price: number;
  campaign: number;
  creative: number;
}

const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
/** A u64 of at most 2^53 − 1 as a number: two u32 reads, no BigInt. */
export const readU64 = (b: Uint8Array, o: number) => u32(b, o) + u32(b, o + 4) * 4294967296;
export function writeU64(b: Uint8Array, o: number, v: number): void {
  put32(b, o, v % 4294967296);
  put32(b, o + 4, Math.floor(v / 4294967296));
}
export { u32 as readU32, u16 as readU16, put32 as writeU32, put16 as writeU16 };

/** Country code as its wire number: the two ASCII bytes, first in the low byte ('US' -> 0x5355); 0 for ''. */
export function countryCode(c: string): number {
  if (c === '') return 0;
  if (!/^[A-Z]{2}$/.test(c)) throw new RangeError(`country '${c}' is not two capital letters (ISO 3166-1 alpha-2)`);
  return c.charCodeAt(0) | (c.charCodeAt(1) << 8);
}

/** Writes request `r` at `o` in `b` (52 bytes). */
export function encodeRequest(r: BidRequest, b: Uint8Array = new Uint8Array(REQUEST_BYTES), o = 0): Uint8Array {
  b[o + REQ.VERSION] = VERSION;
  const d = DEVICES.indexOf(r.device);
  if (d < 0) throw new RangeError(`device '${r.device}' is not one of ${DEVICES.join(', ')}`);
  b[o + REQ.DEVICE] = d;
  put16(b, o + REQ.COUNTRY, countryCode(r.country));
  if (r.id.length !== ID_BYTES) throw new RangeError(`the request id must be ${ID_BYTES} bytes`);
  b.set(r.id, o + REQ.ID);
  writeU64(b, o + REQ.SENT_US, r.sentUs);
  put32(b, o + REQ.TMAX_US, r.tmaxUs);
  put32(b, o + REQ.PUBLISHER, r.publisher);
  put32(b, o + REQ.FLOOR, r.floor);
  put16(b, o + REQ.WIDTH, r.width);
  put16(b, o + REQ.HEIGHT, r.height);
  put32(b, o + REQ.SEGMENTS, r.segLo);
  put32(b, o + REQ.SEGMENTS + 4, r.segHi);
  return b;
}

/** Reads a request at `o` (no checks beyond the field values; see Bidder for what it rejects). */
export function decodeRequest(b: Uint8Array, o = 0): BidRequest {
  const c = u16(b, o + REQ.COUNTRY);
  return {
    device: DEVICES[b[o + REQ.DEVICE]] ?? 'unknown',
    country: c === 0 ? '' : String.fromCharCode(c & 0xff, c >>> 8),
    id: b.slice(o + REQ.ID, o + REQ.ID + ID_BYTES),
    sentUs: readU64(b, o + REQ.SENT_US),
    tmaxUs: u32(b, o + REQ.TMAX_US),
    publisher: u32(b, o + REQ.PUBLISHER),
    floor: u32(b, o + REQ.FLOOR),
    width: u16(b, o + REQ.WIDTH),
    height: u16(b, o + REQ.HEIGHT),
    segLo: u32(b, o + REQ.SEGMENTS),
    segHi: u32(b, o + REQ.SEGMENTS + 4),
  };
}

/**
 * Writes the response over the request at `o` (the id stays in place) and
 * returns its length. No allocation.
 */
export function writeResponse(b: Uint8Array, o: number, campaign: number, price: number, creative: number): number {
  b[o + RESP.VERSION] = VERSION;
  b[o + RESP.RESULT] = campaign !== 0 ? 1 : 0;
  b[o + 2] = 0;
  b[o + 3] = 0;
  put32(b, o + RESP.PRICE, price);
  put32(b, o + RESP.CAMPAIGN, campaign);
  put32(b, o + RESP.CREATIVE, creative);
  return RESPONSE_BYTES;
}

/** Reads a response at `o`. */
export function decodeResponse(b: Uint8Array, o = 0): BidResponse {
  return {
    bid: b[o + RESP.RESULT] === 1,
    id: b.slice(o + RESP.ID, o + RESP.ID + ID_BYTES),
    price: u32(b, o + RESP.PRICE),
    campaign: u32(b, o + RESP.CAMPAIGN),
    creative: u32(b, o + RESP.CREATIVE),
  };
}
