import { AsyncQueue } from '../common/async-queue.ts';
import type { Code } from '../protocol/codes.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { sealPin } from '../protocol/pin.ts';
import type { Clock, Display, NfcCard, NfcReader, PinPad, Printer, QrSource, TerminalBindings } from './bindings.ts';
import { systemClock } from './bindings.ts';
import { decodeQrFrame } from './qr-decode.ts';
import type { Screen } from './screens.ts';

/**
 * Simulated devices: scriptable (a test or a simulated card holder pushes behaviours in) and recording
 * (what crossed each device is kept for assertions). They implement the same bindings as real drivers.
 */

export type NfcBehaviour = { readonly card: NfcCard } | { readonly fail: Code };

export class SimNfcReader implements NfcReader {
  readonly #taps = new AsyncQueue<NfcBehaviour>();
  readonly reads: NfcCard[] = [];

  /** A card is held against the reader. */
  tap(card: NfcCard): void {
    this.#taps.push({ card });
  }

  /** A card the reader cannot read (moved away too soon, damaged antenna). */
  tapUnreadable(): void {
    this.#taps.push({ fail: 'CARD_READ_FAILED' });
  }

  async waitForCard(signal: AbortSignal): Promise<NfcCard> {
    const b = await this.#taps.take(signal);
    if ('fail' in b) throw new PasserelleError(b.fail, 'the card could not be read');
    this.reads.push(b.card);
    return b.card;
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

export function simBindings(gatewayBoxPublicKey: Uint8Array, onShow?: (s: Screen) => void, onPrint?: (lines: readonly string[]) => void, clock: Clock = systemClock): SimBindings {
  return {
    nfc: new SimNfcReader(),
    qr: new SimQrCamera(),
    pad: new SimPinPad(gatewayBoxPublicKey),
    display: new RecordingDisplay(onShow),
    printer: new RecordingPrinter(onPrint),
    clock,
  };
}
