/**
 * bench/gen-rate: how close the load generator (src/gen, docs/gen.md) holds
 * its offered rate, measured by the receiver (issue 12: "accurate to ±1% from
 * 10 kpps to the port's limit, no bursts beyond the configured burst").
 *
 * One engine, two ring ports wired together: 'gen' (198.18.0.1, the generator's
 * inline worker on --gen-cpu) and 'rx' (198.18.0.2, a host with no socket on
 * the target port). The receiver is the host layer's native input on the lcore
 * (--rx-cpu): every request it takes is counted in udpNoListener before any
 * JavaScript, so the count is the wire's, not a JS server's. For each rate a run
 * sends for --seconds; the error is (received / run seconds − rate) / rate, and
 * the generator's own sentPps, maxBurst (never above --burst) and behind
 * (requests skipped because its worker was off its CPU) are shown beside it.
 *
 *   node dist/bench/gen-rate.js [--rates 10000,100000,500000,1000000] [--seconds 3] [--runs 3] [--burst 32]
 *                               [--gen-cpu N] [--rx-cpu N]
 *
 * Ends with one JSON line: per rate, min/median/max of the receiver's error in %.
 */
import { parseArgs } from 'node:util';
import { Engine } from '../src/index.js';
import { createGenerator } from '../src/gen/generator.js';
import { benchCpus, loadavg, minMedMax } from './measure.js';

const { values: a } = parseArgs({
  options: {
    rates: { type: 'string', default: '10000,100000,500000,1000000' },
    seconds: { type: 'string', default: '3' },
    runs: { type: 'string', default: '3' },
    burst: { type: 'string', default: '32' },
    'gen-cpu': { type: 'string' },
    'rx-cpu': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (a.help) {
  console.log('usage: node dist/bench/gen-rate.js [--rates 10000,100000,500000,1000000] [--seconds 3] [--runs 3] [--burst 32] [--gen-cpu N] [--rx-cpu N]');
  process.exit(0);
}
const rates = a.rates!.split(',').map(Number);
const seconds = Number(a.seconds);
const runs = Number(a.runs);
const burst = Number(a.burst);
const { genCpu, rxCpu } = benchCpus(a);
if (genCpu === rxCpu) throw new Error('needs two CPUs: --gen-cpu and --rx-cpu must differ');

interface Sample {
  rate: number;
  receivedPps: number;
  errorPct: number;
  sentPps: number;
  maxBurst: number;
  behind: number;
}

async function main(): Promise<void> {
  console.log(`bench/gen-rate: generator on cpu ${genCpu}, receiver (lcore) on cpu ${rxCpu}, ${runs} runs x ${seconds} s per rate, burst ${burst}; load ${loadavg()}`);
  const e = await Engine.create({ lcores: [rxCpu], mempool: { mbufs: 65536, hugepages: 'off' } });
  const samples: Sample[] = [];
  try {
    const gp = e.addPort('gen', { driver: 'ring', wire: 'rate', size: 16384 });
    const rp = e.addPort('rx', { driver: 'ring', wire: 'rate', size: 16384 });
    const genHost = e.host(gp, { ipv4: '198.18.0.1/24' });
    const rxHost = e.host(rp, { ipv4: '198.18.0.2/24' });
    const gen = createGenerator(genHost, { to: '198.18.0.2:9', cpu: genCpu, burst, size: 50 });
    await e.start();
    await gen.resolve();
    for (let run = 0; run < runs; run++) {
      for (const rate of rates) {
        const before = rxHost.stats().udpNoListener;
        // No responses come (nothing listens on :9): drain only long enough for the rings to empty.
        const r = await gen.run({ rate, seconds, intervalMs: 0, drainMs: 200 });
        const got = rxHost.stats().udpNoListener - before;
        const receivedPps = got / r.seconds;
        const s: Sample = { rate, receivedPps: Math.round(receivedPps), errorPct: Number(((100 * (receivedPps - rate)) / rate).toFixed(3)), sentPps: Math.round(r.sentPps), maxBurst: r.maxBurst, behind: r.behind };
        samples.push(s);
        console.log(`  run ${run + 1} rate ${rate}: received ${s.receivedPps}/s (${s.errorPct >= 0 ? '+' : ''}${s.errorPct}%), generator sent ${s.sentPps}/s, max burst ${s.maxBurst}, behind ${s.behind}`);
      }
    }
    await e.stop();
    const st = e.stats();
    if (st.mempool.free.total !== st.mempool.size) throw new Error(`${st.mempool.size - st.mempool.free.total} mbufs missing after stop`);
  } finally {
    if (e.state !== 'closed') await e.close();
  }
  const out = rates.map((rate) => {
    const xs = samples.filter((s) => s.rate === rate);
    return {
      rate,
      errorPct: minMedMax(xs.map((s) => s.errorPct)),
      receivedPps: minMedMax(xs.map((s) => s.receivedPps)),
      maxBurst: Math.max(...xs.map((s) => s.maxBurst)),
      behind: minMedMax(xs.map((s) => s.behind)),
    };
  });
  for (const o of out) console.log(`  ${o.rate}/s: error ${JSON.stringify(o.errorPct)} %, max burst ${o.maxBurst}`);
  console.log(JSON.stringify({ bench: 'gen-rate', date: new Date().toISOString(), genCpu, rxCpu, seconds, runs, burst, rates: out, loadavg: loadavg() }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
