import { isValidCardNumber } from '../../protocol/card.ts';
import type { Code } from '../../protocol/codes.ts';
import type { Verifier } from '../../protocol/crypto.ts';
import { isPasserelleError, PasserelleError } from '../../protocol/errors.ts';
import { hotlistTag } from '../../protocol/offline.ts';
import { parseQrCredential } from '../../protocol/qr-payload.ts';
import type { TerminalBindings } from '../bindings.ts';
import type { Event, State } from '../lifecycle.ts';
import type { Sale } from '../sale.ts';
import { formatAmount } from '../screens.ts';
import type { Tapped } from './trust.ts';

/**
 * The device read loops: the card reader and the QR source read side by side until one yields a
 * credential, then the PIN pad when a QR code needs its secret code. What they read goes to the lifecycle
 * as events; every read is abortable, and is aborted when the sale moves on.
 */

/** Pause after a failed device read before reading that device again. */
const READ_RETRY_DELAY_MS = 50;
const PIN_TIMEOUT_MS = 60_000;

export interface ReadersDeps {
  readonly bindings: Pick<TerminalBindings, 'nfc' | 'qr' | 'pad' | 'clock'>;
  readonly terminalId: string;
  /** The Region's card issuer public key: the app's QR codes are signed with it. */
  readonly issuerPublicKey: Uint8Array;
  readonly verifier: Verifier;
  readonly newTxnId: () => string;
  /** How long the youth has to type the code. */
  readonly pinTimeoutMs?: number;
  readonly state: () => State;
  readonly dispatch: (event: Event) => void;
}

/** The stable code of a failure, or `fallback` for anything that is not one of ours. */
export function codeOf(err: unknown, fallback: Code): Code {
  return isPasserelleError(err) ? err.code : fallback;
}

export class CredentialReaders {
  readonly #d: ReadersDeps;
  #reading: AbortController | undefined;
  #pin: AbortController | undefined;
  /** The last card read: the sale it signed, and its hotlist tag. */
  #tapped: Tapped | undefined;

  constructor(d: ReadersDeps) {
    this.#d = d;
  }

  /** The last card read, kept for the offline judgement of the sale it signed. */
  get tapped(): Tapped | undefined {
    return this.#tapped;
  }

  /**
   * Read both devices until one yields a credential. Each device has its own loop: a failed read on one
   * (a card pulled away too soon, a blurred QR code) is shown and that device reads again, without
   * cancelling a read under way on the other. The first success wins; the other read is aborted.
   */
  read(): void {
    if (this.#reading && !this.#reading.signal.aborted) return;
    const ac = new AbortController();
    this.#reading = ac;
    const { nfc, qr, clock } = this.#d.bindings;
    const state = this.#d.state();
    const sale = state.tag === 'awaitingCredential' ? state.sale : undefined;
    void this.#loop(ac.signal, 'CARD_READ_FAILED', async (signal): Promise<Event> => {
      // The id is minted before the tap: the card signs the sale under it (its proof for the gateway).
      const txnId = this.#d.newTxnId();
      const toSign = sale && { ref: txnId, terminalId: this.#d.terminalId, benefit: sale.benefit, amount: sale.amount, unit: sale.unit };
      const c = await nfc.waitForCard(signal, toSign);
      if (!isValidCardNumber(c.cardNumber)) throw new PasserelleError('CARD_READ_FAILED', 'the card returned an invalid number');
      if (!c.proof) throw new PasserelleError('CARD_READ_FAILED', 'the card did not sign the sale');
      // The hotlist names cards by their chip key's tag: kept for the offline judgement of this sale.
      this.#tapped = { ref: txnId, tag: hotlistTag(c.cardPublicKey) };
      return { type: 'CARD', cardNumber: c.cardNumber, txnId, proof: c.proof };
    });
    void this.#loop(ac.signal, 'QR_UNREADABLE', async (signal): Promise<Event> => {
      const text = await qr.waitForCode(signal);
      const nowMs = clock.now();
      const credential = parseQrCredential(text, { issuerPublicKey: this.#d.issuerPublicKey, nowMs, verifier: this.#d.verifier });
      return { type: 'QR', cardNumber: credential.cardNumber, txnId: this.#d.newTxnId() };
    });
  }

  stopReading(): void {
    this.#reading?.abort();
  }

  /** Ask the PIN pad for the sealed secret code of a QR sale, under a timeout. */
  askPin(txnId: string, sale: Sale): void {
    const ac = new AbortController();
    this.#pin = ac;
    const cancelTimeout = this.#d.bindings.clock.setTimer(this.#d.pinTimeoutMs ?? PIN_TIMEOUT_MS, () => ac.abort(new PasserelleError('PIN_ENTRY_TIMEOUT')));
    this.#d.bindings.pad.requestSealedCode(txnId, `Montant : ${formatAmount(sale.amount, sale.unit)}\nCode secret :`, ac.signal).then(
      (pinBlock) => {
        cancelTimeout();
        if (!ac.signal.aborted) this.#d.dispatch({ type: 'PIN_SEALED', pinBlock });
      },
      (err: unknown) => {
        cancelTimeout();
        const reason: unknown = ac.signal.aborted ? ac.signal.reason : err;
        if (this.#d.state().tag === 'awaitingPin') this.#d.dispatch({ type: 'PIN_FAILED', code: codeOf(reason, 'PIN_ENTRY_CANCELLED') });
      },
    );
  }

  stopPin(): void {
    this.#pin?.abort();
  }

  stop(): void {
    this.stopReading();
    this.stopPin();
  }

  async #loop(signal: AbortSignal, fallback: Code, read: (signal: AbortSignal) => Promise<Event>): Promise<void> {
    while (!signal.aborted) {
      try {
        const event = await read(signal);
        if (!signal.aborted) this.#d.dispatch(event);
        return;
      } catch (err) {
        if (signal.aborted) return;
        this.#d.dispatch({ type: 'CREDENTIAL_FAILED', code: codeOf(err, fallback) });
        // A device that fails at once every time must not spin the event loop.
        await new Promise<void>((resolve) => this.#d.bindings.clock.setTimer(READ_RETRY_DELAY_MS, resolve));
      }
    }
  }
}
