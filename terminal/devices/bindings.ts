import type { Logger } from '../../common/log.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import type { GatewayPublicKeys } from '../../protocol/gateway-keys.ts';
import { issuerKeysOf } from '../../protocol/gateway-keys.ts';
import type { Verifier } from '../../protocol/crypto.ts';
import type { Clock, Display, NfcCard, NfcReader, PinPad, QrSource, TerminalBindings } from '../bindings.ts';
import { CardAppNfcReader, CardChecker } from '../card-reader.ts';
import type { DevicesConfig } from '../config.ts';
import type { Screen } from '../screens.ts';
import type { OpenedDevices } from './open.ts';

/**
 * The runtime's bindings on a real terminal (the terminal service): the devices openDevices found, and
 * stand-ins for those it could not open: a missing reader never yields (the other one still sells), a
 * missing pad refuses a code entry with its own failure (PAD_UNAVAILABLE), so a QR sale says why. The display is the screen
 * feed: the latest screen, kept for the cashier's page and the status endpoint, and every change logged.
 */

export class ScreenFeed implements Display {
  #last: Screen | undefined;
  readonly #listeners = new Set<(s: Screen) => void>();
  readonly #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  show(screen: Screen): void {
    this.#last = screen;
    this.#log?.debug({ screen: screen.lines, footer: screen.footer }, 'display');
    for (const l of this.#listeners) l(screen);
  }

  get last(): Screen | undefined {
    return this.#last;
  }

  /** Called on every screen shown from now on; returns the unsubscribe. */
  subscribe(listener: (s: Screen) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * A reader that is absent or could not be opened never yields a card or a code: the sale waits on the other
 * reader (a QR code when the contactless reader is missing), instead of flashing an error every read. Its
 * failure is in the start log, the status and the self-test.
 */
function untilAborted<T>(signal: AbortSignal): Promise<T> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
}
const missingNfc: NfcReader = { waitForCard: (signal) => untilAborted<NfcCard>(signal) };
const missingQr: QrSource = { waitForCode: (signal) => untilAborted<string>(signal) };
const missingPad = (why: PasserelleError | undefined): PinPad => ({
  requestSealedCode: () => Promise.reject(why ?? new PasserelleError('PAD_UNAVAILABLE', 'this terminal has no PIN pad (devices.pad is null)')),
});

export interface DeviceBindings extends TerminalBindings {
  readonly display: ScreenFeed;
}

export function deviceBindings(
  devices: OpenedDevices,
  config: DevicesConfig,
  o: { readonly gateway: Pick<GatewayPublicKeys, 'issuerPublicKey'>; readonly clock: Clock; readonly log?: Logger; readonly verifier?: Verifier },
): DeviceBindings {
  const checker = new CardChecker({ issuerKeys: issuerKeysOf(o.gateway), clock: o.clock, apduTimeoutMs: config.nfc.apduTimeoutMs, ...(o.verifier ? { verifier: o.verifier } : {}) });
  return {
    nfc: devices.contactless ? new CardAppNfcReader(devices.contactless, checker) : missingNfc,
    qr: devices.qr ?? missingQr,
    pad: devices.pad ?? missingPad(devices.failures.get('pad')),
    display: new ScreenFeed(o.log),
    clock: o.clock,
  };
}
