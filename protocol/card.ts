import { PasserelleError } from './errors.ts';

/**
 * Card numbers (R1: printed on the back of the card, distinct from the dossier number) are 16 digits,
 * the last one a Luhn check digit, so a mistyped number is caught before it leaves the terminal.
 */

export const CARD_NUMBER_PATTERN = '^[0-9]{16}$';

export function luhnCheckDigit(payload: string): number {
  let sum = 0;
  for (let i = 0; i < payload.length; i++) {
    let d = payload.charCodeAt(payload.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

export function isValidCardNumber(value: string): boolean {
  if (!/^[0-9]{16}$/.test(value)) return false;
  return luhnCheckDigit(value.slice(0, 15)) === value.charCodeAt(15) - 48;
}

/** Build a valid card number from a 15-digit payload (demo data, simulators). */
export function cardNumberFrom(payload15: string): string {
  if (!/^[0-9]{15}$/.test(payload15)) throw new RangeError(`card payload must be 15 digits: ${payload15}`);
  return payload15 + String(luhnCheckDigit(payload15));
}

/** Card numbers never appear whole in logs: `8250********1234`. */
export function maskCardNumber(value: string): string {
  if (value.length < 8) return '*'.repeat(value.length);
  return value.slice(0, 4) + '*'.repeat(value.length - 8) + value.slice(-4);
}

/**
 * The QR code on the back of the card (and its copy in the mobile app) carries only the card number:
 * `PR1:C:<16 digits>`. It is not enough on its own: a QR sale always needs the secret code (R2, R3).
 */
export const CARD_QR_PREFIX = 'PR1:C:';

export interface CardQrPayload {
  readonly kind: 'card';
  readonly cardNumber: string;
}

export function encodeCardQr(cardNumber: string): string {
  if (!isValidCardNumber(cardNumber)) throw new RangeError('encodeCardQr: invalid card number');
  return CARD_QR_PREFIX + cardNumber;
}

export function parseQrPayload(text: string): CardQrPayload {
  if (text.length > 256) throw new PasserelleError('QR_PAYLOAD_INVALID', `QR payload too long (${text.length} chars)`);
  if (!text.startsWith(CARD_QR_PREFIX)) {
    throw new PasserelleError('QR_PAYLOAD_INVALID', "QR payload is not a Pass'Région credential");
  }
  const cardNumber = text.slice(CARD_QR_PREFIX.length);
  if (!isValidCardNumber(cardNumber)) {
    throw new PasserelleError('QR_PAYLOAD_INVALID', 'QR payload carries an invalid card number');
  }
  return { kind: 'card', cardNumber };
}

/** A card number as 8 bytes of packed BCD (two digits per byte, high nibble first), as cards store it. */
export function cardNumberToBcd(cardNumber: string): Buffer {
  if (!/^[0-9]{16}$/.test(cardNumber)) throw new RangeError('cardNumberToBcd: 16 digits expected');
  return Buffer.from(cardNumber, 'hex');
}

/**
 * The card number in 8 bytes of packed BCD, or null when a nibble is not a digit or the Luhn check
 * fails: callers turn null into their own error code (card response, QR payload).
 */
export function cardNumberFromBcd(bytes: Uint8Array): string | null {
  if (bytes.length !== 8) return null;
  const text = Buffer.from(bytes).toString('hex');
  return isValidCardNumber(text) ? text : null;
}
