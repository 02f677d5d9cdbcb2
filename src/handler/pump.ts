/**
 * Runs a function once per event-loop turn while armed, without allocating per
 * turn: the native loop pump (native/binding/loop_pump.h), a libuv idle handle.
 * setImmediate is the fallback for an addon built before the pump existed; it
 * works the same but allocates an Immediate per turn.
 */
import { loadAddon } from '../native.js';

/** @internal */
export interface Pump {
  /** Call the function on every loop turn from now on (idempotent). */
  arm(): void;
  /** Stop calling it (idempotent). */
  disarm(): void;
  /** Release the handle; arm() does nothing afterwards. */
  close(): void;
}

/** @internal */
export type PumpFactory = (fn: () => void) => Pump;

class ImmediatePump implements Pump {
  private armed = false;
  private closed = false;
  private queued = false;
  private readonly turn = (): void => {
    this.queued = false;
    if (!this.armed) return;
    this.fn();
    if (this.armed && !this.queued) {
      this.queued = true;
      setImmediate(this.turn);
    }
  };
  constructor(private readonly fn: () => void) {}
  arm(): void {
    if (this.closed || this.armed) return;
    this.armed = true;
    if (!this.queued) {
      this.queued = true;
      setImmediate(this.turn);
    }
  }
  disarm(): void {
    this.armed = false;
  }
  close(): void {
    this.armed = false;
    this.closed = true;
  }
}

/** The native pump when the addon has it, else setImmediate. */
export const createPump: PumpFactory = (fn) => {
  const addon = loadAddon() as { createPump?: PumpFactory };
  return typeof addon.createPump === 'function' ? addon.createPump(fn) : new ImmediatePump(fn);
};

/** The setImmediate pump, for tests and for comparing the two. */
export const createImmediatePump: PumpFactory = (fn) => new ImmediatePump(fn);
