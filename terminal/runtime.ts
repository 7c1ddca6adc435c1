import type { Logger } from '../common/log.ts';
import type { Benefit } from '../protocol/benefits.ts';
import { isValidCardNumber, parseQrPayload } from '../protocol/card.ts';
import { CODES, type Code } from '../protocol/codes.ts';
import { naclVerifier, type Signer, type Verifier } from '../protocol/crypto.ts';
import { debitRequest, encodeJson } from '../protocol/debit.ts';
import { uuidv7 } from '../protocol/uuid7.ts';
import { isPasserelleError, PasserelleError } from '../protocol/errors.ts';
import { decodeFrame, encodeDirect, verifyFrame, type VerifiedRoots } from '../protocol/frame.ts';
import { parseJson, Reply, type DebitRequestBody } from '../protocol/messages.ts';
import { formatAmount, screens } from './screens.ts';
import type { TerminalBindings } from './bindings.ts';
import type { TerminalConfig } from './config.ts';
import { initialState, step, type Effect, type Event, type Outcome, type Sale, type State } from './lifecycle.ts';
import type { Link } from './link.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';

/**
 * The terminal runtime: drives the pure lifecycle (lifecycle.ts) by carrying out its effects on the
 * devices, the outbox and the link, and feeds it the events that come back. One sale at a time.
 */

export interface RuntimeDeps {
  readonly config: TerminalConfig;
  readonly bindings: TerminalBindings;
  readonly outbox: Outbox;
  readonly link: Link;
  readonly signer: Signer;
  /** The gateway's reply-signing public key, received at provisioning. */
  readonly gatewaySignPublicKey: Uint8Array;
  /** tweetnacl by default; simulators running hundreds of terminals pass node:crypto. */
  readonly verifier?: Verifier;
  readonly roots?: VerifiedRoots;
  readonly newTxnId?: () => string;
  readonly log: Logger;
  /** How long the youth has to type the code. */
  readonly pinTimeoutMs?: number;
}

/** Pause after a failed device read before reading that device again. */
const READ_RETRY_DELAY_MS = 50;

export interface SettledSale {
  readonly txnId: string;
  readonly status: 'approved' | 'declined' | 'rejected';
  readonly code: string | null;
}

export class TerminalRuntime {
  readonly #d: RuntimeDeps;
  readonly #verifier: Verifier;
  readonly #newTxnId: () => string;
  #state: State = initialState;
  readonly #events: Event[] = [];
  #dispatching = false;
  #resolveSale: ((o: Outcome) => void) | undefined;
  #reading: AbortController | undefined;
  #pin: AbortController | undefined;
  #cancelReplyTimer: (() => void) | undefined;
  #cancelResendTimer: (() => void) | undefined;
  /** When each pending request was last handed to the link (monotonic ms). */
  readonly #lastSent = new Map<string, number>();
  #stopped = false;
  /** Called when any pending request is settled, including ones whose sale already timed out. */
  onSettled: ((s: SettledSale) => void) | undefined;

  constructor(d: RuntimeDeps) {
    this.#d = d;
    this.#verifier = d.verifier ?? naclVerifier;
    this.#newTxnId = d.newTxnId ?? (() => uuidv7(d.bindings.clock.now()));
  }

  get state(): State {
    return this.#state;
  }

  start(): void {
    this.#d.link.start({
      reply: (payload) => this.#onReply(payload),
      up: () => {
        this.#lastSent.clear();
        this.#resendDue();
      },
      down: () => undefined,
    });
    this.#scheduleResend();
    this.#d.bindings.display.show(screens.idle());
  }

  /** Sell `amount` (cents, or entries) of `benefit`; resolves when the sale is finished. */
  sale(benefit: Benefit, amount: number): Promise<Outcome> {
    if (this.#state.tag === 'finished') this.#dispatch({ type: 'RESET' });
    if (this.#state.tag !== 'idle' || this.#stopped) return Promise.reject(new PasserelleError('SALE_IN_PROGRESS'));
    return new Promise((resolve) => {
      this.#resolveSale = resolve;
      this.#dispatch({ type: 'START', benefit, amount });
    });
  }

  /** The cashier cancels; effective only before the sale is committed. */
  cancel(): void {
    this.#dispatch({ type: 'CANCEL' });
  }

  linkUp(): boolean {
    return this.#d.link.isUp();
  }

  outboxStats(): { pending: number; oldestPendingAt: number | null } {
    return this.#d.outbox.stats();
  }

  #dispatch(event: Event): void {
    this.#events.push(event);
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      for (let e = this.#events.shift(); e; e = this.#events.shift()) {
        const s = step(this.#state, e);
        this.#state = s.state;
        for (const effect of s.effects) this.#run(effect);
      }
    } finally {
      this.#dispatching = false;
    }
  }

  #run(effect: Effect): void {
    switch (effect.kind) {
      case 'show':
        this.#d.bindings.display.show(effect.screen);
        return;
      case 'readCredential':
        this.#readCredential();
        return;
      case 'stopReading':
        this.#reading?.abort();
        return;
      case 'askPin':
        this.#askPin(effect.txnId, effect.sale);
        return;
      case 'commit':
        this.#commit(effect.txnId, effect.sale, effect.credential);
        return;
      case 'startReplyTimer': {
        const txnId = effect.txnId;
        this.#cancelReplyTimer = this.#d.bindings.clock.setTimer(this.#d.config.replyTimeoutMs, () => this.#dispatch({ type: 'REPLY_TIMEOUT', txnId }));
        return;
      }
      case 'stopReplyTimer':
        this.#cancelReplyTimer?.();
        return;
      case 'finished': {
        this.#pin?.abort();
        const resolve = this.#resolveSale;
        this.#resolveSale = undefined;
        resolve?.(effect.outcome);
        return;
      }
    }
  }

  /**
   * Read both devices until one yields a credential. Each device has its own loop: a failed read on one
   * (a card pulled away too soon, a blurred QR code) is shown and that device reads again, without
   * cancelling a read under way on the other. The first success wins; the other read is aborted.
   */
  #readCredential(): void {
    if (this.#reading && !this.#reading.signal.aborted) return;
    const ac = new AbortController();
    this.#reading = ac;
    const { nfc, qr } = this.#d.bindings;
    void this.#readLoop(ac.signal, 'CARD_READ_FAILED', async (signal): Promise<Event> => {
      const c = await nfc.waitForCard(signal);
      if (!isValidCardNumber(c.cardNumber)) throw new PasserelleError('CARD_READ_FAILED', 'the card returned an invalid number');
      return { type: 'CARD', cardNumber: c.cardNumber, txnId: this.#newTxnId() };
    });
    void this.#readLoop(ac.signal, 'QR_UNREADABLE', async (signal): Promise<Event> => {
      const text = await qr.waitForCode(signal);
      return { type: 'QR', cardNumber: parseQrPayload(text).cardNumber, txnId: this.#newTxnId() };
    });
  }

  async #readLoop(signal: AbortSignal, fallback: Code, read: (signal: AbortSignal) => Promise<Event>): Promise<void> {
    while (!signal.aborted) {
      try {
        const event = await read(signal);
        if (!signal.aborted) this.#dispatch(event);
        return;
      } catch (err) {
        if (signal.aborted) return;
        this.#dispatch({ type: 'CREDENTIAL_FAILED', code: codeOf(err, fallback) });
        // A device that fails at once every time must not spin the event loop.
        await new Promise<void>((resolve) => this.#d.bindings.clock.setTimer(READ_RETRY_DELAY_MS, resolve));
      }
    }
  }

  #askPin(txnId: string, sale: Sale): void {
    const ac = new AbortController();
    this.#pin = ac;
    const cancelTimeout = this.#d.bindings.clock.setTimer(this.#d.pinTimeoutMs ?? 60_000, () =>
      ac.abort(new PasserelleError('PIN_ENTRY_TIMEOUT')),
    );
    this.#d.bindings.pad.requestSealedCode(txnId, `Montant : ${formatAmount(sale.amount, sale.unit)}\nCode secret :`, ac.signal).then(
      (pinBlock) => {
        cancelTimeout();
        if (!ac.signal.aborted) this.#dispatch({ type: 'PIN_SEALED', pinBlock });
      },
      (err: unknown) => {
        cancelTimeout();
        const reason: unknown = ac.signal.aborted ? ac.signal.reason : err;
        if (this.#state.tag === 'awaitingPin') this.#dispatch({ type: 'PIN_FAILED', code: codeOf(reason, 'PIN_ENTRY_CANCELLED') });
      },
    );
  }

  /** Sign the request with its sequence number and commit it; only then send it. */
  #commit(txnId: string, sale: Sale, credential: DebitRequestBody['credential']): void {
    let entry: OutboxEntry;
    try {
      entry = this.#d.outbox.append((seq) => {
        const createdAt = this.#d.bindings.clock.now();
        const body: DebitRequestBody = { txnId, terminalId: this.#d.config.terminalId, seq, createdAt, credential, benefit: sale.benefit, amount: sale.amount, unit: sale.unit };
        const message = encodeJson(debitRequest(body));
        return { txnId, createdAt, frame: encodeDirect(message, this.#d.signer.sign(message)) };
      });
    } catch (e) {
      this.#d.log.warn({ err: e, txnId }, 'sale not recorded');
      this.#dispatch({ type: 'COMMIT_FAILED', code: codeOf(e, 'OUTBOX_FULL') });
      return;
    }
    this.#dispatch({ type: 'COMMITTED', txnId });
    this.#send(entry);
  }

  #send(entry: OutboxEntry): void {
    if (this.#d.link.send(entry.frame)) this.#lastSent.set(entry.txnId, this.#d.bindings.clock.monotonicMs());
  }

  /** Send again every pending request not sent within the resend interval (bounded per pass). */
  #resendDue(): void {
    if (this.#stopped || !this.#d.link.isUp()) return;
    const now = this.#d.bindings.clock.monotonicMs();
    for (const entry of this.#d.outbox.pending(this.#d.config.resendBatch)) {
      const last = this.#lastSent.get(entry.txnId);
      if (last === undefined || now - last >= this.#d.config.resendIntervalMs) this.#send(entry);
    }
  }

  #scheduleResend(): void {
    if (this.#stopped) return;
    this.#cancelResendTimer = this.#d.bindings.clock.setTimer(this.#d.config.resendIntervalMs, () => {
      this.#resendDue();
      this.#scheduleResend();
    });
  }

  /** A reply is trusted only after its batch signature verifies with the gateway key. */
  #onReply(payload: Buffer): void {
    const log = this.#d.log;
    let message: Buffer;
    try {
      const frame = decodeFrame(payload);
      if (!verifyFrame(frame, this.#d.gatewaySignPublicKey, this.#verifier, this.#d.roots)) {
        log.warn({ code: 'REPLY_BAD_SIGNATURE' }, CODES.REPLY_BAD_SIGNATURE.en);
        return;
      }
      message = frame.message;
    } catch (e) {
      log.warn({ err: e }, 'unreadable reply ignored');
      return;
    }
    let reply: Reply;
    try {
      reply = parseJson(Reply, message, 'reply');
    } catch (e) {
      log.warn({ err: e }, 'reply of an unknown shape ignored');
      return;
    }
    if (reply.type === 'debit.reply') this.#onDebitReply(reply.body, message);
    else this.#onErrorReply(reply.corr, reply.body.code);
  }

  #onDebitReply(body: Extract<Reply, { type: 'debit.reply' }>['body'], message: Buffer): void {
    if (body.terminalId !== this.#d.config.terminalId) {
      this.#d.log.warn({ code: 'REPLY_UNEXPECTED', txnId: body.txnId }, 'reply for another terminal ignored');
      return;
    }
    this.#lastSent.delete(body.txnId);
    if (!this.#d.outbox.settle(body.txnId, body.status, body.code ?? null, message, this.#d.bindings.clock.now())) {
      if (!this.#d.outbox.entry(body.txnId)) this.#d.log.warn({ code: 'REPLY_UNEXPECTED', txnId: body.txnId }, CODES.REPLY_UNEXPECTED.en);
      return; // a duplicate of a reply already recorded
    }
    this.onSettled?.({ txnId: body.txnId, status: body.status, code: body.code ?? null });
    this.#dispatch({ type: 'REPLY', reply: body });
  }

  #onErrorReply(corr: string, code: Extract<Reply, { type: 'error' }>['body']['code']): void {
    if (CODES[code].retryable) {
      this.#d.log.info({ code, txnId: corr }, 'gateway busy; the request stays pending and is resent');
      return;
    }
    if (!corr || !this.#d.outbox.reject(corr, code, this.#d.bindings.clock.now())) {
      this.#d.log.error({ code, corr }, 'the gateway rejected a request this terminal cannot match');
      return;
    }
    this.#lastSent.delete(corr);
    this.#d.log.error({ code, txnId: corr }, 'request rejected by the gateway; it will not be resent');
    this.onSettled?.({ txnId: corr, status: 'rejected', code });
    this.#dispatch({ type: 'REJECTED', txnId: corr, code });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelResendTimer?.();
    this.#cancelReplyTimer?.();
    this.#reading?.abort();
    this.#pin?.abort();
    await this.#d.link.stop();
  }
}

function codeOf(err: unknown, fallback: Code): Code {
  return isPasserelleError(err) ? err.code : fallback;
}
