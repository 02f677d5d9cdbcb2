/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766) from the same answers, on a Node
 * `net` server: with `--owner kernel` the kernel keeps the address, so TCP to
 * port 53 is the kernel's and a truncated UDP answer can be retried here. Each
 * message is a 2-byte length and the query; answers are never truncated.
 * The slow path (a Buffer per answer); UDP is the fast one.
 */
import { createServer, type Server } from 'node:net';
import type { Answers } from './answers.js';

/** RFC 7766 §6.2.3: close connections idle this long. */
const IDLE_MS = 10_000;

/** Listens on `address`:`port`; `answers()` gives the zones of the moment (reloads swap them). */
export function serveTcp(answers: () => Answers, counters: Float64Array, address: string, port: number): Promise<Server> {
  const work = new Uint8Array(2 + 65535 + 2048);
  const server = createServer((sock) => {
    let pending = Buffer.alloc(0);
    sock.setTimeout(IDLE_MS, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (d) => {
      pending = pending.length ? Buffer.concat([pending, d]) : d;
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) break;
        work.set(pending.subarray(2, 2 + len), 2);
        pending = pending.subarray(2 + len);
        const n = answers().answer(work, 2, len, 65535, counters, true);
        if (n === 0) continue;
        work[0] = n >> 8;
        work[1] = n & 0xff;
        sock.write(Buffer.from(work.subarray(0, n + 2)));
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
