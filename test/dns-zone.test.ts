// examples/dns without a network: the master-file parser (RFC 1035 §5) on good
// and bad input, and the in-place answer path on queries built here, malformed
// ones included. The comparison with Knot DNS is test/dns.test.ts.
import { describe, expect, it } from 'vitest';
import { Answers, C, COUNTERS } from '../examples/dns/answers.js';
import { nameToText, T } from '../examples/dns/wire.js';
import { loadZoneFile, parseZone, ZoneError } from '../examples/dns/zone.js';

const FIXTURE = new URL('./fixtures/dns/example.test.zone', import.meta.url).pathname;

function zoneError(text: string): ZoneError {
  try {
    parseZone(text, 'bad.zone');
  } catch (e) {
    expect(e).toBeInstanceOf(ZoneError);
    return e as ZoneError;
  }
  throw new Error('no error');
}

const HEAD = '$ORIGIN z.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n  NS ns\n';

describe('zone files (RFC 1035 §5)', () => {
  it('parses $ORIGIN, $TTL, @, relative names, parentheses, comments, quotes and escapes', () => {
    const z = parseZone(
      `$ORIGIN z.test.
$TTL 1h
@ IN SOA ns.z.test. host\\.master ( 1 ; serial
   2h 3 4
   5 )
  NS ns
ns 30 IN A 192.0.2.1
   IN AAAA 2001:db8::1
txt TXT "a b;c" \\065\\"x "\\255"
esc\\.dot A 192.0.2.2
mx MX 10 @
srv SRV 1 2 53 ns
caa CAA 128 issue "ca.example"
$ORIGIN sub.z.test.
in-sub CNAME www.other.test.
`,
      'z.zone',
    );
    expect(nameToText(z.origin)).toBe('z.test.');
    const byLine = (l: number) => z.records.find((r) => r.line === l)!;
    const soa = byLine(3);
    expect(soa.type).toBe(T.SOA);
    expect(soa.ttl).toBe(3600);
    expect(nameToText((soa.rdata[1] as { name: Uint8Array }).name)).toBe('host\\.master.z.test.');
    expect([...(soa.rdata[3] as Uint8Array)]).toEqual([0, 0, 0x1c, 0x20]); // refresh 2h = 7200
    expect(byLine(7)).toMatchObject({ type: T.A, ttl: 30 });
    expect(nameToText(byLine(8).owner)).toBe('ns.z.test.'); // owner inherited
    expect(byLine(8).ttl).toBe(3600); // $TTL, not the last stated TTL (RFC 2308 §4)
    expect([...(byLine(9).rdata[0] as Uint8Array)]).toEqual([5, 97, 32, 98, 59, 99, 3, 65, 34, 120, 1, 255]);
    expect(nameToText(byLine(10).owner)).toBe('esc\\.dot.z.test.');
    expect(nameToText((byLine(11).rdata[1] as { name: Uint8Array }).name)).toBe('z.test.');
    expect(byLine(12).rdata[3]).toMatchObject({ compress: false }); // RFC 2782: no compression of the SRV target
    expect([...(byLine(13).rdata[0] as Uint8Array)].slice(0, 7)).toEqual([128, 5, ...Buffer.from('issue')]);
    expect(nameToText(byLine(15).owner)).toBe('in-sub.sub.z.test.');
  });

  it('refuses bad files with the file, the line and the reason', () => {
    const cases: [string, string, number, RegExp][] = [
      [`${HEAD}x HINFO "a" "b"\n`, 'ZONE_UNSUPPORTED', 5, /type HINFO is not supported/],
      [`${HEAD}x A 300.1.1.1\n`, 'ZONE_SYNTAX', 5, /not an IPv4 address/],
      [`${HEAD}x AAAA 192.0.2.1\n`, 'ZONE_SYNTAX', 5, /not an IPv6 address/],
      [`${HEAD}x TXT "unterminated\n`, 'ZONE_SYNTAX', 5, /unterminated quoted string/],
      [`${HEAD}x MX 10 (a\n`, 'ZONE_SYNTAX', 5, /'\(' without '\)'/],
      [`${HEAD}x A 1.2.3.4 )\n`, 'ZONE_SYNTAX', 5, /'\)' without '\('/],
      [`${HEAD}${'a'.repeat(64)} A 1.2.3.4\n`, 'ZONE_SYNTAX', 5, /longer than 63/],
      [`${HEAD}${'abcdefghi.'.repeat(26)} A 1.2.3.4\n`, 'ZONE_SYNTAX', 5, /longer than 255/],
      [`${HEAD}x TXT \\300\n`, 'ZONE_SYNTAX', 5, /bad escape/],
      [`${HEAD}x CH A 1.2.3.4\n`, 'ZONE_UNSUPPORTED', 5, /class CH/],
      [`${HEAD}$INCLUDE other\n`, 'ZONE_UNSUPPORTED', 5, /\$INCLUDE/],
      [`${HEAD}x MX ten mail\n`, 'ZONE_SYNTAX', 5, /MX preference/],
      [`${HEAD}x A 1.2.3.4 5.6.7.8\n`, 'ZONE_SYNTAX', 5, /takes 1 field/],
      ['$ORIGIN z.test.\nx A 1.2.3.4\n', 'ZONE_SYNTAX', 2, /no TTL/],
      ['x 60 A 1.2.3.4\n', 'ZONE_SYNTAX', 1, /before any \$ORIGIN/],
      ['$TTL 60\n$ORIGIN z.test.\nx A 1.2.3.4\n', 'ZONE_SEMANTIC', 0, /exactly one SOA/],
      ['$ORIGIN z.test.\n$TTL 60\n  A 1.2.3.4\n', 'ZONE_SYNTAX', 3, /without an owner/],
      [`${HEAD}x TYPE65 \\# 0\n`, 'ZONE_UNSUPPORTED', 5, /TYPE65/],
    ];
    for (const [text, code, line, reason] of cases) {
      const e = zoneError(text);
      expect({ code: e.code, line: e.line }, `${text} -> ${e.message}`).toEqual({ code, line });
      expect(e.message).toMatch(reason);
      expect(e.message).toMatch(new RegExp(`^bad\\.zone${line ? `:${line}` : ''}: `));
    }
  });

  it('refuses zones that cannot be served: CNAME with other data, data outside the origin, a missing file', () => {
    const load = (t: string) => {
      try {
        new Answers([parseZone(t, 'c.zone')]);
      } catch (e) {
        return e as ZoneError;
      }
      throw new Error('loaded');
    };
    expect(load(`${HEAD}x CNAME y\nx A 1.2.3.4\n`)).toMatchObject({ code: 'ZONE_SEMANTIC', line: 5 });
    expect(load(`${HEAD}x.other.test. A 1.2.3.4\n`)).toMatchObject({ code: 'ZONE_SEMANTIC', line: 5, message: expect.stringMatching(/outside the zone/) });
    expect(() => loadZoneFile('/nonexistent/z.zone')).toThrow(/nonexistent\/z\.zone: cannot read it/);
    expect(loadZoneFile(FIXTURE).records.length).toBeGreaterThan(30);
  });
});

/** A query as a client writes it: header, question, optional OPT. */
function query(name: string, type: number, o: { id?: number; edns?: number; version?: number; flags?: number } = {}): Uint8Array {
  const labels = name.split('.').filter(Boolean);
  const q = [...labels.flatMap((l) => [l.length, ...Buffer.from(l)]), 0, type >> 8, type & 0xff, 0, 1];
  const id = o.id ?? 0x1234;
  const opt = o.edns !== undefined ? [0, 0, 41, o.edns >> 8, o.edns & 0xff, 0, o.version ?? 0, 0, 0, 0, 0] : [];
  return Uint8Array.from([id >> 8, id & 0xff, (o.flags ?? 0x0100) >> 8, (o.flags ?? 0x0100) & 0xff, 0, 1, 0, 0, 0, 0, 0, opt.length ? 1 : 0, ...q, ...opt]);
}

describe('answers in place', () => {
  const answers = new Answers([loadZoneFile(FIXTURE)]);
  const buf = new Uint8Array(4096);
  const counters = new Float64Array(COUNTERS);
  const ask = (msg: Uint8Array, off = 100, room = 1900) => {
    buf.fill(0xee);
    buf.set(msg, off);
    const n = answers.answer(buf, off, msg.length, room, counters);
    return buf.slice(off, off + n);
  };
  const rcode = (r: Uint8Array) => r[3] & 0x0f;
  const count = (r: Uint8Array, i: number) => (r[6 + 2 * i] << 8) | r[7 + 2 * i]; // ANCOUNT, NSCOUNT, ARCOUNT

  it('echoes the question as received and answers with compression into it', () => {
    const msg = query('WwW.ExAmPlE.tEsT', T.A);
    const r = ask(msg);
    expect([r[0], r[1]]).toEqual([0x12, 0x34]);
    expect(r[2] & 0x84).toBe(0x84); // QR, AA
    expect(r[2] & 0x01).toBe(1); // RD copied
    expect(rcode(r)).toBe(0);
    expect(Buffer.from(r.subarray(12, msg.length)).toString('latin1')).toBe(Buffer.from(msg.subarray(12)).toString('latin1'));
    expect([count(r, 0), count(r, 1), count(r, 2)]).toEqual([3, 0, 0]);
    expect([r[msg.length], r[msg.length + 1]]).toEqual([0xc0, 12]); // the CNAME's owner points at the question
  });

  it('answers NXDOMAIN, REFUSED, NOTIMP, FORMERR and BADVERS per RFC, and counts them', () => {
    const before = Float64Array.from(counters);
    expect(rcode(ask(query('nope.example.test', T.A)))).toBe(3);
    expect(rcode(ask(query('example.org', T.A)))).toBe(5);
    expect(rcode(ask(query('example.test', T.AXFR)))).toBe(4);
    expect(rcode(ask(query('example.test', T.A, { flags: 0x1000 })))).toBe(4); // opcode 2 (STATUS)
    const badvers = ask(query('example.test', T.A, { edns: 1232, version: 1 }));
    expect(rcode(badvers)).toBe(0);
    expect(badvers[badvers.length - 6]).toBe(1); // extended rcode 1: BADVERS = 16 (RFC 6891 §6.1.3)
    const d = (k: keyof typeof C) => counters[C[k]] - before[C[k]];
    expect([d('NXDOMAIN'), d('REFUSED'), d('NOTIMP'), d('BADVERS'), d('XFR'), d('EDNS')]).toEqual([1, 1, 2, 1, 1, 1]);
  });

  it('truncates at 512 without EDNS and honours the EDNS size', () => {
    const r512 = ask(query('big.example.test', T.TXT));
    expect(r512[2] & 0x02).toBe(0x02);
    expect(count(r512, 0)).toBe(0);
    const r4k = ask(query('big.example.test', T.TXT, { edns: 4096 }));
    expect(r4k[2] & 0x02).toBe(0);
    expect(count(r4k, 0)).toBe(7);
    expect(r4k.length).toBeLessThanOrEqual(1232);
  });

  it('gives malformed queries FORMERR or no answer, never more than the room, never a throw', () => {
    const cases: Uint8Array[] = [
      Uint8Array.of(1, 2, 3),
      Uint8Array.from([0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]), // pointer loop in the question
      Uint8Array.from([0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64, ...new Array(64).fill(97), 0, 0, 1, 0, 1]), // label > 63
      Uint8Array.from([0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...new Array(5).fill([63, ...new Array(63).fill(97)]).flat(), 0, 0, 1, 0, 1]), // > 255
      Uint8Array.from([0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 101, 120]), // truncated name
      Uint8Array.from([0x12, 0x34, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0]), // QDCOUNT 0
      Uint8Array.from([...query('a.example.test', T.A).subarray(0, 4), 0, 2, ...query('a.example.test', T.A).subarray(6)]), // QDCOUNT 2
    ];
    for (const c of cases) {
      const r = ask(c);
      if (r.length) expect(rcode(r), Buffer.from(c).toString('hex')).toBe(1);
    }
    // Random bytes, seeded: nothing throws, nothing writes past the room.
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    for (let k = 0; k < 3000; k++) {
      const m = Uint8Array.from({ length: 12 + (rnd() % 80) }, rnd);
      if (k % 2) m.set([0, 1, 0, 0, 0, 0, 0, 0], 4);
      buf.fill(0xee);
      buf.set(m, 100);
      const n = answers.answer(buf, 100, m.length, 600, counters);
      expect(n).toBeLessThanOrEqual(600);
      expect(buf[700]).toBe(0xee);
    }
  });
});
