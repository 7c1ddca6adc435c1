import type { Clock } from '../../terminal/bindings.ts';

/** A clock moved by hand: timers run when `advance` passes their time, in order. */
export class ManualClock implements Clock {
  #ms = 0;
  #timers: { at: number; fn: () => void }[] = [];
  now(): number {
    return 1_767_000_000_000 + this.#ms;
  }
  monotonicMs(): number {
    return this.#ms;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const t = { at: this.#ms + ms, fn };
    this.#timers.push(t);
    return () => void (this.#timers = this.#timers.filter((x) => x !== t));
  }
  /** Move time on, running each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#ms + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#ms = due.at;
      due.fn();
    }
    this.#ms = end;
  }
}
