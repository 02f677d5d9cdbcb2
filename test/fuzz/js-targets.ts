/**
 * Property-based fuzz targets (fast-check) for the TypeScript parsers of
 * untrusted or user-given text and objects. The contract each asserts: a valid
 * result, or a LinerateError with one of the expected codes; never an
 * exception of another kind (a TypeError from formatting a BigInt in a message
 * is a bug like any other).
 *
 * Run by test/fuzz/parsers.test.ts for a fixed number of runs (CI), and by
 * scripts/fuzz.mjs for a time budget (LINERATE_FUZZ_MS).
 */
import fc from 'fast-check';
import { LinerateError } from '../../src/errors.js';
import { formatIp, parseCidr, parseIp, parseMacBytes } from '../../src/host/address.js';
import { checkUdpPort, resolveHostOptions } from '../../src/host/options.js';
import { check, checkCpuList, type Rule } from '../../src/option-check.js';
import { encodeDropRules, encodeUdpSteer, resolveEngineOptions, validatePortOptions } from '../../src/options.js';
import { dnsTargets } from './dns-targets.js';
import { bidderTargets } from './bidder-targets.js';
import { LineSplitter, requestProblem } from '../../src/control/protocol.js';

export interface JsTarget {
  name: string;
  /** Builds the property; `count` is called once per generated input. */
  property: (count: () => void) => fc.IPropertyWithHooks<unknown> | fc.IProperty<unknown>;
}

/** Runs f; passes when it returns or throws a LinerateError whose code is one of `codes`. */
function typed<T>(codes: readonly string[], f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof LinerateError && codes.includes(e.code)) return undefined;
    throw e;
  }
}

// Anything a caller could pass: odd types included (BigInt, null-prototype objects, boxed values, typed arrays).
const anything = fc.anything({
  withBigInt: true,
  withNullPrototype: true,
  withBoxedValues: true,
  withTypedArray: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withSparseArray: true,
  maxDepth: 2,
});
// Text made of what addresses are made of, so the parsers' edge cases come up often.
const ipText = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.[]/%'.split('')), maxLength: 48 }),
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: -2, max: 130 })).map(([a, p]) => `${a}/${p}`),
  fc.string({ maxLength: 24 }),
);
const bytes4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

const macText = fc.oneof(fc.mixedCase(fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'))), fc.string({ maxLength: 20 }));
const hostValue = {
  ipv4: fc.oneof(ipText, fc.constant('198.18.0.2/24'), anything),
  gateway4: fc.oneof(ipText, fc.constant('198.18.0.1'), anything),
  ipv6: fc.oneof(ipText, fc.constant('fd00:198:18::2/64'), anything),
  gateway6: fc.oneof(ipText, fc.constant('fe80::1'), anything),
  owner: fc.oneof(fc.constantFrom('linerate', 'kernel', 'nobody'), anything),
  neighbors: fc.oneof(fc.array(fc.record({ ip: fc.oneof(ipText, anything), mac: fc.oneof(macText, anything) }, { requiredKeys: [] }), { maxLength: 3 }), anything),
  vlan: fc.oneof(fc.integer({ min: -1, max: 4096 }), anything),
  ttl: fc.oneof(fc.integer({ min: 0, max: 256 }), anything),
  icmpUnreachable: fc.oneof(fc.boolean(), anything),
  neighborCapacity: fc.oneof(fc.integer({ min: 0, max: (1 << 20) + 1 }), anything),
  holdPackets: fc.oneof(fc.integer({ min: 0, max: 17 }), anything),
  bogus: anything,
};

const rules: Record<string, Rule> = {
  n: { type: 'int', min: 0, max: 10 },
  b: { type: 'bool' },
  s: { type: 'string', nonEmpty: true },
  e: { type: 'enum', values: ['a', 'b'] },
  y: { type: 'bytes', minLength: 4 },
  o: { type: 'object' },
};
const driverNames = ['null', 'ring', 'pcap', 'af_packet', 'tap', 'af_xdp', 'vfio'];
const portOptions = fc.oneof(
  fc.record(
    {
      driver: fc.oneof(fc.constantFrom(...driverNames, 'nope'), anything),
      rss: fc.oneof(fc.record({ key: fc.oneof(fc.uint8Array({ maxLength: 52 }), anything), symmetric: anything }, { requiredKeys: [] }), anything),
      size: fc.oneof(fc.integer({ min: -1, max: 1 << 16 }), anything),
      pci: fc.oneof(fc.constantFrom('0000:00:03.0', '00:1f.7', 'zz'), anything),
      rxFile: anything,
      ringSize: fc.oneof(fc.integer({ min: 0, max: 8192 }), anything),
      dropRules: fc.oneof(fc.array(fc.record({ srcPrefix: fc.oneof(ipText, anything), protocol: anything, dstPort: anything }, { requiredKeys: [] }), { maxLength: 3 }), anything),
      udpSteer: fc.oneof(fc.array(fc.oneof(ipText.map((a) => `${a}:53`), anything), { maxLength: 3 }), anything),
      udpSteerVlan: anything,
    },
    { requiredKeys: ['driver'] },
  ),
  anything,
);

export const jsTargets: JsTarget[] = [
  {
    // Bytes -> text -> bytes is the identity; with a prefix, through parseCidr too.
    name: 'address_roundtrip',
    property: (count) =>
      fc.property(fc.oneof(bytes4.map((b) => ({ family: 4 as const, b })), bytes16.map((b) => ({ family: 6 as const, b }))), fc.integer({ min: 1, max: 128 }), ({ family, b }, p) => {
        count();
        const text = formatIp(b, 0, family);
        const ip = parseIp(text, 'x');
        if (ip.family !== family || !same(ip.bytes, b)) throw new Error(`parseIp(formatIp) changed ${[...b]} -> ${text} -> ${[...ip.bytes]}`);
        const prefix = family === 4 ? ((p - 1) % 32) + 1 : p;
        const c = parseCidr(`${text}/${prefix}`, 'x');
        if (c.prefix !== prefix || !same(c.bytes, b)) throw new Error(`parseCidr('${text}/${prefix}') gave /${c.prefix}`);
      }),
  },
  {
    // Any text (or value): an address whose canonical text parses back to it, or INVALID_OPTION.
    name: 'address_parse',
    property: (count) =>
      fc.property(fc.oneof(ipText, anything), (t) => {
        count();
        const ip = typed(['INVALID_OPTION'], () => parseIp(t, 'x'));
        if (ip) {
          if (ip.bytes.length !== (ip.family === 4 ? 4 : 16)) throw new Error(`parseIp('${String(t)}') gave ${ip.bytes.length} bytes`);
          const again = parseIp(formatIp(ip.bytes, 0, ip.family), 'x');
          if (!same(again.bytes, ip.bytes)) throw new Error(`'${String(t)}' does not survive formatIp`);
        }
        const c = typed(['INVALID_OPTION'], () => parseCidr(t, 'x'));
        if (c && (!Number.isInteger(c.prefix) || c.prefix < 1 || c.prefix > (c.family === 4 ? 32 : 128))) throw new Error(`prefix ${c.prefix}`);
        const mac = typed(['INVALID_OPTION'], () => parseMacBytes(t, 'x'));
        if (mac && mac.length !== 6) throw new Error('a MAC of the wrong length');
      }),
  },
  {
    // resolveHostOptions: a config whose addresses have the right sizes, or INVALID_OPTION / UNKNOWN_OPTION.
    name: 'host_options',
    property: (count) =>
      fc.property(fc.oneof(fc.record(hostValue, { requiredKeys: [] }), anything), (o) => {
        count();
        const cfg = typed(['INVALID_OPTION', 'UNKNOWN_OPTION'], () => resolveHostOptions(o as never));
        if (!cfg) return;
        if (!cfg.ipv4 && !cfg.ipv6) throw new Error('a host config without an address');
        if (cfg.ipv4 && cfg.ipv4.length !== 4) throw new Error('ipv4 is not 4 bytes');
        if (cfg.ipv6 && cfg.ipv6.length !== 16) throw new Error('ipv6 is not 16 bytes');
        for (const n of cfg.neighbors) if (n.mac.length !== 6 || n.mac[0] & 1) throw new Error('a bad neighbour MAC');
        typed(['INVALID_OPTION'], () => checkUdpPort((o as { vlan?: unknown })?.vlan, 'x'));
      }),
  },
  {
    // The generic option checker and what is built on it: engine and port options, drop rules, udpSteer, CPU lists.
    name: 'option_check',
    property: (count) =>
      fc.property(
        fc.oneof(fc.record({ n: anything, b: anything, s: anything, e: anything, y: anything, o: anything, z: anything }, { requiredKeys: [] }), anything),
        portOptions,
        fc.oneof(fc.record({ lcores: anything, burst: anything, rssRingSize: anything, mempool: fc.oneof(fc.record({ mbufs: anything, headroom: fc.integer(), dataRoom: anything }, { requiredKeys: [] }), anything) }, { requiredKeys: [] }), anything),
        (obj, port, engine) => {
          count();
          const codes = ['INVALID_OPTION', 'UNKNOWN_OPTION'];
          typed(codes, () => check('x', obj, rules));
          typed([...codes, 'UNKNOWN_DRIVER'], () => validatePortOptions('p0', port as never, driverNames));
          typed([...codes, 'CPU_UNAVAILABLE'], () => resolveEngineOptions(engine as never, [0, 1]));
          typed([...codes, 'CPU_UNAVAILABLE'], () => checkCpuList('x', 'lcores', (engine as { lcores?: unknown })?.lcores, [0, 1]));
          typed(codes, () => encodeDropRules('x', (port as { dropRules?: never })?.dropRules as never));
          typed(codes, () => encodeUdpSteer('x', (port as { udpSteer?: never })?.udpSteer as never));
        },
      ),
  },
  {
    // The control socket's request parser (src/control/protocol.ts): the line
    // splitter over arbitrary chunking, then JSON.parse and requestProblem.
    // Contract: the splitter returns exactly the non-blank complete lines sent
    // so far, or undefined once a line is longer than its limit; requestProblem
    // never throws, and accepts a request only with a non-empty cmd string, an
    // id that is a number or a string, and args an object.
    name: 'control_request',
    property: (count) =>
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ unit: 'binary', maxLength: 80 }),
            fc.constantFrom('\n', '\n\n', '{"cmd":"info"}\n', '{"id":1,"cmd":"stats","args":{}}\n', '{"cmd":""}\n', '[1]\n', 'null\n'),
            fc.record({ id: fc.oneof(fc.integer(), fc.string(), anything), cmd: fc.oneof(fc.string(), anything), args: anything }, { requiredKeys: [] }).map((o) => {
              try {
                return `${JSON.stringify(o)}\n`;
              } catch {
                return '\n';
              }
            }),
          ),
          { maxLength: 12 },
        ),
        fc.integer({ min: 8, max: 200 }),
        (chunks, max) => {
          count();
          const split = new LineSplitter(max);
          let sent = '';
          const got: string[] = [];
          for (const chunk of chunks) {
            sent += chunk;
            const lines = split.push(chunk);
            const parts = sent.split('\n');
            const rest = parts.pop()!;
            if (lines === undefined) {
              if (rest.length <= max && parts.every((l) => l.length <= max)) throw new Error(`splitter refused lines within ${max} characters`);
              return;
            }
            got.push(...lines);
            const want = parts.filter((l) => l.trim().length > 0);
            if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error('splitter lines differ from the complete lines sent');
          }
          for (const line of got) {
            let req: unknown;
            try {
              req = JSON.parse(line);
            } catch {
              continue; // answered BAD_REQUEST by the server
            }
            const problem = requestProblem(req);
            if (problem !== undefined && typeof problem !== 'string') throw new Error('requestProblem returned a non-string');
            if (problem === undefined) {
              const o = req as { cmd?: unknown; id?: unknown; args?: unknown };
              if (typeof o.cmd !== 'string' || !o.cmd) throw new Error('accepted a request without a cmd string');
              if (o.id !== undefined && typeof o.id !== 'number' && typeof o.id !== 'string') throw new Error('accepted a bad id');
              if (o.args !== undefined && (typeof o.args !== 'object' || o.args === null || Array.isArray(o.args))) throw new Error('accepted bad args');
            }
          }
        },
      ),
  },
  // examples/dns: the query parser and the zone file parser (dns-targets.ts).
  ...dnsTargets,
  // examples/bidder: the request parser and the campaign file parser (bidder-targets.ts).
  ...bidderTargets,
];

/**
 * Runs one target: `runs` inputs, or for `ms` milliseconds when given, in slices
 * of at most half a second with a fresh seed each (the event loop turns in
 * between, so a test runner's heartbeat is not starved). Returns the inputs run
 * and the first failure (fast-check's report: counterexample, seed, error).
 */
export async function runJsTarget(t: JsTarget, opts: { runs?: number; ms?: number }): Promise<{ runs: number; failure?: string }> {
  let runs = 0;
  const prop = t.property(() => runs++);
  const end = Date.now() + (opts.ms ?? 0);
  for (;;) {
    const slice = opts.ms ? Math.min(500, end - Date.now()) : undefined;
    if (slice !== undefined && slice <= 0) return { runs };
    const r = fc.check(prop, {
      numRuns: opts.ms ? Number.MAX_SAFE_INTEGER : (opts.runs ?? 1000),
      interruptAfterTimeLimit: slice,
      markInterruptAsFailure: false,
    });
    if (r.failed) return { runs, failure: `${fc.defaultReportMessage(r)}\n${String(r.errorInstance)}` };
    if (!opts.ms) return { runs };
    await new Promise((resolve) => setImmediate(resolve));
  }
}
