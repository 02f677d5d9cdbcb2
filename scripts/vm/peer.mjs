#!/usr/bin/env node
// The kernel peer of the test bed: runs in the host network namespace that
// scripts/vm/run.sh creates, on the TAP side (198.18.0.1, fd00:198:18::1), and
// talks to the guest's vfio port (198.18.0.2, fd00:198:18::2) through the host
// kernel's socket stack.
//
//   UDP :7     echo: every datagram goes back to its sender.
//   UDP :9000  control, one JSON object per datagram:
//     {"cmd":"send","id":1,"count":N,"flows":F,"dport":P,"size":S}
//        sends N datagrams of S payload bytes to 198.18.0.2:P, round-robin from
//        F source ports (20000..20000+F-1), and counts what comes back to those
//        ports (the guest echoes them).
//     {"cmd":"send","id":1,"counts":[c0,c1,...],"dport":P}
//        the same with an uneven load: source port 20000+f sends c_f datagrams
//        (round-robin while each has some left), so per-queue totals on the
//        guest tell which flow went to which queue.
//     {"cmd":"report","id":1}
//        answers {"id":1,"sent":N,"received":R,"perFlow":[...]} to the sender
//        (three times, 20 ms apart, in case one is lost).
//   Everything is logged to stdout (run.sh keeps it as peer.log).
// Bounded: at most 100000 datagrams per request, and the process ends on SIGTERM
// (run.sh kills it by PID) or after 30 minutes.
import dgram from 'node:dgram';

const GUEST4 = '198.18.0.2';
const HOST4 = '198.18.0.1';
const log = (...a) => console.log(new Date().toISOString(), ...a);

const echo = dgram.createSocket('udp4');
echo.on('message', (msg, rinfo) => echo.send(msg, rinfo.port, rinfo.address));
echo.bind(7, HOST4);
const echo6 = dgram.createSocket({ type: 'udp6', ipv6Only: true });
echo6.on('message', (msg, rinfo) => echo6.send(msg, rinfo.port, rinfo.address));
echo6.on('error', (e) => log('echo6:', e.message));
echo6.bind(7, 'fd00:198:18::1');

const results = new Map();
const flows = [];

async function send(req) {
  const counts = Array.isArray(req.counts) ? req.counts.slice(0, 64).map((c) => Math.max(0, c | 0)) : undefined;
  const count = Math.min(counts ? counts.reduce((a, b) => a + b, 0) : Math.max(1, req.count | 0), 100000);
  const nflows = counts ? Math.max(1, counts.length) : Math.min(Math.max(1, req.flows | 0), 64);
  const left = counts ? counts.slice() : undefined;
  const size = Math.min(Math.max(1, req.size | 0 || 18), 1400);
  const r = { id: req.id, sent: 0, received: 0, perFlow: new Array(nflows).fill(0) };
  results.set(req.id, r);
  for (const s of flows.splice(0)) s.close();
  for (let f = 0; f < nflows; f++) {
    const s = dgram.createSocket('udp4');
    s.on('message', () => {
      r.received++;
      r.perFlow[f]++;
    });
    await new Promise((ok) => s.bind(20000 + f, HOST4, ok));
    flows.push(s);
  }
  const payload = Buffer.alloc(size, 0x61);
  for (let i = 0, f = 0; i < count; i++, f = (f + 1) % nflows) {
    if (left) {
      while (left[f] === 0) f = (f + 1) % nflows;
      left[f]--;
    }
    payload.writeUInt32BE(i, 0);
    await new Promise((ok) => flows[left ? f : i % nflows].send(payload, req.dport | 0 || 7777, GUEST4, ok));
    r.sent++;
    // Pace a little: the guest polls under TCG and its rings are small.
    if (i % 16 === 15) await new Promise((ok) => setTimeout(ok, 2));
  }
  log(`send ${req.id}: sent ${r.sent} over ${nflows} flows`);
}

const ctl = dgram.createSocket('udp4');
ctl.on('message', async (msg, rinfo) => {
  let req;
  try {
    req = JSON.parse(msg.toString());
  } catch {
    return; // an echo of our own report, or noise
  }
  if (!req || typeof req !== 'object') return;
  log('request from', `${rinfo.address}:${rinfo.port}`, msg.toString());
  if (req.cmd === 'send') await send(req);
  if (req.cmd === 'report') {
    const r = results.get(req.id) ?? { id: req.id, sent: 0, received: 0, perFlow: [] };
    const body = Buffer.from(JSON.stringify(r));
    log('report', body.toString());
    for (let i = 0; i < 3; i++) {
      ctl.send(body, rinfo.port, rinfo.address);
      await new Promise((ok) => setTimeout(ok, 20));
    }
  }
});
ctl.bind(9000, HOST4);

log(`peer up on ${HOST4}: echo :7, control :9000`);
const stop = () => {
  log('peer stopping');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, 30 * 60 * 1000).unref();
