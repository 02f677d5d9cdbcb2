/**
 * A thread of the dgram bidder (dgram.ts): one Node `dgram` socket, each
 * message answered by the same Bidder as the linerate server, the response
 * written over the request in the message's own Buffer and sent back.
 */
import { createSocket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { monoUs } from './clock.js';
import { LoadFollower, type BidderWorkerData } from './server.js';

const w = workerData as { data: BidderWorkerData; counters: SharedArrayBuffer; address: string; port: number; reusePort: boolean; family: 'udp4' | 'udp6' };
const counters = new Float64Array(w.counters);
const f = new LoadFollower(w.data, counters, (e) => parentPort!.postMessage({ reloadFailed: e.message }));
const options = { type: w.family, recvBufferSize: 8 << 20, ...(w.reusePort ? { reusePort: true } : {}) };
const sock = createSocket(options as Parameters<typeof createSocket>[0]);
sock.on('message', (msg, rinfo) => {
  f.refresh();
  const n = f.bidder.bid(msg, 0, msg.length, monoUs(), counters);
  if (n > 0) sock.send(msg, 0, n, rinfo.port, rinfo.address);
});
sock.on('error', (e) => parentPort!.postMessage({ error: e.message }));
sock.bind(w.port, w.address, () => parentPort!.postMessage({ ready: sock.address().port }));
parentPort!.on('message', (m: { close?: boolean }) => {
  if (m.close) sock.close(() => parentPort!.postMessage({ closed: true }));
});
