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
//        "family":6 sends from fd00:198:18::1 to fd00:198:18::2 instead. Each
//        payload starts with its index (32 bits) and is filled with bytes that
//        depend on it; "exact" counts what came back identical to what was sent.
//     {"cmd":"report","id":1}
//        answers {"id":1,"sent":N,"received":R,"exact":X,"perFlow":[...]} to the
//        sender (three times, 20 ms apart, in case one is lost).
//     {"cmd":"ping","id":1,"family":4|6,"count":N}
//        runs the kernel's ping (N <= 20 echo requests, 0.2 s apart) to the guest's
//        address and answers {"id":1,"transmitted":T,"received":R,"output":"..."}.
//     {"cmd":"neigh","id":1,"action":"forget"|"pin"|"show","forMs":M}
//        forget: deletes the permanent neighbour entries of the guest's addresses
//        (below), so the kernel has to resolve them (ARP, ND), and pins them again
//        after M ms (default 60000, at most 120000) in case nobody says pin;
//        pin: puts them back now. Every action answers
//        {"id":1,"action":"...","neigh":["<ip neigh show lines for the guest>"]}.
//        The permanent entries are what the tests that send raw frames from the
//        guest (no ARP answered there) rely on; run.sh sets them at start.
//   Everything is logged to stdout (run.sh keeps it as peer.log).
// Bounded: at most 100000 datagrams per request, and the process ends on SIGTERM
// (run.sh kills it by PID) or after 30 minutes.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';

const GUEST4 = '198.18.0.2';
const HOST4 = '198.18.0.1';
const GUEST6 = 'fd00:198:18::2';
const HOST6 = 'fd00:198:18::1';
const GUEST_MAC = '52:54:00:4c:52:02';
const DEV = 'lrtap0';
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
  const size = Math.min(Math.max(4, req.size | 0 || 18), 1400);
  const v6 = req.family === 6;
  const r = { id: req.id, sent: 0, received: 0, exact: 0, perFlow: new Array(nflows).fill(0) };
  results.set(req.id, r);
  for (const s of flows.splice(0)) s.close();
  // What datagram i carried: its index, then bytes that depend on it.
  const payloadOf = (i) => {
    const p = Buffer.alloc(size);
    for (let k = 4; k < size; k++) p[k] = (i * 31 + k) & 0xff;
    p.writeUInt32BE(i, 0);
    return p;
  };
  for (let f = 0; f < nflows; f++) {
    const s = dgram.createSocket(v6 ? { type: 'udp6', ipv6Only: true } : 'udp4');
    s.on('message', (msg) => {
      r.received++;
      r.perFlow[f]++;
      if (msg.length === size && msg.equals(payloadOf(msg.readUInt32BE(0)))) r.exact++;
    });
    await new Promise((ok) => s.bind(20000 + f, v6 ? HOST6 : HOST4, ok));
    flows.push(s);
  }
  for (let i = 0, f = 0; i < count; i++, f = (f + 1) % nflows) {
    if (left) {
      while (left[f] === 0) f = (f + 1) % nflows;
      left[f]--;
    }
    const payload = payloadOf(i);
    await new Promise((ok) => flows[left ? f : i % nflows].send(payload, req.dport | 0 || 7777, v6 ? GUEST6 : GUEST4, ok));
    r.sent++;
    // Pace a little: the guest polls under TCG and its rings are small.
    if (i % 16 === 15) await new Promise((ok) => setTimeout(ok, 2));
  }
  log(`send ${req.id}: sent ${r.sent} over ${nflows} flows`);
}

const run = (cmd, args) =>
  new Promise((ok) => execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => ok({ code: err ? (err.code ?? 1) : 0, out: `${stdout}${stderr}` })));

async function ping(req) {
  const count = Math.min(Math.max(1, req.count | 0), 20);
  const v6 = req.family === 6;
  // -i 0.2 (root may go below 1 s); -W 3: the guest polls under TCG, so give each reply time.
  const p = await run('ping', [v6 ? '-6' : '-4', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '3', '-I', DEV, v6 ? GUEST6 : GUEST4]);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(p.out);
  return { id: req.id, transmitted: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, output: p.out.slice(-400) };
}

let repin;
async function pin() {
  clearTimeout(repin);
  await run('ip', ['neigh', 'replace', GUEST4, 'lladdr', GUEST_MAC, 'dev', DEV, 'nud', 'permanent']);
  await run('ip', ['-6', 'neigh', 'replace', GUEST6, 'lladdr', GUEST_MAC, 'dev', DEV, 'nud', 'permanent']);
}

async function neigh(req) {
  if (req.action === 'forget') {
    await run('ip', ['neigh', 'del', GUEST4, 'dev', DEV]);
    await run('ip', ['-6', 'neigh', 'del', GUEST6, 'dev', DEV]);
    clearTimeout(repin);
    repin = setTimeout(() => pin().then(() => log('neigh: pinned again (timer)')), Math.min(Math.max(0, req.forMs | 0) || 60_000, 120_000));
  } else if (req.action === 'pin') {
    await pin();
  }
  const shown = await Promise.all([GUEST4, GUEST6].map((ip) => run('ip', [ip === GUEST6 ? '-6' : '-4', 'neigh', 'show', 'to', ip, 'dev', DEV])));
  return { id: req.id, action: req.action, neigh: shown.flatMap((s) => s.out.split('\n').filter(Boolean)) };
}

const ctl = dgram.createSocket('udp4');
const answer = async (r, rinfo) => {
  const body = Buffer.from(JSON.stringify(r));
  log('answer', body.toString());
  for (let i = 0; i < 3; i++) {
    ctl.send(body, rinfo.port, rinfo.address);
    await new Promise((ok) => setTimeout(ok, 20));
  }
};
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
  if (req.cmd === 'report') await answer(results.get(req.id) ?? { id: req.id, sent: 0, received: 0, exact: 0, perFlow: [] }, rinfo);
  if (req.cmd === 'ping') await answer(await ping(req), rinfo);
  if (req.cmd === 'neigh') await answer(await neigh(req), rinfo);
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
