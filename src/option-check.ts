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

/** A value as an error message shows it. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v instanceof Uint8Array) return `Uint8Array(${v.length})`;
  if (Array.isArray(v)) return 'an array';
  return String(v);
}

export function isPow2(n: number): boolean {
  return n >= 2 && (n & (n - 1)) === 0;
}
