/**
 * One frame of `linerate stats` / `linerate top`: two `stats` samples of the control socket turned into rates, laid
 * out in at most 80 columns like testpmd's "show port stats": ports and their queues (pps, bit/s, drops), drops by
 * reason, lcores (busy %, CPU received), the mempool by owner, handler ring fill, host counters, warnings.
 * Pure: samples in, lines out (the tests read the same lines the terminal shows).
 * @module
 */
import type { ControlInfo, ControlStats } from '../control/server.js';

/** Columns a frame fits in. */
export const WIDTH = 80;

/** 1234567 → "1.23M": three significant digits, SI prefixes (k, M, G, T). */
export function si(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  if (a < 1000) return a < 10 && a !== Math.floor(a) ? v.toFixed(1) : String(Math.round(v));
  const units = ['k', 'M', 'G', 'T', 'P'];
  let i = -1;
  let x = a;
  while (x >= 1000 && i < units.length - 1) {
    x /= 1000;
    i++;
  }
  let text = x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2);
  // 999.96k rounds to "1000k": that is 1.00M.
  if (Number(text) >= 1000 && i < units.length - 1) {
    i++;
    text = (x / 1000).toFixed(2);
  }
  return `${v < 0 ? '-' : ''}${text}${units[i]}`;
}

function uptime(s: number): string {
  const t = Math.floor(s);
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

const cut = (s: string) => (s.length > WIDTH ? s.slice(0, WIDTH - 1) + '~' : s);
const row = (label: string, cells: string[]) => label.padEnd(12).slice(0, 12) + cells.map((c) => c.padStart(8)).join('');

/** Rates between two samples: per second over the samples' own monotonic clock. */
export interface Rates {
  seconds: number;
  ports: Record<string, { rxPps: number; rxBps: number; txPps: number; txBps: number; dropsPs: number; rxq: { pps: number; bps: number }[]; txq: { pps: number; bps: number }[] }>;
  /** Per lcore: share of wall time its thread ran (schedstat), 0..100; undefined when not readable. */
  cpuPercent: (number | undefined)[];
}

/** Rates of `cur` since `prev` (bit/s count frame bytes, as ip -s link and Prometheus' 8 * rate(bytes)). */
export function rates(prev: ControlStats | undefined, cur: ControlStats): Rates {
  const seconds = prev ? (cur.timeNs - prev.timeNs) / 1e9 : 0;
  const per = (a: number, b: number | undefined) => (seconds > 0 && b !== undefined ? Math.max(0, a - b) / seconds : 0);
  const ports: Rates['ports'] = {};
  for (const [name, p] of Object.entries(cur.ports)) {
    const q = prev?.ports[name];
    ports[name] = {
      rxPps: per(p.rxPackets, q?.rxPackets),
      rxBps: 8 * per(p.rxBytes, q?.rxBytes),
      txPps: per(p.txPackets, q?.txPackets),
      txBps: 8 * per(p.txBytes, q?.txBytes),
      dropsPs: per(p.dropped, q?.dropped),
      rxq: p.queues.rx.map((r, i) => ({ pps: per(r.packets, q?.queues.rx[i]?.packets), bps: 8 * per(r.bytes, q?.queues.rx[i]?.bytes) })),
      txq: p.queues.tx.map((t, i) => ({ pps: per(t.packets, q?.queues.tx[i]?.packets), bps: 8 * per(t.bytes, q?.queues.tx[i]?.bytes) })),
    };
  }
  const cpuPercent = cur.lcores.map((l) => {
    const b = prev?.lcores.find((x) => x.index === l.index);
    if (seconds <= 0 || l.runNs === undefined || b?.runNs === undefined || l.tid !== b.tid) return undefined;
    return Math.min(100, (100 * (l.runNs - b.runNs)) / (seconds * 1e9));
  });
  return { seconds, ports, cpuPercent };
}

/** The lines of one frame. `prev` undefined: counters only, no rates yet. */
export function renderFrame(info: ControlInfo, prev: ControlStats | undefined, cur: ControlStats, footer = ''): string[] {
  const r = rates(prev, cur);
  const out: string[] = [];
  const lc = cur.lcores.filter((l) => l.tasks > 0).length;
  out.push(`linerate ${info.name} (pid ${info.pid})  up ${uptime(info.uptimeSeconds)}  ${Object.keys(cur.ports).length} ports  ${lc} lcores busy  ${footer}`.trimEnd());
  out.push(row('PORT/QUEUE', ['LINK', 'RX pkts', 'RX pps', 'RX bps', 'TX pkts', 'TX pps', 'TX bps', 'DROPS']));
  for (const [name, p] of Object.entries(cur.ports)) {
    const pr = r.ports[name]!;
    out.push(row(name, [p.linkUp ? 'up' : 'DOWN', si(p.rxPackets), si(pr.rxPps), si(pr.rxBps), si(p.txPackets), si(pr.txPps), si(pr.txBps), si(p.dropped)]));
    // Queues only when a port has more than one of a kind in use: a frame must fit a terminal.
    if (p.queues.rx.length > 1) p.queues.rx.forEach((q, i) => out.push(row(` rx ${i}`, ['', si(q.packets), si(pr.rxq[i]!.pps), si(pr.rxq[i]!.bps)])));
    const txUsed = p.queues.tx.map((t, i) => ({ t, i })).filter(({ t }) => t.packets > 0);
    if (txUsed.length > 1) txUsed.forEach(({ t, i }) => out.push(row(` tx ${i}`, ['', '', '', '', si(t.packets), si(pr.txq[i]!.pps), si(pr.txq[i]!.bps)])));
  }
  const drops = Object.values(cur.ports)
    .map((p) => [p.name, Object.entries(p.drops).filter(([, v]) => v > 0)] as const)
    .filter(([, d]) => d.length);
  if (drops.length) for (const [name, d] of drops) out.push(cut(`drops ${name}: ${d.map(([k, v]) => `${k} ${si(v)}`).join(', ')}`));
  out.push(row('LCORE', ['CPU', 'BUSY%', 'RAN%', 'pps', 'cyc/pkt', 'tid']));
  cur.lcores.forEach((l, i) => {
    const before = prev?.lcores.find((x) => x.index === l.index);
    const pps = before && r.seconds > 0 ? Math.max(0, l.packets - before.packets) / r.seconds : 0;
    const got = r.cpuPercent[i];
    out.push(row(String(l.index), [String(l.cpu), l.busyPercent.toFixed(1), got === undefined ? '-' : got.toFixed(1), si(pps), l.cyclesPerPacket.toFixed(0), String(l.tid || '-')]));
  });
  const m = cur.mempool;
  const u = m.inUse;
  // Mbuf counts exact below a million: an operator compares them with mempool.mbufs.
  const n = (v: number) => (v < 1e6 ? String(v) : si(v));
  out.push(cut(`mempool ${n(m.size)} free ${n(m.free.total)} (${((100 * m.free.total) / (m.size || 1)).toFixed(0)}%) in use: driver ${n(u.driver)} rings ${n(u.rings)} js ${n(u.js)} host ${n(u.host)} flight ${n(u.inFlight)}`));
  if (cur.handlerRings.length) {
    out.push(cut(`handler rings: ${cur.handlerRings.map((f) => `${f.port}/${f.queue} ${f.count}/${f.capacity} ${((100 * f.count) / (f.capacity || 1)).toFixed(0)}%`).join(', ')}`));
  }
  for (const [port, h] of Object.entries(cur.hosts)) {
    const counters = Object.entries(h).filter(([k, v]) => typeof v === 'number' && v > 0 && k !== 'sockets' && k !== 'neighbors') as [string, number][];
    out.push(cut(`host ${port}: ${counters.map(([k, v]) => `${k} ${si(v)}`).join(' ') || 'no traffic'}; neigh ${h.neighbors.entries}`));
    for (const s of h.sockets) out.push(cut(`  udp ${s.port}: rx ${si(s.rx)} replies ${si(s.replies)} sends ${si(s.sends)} dropped ${si(s.dropped)} ringFull ${si(s.ringFull)}`));
  }
  if (cur.warnings.length) {
    out.push('warnings:');
    for (const w of cur.warnings) out.push(cut(`  ${w.code} ${w.message}`));
  } else {
    out.push('warnings: none');
  }
  return out.map(cut);
}
