import type { Logger } from '../common/log.ts';

/**
 * The gateway's parts (ledger, contacts, broker, pipeline, publisher, HTTP, sweeps) started in order and
 * stopped in reverse: a part is stopped only if it started, after every part that came after it, and a
 * start that fails half-way stops what it had started, so nothing keeps running against a closed ledger.
 */

export interface StopOptions {
  /** false: drop work in progress as a crash would (the pipeline's uncommitted requests). */
  readonly graceful: boolean;
}

type Stop = (o: StopOptions) => unknown;

export class Parts {
  readonly #started: { readonly name: string; readonly stop: Stop }[] = [];
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Start one part; once `start` resolves, `stop` is owed to it. */
  async start<T>(name: string, start: () => T | Promise<T>, stop: (part: T, o: StopOptions) => unknown): Promise<T> {
    const part = await start();
    this.#started.push({ name, stop: (o) => stop(part, o) });
    return part;
  }

  /** Stop every started part, the last started first; a part that fails to stop is logged, and the rest still stop. */
  async stopAll(o: StopOptions = { graceful: true }): Promise<void> {
    for (let p = this.#started.pop(); p; p = this.#started.pop()) {
      try {
        await p.stop(o);
      } catch (err) {
        this.#log.error({ err, part: p.name }, 'a part of the gateway failed to stop');
      }
    }
  }
}
