import { randomBytes } from 'node:crypto';
import { CARD_QR_PREFIX, cardNumberFromBcd, cardNumberToBcd, isValidCardNumber, maskCardNumber, parseQrPayload } from './card.ts';
import { defaultVerifier, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type Signer, type Verifier } from './crypto.ts';
import { PasserelleError } from './errors.ts';

/**
 * The one parser for every QR code the terminal accepts, and the minting of the app's QR code.
 *
 *  - The card's QR code, printed on its back, is static: `PR1:C:<16 digits>` (see `protocol/card.ts`).
 *  - The mobile app's QR code is signed by the Region's issuer key and short-lived:
 *    `PR1:A:` + base64url(body ‖ sig), 87 bytes, 116 characters after the prefix.
 *
 *    body (23 bytes)   offset  size
 *      version = 0x01       0     1
 *      card number          1     8   packed BCD, Luhn-checked
 *      issuedAt             9     4   u32 BE, seconds since the Unix epoch
 *      ttl                 13     2   u16 BE, seconds, 1..600
 *      nonce               15     8   random, so two codes minted in the same second differ
 *    sig (64 bytes)        23    64   Ed25519 over ASCII "PR1-APPQR" ‖ body
 *
 * Neither kind is enough on its own: a QR sale always needs the secret code typed on the PIN pad and
 * checked by the gateway, because a QR code can be photographed. The app's signature and short life
 * stop a forged card number and limit how long a screenshot is worth anything; they do not replace the code.
 *
 * Every refusal is a PasserelleError: QR_PAYLOAD_INVALID (not one of ours, or malformed), QR_NOT_GENUINE
 * (well formed but not signed by the issuer key) or QR_EXPIRED (genuine but outside its validity).
 */

export const QR_TEXT_MAX_CHARS = 256;
export const QR_PREFIX = 'PR1:';
export const APP_QR_PREFIX = 'PR1:A:';
export const APP_QR_VERSION = 0x01;
/** Signed before the body, so an app QR signature can never be taken for any other issuer signature. */
export const APP_QR_DOMAIN_TAG = 'PR1-APPQR';
export const APP_QR_NONCE_BYTES = 8;
export const APP_QR_BODY_BYTES = 1 + 8 + 4 + 2 + APP_QR_NONCE_BYTES;
export const APP_QR_TOKEN_BYTES = APP_QR_BODY_BYTES + SIGNATURE_BYTES;
/** 87 bytes are 29 groups of 3, so base64url has no padding and no spare bits: 116 characters exactly. */
export const APP_QR_TOKEN_CHARS = (APP_QR_TOKEN_BYTES / 3) * 4;
export const APP_QR_TTL_S_MIN = 1;
export const APP_QR_TTL_S_MAX = 600;
/** How far the terminal's clock may lag behind the app backend's before a fresh code looks "not yet valid". */
export const APP_QR_SKEW_MS_DEFAULT = 30_000;
const APP_QR_SKEW_MS_MAX = 10 * 60_000;
const U32_MAX = 0xffff_ffff;

const DOMAIN_TAG_BYTES = Buffer.from(APP_QR_DOMAIN_TAG, 'ascii');
const BASE64URL_TOKEN = new RegExp(`^[A-Za-z0-9_-]{${APP_QR_TOKEN_CHARS}}$`);

export interface CardQrCredential {
  readonly kind: 'card';
  readonly cardNumber: string;
}

export interface AppQrCredential {
  readonly kind: 'app';
  readonly cardNumber: string;
  /** Whole seconds, as signed, in ms since the epoch. */
  readonly issuedAtMs: number;
  readonly ttlS: number;
  /** Last instant of validity, ms since the epoch (issuedAt + ttl). */
  readonly expiresAtMs: number;
  /** 16 hex digits: with the card number, what a gateway could use to refuse a code used twice. */
  readonly nonceHex: string;
}

export type QrCredential = CardQrCredential | AppQrCredential;

export interface MintAppQrOptions {
  readonly cardNumber: string;
  /** The Region's issuer key (the app backend holds it, never the app or a terminal). */
  readonly issuer: Signer;
  readonly issuedAtMs: number;
  readonly ttlS: number;
  /** 8 bytes; random when omitted. Tests pass one to get the same bytes twice. */
  readonly nonce?: Uint8Array;
}

export interface ParseQrOptions {
  /** The Region's issuer public key, 32 bytes, received at provisioning. */
  readonly issuerPublicKey: Uint8Array;
  /** The terminal's wall-clock time, ms since the epoch. */
  readonly nowMs: number;
  /** node:crypto (defaultVerifier) unless given, as every check on the terminal. */
  readonly verifier?: Verifier;
  /** Allowed lag of the terminal's clock, 0..600000 ms; default 30 s. */
  readonly skewMs?: number;
}

/**
 * Makes the app's QR text for a card. The app backend (and the simulators) call this; a terminal never
 * does. Throws RangeError on bad arguments, which are programmer errors on that side.
 */
export function mintAppQr(opts: MintAppQrOptions): string {
  if (!isValidCardNumber(opts.cardNumber)) throw new RangeError('mintAppQr: invalid card number');
  const issuedAtS = Math.floor(opts.issuedAtMs / 1000);
  if (!Number.isFinite(opts.issuedAtMs) || issuedAtS < 0 || issuedAtS > U32_MAX) {
    throw new RangeError(`mintAppQr: issuedAtMs ${opts.issuedAtMs} is outside the u32 seconds range`);
  }
  if (!Number.isInteger(opts.ttlS) || opts.ttlS < APP_QR_TTL_S_MIN || opts.ttlS > APP_QR_TTL_S_MAX) {
    throw new RangeError(`mintAppQr: ttlS must be an integer in ${APP_QR_TTL_S_MIN}..${APP_QR_TTL_S_MAX}, got ${opts.ttlS}`);
  }
  const nonce = opts.nonce ?? randomBytes(APP_QR_NONCE_BYTES);
  if (nonce.length !== APP_QR_NONCE_BYTES) throw new RangeError(`mintAppQr: the nonce must be ${APP_QR_NONCE_BYTES} bytes`);

  const body = Buffer.alloc(APP_QR_BODY_BYTES);
  body[0] = APP_QR_VERSION;
  cardNumberToBcd(opts.cardNumber).copy(body, 1);
  body.writeUInt32BE(issuedAtS, 9);
  body.writeUInt16BE(opts.ttlS, 13);
  body.set(nonce, 15);
  const sig = opts.issuer.sign(signedBytes(body));
  if (sig.length !== SIGNATURE_BYTES) throw new RangeError('mintAppQr: the signer did not return a 64-byte signature');
  return APP_QR_PREFIX + Buffer.concat([body, sig]).toString('base64url');
}

/**
 * Reads any QR text the terminal accepts and returns the credential it carries, or throws
 * QR_PAYLOAD_INVALID, QR_NOT_GENUINE or QR_EXPIRED. Never throws anything else for any string.
 */
export function parseQrCredential(text: string, opts: ParseQrOptions): QrCredential {
  if (typeof text !== 'string') throw invalid('The QR code is not text.', 'not-text');
  if (text.length > QR_TEXT_MAX_CHARS) throw invalid(`The QR text is ${text.length} characters long; at most ${QR_TEXT_MAX_CHARS} are read.`, 'too-long');
  if (text.startsWith(CARD_QR_PREFIX)) return parseCardQr(text);
  if (text.startsWith(APP_QR_PREFIX)) return parseAppQr(text.slice(APP_QR_PREFIX.length), opts);
  if (text.startsWith(QR_PREFIX)) throw invalid("The QR code is a Pass'Région code of an unknown kind.", 'unknown-kind');
  throw invalid("The QR code is not a Pass'Région code.", 'unknown-prefix');
}

function parseCardQr(text: string): CardQrCredential {
  try {
    return parseQrPayload(text);
  } catch (e) {
    // card.ts raises QR_PAYLOAD_INVALID only; the reason is added so both kinds report the same way.
    const message = e instanceof Error ? e.message : 'The card QR code is invalid.';
    throw invalid(message, 'card-number', e);
  }
}

function parseAppQr(token: string, opts: ParseQrOptions): AppQrCredential {
  const bytes = decodeToken(token);
  const body = bytes.subarray(0, APP_QR_BODY_BYTES);
  const sig = bytes.subarray(APP_QR_BODY_BYTES);
  const fields = readBody(body);
  checkSignature(body, sig, opts);
  checkTime(fields, opts);
  return fields;
}

function decodeToken(token: string): Buffer {
  if (token.length !== APP_QR_TOKEN_CHARS) {
    throw invalid(`The app QR token is ${token.length} characters long; ${APP_QR_TOKEN_CHARS} are expected.`, 'token-length');
  }
  if (!BASE64URL_TOKEN.test(token)) throw invalid('The app QR token is not base64url.', 'token-alphabet');
  const bytes = Buffer.from(token, 'base64url');
  // With no spare bits in 116 characters this always holds; it stays as the guard of "exact base64url".
  if (bytes.length !== APP_QR_TOKEN_BYTES || bytes.toString('base64url') !== token) {
    throw invalid('The app QR token is not canonical base64url of 87 bytes.', 'token-length');
  }
  return bytes;
}

function readBody(body: Buffer): AppQrCredential {
  const version = body[0];
  if (version !== APP_QR_VERSION) throw invalid(`The app QR code has version ${version}; this terminal reads version 1.`, 'version');
  const cardNumber = cardNumberFromBcd(body.subarray(1, 9));
  if (cardNumber === null) throw invalid('The app QR code carries an invalid card number.', 'card-number');
  const ttlS = body.readUInt16BE(13);
  if (ttlS < APP_QR_TTL_S_MIN || ttlS > APP_QR_TTL_S_MAX) {
    throw invalid(`The app QR code has a validity of ${ttlS} s; it must be ${APP_QR_TTL_S_MIN}..${APP_QR_TTL_S_MAX} s.`, 'ttl');
  }
  const issuedAtMs = body.readUInt32BE(9) * 1000;
  return {
    kind: 'app',
    cardNumber,
    issuedAtMs,
    ttlS,
    expiresAtMs: issuedAtMs + ttlS * 1000,
    nonceHex: body.toString('hex', 15, 15 + APP_QR_NONCE_BYTES),
  };
}

function checkSignature(body: Buffer, sig: Buffer, opts: ParseQrOptions): void {
  // A wrong key length is a provisioning mistake on this terminal, not a property of the code shown.
  if (opts.issuerPublicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError('parseQrCredential: the issuer public key must be 32 bytes');
  const verifier = opts.verifier ?? defaultVerifier();
  if (!verifier.verify(signedBytes(body), sig, opts.issuerPublicKey)) {
    throw new PasserelleError('QR_NOT_GENUINE', "The app QR code is not signed by the Region's issuer key.", { reason: 'signature' });
  }
}

function checkTime(cred: AppQrCredential, opts: ParseQrOptions): void {
  const skewMs = opts.skewMs ?? APP_QR_SKEW_MS_DEFAULT;
  if (!Number.isInteger(skewMs) || skewMs < 0 || skewMs > APP_QR_SKEW_MS_MAX) {
    throw new RangeError(`parseQrCredential: skewMs must be an integer in 0..${APP_QR_SKEW_MS_MAX}`);
  }
  const details = { issuedAtMs: cred.issuedAtMs, expiresAtMs: cred.expiresAtMs, nowMs: opts.nowMs, card: maskCardNumber(cred.cardNumber) };
  if (opts.nowMs < cred.issuedAtMs - skewMs) {
    throw new PasserelleError('QR_EXPIRED', 'The app QR code is dated in the future: check the terminal clock.', { reason: 'not-yet-valid', ...details });
  }
  if (opts.nowMs > cred.expiresAtMs) {
    throw new PasserelleError('QR_EXPIRED', 'The app QR code has expired: refresh it in the app.', { reason: 'expired', ...details });
  }
}

function signedBytes(body: Uint8Array): Buffer {
  return Buffer.concat([DOMAIN_TAG_BYTES, body]);
}

function invalid(message: string, reason: string, cause?: unknown): PasserelleError {
  return new PasserelleError('QR_PAYLOAD_INVALID', message, { reason }, cause === undefined ? undefined : { cause });
}
