import type { CardSale } from '../protocol/card-app.ts';
import type { CardProof } from '../protocol/messages.ts';
import type { Screen } from './screens.ts';

/**
 * The hardware seam: every device sits behind one of these small interfaces, with a simulated
 * implementation (`simulators/sim-bindings.ts`) and real drivers (nfc-pcsc, serialport, camera frames) in a
 * later issue. The composition root picks one set. Reads are pull-based and abortable: the runtime asks
 * for the next card or code and aborts the read when the sale moves on.
 */

/**
 * A card that proved itself (terminal/card-reader.ts): its issuer-signed credential verified and a fresh
 * challenge signed with the key the credential names. Only then is the card number trusted.
 */
export interface NfcCard {
  readonly cardNumber: string;
  /** The last valid day of the card, `YYYY-MM-DD`. */
  readonly expiry: string;
  /** For logs only: a UID proves nothing. */
  readonly uid: string;
  readonly reader: string;
  /** The chip's public key, from its issuer-signed credential. */
  readonly cardPublicKey: Uint8Array;
  /** The card's signature of the sale, when one was asked. */
  readonly proof?: CardProof;
}

/** The sale the card is asked to sign (protocol/card-app.ts `CardSale`, without the tap time the reader adds). */
export type SaleToSign = Omit<CardSale, 'at'>;

export interface NfcReader {
  /**
   * The next card presented, authenticated. With `sale`, the card signs that sale (its `proof`), which the
   * gateway checks again; without, it answers a random challenge (the technician's self-test). Rejects
   * with CARD_READ_FAILED (or the card application's codes) when a card cannot be read.
   */
  waitForCard(signal: AbortSignal, sale?: SaleToSign): Promise<NfcCard>;
}

export interface QrSource {
  /** The text of the next QR code seen. Rejects with QR_UNREADABLE when a frame holds no readable code. */
  waitForCode(signal: AbortSignal): Promise<string>;
}

export interface PinPad {
  /**
   * Ask the youth for the secret code. The pad seals it to the gateway's key together with the
   * transaction id and returns only the sealed block: the terminal never sees the code.
   * Rejects with PIN_ENTRY_CANCELLED or PIN_ENTRY_TIMEOUT.
   */
  requestSealedCode(txnId: string, prompt: string, signal: AbortSignal): Promise<string>;
}

export interface Display {
  show(screen: Screen): void;
}

export interface Clock {
  /** Wall-clock time in ms since the epoch (sale timestamps). */
  now(): number;
  /** Monotonic ms, for every timeout and interval: never jumps when the wall clock is set. */
  monotonicMs(): number;
  /** Run `fn` after `ms`; returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

/** The receipt printer: one receipt per finished sale (approved, accepted offline or declined). */
export interface Printer {
  print(lines: readonly string[]): void;
}

export interface TerminalBindings {
  readonly nfc: NfcReader;
  readonly qr: QrSource;
  readonly pad: PinPad;
  readonly display: Display;
  readonly clock: Clock;
  readonly printer?: Printer;
}
