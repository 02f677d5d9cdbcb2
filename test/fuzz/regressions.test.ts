// Inputs the fuzz targets (test/fuzz/js-targets.ts) found that broke a parser's
// contract, kept as plain cases: each must give a LinerateError with its code,
// not the TypeError it used to (formatting the value into the message threw).
import { describe, expect, it } from 'vitest';
import { LinerateError } from '../../src/errors.js';
import { parseCidr, parseIp, parseMacBytes } from '../../src/host/address.js';
import { checkUdpPort, resolveHostOptions } from '../../src/host/options.js';
import { describe as describeValue } from '../../src/option-check.js';
import { encodeDropRules, encodeUdpSteer, validatePortOptions } from '../../src/options.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof LinerateError) return e.code;
    return `not a LinerateError: ${String(e)}`;
  }
  return 'no error';
}

const bare = () => Object.create(null) as object;

describe('fuzz regressions: TypeScript parsers', () => {
  it('an object without a prototype is INVALID_OPTION for the address parsers (String() threw TypeError)', () => {
    expect(code(() => parseIp(bare(), 'host: ipv4'))).toBe('INVALID_OPTION');
    expect(code(() => parseCidr('x/1', 'host: ipv4'))).toBe('INVALID_OPTION');
    expect(code(() => parseMacBytes(bare(), 'mac'))).toBe('INVALID_OPTION');
    expect(code(() => resolveHostOptions({ ipv4: bare() } as never))).toBe('INVALID_OPTION');
    expect(code(() => resolveHostOptions({ ipv6: '::0:0.0.0.0', neighbors: [{ ip: bare(), mac: '02:00:00:00:00:01' }] } as never))).toBe('INVALID_OPTION');
  });

  it('a BigInt host option is INVALID_OPTION (JSON.stringify threw TypeError)', () => {
    expect(code(() => resolveHostOptions({ ipv4: '198.18.0.2/24', vlan: 5n } as never))).toBe('INVALID_OPTION');
    expect(code(() => resolveHostOptions({ ipv4: '198.18.0.2/24', vlan: { '': 0n } } as never))).toBe('INVALID_OPTION');
    expect(code(() => resolveHostOptions({ ipv4: '198.18.0.2/24', icmpUnreachable: 1n } as never))).toBe('INVALID_OPTION');
    expect(code(() => resolveHostOptions({ ipv4: '198.18.0.2/24', owner: [1n] } as never))).toBe('INVALID_OPTION');
    expect(code(() => checkUdpPort(53n, 'host.udp'))).toBe('INVALID_OPTION');
    expect(() => resolveHostOptions({ ipv4: '198.18.0.2/24', ttl: 64n } as never)).toThrow(/ttl must be an integer in 1\.\.255, got 64n/);
  });

  it('option checking of af_xdp lists without a prototype is INVALID_OPTION', () => {
    expect(code(() => validatePortOptions('p0', { driver: 'af_xdp', udpSteer: bare() } as never, ['af_xdp']))).toBe('INVALID_OPTION');
    expect(code(() => encodeUdpSteer('x', bare() as never))).toBe('INVALID_OPTION');
    expect(code(() => encodeDropRules('x', [bare()] as never))).toBe('INVALID_OPTION');
  });

  it('describe() shows any value without throwing', () => {
    expect(describeValue(bare())).toBe('[object Object]');
    expect(describeValue(7n)).toBe('7n');
    expect(describeValue('a')).toBe("'a'");
  });
});
