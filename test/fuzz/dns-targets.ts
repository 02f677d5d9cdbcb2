/**
 * Fuzz targets (fast-check) for examples/dns's parsers of untrusted input: the
 * query parser behind every answer (answers.ts `Answers.answer`, RFC 1035 §4.1
 * header, question and additional section, RFC 6891 OPT) and the master-file
 * parser (zone.ts `parseZone`, RFC 1035 §5) with the zone compiler after it.
 * Registered in js-targets.ts's list, so test/fuzz/parsers.test.ts and
 * scripts/fuzz.mjs run them like the others.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { Answers, COUNTERS, OUR_UDP_SIZE } from '../../examples/dns/answers.js';
import { T } from '../../examples/dns/wire.js';
import { loadZoneFile, parseZone, ZoneError } from '../../examples/dns/zone.js';
import type { JsTarget } from './js-targets.js';

const FIXTURE = new URL('../fixtures/dns/example.test.zone', import.meta.url).pathname;
let answers: Answers | undefined;
const zone = () => (answers ??= new Answers([loadZoneFile(FIXTURE)]));

/** A name of the fixture zone (or near it) in wire form, labels as given. */
const wireName = (labels: string[]) => Uint8Array.from([...labels.flatMap((l) => [l.length, ...Buffer.from(l)]), 0]);
const names = [
  [], ['example', 'test'], ['www', 'example', 'test'], ['WwW', 'ExAmple', 'TEST'], ['x', 'wild', 'example', 'test'], ['a', 'sub', 'example', 'test'],
  ['nothing', 'example', 'test'], ['example', 'net'], ['_sip', '_udp', 'example', 'test'], ['ent', 'example', 'test'], ['c', 'ent', 'example', 'test'],
].map(wireName);
const qtypes = [...Object.values(T), 0, 65535, 99];

/** A query as a client builds one (RFC 1035 §4.1.1, §4.1.2; RFC 6891 §6.1.2 for the OPT), then maybe mutated. */
const wellFormed = fc
  .record({
    id: fc.integer({ min: 0, max: 0xffff }),
    flags: fc.oneof(fc.constant(0x0100), fc.integer({ min: 0, max: 0xffff })),
    counts: fc.oneof(fc.constant(null), fc.tuple(fc.nat(3), fc.nat(2), fc.nat(2), fc.nat(3))),
    name: fc.oneof(fc.constantFrom(...names), fc.array(fc.string({ minLength: 1, maxLength: 70 }), { maxLength: 6 }).map(wireName)),
    qtype: fc.oneof(fc.constantFrom(...qtypes), fc.integer({ min: 0, max: 0xffff })),
    qclass: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 0xffff })),
    opt: fc.option(fc.record({ size: fc.integer({ min: 0, max: 0xffff }), version: fc.nat(2), flags: fc.integer({ min: 0, max: 0xffff }), owner: fc.constantFrom([0], [0xc0, 12], [1, 0x61, 0]), rdata: fc.uint8Array({ maxLength: 12 }) })),
    extra: fc.uint8Array({ maxLength: 8 }),
  })
  .map((q) => {
    const ar = q.opt ? 1 : 0;
    const [qd, an, ns, arc] = q.counts ?? [1, 0, 0, ar];
    const h = [q.id >> 8, q.id & 0xff, q.flags >> 8, q.flags & 0xff, 0, qd, 0, an, 0, ns, 0, arc];
    const question = [...q.name, q.qtype >> 8, q.qtype & 0xff, q.qclass >> 8, q.qclass & 0xff];
    const opt = q.opt
      ? [...q.opt.owner, 0, T.OPT, q.opt.size >> 8, q.opt.size & 0xff, 0, q.opt.version, q.opt.flags >> 8, q.opt.flags & 0xff, 0, q.opt.rdata.length, ...q.opt.rdata]
      : [];
    return Uint8Array.from([...h, ...question, ...opt, ...q.extra]);
  });
/** Byte-level mutations of a query: flips, truncation, a count or label length set to an edge value. */
const mutated = fc.tuple(wellFormed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.option(fc.nat())).map(([q, edits, cut]) => {
  const b = Uint8Array.from(q);
  for (const [at, v] of edits) if (b.length) b[at % b.length] = v;
  return cut === null ? b : b.subarray(0, cut % (b.length + 1));
});
const query = fc.oneof(wellFormed, mutated, fc.uint8Array({ maxLength: 600 }));

/** Zone file text: lines of the fixture, directives, records of every type, garbage, recombined. */
const fixtureLines = () => loadFixtureText().split('\n');
let fixtureText: string | undefined;
const loadFixtureText = () => (fixtureText ??= readFileSync(FIXTURE, 'utf8'));
const token = fc.oneof(
  fc.constantFrom('@', '$ORIGIN', '$TTL', '$INCLUDE', '(', ')', ';', 'IN', 'CH', '3600', '1h', '1w2d', '0', '4294967296', '-1', 'A', 'AAAA', 'NS', 'CNAME', 'SOA', 'MX', 'TXT', 'SRV', 'CAA', 'PTR', 'TYPE65', '\\#', 'example.test.', 'x', '*', '*.w', 'a\\.b', '\\065', '\\999', '"q"', '"un', '198.18.0.1', '::1', 'fd00:198:18::53', '1.2.3', '256.1.1.1', '10', '65536'),
  fc.string({ maxLength: 12 }),
);
const zoneLine = fc.oneof(
  fc.constantFrom('$ORIGIN example.test.', '$TTL 60', '@ SOA ns h 1 2 3 4 5', '  NS ns', 'ns A 198.18.0.1'),
  fc.array(token, { minLength: 1, maxLength: 8 }).map((t) => t.join(' ')),
  fc.tuple(fc.boolean(), fc.array(token, { minLength: 1, maxLength: 6 })).map(([indent, t]) => `${indent ? '  ' : ''}${t.join(' ')}`),
  fc.nat().map((i) => fixtureLines()[i % fixtureLines().length]!),
);
const zoneText = fc.oneof(
  fc.array(zoneLine, { maxLength: 12 }).map((l) => l.join('\n')),
  fc.tuple(fc.nat(), fc.nat(), zoneLine).map(([i, j, l]) => {
    // The fixture with one line replaced by another (mostly a valid zone, one thing wrong).
    const ls = fixtureLines();
    ls[i % ls.length] = j % 2 ? l : ls[j % ls.length]!;
    return ls.join('\n');
  }),
  fc.string({ maxLength: 200 }),
);

export const dnsTargets: JsTarget[] = [
  {
    // Any bytes as a query: a response of 0 (drop) or 12..room bytes with QR set and the query's ID; the same
    // response whatever lies around the packet (so nothing outside it was read); nothing outside room written.
    name: 'dns_query',
    property: (count) =>
      fc.property(query, fc.nat(40), fc.nat(1500), fc.boolean(), (q, pre, extra, tcp) => {
        count();
        const a = zone();
        const len = q.length, room = len + extra;
        const run = (fill: number) => {
          const b = new Uint8Array(pre + room + 32).fill(fill);
          b.set(q, pre);
          const n = a.answer(b, pre, len, room, new Float64Array(COUNTERS), tcp);
          return { b, n };
        };
        const x = run(0x00), y = run(0xff);
        if (!Number.isInteger(x.n) || x.n < 0 || (x.n > 0 && x.n < 12) || x.n > room) throw new Error(`answer() returned ${x.n} for a ${len}-byte query, room ${room}`);
        if (x.n !== y.n) throw new Error(`the answer's length depends on bytes outside the query (${x.n} vs ${y.n}): a read outside the packet`);
        for (let i = 0; i < x.n; i++) if (x.b[pre + i] !== y.b[pre + i]) throw new Error(`response byte ${i} depends on bytes outside the query: a read outside the packet`);
        for (const [r, fill] of [[x, 0x00], [y, 0xff]] as const) {
          for (let i = 0; i < pre; i++) if (r.b[i] !== fill) throw new Error(`wrote byte ${i - pre} before the packet`);
          for (let i = pre + Math.max(room, 0); i < r.b.length; i++) if (r.b[i] !== fill) throw new Error(`wrote byte ${i - pre} past room ${room}`);
        }
        if (x.n === 0) return;
        if (len < 12) throw new Error(`answered a ${len}-byte query`);
        if ((x.b[pre + 2]! & 0x80) === 0) throw new Error('a response without QR');
        if (x.b[pre] !== q[0] || x.b[pre + 1] !== q[1]) throw new Error('a response with another ID');
        if (!tcp && x.n > Math.max(OUR_UDP_SIZE, len + 11)) throw new Error(`a ${x.n}-byte UDP response (limit ${OUR_UDP_SIZE})`);
      }),
  },
  {
    // Any zone text: a zone the compiler accepts or refuses with a ZoneError, never another exception.
    name: 'dns_zone',
    property: (count) =>
      fc.property(zoneText, fc.option(fc.constantFrom('example.test', 'z.test.', '.', 'bad..name', '')), (text, origin) => {
        count();
        try {
          const z = parseZone(text, 'fuzz.zone', origin ?? undefined);
          new Answers([z]);
        } catch (e) {
          if (e instanceof ZoneError) return;
          throw e;
        }
      }),
  },
];
