// Every bad input gets a LinerateError with a stable code, and the message names
// the option (or the thing) that is wrong.
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Engine, type EngineOptions, type PortOptions } from '../src/index.js';
import { expectError, lastCpu, perTestBed, testOptions } from './helpers/engine.js';
import { udp4Frame, writePcap } from './helpers/pcap.js';

const { engines, tmp } = perTestBed();

/** Engine.create with the test defaults plus `o` (o's mempool fields merged in). */
const create = (o: EngineOptions) => () => Engine.create(testOptions(o));

describe('Engine.create options', () => {
  it('unknown engine option -> UNKNOWN_OPTION naming it', async () => {
    await expectError(() => Engine.create({ ...testOptions(), lcore: [1] } as unknown as EngineOptions), 'UNKNOWN_OPTION', "'lcore'");
  });

  it('unknown mempool option -> UNKNOWN_OPTION naming it', async () => {
    await expectError(create({ mempool: { mbuf: 10 } as unknown as EngineOptions['mempool'] }), 'UNKNOWN_OPTION', "'mbuf'");
  });

  it('mbufs 0 -> INVALID_OPTION naming mbufs', async () => {
    await expectError(create({ mempool: { mbufs: 0 } }), 'INVALID_OPTION', "'mbufs'");
  });

  it('mbufs not an integer -> INVALID_OPTION naming mbufs', async () => {
    await expectError(create({ mempool: { mbufs: 10.5 } }), 'INVALID_OPTION', "'mbufs'");
  });

  it('headroom not a multiple of 64 -> INVALID_OPTION naming headroom', async () => {
    await expectError(create({ mempool: { headroom: 100 } }), 'INVALID_OPTION', "'headroom'", '64');
  });

  it('dataRoom not a multiple of 64 -> INVALID_OPTION naming dataRoom', async () => {
    await expectError(create({ mempool: { dataRoom: 1500 } }), 'INVALID_OPTION', "'dataRoom'", '64');
  });

  it('cacheSize above 512 -> INVALID_OPTION naming cacheSize', async () => {
    await expectError(create({ mempool: { cacheSize: 1024 } }), 'INVALID_OPTION', "'cacheSize'");
  });

  it('hugepages not auto/require/off -> INVALID_OPTION naming hugepages', async () => {
    await expectError(create({ mempool: { hugepages: 'yes' as 'auto' } }), 'INVALID_OPTION', "'hugepages'");
  });

  it('lcores [] -> INVALID_OPTION naming lcores', async () => {
    await expectError(create({ lcores: [] }), 'INVALID_OPTION', "'lcores'");
  });

  it('lcores naming a CPU twice -> INVALID_OPTION naming lcores', async () => {
    const c = lastCpu();
    await expectError(create({ lcores: [c, c] }), 'INVALID_OPTION', "'lcores'", String(c));
  });

  it('lcores with a negative or fractional CPU -> INVALID_OPTION naming the element and its value', async () => {
    const c = lastCpu();
    const neg = await expectError(create({ lcores: [-1] }), 'INVALID_OPTION', "'lcores'[0]", 'got -1');
    expect(neg.message).not.toContain('an array');
    await expectError(create({ lcores: [c, 0.5] }), 'INVALID_OPTION', "'lcores'[1]", 'got 0.5');
    await expectError(create({ lcores: [c, '1' as unknown as number] }), 'INVALID_OPTION', "'lcores'[1]", "got '1'");
  });

  it('CPU 999 -> CPU_UNAVAILABLE naming the CPU and how to check', async () => {
    const e = await expectError(create({ lcores: [999] }), 'CPU_UNAVAILABLE', '999');
    expect(e.message).toMatch(/taskset|nproc/);
  });

  it('burst 0 and 65 -> INVALID_OPTION naming burst', async () => {
    await expectError(create({ burst: 0 }), 'INVALID_OPTION', "'burst'");
    await expectError(create({ burst: 65 }), 'INVALID_OPTION', "'burst'");
  });

  it('idle not busy/adaptive -> INVALID_OPTION naming idle', async () => {
    await expectError(create({ idle: 'lazy' as 'busy' }), 'INVALID_OPTION', "'idle'");
  });

  it('maxWaitUs 0 or above 10 s -> INVALID_OPTION naming maxWaitUs', async () => {
    await expectError(create({ maxWaitUs: 0 }), 'INVALID_OPTION', "'maxWaitUs'");
    await expectError(create({ maxWaitUs: 20_000_000 }), 'INVALID_OPTION', "'maxWaitUs'");
  });

  it('rssRingSize not a power of two -> INVALID_OPTION naming rssRingSize', async () => {
    await expectError(create({ rssRingSize: 1000 }), 'INVALID_OPTION', "'rssRingSize'");
  });

  it('the limits themselves are accepted (burst 1 and 64, mbufs 1)', async () => {
    await engines.create({ burst: 1 });
    await engines.create({ burst: 64, mempool: { mbufs: 1 } });
  });
});

describe('addPort options', () => {
  const withEngine = async (extra: EngineOptions = {}) => engines.create(extra);

  it('unknown driver -> UNKNOWN_DRIVER naming it and listing the drivers', async () => {
    const e = await withEngine();
    const err = await expectError(() => e.addPort('a', { driver: 'nic0' } as unknown as PortOptions), 'UNKNOWN_DRIVER', "'nic0'", "'a'");
    expect(err.message).toContain('null');
    expect(err.message).toContain('ring');
  });

  it('unknown port option -> UNKNOWN_OPTION naming it', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('a', { driver: 'null', pakcetSize: 64 } as unknown as PortOptions), 'UNKNOWN_OPTION', "'pakcetSize'");
    // An option of another driver is unknown here too.
    await expectError(() => e.addPort('a', { driver: 'null', wire: 'w' } as unknown as PortOptions), 'UNKNOWN_OPTION', "'wire'");
  });

  it('rxQueues 0 -> INVALID_OPTION naming rxQueues', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('a', { driver: 'null', rxQueues: 0 }), 'INVALID_OPTION', "'rxQueues'");
    await expectError(() => e.addPort('a', { driver: 'null', rxQueues: 65 }), 'INVALID_OPTION', "'rxQueues'");
  });

  it('packetSize larger than the data room -> INVALID_OPTION naming packetSize', async () => {
    const e = await withEngine({ mempool: { dataRoom: 2048 } });
    await expectError(() => e.addPort('a', { driver: 'null', packetSize: 4096 }), 'INVALID_OPTION', "'packetSize'", '2048');
    await expectError(() => e.addPort('a', { driver: 'null', packetSize: 13 }), 'INVALID_OPTION', "'packetSize'");
  });

  it('null content larger than the data room -> FRAME_TOO_LARGE', async () => {
    const e = await withEngine({ mempool: { dataRoom: 128 } });
    await expectError(() => e.addPort('a', { driver: 'null', content: new Uint8Array(200) }), 'FRAME_TOO_LARGE', 'dataRoom');
  });

  it('a port name used twice -> INVALID_OPTION', async () => {
    const e = await withEngine();
    e.addPort('a', { driver: 'null' });
    await expectError(() => e.addPort('a', { driver: 'null' }), 'INVALID_OPTION', "'a'");
    await expectError(() => e.addPort('', { driver: 'null' }), 'INVALID_OPTION', 'name');
  });

  it('ring size not a power of two -> INVALID_OPTION naming size', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('x', { driver: 'ring', wire: 'w', size: 1000 }), 'INVALID_OPTION', "'size'");
  });

  it('ring without wire -> INVALID_OPTION naming wire', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('x', { driver: 'ring' } as unknown as PortOptions), 'INVALID_OPTION', "'wire'");
    await expectError(() => e.addPort('x', { driver: 'ring', wire: '' }), 'INVALID_OPTION', "'wire'");
  });

  it('a third port on one wire -> WIRE_FULL naming the wire', async () => {
    const e = await withEngine();
    e.addPort('x', { driver: 'ring', wire: 'w0' });
    e.addPort('y', { driver: 'ring', wire: 'w0' });
    await expectError(() => e.addPort('z', { driver: 'ring', wire: 'w0' }), 'WIRE_FULL', "'w0'");
    // Another wire name is fine, and a failed addPort left no port behind.
    e.addPort('z', { driver: 'ring', wire: 'w1' });
    expect(e.info().ports.map((p) => p.name)).toEqual(['x', 'y', 'z']);
  });

  it('wires with the same name in two engines are separate wires', async () => {
    const e1 = await withEngine();
    const e2 = await withEngine();
    e1.addPort('x', { driver: 'ring', wire: 'shared' });
    e1.addPort('y', { driver: 'ring', wire: 'shared' });
    e2.addPort('x', { driver: 'ring', wire: 'shared' });
    e2.addPort('y', { driver: 'ring', wire: 'shared' });
  });

  it('rss key shorter than 40 bytes -> INVALID_OPTION naming key', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('x', { driver: 'ring', wire: 'w', rxQueues: 2, rss: { key: new Uint8Array(16) } }), 'INVALID_OPTION', "'key'");
  });

  it('pcap without rxFile or txFile -> INVALID_OPTION naming both', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('p', { driver: 'pcap' }), 'INVALID_OPTION', 'rxFile', 'txFile');
  });

  it('pcap mode not once/loop/pace -> INVALID_OPTION naming mode', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('p', { driver: 'pcap', txFile: tmp.path('o.pcap'), mode: 'twice' as 'once' }), 'INVALID_OPTION', "'mode'");
  });

  it('pcap rxFile missing on disk -> FILE_OPEN naming the file and the reason', async () => {
    const e = await withEngine();
    const missing = tmp.path('does-not-exist.pcap');
    await expectError(() => e.addPort('p', { driver: 'pcap', rxFile: missing }), 'FILE_OPEN', missing, 'No such file');
  });

  it('pcap rxFile that is a directory -> FILE_OPEN', async () => {
    const e = await withEngine();
    await expectError(() => e.addPort('p', { driver: 'pcap', rxFile: tmp.dir }), 'FILE_OPEN', tmp.dir);
  });

  it('pcap txFile in a directory that does not exist -> FILE_OPEN naming the file', async () => {
    const e = await withEngine();
    const bad = tmp.path('no/such/dir/out.pcap');
    await expectError(() => e.addPort('p', { driver: 'pcap', txFile: bad }), 'FILE_OPEN', bad);
  });

  it('pcap txFile equal to rxFile -> INVALID_OPTION (would destroy the capture)', async () => {
    const e = await withEngine();
    const f = tmp.path('in.pcap');
    writeFileSync(f, writePcap([udp4Frame({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2 })]));
    await expectError(() => e.addPort('p', { driver: 'pcap', rxFile: f, txFile: f }), 'INVALID_OPTION', 'txFile');
  });
});

describe('forward / echo options', () => {
  it('forward twice from the same port -> PORT_BUSY naming the port', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null' });
    const b = e.addPort('b', { driver: 'null' });
    const c = e.addPort('c', { driver: 'null' });
    e.forward(a, b);
    await expectError(() => e.forward(a, c), 'PORT_BUSY', "'a'");
    await expectError(() => e.echo(a), 'PORT_BUSY', "'a'");
    e.echo(b);
    await expectError(() => e.forward(b, c), 'PORT_BUSY', "'b'");
    // Two ports may forward into the same output.
    e.forward(c, b);
  });

  it('forward to (or from) a port of another engine -> INVALID_PORT naming it', async () => {
    const e1 = await engines.create();
    const e2 = await engines.create();
    const a = e1.addPort('a', { driver: 'null' });
    const other = e2.addPort('b', { driver: 'null' });
    await expectError(() => e1.forward(a, other), 'INVALID_PORT', "'b'");
    await expectError(() => e1.forward(other, a), 'INVALID_PORT', "'b'");
    await expectError(() => e1.echo(other), 'INVALID_PORT', "'b'");
  });

  it('bad dstMac -> INVALID_OPTION naming dstMac', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null' });
    const b = e.addPort('b', { driver: 'null' });
    await expectError(() => e.forward(a, b, { mode: 'mac', dstMac: '02:00:00:00:00' }), 'INVALID_OPTION', 'dstMac');
    await expectError(() => e.forward(a, b, { mode: 'mac', dstMac: 'zz:00:00:00:00:01' }), 'INVALID_OPTION', 'dstMac');
    // Failed calls set nothing: a is still free.
    e.forward(a, b, { mode: 'mac', dstMac: '02-AA-bb-00-00-01' });
  });

  it('bad forward mode -> INVALID_OPTION naming mode', async () => {
    const e = await engines.create();
    const a = e.addPort('a', { driver: 'null' });
    const b = e.addPort('b', { driver: 'null' });
    await expectError(() => e.forward(a, b, { mode: 'l3' as 'io' }), 'INVALID_OPTION', 'mode');
  });
});

describe('the public API', () => {
  it('exports every public option type (every exported, non-internal type of the options modules)', async () => {
    const ts = (await import('typescript')).default;
    const root = new URL('../', import.meta.url).pathname;
    const files = ['src/index.ts', 'src/options.ts', 'src/handler/options.ts'].map((f) => root + f);
    const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, types: [] });
    const checker = program.getTypeChecker();
    const exportsOf = (f: string) => checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(f)!)!);
    const isInternal = (s: import('typescript').Symbol) => s.getJsDocTags().some((t) => t.name === 'internal');
    const isType = (s: import('typescript').Symbol) => {
      const t = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      return (t.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias)) !== 0 && !isInternal(t);
    };
    const publicApi = new Set(exportsOf(files[0]!).map((s) => s.name));
    const optionTypes = [...exportsOf(files[1]!), ...exportsOf(files[2]!)].filter(isType).map((s) => s.name);
    expect(optionTypes).toContain('VfioPortOptions');
    expect(optionTypes.filter((n) => !publicApi.has(n))).toEqual([]);
  });
});
