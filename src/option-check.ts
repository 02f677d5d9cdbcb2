/**
 * The checker behind every option object: each key must be known and its value
 * of the declared kind, or a LinerateError names the option, what it must be and
 * what it got. @internal
 * @module
 */
import { LinerateError } from './errors.js';

/** What one option may hold. */
export type Rule =
  | { type: 'int'; min: number; max: number }
  | { type: 'bool' }
  | { type: 'string'; nonEmpty?: boolean }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'bytes'; minLength?: number }
  | { type: 'object' };

/** Throws UNKNOWN_OPTION for a key not in `rules`, INVALID_OPTION for a value that breaks its rule. */
export function check(scope: string, obj: unknown, rules: Record<string, Rule>): void {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new LinerateError('INVALID_OPTION', `${scope} must be an object`);
  }
  for (const [key, value] of Object.entries(obj)) {
    if (value === undefined) continue;
    const rule = rules[key];
    if (!rule) {
      throw new LinerateError('UNKNOWN_OPTION', `${scope}: option '${key}' is not known (known: ${Object.keys(rules).join(', ')})`);
    }
    const bad = (what: string) => new LinerateError('INVALID_OPTION', `${scope}: option '${key}' must be ${what}, got ${describe(value)}`);
    switch (rule.type) {
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
          throw bad(`an integer in [${rule.min}, ${rule.max}]`);
        }
        break;
      case 'bool':
        if (typeof value !== 'boolean') throw bad('a boolean');
        break;
      case 'string':
        if (typeof value !== 'string' || (rule.nonEmpty && value.length === 0)) throw bad('a non-empty string');
        break;
      case 'enum':
        if (typeof value !== 'string' || !rule.values.includes(value)) throw bad(`one of ${rule.values.map((v) => `'${v}'`).join(', ')}`);
        break;
      case 'bytes':
        if (!(value instanceof Uint8Array) || value.length < (rule.minLength ?? 0)) throw bad(`a Uint8Array of at least ${rule.minLength ?? 0} bytes`);
        break;
      case 'object':
        if (value === null || typeof value !== 'object') throw bad('an object');
        break;
    }
  }
}

/**
 * A value as an error message shows it. Never throws: String() does for an
 * object without a prototype (no toString to call), and JSON.stringify for a
 * BigInt, and a message about a bad option must not become a TypeError.
 */
export function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  if (Array.isArray(v)) return 'an array';
  try {
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * Checks a list of CPU numbers (`lcores`, inline workers' `cpus`): a non-empty array of distinct integers >= 0, each
 * one this process may run on. INVALID_OPTION names the element that is wrong; CPU_UNAVAILABLE names the CPU, the
 * allowed list and the command that shows it.
 */
export function checkCpuList(scope: string, option: string, cpus: unknown, allowedCpus: readonly number[]): number[] {
  if (!Array.isArray(cpus) || cpus.length === 0) {
    throw new LinerateError('INVALID_OPTION', `${scope}: option '${option}' must be a non-empty array of CPU numbers, got ${describe(cpus)}`);
  }
  cpus.forEach((c, i) => {
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 0) {
      throw new LinerateError('INVALID_OPTION', `${scope}: option '${option}'[${i}] must be a CPU number (an integer >= 0), got ${describe(c)}`);
    }
  });
  if (new Set(cpus).size !== cpus.length) throw new LinerateError('INVALID_OPTION', `${scope}: option '${option}' names a CPU twice: [${cpus.join(', ')}]`);
  for (const c of cpus as number[]) {
    if (!allowedCpus.includes(c)) {
      throw new LinerateError(
        'CPU_UNAVAILABLE',
        `${scope}: option '${option}': CPU ${c} does not exist or is not allowed for this process (allowed: ${allowedCpus.join(', ')}); check with: taskset -pc $$ or nproc`,
      );
    }
  }
  return cpus as number[];
}

export function isPow2(n: number): boolean {
  return n >= 2 && (n & (n - 1)) === 0;
}
