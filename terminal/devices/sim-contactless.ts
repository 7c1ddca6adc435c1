import { Waiters } from '../../common/waiters.ts';
import { PasserelleError, assert } from '../../protocol/errors.ts';
import type { CardSession, ContactlessReader } from './contactless.ts';
import { SessionBase, type Exchange } from './session.ts';

/**
 * A simulated contactless reader for unit tests and simulators, with the same error semantics as the
 * PC/SC one (`pcsc.ts`), which the shared contract suite (`contactless.contract.ts`) checks on both.
 *
 * Scriptable: a test presents and removes cards, unplugs and plugs the reader, and queues faults for the
 * next exchanges (a slow answer, the card leaving mid-exchange). Recording: every APDU that reached a card
 * and what came back is kept (bounded) for assertions.
 *
 * As with the real reader, a card is delivered to the waits pending when it enters the field, a wait goes
 * on while the reader is unplugged, and a response shorter than a status word is CARD_READ_FAILED. A card
 * whose `handle` throws is a transport failure (CARD_READ_FAILED), not an answer.
 */

/** What the simulated reader talks to: a card emulated in Node (`simulators/card.ts`). */
export interface SimCard {
  readonly uid: string;
  handle(apdu: Buffer): Buffer | Promise<Buffer>;
}

export interface PresentOptions {
  /** Every exchange with this card is answered after this delay (a slow card), in ms. */
  readonly delayMs?: number;
}

/** A fault for the next exchange that has none yet. */
export type SimFault =
  /** The card answers, but only after `ms`. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** The card takes the APDU and leaves the field before it answers. */
  | { readonly kind: 'remove' };

/** One APDU that reached the card and its response, or null when the card never answered. */
export interface SimExchange {
  readonly reader: string;
  readonly apdu: Buffer;
  readonly response: Buffer | null;
}

export interface SimContactlessOptions {
  readonly name?: string;
  /** The reader starts unplugged when false. */
  readonly plugged?: boolean;
  readonly waitersMax?: number;
}

const EXCHANGES_MAX = 1000;
const FAULTS_MAX = 64;
const DELAY_MS_MAX = 60_000;


class SimSession extends SessionBase {
  readonly uid: string;
  readonly #exchange: (apdu: Buffer) => Promise<Buffer>;

  constructor(reader: string, uid: string, exchange: (apdu: Buffer) => Promise<Buffer>) {
    super(reader);
    this.uid = uid;
    this.#exchange = exchange;
  }

  protected exchange(apdu: Buffer, x: Exchange): void {
    this.#exchange(apdu).then(
      (response) => x.answer(response),
      (cause: unknown) => x.fail(new PasserelleError('CARD_READ_FAILED', 'the exchange with the card failed', { reader: this.reader }, { cause })),
    );
  }
}

export class SimContactlessReader implements ContactlessReader {
  readonly name: string;
  readonly #waiters: Waiters<CardSession>;
  readonly #faults: SimFault[] = [];
  #plugged: boolean;
  #closed = false;
  /** The card in the field, whether or not the reader is plugged in to see it. */
  #card: { readonly card: SimCard; readonly delayMs: number } | undefined;
  #session: SimSession | undefined;
  /** The last EXCHANGES_MAX APDUs as they reach the card (before it answers), oldest first. */
  readonly received: Buffer[] = [];
  /** The last EXCHANGES_MAX exchanges once settled, oldest first. */
  readonly exchanges: SimExchange[] = [];

  constructor(o: SimContactlessOptions = {}) {
    this.name = o.name ?? 'Sim Contactless Reader 00';
    this.#plugged = o.plugged ?? true;
    this.#waiters = new Waiters<CardSession>(o.waitersMax ?? 16, 'waitForCard');
  }

  readers(): readonly string[] {
    return this.#plugged && !this.#closed ? [this.name] : [];
  }

  /** True while a card session is open (a card in the field of a plugged reader). */
  cardPresent(): boolean {
    return this.#session !== undefined && !this.#session.gone.aborted;
  }

  /** A card enters the field (replacing the one there); a plugged reader sees it at once. */
  present(card: SimCard, o: PresentOptions = {}): void {
    const delayMs = checkDelay(o.delayMs ?? 0);
    this.remove();
    this.#card = { card, delayMs };
    this.#faults.length = 0;
    if (this.#plugged) this.#openSession();
  }

  /** The card leaves the field: its session ends with CARD_REMOVED. */
  remove(): void {
    this.#card = undefined;
    this.#endSession(new PasserelleError('CARD_REMOVED', `the card left the field of ${this.name}`, { reader: this.name }));
  }

  /** The reader vanishes: the session ends with NFC_READER_UNAVAILABLE; waits for a card go on. */
  unplug(): void {
    this.#plugged = false;
    this.#endSession(new PasserelleError('NFC_READER_UNAVAILABLE', `reader ${this.name} vanished`, { reader: this.name }));
  }

  /** The reader comes back, and sees a card already in its field, as a real one does. */
  plug(): void {
    if (this.#plugged) return;
    this.#plugged = true;
    if (this.#card && !this.#closed) this.#openSession();
  }

  /**
   * Queues a fault for the next exchange that has none yet. Faults belong to the card in the field: a card
   * presented afterwards starts without any.
   */
  inject(fault: SimFault): void {
    assert(this.#faults.length < FAULTS_MAX, `at most ${FAULTS_MAX} faults queued`);
    if (fault.kind === 'delay') checkDelay(fault.ms);
    this.#faults.push(fault);
  }

  waitForCard(signal: AbortSignal): Promise<CardSession> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(new PasserelleError('NFC_READER_UNAVAILABLE', 'the contactless reader is closed'));
    return this.#waiters.wait(signal);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.rejectAll(new PasserelleError('NFC_READER_UNAVAILABLE', 'the contactless reader was closed'));
    this.#endSession(new PasserelleError('NFC_READER_UNAVAILABLE', 'the contactless reader was closed', { reader: this.name }));
  }

  #openSession(): void {
    const inField = this.#card;
    if (!inField) return;
    const session: SimSession = new SimSession(this.name, inField.card.uid, (apdu): Promise<Buffer> => this.#exchange(session, inField.card, inField.delayMs, apdu));
    this.#session = session;
    this.#waiters.resolveAll(session);
  }

  #endSession(reason: PasserelleError): void {
    this.#session?.end(reason);
    this.#session = undefined;
  }

  /** One APDU through the field: faults first, then the card's own answer. */
  async #exchange(session: SimSession, card: SimCard, delayMs: number, apdu: Buffer): Promise<Buffer> {
    pushBounded(this.received, Buffer.from(apdu));
    const fault = this.#faults.shift();
    if (fault?.kind === 'remove') {
      this.#record(apdu, null);
      if (this.#session === session) this.remove();
      // The session's end has already rejected the exchange with CARD_REMOVED; this only unwinds.
      throw new Error('the card left the field');
    }
    const delay = fault?.kind === 'delay' ? fault.ms : delayMs;
    if (delay > 0) await sleepUnlessGone(delay, session.gone);
    if (session.gone.aborted) {
      this.#record(apdu, null);
      throw new Error('the card left the field');
    }
    let response: Buffer;
    try {
      response = Buffer.from(await card.handle(apdu));
    } catch (e) {
      this.#record(apdu, null);
      throw e;
    }
    this.#record(apdu, response);
    // As over PC/SC: a response without a status word is a failed exchange, not an answer.
    if (response.length < 2) throw new Error(`response of ${response.length} bytes, shorter than a status word`);
    return response;
  }

  #record(apdu: Buffer, response: Buffer | null): void {
    pushBounded(this.exchanges, { reader: this.name, apdu: Buffer.from(apdu), response: response === null ? null : Buffer.from(response) });
  }
}

function pushBounded<T>(list: T[], item: T): void {
  if (list.length >= EXCHANGES_MAX) list.shift();
  list.push(item);
}

function checkDelay(ms: number): number {
  assert(Number.isFinite(ms) && ms >= 0 && ms <= DELAY_MS_MAX, `delay within 0..${DELAY_MS_MAX} ms`);
  return ms;
}

/** Waits `ms`, or less if the session ends first (a card that left answers nothing). */
function sleepUnlessGone(ms: number, gone: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      gone.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    gone.addEventListener('abort', done, { once: true });
  });
}
