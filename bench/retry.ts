/**
 * A ladder step that is run again when it misses. This machine's hypervisor takes a CPU away
 * for 1-9 ms at a time (bench/stalls.ts), so a single 2-s window can miss by chance, for the
 * generator or for the server; the benches that climb ladders (bench/udp, bench/bidder) run a
 * missed step up to `tries` times in all, with the same rule for every server. Every try goes
 * into `steps` (the JSON shows them all); the step counts by its best try under `score`.
 */
export async function tryStep<S>(run: () => Promise<S>, steps: S[], tries: number, missed: (s: S) => boolean, score: (s: S) => number): Promise<S> {
  let s = await run();
  steps.push(s);
  for (let t = 1; t < tries && missed(s); t++) {
    console.log('      tried again:');
    const s2 = await run();
    steps.push(s2);
    if (score(s2) > score(s)) s = s2;
  }
  return s;
}
