// The host layer (docs/host.md) on real (emulated) PCI NICs under vfio, inside the
// QEMU guest that scripts/vm/run.sh boots, against kernel peers using the kernel's
// own tools: ARP and neighbour discovery resolve us, ping and ping -6 are
// answered, UDP comes back byte for byte in both families. Skipped outside the guest.
//
//   H 0000:00:04.0 virtio-net  <- TAP ->  the host's kernel in run.sh's namespace
//                                          (198.18.0.1, fd00:198:18::1; scripts/vm/peer.mjs)
//   E 0000:00:03.0 e1000e      <- wire -> V 0000:00:05.0 virtio-net on the guest's own
//                                          kernel driver (given 198.18.0.1, fd00:198:18::1 here)
// In both, linerate is 198.18.0.2/24 and fd00:198:18::2/64.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DatagramBatch, Engine } from '../../src/index.js';
import { PciBinder } from '../../src/cli/bind.js';
import { EngineTracker, stopAndCheckPool, waitFor } from '../helpers/engine.js';
import { E, GUEST, H, lastCpu, MAC, V } from './nics.js';

const ME4 = '198.18.0.2';
const ME6 = 'fd00:198:18::2';
const PEER4 = '198.18.0.1';
const PEER6 = 'fd00:198:18::1';

const engines = new EngineTracker();
const binder = new PciBinder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The NICs this file moved: H and E to vfio-pci (the host layer's ports), V to
// its kernel driver (the peer of (b)); afterAll puts each back where it was.
let toVfio: string[] = [];
let toKernel: string[] = [];
let found: (string | undefined)[] = [];

const echo = (b: DatagramBatch) => {
  for (let i = 0; i < b.count; i++) b.reply(i, b.payloadLength(i));
};

async function engine(): Promise<Engine> {
  return engines.create({ lcores: [lastCpu()], idle: 'adaptive', mempool: { mbufs: 4096, hugepages: 'auto' } }, true);
}

function sh(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((ok) =>
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) => ok({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` })),
  );
}

/** Runs the kernel's ping from the guest and reads its summary line. */
async function ping(family: 4 | 6, ifname: string, to: string, count: number) {
  const p = await sh('ping', [`-${family}`, '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '3', '-I', ifname, to]);
  const m = /(\d+) packets transmitted, (\d+) received/.exec(p.out);
  return { transmitted: m ? Number(m[1]) : 0, received: m ? Number(m[2]) : 0, output: p.out };
}

const payloads = (n: number, tag: string) => Array.from({ length: n }, (_, i) => Buffer.from(`${tag} ${i} ${'z'.repeat((i * 37) % 300)}`));
const sortedHex = (b: Uint8Array[]) => b.map((x) => Buffer.from(x).toString('hex')).sort();

/** A kernel UDP client (Node dgram) sends every payload to `to`:7 and collects what comes back from there. */
async function udpExchange(family: 4 | 6, from: string, to: string, sent: Buffer[]): Promise<Buffer[]> {
  const s = dgram.createSocket(family === 6 ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
  const got: Buffer[] = [];
  s.on('message', (msg, rinfo) => {
    if (rinfo.address === to && rinfo.port === 7) got.push(msg);
  });
  await new Promise<void>((ok) => s.bind(0, from, ok));
  try {
    for (const p of sent) {
      await new Promise((ok) => s.send(p, 7, to, ok));
      await sleep(2);
    }
    await waitFor(() => got.length >= sent.length, 15_000);
    await sleep(200); // nothing more (no duplicates) should come
    return got;
  } finally {
    s.close();
  }
}

describe.skipIf(!GUEST)('the host layer under vfio in the QEMU guest: kernel peers resolve, ping and talk UDP to it', () => {
  beforeAll(() => {
    found = binder.devices().map((d) => d.driver);
    toVfio = [H, E].filter((pci) => binder.bind(pci).changed);
    const v = binder.devices().find((d) => d.pci === V);
    if (v?.driver === 'vfio-pci') {
      binder.unbind(V);
      toKernel = [V];
    }
  });
  afterEach(() => engines.closeAll());
  afterAll(() => {
    for (const pci of toVfio.splice(0)) binder.unbind(pci);
    for (const pci of toKernel.splice(0)) binder.bind(pci);
    // As the other files expect to find them: as we found them.
    expect(binder.devices().map((d) => d.driver)).toEqual(found);
  });

  it('virtio-net (H) is the host: the host kernel resolves it (ARP, ND), pings it and echoes UDP through it in both families', async () => {
    const e = await engine();
    const ph = e.addPort('H', { driver: 'vfio', pci: H });
    const host = e.host(ph, { ipv4: `${ME4}/24`, ipv6: `${ME6}/64` });
    const echoSock = host.udp({ port: 7 }, echo);
    // The control socket to scripts/vm/peer.mjs (:9000): its answers arrive as 'message' events.
    const ctl = host.udp({ port: 5556 });
    const answers = new Map<number, Record<string, unknown>>();
    ctl.on('message', (msg: Buffer) => {
      try {
        const j = JSON.parse(msg.toString()) as Record<string, unknown>;
        if (typeof j.id === 'number') answers.set(j.id, j);
      } catch {
        // not an answer
      }
    });
    let nextId = 1000; // above the ids the other files use (the peer keeps its results by id)
    // A request and its answer (a report answers with the id of the send it reports on).
    const ask = async (req: Record<string, unknown>, id = nextId++, ms = 20_000) => {
      answers.delete(id);
      if (!ctl.send(JSON.stringify({ ...req, id }), 9000, PEER4)) throw new Error(`could not queue ${JSON.stringify(req)} (see host.stats())`);
      if (!(await waitFor(() => answers.has(id), ms))) throw new Error(`the peer did not answer ${JSON.stringify(req)} within ${ms} ms`);
      return answers.get(id)!;
    };
    await e.start();
    expect(await waitFor(() => e.stats().ports.H!.linkUp, 10_000), 'H link up').toBe(true);

    // run.sh pins the peer's neighbour entries for us (raw-frame tests answer no ARP):
    // drop them, so the kernel has to resolve us. Its answer to this request already
    // needs ARP (and our first datagram waited, held, while we resolved the peer).
    const forgot = await ask({ cmd: 'neigh', action: 'forget', forMs: 60_000 });
    expect(String(forgot.neigh), 'no permanent entry left').not.toMatch(/PERMANENT/);
    try {
      const p4 = (await ask({ cmd: 'ping', family: 4, count: 3 })) as { transmitted: number; received: number; output: string };
      expect(p4.received, p4.output).toBe(3);
      const p6 = (await ask({ cmd: 'ping', family: 6, count: 3 })) as { transmitted: number; received: number; output: string };
      expect(p6.received, p6.output).toBe(3);

      // UDP echo in both families: the peer checks every payload came back byte for byte.
      for (const family of [4, 6]) {
        const id = nextId++;
        expect(ctl.send(JSON.stringify({ cmd: 'send', id, family, count: 40, flows: 2, dport: 7, size: 200 }), 9000, PEER4)).toBe(true);
        let r: Record<string, unknown> = {};
        for (const until = Date.now() + 30_000; r.received !== 40 && Date.now() < until; ) {
          await sleep(300);
          r = await ask({ cmd: 'report' }, id, 3000).catch(() => ({}));
        }
        expect(r, `IPv${family} echo`).toMatchObject({ sent: 40, received: 40, exact: 40 });
      }
      // The peer's kernel learned our MAC by asking (not a permanent entry).
      const shown = String((await ask({ cmd: 'neigh', action: 'show' })).neigh);
      expect(shown).toMatch(new RegExp(`${ME4.replaceAll('.', '\\.')} lladdr ${MAC.H}`));
      expect(shown).toMatch(new RegExp(`${ME6} lladdr ${MAC.H}`));
      expect(shown).not.toMatch(/PERMANENT/);
    } finally {
      await ask({ cmd: 'neigh', action: 'pin' }).catch(() => undefined);
    }

    const s = host.stats();
    expect(s.arpRequestsIn, 'ARP requests for us').toBeGreaterThanOrEqual(1);
    expect(s.arpRepliesOut).toBeGreaterThanOrEqual(1);
    expect(s.ndSolicitsIn, 'neighbour solicitations for us').toBeGreaterThanOrEqual(1);
    expect(s.ndAdvertsOut).toBeGreaterThanOrEqual(1);
    expect(s.icmpEchoOut).toBe(3);
    expect(s.icmp6EchoOut).toBe(3);
    expect(echoSock.stats().replies).toBe(80);
    expect(s.udpReplies).toBe(80);
    expect(s.udpBadCsum + s.ipBadCsum + s.icmpBadCsum).toBe(0);
    // QEMU's tap-backed virtio-net offers VIRTIO_NET_F_CSUM: the device finished
    // the UDP checksums of every reply and send (the echoes, the control
    // answers); the peer's kernel delivered them, and test/native/
    // host_offload_test checks the bytes a device makes of them.
    expect(e.stats().ports.H!.xstats.tx_csum_offloaded, 'UDP checksums left to the device').toBeGreaterThanOrEqual(80);
    // We resolved the peer by ARP (our first control datagram was held, then sent).
    expect(host.neighbors().find((n) => n.ip === PEER4)).toMatchObject({ mac: MAC.host });
    expect(s.neighbors.holdDrops).toBe(0);
    await stopAndCheckPool(e);
  });

  it("e1000e (E) is the host and the guest's own kernel its peer over the wire (V): resolved, pinged, UDP byte for byte in both families", async () => {
    // V on its kernel driver is the peer: the guest's kernel does not own .2, so
    // what it sends to 198.18.0.2 leaves through V, over the wire, to E.
    expect(await waitFor(() => binder.interfacesOf(V).length === 1, 10_000), 'V has a kernel interface').toBe(true);
    const ifname = binder.interfacesOf(V)[0]!;
    const wasUp = binder.devices().find((d) => d.pci === V)!.interfaces[0]!.up;
    const e = await engine();
    const pe = e.addPort('E', { driver: 'vfio', pci: E });
    const host = e.host(pe, { ipv4: `${ME4}/24`, ipv6: `${ME6}/64` });
    host.udp({ port: 7 }, echo);
    await e.start();
    try {
      for (const args of [
        ['addr', 'add', `${PEER4}/24`, 'dev', ifname],
        ['-6', 'addr', 'add', `${PEER6}/64`, 'dev', ifname, 'nodad'],
        ['link', 'set', ifname, 'up'],
      ]) {
        const r = await sh('ip', args);
        expect(r.code, `ip ${args.join(' ')}: ${r.out}`).toBe(0);
      }
      expect(await waitFor(() => e.stats().ports.E!.linkUp, 10_000), 'E link up').toBe(true);
      const p4 = await ping(4, ifname, ME4, 3);
      expect(p4.received, p4.output).toBe(3);
      const p6 = await ping(6, ifname, ME6, 3);
      expect(p6.received, p6.output).toBe(3);
      const sent4 = payloads(20, 'v4'), sent6 = payloads(20, 'v6');
      expect(sortedHex(await udpExchange(4, PEER4, ME4, sent4)), 'IPv4 echoes').toEqual(sortedHex(sent4));
      expect(sortedHex(await udpExchange(6, PEER6, ME6, sent6)), 'IPv6 echoes').toEqual(sortedHex(sent6));
      const neigh = (await sh('ip', ['neigh', 'show', 'dev', ifname])).out;
      expect(neigh).toMatch(new RegExp(`${ME4.replaceAll('.', '\\.')} lladdr ${MAC.E}`));
      expect(neigh).toMatch(new RegExp(`${ME6} lladdr ${MAC.E}`));
    } finally {
      await sh('ip', ['addr', 'del', `${PEER4}/24`, 'dev', ifname]);
      await sh('ip', ['-6', 'addr', 'del', `${PEER6}/64`, 'dev', ifname]);
      await sh('ip', ['neigh', 'flush', 'dev', ifname]);
      if (!wasUp) await sh('ip', ['link', 'set', ifname, 'down']);
    }
    const s = host.stats();
    expect(s.arpRequestsIn, 'ARP requests for us').toBeGreaterThanOrEqual(1);
    expect(s.ndSolicitsIn, 'neighbour solicitations for us').toBeGreaterThanOrEqual(1);
    expect(s.icmpEchoOut).toBe(3);
    expect(s.icmp6EchoOut).toBe(3);
    expect(s.udpReplies).toBe(40);
    expect(s.udpBadCsum + s.ipBadCsum + s.icmpBadCsum).toBe(0);
    expect(host.neighbors().map((n) => [n.ip, n.mac])).toEqual(expect.arrayContaining([[PEER4, MAC.V]]));
    await stopAndCheckPool(e);
  });
});
