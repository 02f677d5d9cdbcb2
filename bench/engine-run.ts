/**
 * A linerate engine as bench/udp and bench/bidder run it: started (or closed
 * again if it cannot be), stopped with a look at its pool, and on the null
 * driver the CPU cycles per packet it answers.
 */
import type { Engine, EngineStats } from '../src/index.js';
import { procCpuS } from './measure.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `setup` (ports, host, workers) and starts `e`; closes `e` and throws if either fails. */
export async function startOrClose(e: Engine, setup: () => void): Promise<void> {
  try {
    setup();
    await e.start();
  } catch (err) {
    if (e.state !== 'closed') await e.close();
    throw err;
  }
}

/** Stops `e`, says how many mbufs are missing from its pool if any (`  linerate server: N mbufs missing after stop`), closes it. */
export async function stopAndClose(e: Engine): Promise<void> {
  await e.stop();
  const s = e.stats();
  if (s.mempool.free.total !== s.mempool.size) console.log(`  linerate server: ${s.mempool.size - s.mempool.free.total} mbufs missing after stop`);
  await e.close();
}

/**
 * For `e` just started with null port 'p' answering every request (the null port sinks the replies):
 * after 0.5 s, this process's CPU time × TSC rate over the packets transmitted in `secs` s, and the rate
 * in millions a second; then stops `e` and throws if its pool is not whole or nothing was answered
 * (`null WHAT: ...`, `no UNIT answered`). Leaves closing `e` to the caller.
 */
export async function nullAnswerCost(e: Engine, secs: number, what: string, unit: string): Promise<{ cycles: number; mps: number; stats: EngineStats }> {
  await sleep(500);
  const snap = () => ({ t: performance.now(), cpu: procCpuS(process.pid), tx: e.stats().ports.p!.txPackets });
  const s0 = snap();
  await sleep(secs * 1000);
  const s1 = snap();
  const tsc = e.info().tscHz;
  await e.stop();
  const st = e.stats();
  if (st.mempool.free.total !== st.mempool.size) throw new Error(`null ${what}: ${st.mempool.size - st.mempool.free.total} mbufs missing after stop`);
  const n = s1.tx - s0.tx;
  if (n <= 0) throw new Error(`null ${what}: no ${unit} answered; port stats ${JSON.stringify(st.ports.p)}`);
  return { cycles: Math.round(((s1.cpu - s0.cpu) * tsc) / n), mps: Number((n / ((s1.t - s0.t) / 1000) / 1e6).toFixed(3)), stats: st };
}
