import { AsyncQueue } from '../common/async-queue.ts';
import { assert, PasserelleError } from '../protocol/errors.ts';
import { maskCardNumber } from '../protocol/card.ts';
import type { Signer, Verifier } from '../protocol/crypto.ts';
import { issuerKeysOf, type GatewayPublicKeys } from '../protocol/gateway-keys.ts';
import { ForeignCard, personaliseCard, type SimPassCard } from './card.ts';
import { CardAppNfcReader, CardChecker } from '../terminal/card-reader.ts';
import { SimContactlessReader, type SimCard } from '../terminal/devices/sim-contactless.ts';
import { sealPin } from '../protocol/pin.ts';
import type { Clock, Display, NfcCard, NfcReader, PinPad, Printer, QrSource, SaleToSign, TerminalBindings } from '../terminal/bindings.ts';
import { systemClock } from '../terminal/bindings.ts';
import { decodeQrFrame } from '../terminal/qr-decode.ts';
import type { Screen } from '../terminal/screens.ts';

/**
 * Simulated devices: scriptable (a test or a simulated card holder pushes behaviours in) and recording
 * (what crossed each device is kept for assertions). They implement the same bindings as real drivers.
 */

/** Where simulated taps get their cards: a card bureau that personalises a genuine card per number. */
export interface CardSource {
  card(cardNumber: string): SimPassCard;
}

export interface CardBureauOptions {
  /** The cards' last valid day (default 2099-12-31). */
  readonly expiry?: string;
  /**
   * The chip seed of a card personalised elsewhere (the demo's cards, a test's fixed chips), so this
   * bureau hands out the same chip the gateway already knows; undefined: a new chip.
   */
  readonly chipSeed?: (cardNumber: string) => Uint8Array | undefined;
  /** Tell the gateway a new chip's public key, as personalisation does (it checks every sale's card signature with it). */
  readonly register?: (cardNumber: string, publicKey: Uint8Array, expiry: string) => void;
}

/**
 * The Region's personalisation bureau, simulated: one genuine card per number, signed by the issuer key it
 * holds (tests and simulators only; a real terminal never holds an issuer key).
 */
export class CardBureau implements CardSource {
  readonly #issuer: Signer;
  readonly #o: CardBureauOptions;
  readonly #cards = new Map<string, SimPassCard>();

  constructor(issuer: Signer, o: CardBureauOptions = {}) {
    this.#issuer = issuer;
    this.#o = o;
  }

  card(cardNumber: string): SimPassCard {
    let card = this.#cards.get(cardNumber);
    if (!card) {
      const expiry = this.#o.expiry ?? '2099-12-31';
      const cardSeed = this.#o.chipSeed?.(cardNumber);
      card = personaliseCard({ cardNumber, expiry, issuer: this.#issuer, ...(cardSeed ? { cardSeed } : {}) });
      this.#o.register?.(cardNumber, card.credential.cardPublicKey, expiry);
      this.#cards.set(cardNumber, card);
    }
    return card;
  }
}

/**
 * Cards personalised before the sale (through the gateway's personalisation route, as a real card bureau
 * does: simulators/api-card-bureau.ts), handed out by number. Tapping a number it does not hold is a
 * mistake in the script.
 */
export class IssuedCards implements CardSource {
  readonly #cards: ReadonlyMap<string, SimPassCard>;

  constructor(cards: Iterable<SimPassCard>) {
    this.#cards = new Map([...cards].map((c) => [c.cardNumber, c]));
  }

  card(cardNumber: string): SimPassCard {
    const card = this.#cards.get(cardNumber);
    assert(card !== undefined, `no personalised card ${maskCardNumber(cardNumber)} among the issued cards`);
    return card;
  }
}

interface Tap {
  readonly card: SimCard;
  /** The card is pulled away during the exchange (the reader sees it leave). */
  readonly leaveEarly: boolean;
}

/**
 * The NFC reader of a simulated terminal: the real card application (CardAppNfcReader) over a simulated
 * contactless reader, with cards emulated at the APDU level. A tap is queued until the runtime reads, then
 * the card is presented, checked and taken away again.
 */
export class SimNfcReader implements NfcReader {
  readonly contactless = new SimContactlessReader({ name: 'Sim Contactless Reader 00' });
  readonly #app: CardAppNfcReader;
  readonly #cards: CardSource | undefined;
  readonly #taps = new AsyncQueue<Tap>();
  readonly reads: NfcCard[] = [];

  constructor(checker: CardChecker, cards?: CardSource) {
    this.#app = new CardAppNfcReader(this.contactless, checker);
    this.#cards = cards;
  }

  /** A card is held against the reader: a card number (a genuine card from the bureau) or any emulated card. */
  tap(card: { readonly cardNumber: string } | SimCard): void {
    this.#taps.push({ card: this.#resolve(card), leaveEarly: false });
  }

  /** A card pulled away before the exchange ends: the reader reports CARD_REMOVED. */
  tapUnreadable(card: { readonly cardNumber: string } | SimCard = new ForeignCard()): void {
    this.#taps.push({ card: this.#resolve(card), leaveEarly: true });
  }

  async waitForCard(signal: AbortSignal, sale?: SaleToSign): Promise<NfcCard> {
    const tap = await this.#taps.take(signal);
    const read = this.#app.waitForCard(signal, sale);
    this.contactless.present(tap.card);
    if (tap.leaveEarly) this.contactless.inject({ kind: 'remove' });
    try {
      const card = await read;
      this.reads.push(card);
      return card;
    } finally {
      this.contactless.remove();
    }
  }

  #resolve(card: { readonly cardNumber: string } | SimCard): SimCard {
    if ('handle' in card) return card;
    assert(this.#cards !== undefined, 'tapping a card by its number needs a card bureau (simBindings cards option)');
    return this.#cards.card(card.cardNumber);
  }
}

/** A camera that sees PNG frames; each frame is decoded with @zxing/library like a real camera frame. */
export class SimQrCamera implements QrSource {
  readonly #frames = new AsyncQueue<Buffer>();
  readonly decoded: string[] = [];

  show(frame: Buffer): void {
    this.#frames.push(frame);
  }

  async waitForCode(signal: AbortSignal): Promise<string> {
    const frame = await this.#frames.take(signal);
    const text = decodeQrFrame(frame);
    this.decoded.push(text);
    return text;
  }
}

export type PadBehaviour = { readonly type: string } | { readonly fail: 'PIN_ENTRY_CANCELLED' | 'PIN_ENTRY_TIMEOUT' };

/** A PIN pad that seals what is typed on it to the gateway's box key, as the real pad does. */
export class SimPinPad implements PinPad {
  readonly #keys = new AsyncQueue<PadBehaviour>();
  readonly #gatewayBoxPublicKey: Uint8Array;
  /** Prompts shown on the pad and the sealed blocks it returned (never the code). */
  readonly prompts: string[] = [];
  readonly sealed: string[] = [];

  constructor(gatewayBoxPublicKey: Uint8Array) {
    this.#gatewayBoxPublicKey = gatewayBoxPublicKey;
  }

  /** The youth types a code and presses OK. */
  type(code: string): void {
    this.#keys.push({ type: code });
  }

  cancel(): void {
    this.#keys.push({ fail: 'PIN_ENTRY_CANCELLED' });
  }

  timeOut(): void {
    this.#keys.push({ fail: 'PIN_ENTRY_TIMEOUT' });
  }

  async requestSealedCode(txnId: string, prompt: string, signal: AbortSignal): Promise<string> {
    this.prompts.push(prompt);
    const b = await this.#keys.take(signal);
    if ('fail' in b) throw new PasserelleError(b.fail);
    const block = sealPin(b.type, txnId, this.#gatewayBoxPublicKey);
    this.sealed.push(block);
    return block;
  }
}

export class RecordingDisplay implements Display {
  readonly screens: Screen[] = [];
  readonly #onShow: ((s: Screen) => void) | undefined;

  constructor(onShow?: (s: Screen) => void) {
    this.#onShow = onShow;
  }

  show(screen: Screen): void {
    this.screens.push(screen);
    this.#onShow?.(screen);
  }

  get last(): Screen | undefined {
    return this.screens.at(-1);
  }
}

/** Keeps every receipt printed. */
export class RecordingPrinter implements Printer {
  readonly receipts: (readonly string[])[] = [];
  readonly #onPrint: ((lines: readonly string[]) => void) | undefined;
  constructor(onPrint?: (lines: readonly string[]) => void) {
    this.#onPrint = onPrint;
  }
  print(lines: readonly string[]): void {
    this.receipts.push(lines);
    this.#onPrint?.(lines);
  }
}

export interface SimBindings extends TerminalBindings {
  readonly nfc: SimNfcReader;
  readonly qr: SimQrCamera;
  readonly pad: SimPinPad;
  readonly display: RecordingDisplay;
  readonly printer: RecordingPrinter;
}

export interface SimBindingsOptions {
  /** The gateway's public keys, as provisioned: the pad seals to the box key, cards are checked with the issuer key. */
  readonly gateway: Pick<GatewayPublicKeys, 'boxPublicKey' | 'issuerPublicKey'>;
  /** Where taps by card number get genuine cards (tests hold the gateway's issuer key). */
  readonly cards?: CardSource;
  readonly onShow?: (s: Screen) => void;
  readonly onPrint?: (lines: readonly string[]) => void;
  readonly clock?: Clock;
  /** Checks card signatures (tweetnacl by default, as on a terminal). */
  readonly verifier?: Verifier;
}

export function simBindings(o: SimBindingsOptions): SimBindings {
  const clock = o.clock ?? systemClock;
  const checker = new CardChecker({ issuerKeys: issuerKeysOf(o.gateway), clock, ...(o.verifier ? { verifier: o.verifier } : {}) });
  return {
    nfc: new SimNfcReader(checker, o.cards),
    qr: new SimQrCamera(),
    pad: new SimPinPad(o.gateway.boxPublicKey),
    display: new RecordingDisplay(o.onShow),
    printer: new RecordingPrinter(o.onPrint),
    clock,
  };
}
