import { encodeCardQr } from '../protocol/card.ts';
import type { SimBindings } from './sim-bindings.ts';

/** The simulated devices a youth uses: the reader, the camera, the pad (whatever the display). */
type Devices = Pick<SimBindings, 'nfc' | 'qr' | 'pad'>;
import { renderQrFrame, type QrFrameOptions } from './qr-render.ts';

/**
 * A simulated youth with a Pass'Région card: taps it on the NFC reader, shows its QR code to the camera
 * (rendered into a camera-like PNG frame, decoded by the terminal with @zxing/library), types a code on
 * the pad.
 */
export class CardHolder {
  constructor(
    readonly name: string,
    readonly cardNumber: string,
    /** The code this youth set; null if none. What they type can differ (a wrong code). */
    readonly pin: string | null,
  ) {}

  tapCard(t: Devices): void {
    t.nfc.tap({ cardNumber: this.cardNumber });
  }

  showQr(t: Devices, frame: QrFrameOptions = {}): void {
    t.qr.show(renderQrFrame(encodeCardQr(this.cardNumber), frame));
  }

  /** The mobile app's QR code (signed, short-lived: `payload` as the app backend minted it), rendered on a phone screen. */
  showAppQr(t: Devices, payload: string, frame: QrFrameOptions = {}): void {
    t.qr.show(renderQrFrame(payload, { moduleSizePx: 6, ...frame }));
  }

  typeCode(t: Devices, code: string | null = this.pin): void {
    if (code === null) t.pad.cancel();
    else t.pad.type(code);
  }
}
