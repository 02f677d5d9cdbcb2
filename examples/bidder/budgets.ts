/**
 * Campaign budgets shared by every thread of the bidder, without locks.
 *
 * One SharedArrayBuffer holds, per budget slot, the remaining budget and the
 * total as BigInt64 (micro-units, so a budget may exceed the 2^31 an Int32
 * would allow), and an Int32 "spent out" hint. A win takes its price off the
 * remaining budget with a compare-and-swap loop (Atomics.compareExchange): it
 * only ever replaces a value it has just read and checked to be ≥ the price,
 * so concurrent winners cannot take the budget below zero, and none fails
 * while the budget still covers it. Spend is exact: the sum of the winning
 * prices of a campaign never exceeds its budget, on any number of threads.
 *
 * The hint lets a bidder skip a spent-out campaign with an Int32 load (no
 * BigInt); it is set when a campaign can no longer pay its own price and is
 * only ever a reason to look elsewhere: the CAS alone decides a spend.
 *
 * Slots are assigned by campaign id on the main thread (BudgetSlots), so a
 * reloaded file keeps each campaign's spend; workers only read the assignment.
 */

/** Layout: BigInt64 [remaining, total] per slot, then Int32 hint per slot. */
export class Budgets {
  readonly capacity: number;
  private readonly money: BigInt64Array;
  private readonly out: Int32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.capacity = Math.floor(buffer.byteLength / 20);
    this.money = new BigInt64Array(buffer, 0, this.capacity * 2);
    this.out = new Int32Array(buffer, this.capacity * 16, this.capacity);
  }

  /** Room for `capacity` campaigns. */
  static create(capacity: number): Budgets {
    return new Budgets(new SharedArrayBuffer(capacity * 20));
  }

  /** Whether slot `s` is marked spent out (no allocation: the bidder's first test). */
  spentOut(s: number): boolean {
    return Atomics.load(this.out, s) !== 0;
  }

  /**
   * Takes `price` off slot `s` if what remains covers it; true when it did.
   * When it cannot, or the campaign cannot pay its price again afterwards,
   * marks the slot spent out.
   */
  trySpend(s: number, price: number): boolean {
    const i = s * 2;
    const p = BigInt(price);
    let cur = Atomics.load(this.money, i);
    for (;;) {
      if (cur < p) {
        Atomics.store(this.out, s, 1);
        return false;
      }
      const next = cur - p;
      const seen = Atomics.compareExchange(this.money, i, cur, next);
      if (seen === cur) {
        if (next < p) Atomics.store(this.out, s, 1);
        return true;
      }
      cur = seen;
    }
  }

  /** Remaining budget of slot `s`, micro-units. */
  remaining(s: number): number {
    return Number(Atomics.load(this.money, s * 2));
  }

  /** Budget of slot `s` as last loaded, micro-units. */
  total(s: number): number {
    return Number(Atomics.load(this.money, s * 2 + 1));
  }

  /** Spent from slot `s` so far. */
  spent(s: number): number {
    return this.total(s) - this.remaining(s);
  }

  /**
   * Sets slot `s`'s budget to `budget` for a campaign of price `price`. A new
   * slot starts full; a slot that had a budget keeps its spend (remaining moves
   * by the change in total, atomically, so wins in flight still count).
   */
  setBudget(s: number, budget: number, price: number, fresh: boolean): void {
    const i = s * 2;
    if (fresh) {
      Atomics.store(this.money, i, BigInt(budget));
      Atomics.store(this.money, i + 1, BigInt(budget));
    } else {
      const old = Atomics.exchange(this.money, i + 1, BigInt(budget));
      Atomics.add(this.money, i, BigInt(budget) - old);
    }
    Atomics.store(this.out, s, Atomics.load(this.money, i) < BigInt(price) ? 1 : 0);
  }
}

/** The main thread's assignment of budget slots to campaign ids; survives reloads. */
export class BudgetSlots {
  private readonly byId = new Map<number, number>();

  constructor(readonly budgets: Budgets) {}

  /**
   * Slots for `campaigns` (new ids get new slots, known ids keep theirs) and
   * their budgets set. Throws when the slots would run out, changing nothing.
   */
  assign(campaigns: { id: number; budget: number; price: number }[], file: string): Int32Array {
    const fresh = campaigns.filter((c) => !this.byId.has(c.id)).length;
    if (this.byId.size + fresh > this.budgets.capacity) {
      throw new Error(`${file}: ${this.byId.size + fresh} campaign ids over this run would outgrow the ${this.budgets.capacity} budget slots; restart the bidder with a larger --max-campaigns`);
    }
    return Int32Array.from(campaigns, (c) => {
      let s = this.byId.get(c.id);
      const isNew = s === undefined;
      if (s === undefined) this.byId.set(c.id, (s = this.byId.size));
      this.budgets.setBudget(s, c.budget, c.price, isNew);
      return s;
    });
  }

  /** The slot of campaign `id`, if it was ever loaded. */
  slotOf(id: number): number | undefined {
    return this.byId.get(id);
  }
}
