/**
 * A bounded FIFO whose `take` waits for the next item and can be aborted. Simulated devices use it: a
 * test pushes behaviours (a card tap, a typed code), the runtime takes them when it reads the device.
 */
export class AsyncQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: { resolve: (v: T) => void; reject: (e: unknown) => void; signal: AbortSignal | undefined; onAbort: () => void }[] = [];
  readonly #max: number;

  constructor(max = 1000) {
    this.#max = max;
  }

  push(item: T): void {
    const w = this.#waiters.shift();
    if (w) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve(item);
      return;
    }
    if (this.#items.length >= this.#max) throw new RangeError(`queue full (${this.#max})`);
    this.#items.push(item);
  }

  get size(): number {
    return this.#items.length;
  }

  take(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as T);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(signal?.reason);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }
}
