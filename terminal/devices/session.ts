import { assert, PasserelleError } from '../../protocol/errors.ts';
import type { CardSession } from './contactless.ts';

/** The largest command APDU accepted (pcsc-lite's MAX_BUFFER_SIZE_EXTENDED). */
const APDU_BYTES_MAX = 65544;
const TIMEOUT_MS_MAX = 60_000;

/** How a concrete session answers one exchange: once, with the response or an error. */
export interface Exchange {
  answer(response: Buffer): void;
  fail(error: PasserelleError): void;
  /** Run `fn` when the exchange is settled, whichever way (to clear a timer of the session's own). */
  onSettled(fn: () => void): void;
}

/**
 * What every card session shares, real or simulated: the `gone` signal, the argument checks, the
 * per-exchange timeout (CARD_READ_FAILED) and the rejection when the card or the reader goes during an
 * exchange. A session only says how one APDU reaches its card (`exchange`).
 */
export abstract class SessionBase implements CardSession {
  abstract readonly uid: string;
  readonly reader: string;
  readonly #gone = new AbortController();

  constructor(reader: string) {
    this.reader = reader;
  }

  get gone(): AbortSignal {
    return this.#gone.signal;
  }

  end(reason: PasserelleError): void {
    if (!this.#gone.signal.aborted) this.#gone.abort(reason);
  }

  transmit(apdu: Uint8Array, timeoutMs: number): Promise<Buffer> {
    assert(apdu.length >= 1 && apdu.length <= APDU_BYTES_MAX, `APDU of 1..${APDU_BYTES_MAX} bytes`);
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= TIMEOUT_MS_MAX, `timeoutMs within 1..${TIMEOUT_MS_MAX}`);
    if (this.gone.aborted) return Promise.reject(this.goneError());
    return new Promise<Buffer>((resolve, reject) => {
      let settled = false;
      const cleanups: (() => void)[] = [];
      const finish = (act: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.gone.removeEventListener('abort', onGone);
        for (const c of cleanups) c();
        act();
      };
      const onGone = (): void => finish(() => reject(this.goneError()));
      const timer = setTimeout(() => finish(() => reject(new PasserelleError('CARD_READ_FAILED', `no answer from the card within ${timeoutMs} ms`, { reader: this.reader, timeoutMs }))), timeoutMs);
      this.gone.addEventListener('abort', onGone, { once: true });
      this.exchange(Buffer.from(apdu), {
        answer: (response) => finish(() => resolve(response)),
        fail: (error) => finish(() => reject(error)),
        onSettled: (fn) => void cleanups.push(fn),
      });
    });
  }

  /** Send one APDU to the card and settle `x` once. */
  protected abstract exchange(apdu: Buffer, x: Exchange): void;

  /** A fresh error per rejection (each caller's stack is its own), with the code of the reason the session ended. */
  protected goneError(): PasserelleError {
    const reason: unknown = this.gone.reason;
    const code = reason instanceof PasserelleError ? reason.code : 'NFC_READER_UNAVAILABLE';
    return new PasserelleError(code, reason instanceof Error ? reason.message : 'the card is gone', { reader: this.reader }, { cause: reason });
  }
}
