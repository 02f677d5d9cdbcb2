/**
 * The echo handler of examples/udp-echo.ts: every datagram goes back to its
 * sender unchanged (RFC 862). A worker module (its default export), and the
 * function the main-thread socket calls.
 */
import type { DatagramBatch } from '../src/index.js';

export function echoDatagrams(b: DatagramBatch): void {
  for (let i = 0; i < b.count; i++) b.reply(i, b.payloadLength(i));
}

export default echoDatagrams;
