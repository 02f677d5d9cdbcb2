import { LinerateError } from './errors.js';
import type { Engine } from './engine.js';
import type { PortOptions } from './options.js';
import { encodeDropRules, type DropRule } from './options.js';
import type { PortStats } from './stats.js';
import type { Capture, CaptureOptions } from './capture/capture.js';

/** What a port is: from `port.info()` and `engine.info().ports`. */
export interface PortInfo {
  id: number;
  name: string;
  driver: string;
  rxQueues: number;
  /** How rx queues are filled: by the driver ('hardware'), by the engine ('software'), or one queue ('none'). */
  rss: 'none' | 'software' | 'hardware';
  mtu: number;
  mac: string;
  /** Driver-specific facts (file names, wire name, ...). */
  details: Record<string, string>;
}

/**
 * A port of an engine, returned by {@link Engine.addPort}. A handle: what it does
 * is set with engine.forward() / engine.echo().
 */
export class Port {
  /** @internal */
  constructor(
    /** @internal */ readonly engine: Engine,
    /** Index of the port in its engine (also the last byte of its virtual MAC). */
    readonly id: number,
    readonly name: string,
    readonly options: Readonly<PortOptions>,
  ) {}

  /** This port's counters (a slice of engine.stats()). */
  stats(): PortStats {
    this.assertOpen();
    return this.engine.stats().ports[this.name];
  }

  info(): PortInfo {
    this.assertOpen();
    return this.engine.info().ports[this.id];
  }

  /**
   * af_xdp: replaces the early-drop rules while the port runs (map updates, no reload; an empty list drops nothing).
   * Their counters start at zero: `stats().xstats.drop_rule_<i>`.
   * @throws LinerateError INVALID_OPTION, PORT_CLOSED
   */
  setDropRules(rules: DropRule[]): void {
    this.assertOpen();
    if (this.options.driver !== 'af_xdp') {
      throw new LinerateError('INVALID_OPTION', `port '${this.name}' (${this.options.driver}): drop rules need an af_xdp port`);
    }
    this.engine.setPortOptions(this, { dropRules: encodeDropRules(`port '${this.name}' (af_xdp)`, rules) });
  }

  /** Captures this port's traffic: {@link Engine.capture}. */
  capture(options: CaptureOptions = {}): Capture {
    return this.engine.capture(this, options);
  }

  /** @internal */
  assertOpen(): void {
    if (this.engine.state === 'closed') {
      throw new LinerateError('PORT_CLOSED', `port '${this.name}' belongs to a closed engine; create a new engine and add the port again`);
    }
  }
}
