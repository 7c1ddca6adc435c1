import { assert } from '../protocol/errors.ts';

/**
 * A bounded set of callers waiting for the same next event (the next card in a reader's field), each
 * abortable by its own signal. The event settles all of them at once; an aborted wait leaves the set.
 */
export class Waiters<T> {
  readonly #max: number;
  readonly #waiting = new Set<{ resolve(v: T): void; reject(e: unknown): void }>();

  constructor(max: number, readonly what: string) {
    this.#max = max;
  }

  get size(): number {
    return this.#waiting.size;
  }

  /** Wait for the next `resolveAll`; rejects with the signal's reason when it aborts first. */
  wait(signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    assert(this.#waiting.size < this.#max, `at most ${this.#max} concurrent ${this.what} calls`);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiting.delete(waiter);
        reject(signal.reason);
      };
      const waiter = {
        resolve: (v: T) => {
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e: unknown) => {
          signal.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.add(waiter);
    });
  }

  resolveAll(value: T): void {
    const all = [...this.#waiting];
    this.#waiting.clear();
    for (const w of all) w.resolve(value);
  }

  rejectAll(error: unknown): void {
    const all = [...this.#waiting];
    this.#waiting.clear();
    for (const w of all) w.reject(error);
  }
}
