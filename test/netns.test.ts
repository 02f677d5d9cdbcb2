// The namespace test bed itself (scripts/netns.sh + test/helpers/netns.ts): two
// namespaces, a veth pair, addresses, a kernel UDP exchange and clean removal.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers, namespacesWithPrefix, netnsGate, TestBed } from './helpers/netns.js';

const gate = netnsGate();
afterAll(() => cleanupLeftovers());

describe.skipIf(!gate.run)('netns test bed', { timeout: 60_000 }, () => {
  it('joins two namespaces with a multi-queue veth pair, carries UDP both ways, and leaves nothing behind', async () => {
    const bed = await TestBed.create({ queues: 2 });
    try {
      expect(namespacesWithPrefix(bed.name)).toEqual(expect.arrayContaining([bed.nsA, bed.nsB]));
      expect(await bed.links('a')).toContain(bed.ifA);
      expect(await bed.links('b')).toContain(bed.ifB);
      expect(await bed.sh('b', ['cat', `/sys/class/net/${bed.ifB}/queues/../address`])).toContain(bed.macB);
      // A kernel UDP echo server in B.
      const srv = bed.spawnIn('b', [process.execPath, '-e',
        "const s=require('node:dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(7001,'198.18.0.2',()=>console.log('ready'))"]);
      await new Promise<void>((res) => srv.stdout!.once('data', () => res()));
      const replies = await bed.udpExchange({ port: 7001, payloads: [Buffer.from('one'), Buffer.from('two')], flows: 2 });
      expect(replies.map((r) => r.data.toString()).sort()).toEqual(['one', 'one', 'two', 'two']);
      expect(new Set(replies.map((r) => r.localPort)).size).toBe(2);
      expect(replies.every((r) => r.from === bed.ipB && r.fromPort === 7001)).toBe(true);
      srv.kill('SIGKILL');
    } finally {
      await bed.destroy();
    }
    expect(namespacesWithPrefix(bed.name)).toEqual([]);
  });
});
