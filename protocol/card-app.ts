import { createHash } from 'node:crypto';
import { cardNumberFromBcd, cardNumberToBcd, isValidCardNumber } from './card.ts';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, type Signer, type Verifier } from './crypto.ts';
import { PasserelleError } from './errors.ts';

/**
 * The Pass'Région card application (docs/card-application.md): what a contactless card answers, and how
 * a terminal checks that the card is genuine rather than a copied number or UID.
 *
 *  1. SELECT by AID           00 A4 04 00 08 <AID> 00         → FCI ‖ 90 00   (6A 82: not our card)
 *  2. GET DATA credential     80 CA DF 20 00                  → credential ‖ 90 00
 *  3. INTERNAL AUTHENTICATE   00 88 00 00 20 <challenge> 00   → Ed25519 signature (64) ‖ 90 00
 *
 * The credential is issued by the Region: its issuer key signs the card number, the card's own Ed25519
 * public key, the expiry date and the issuer key's index. The card keeps its private key and signs the
 * terminal's fresh random challenge with it, so replaying a recorded exchange or copying the credential
 * to another chip fails: only the chip holding the private key can answer a new challenge.
 *
 * Everything here is pure and strict: exact lengths, fixed tag order, no optional fields. A card that
 * says anything else is refused with a stable code, never half-understood.
 */

/** Proprietary AID (the RID category F is for unregistered applications): F0 ‖ "PREGION". */
export const PASS_REGION_AID: Buffer = Buffer.from('F050524547494F4E', 'hex');
/** The application version the FCI announces; a terminal refuses versions it does not speak. */
export const CARD_APP_VERSION = 1;
export const CHALLENGE_BYTES = 32;
/** Largest response data the terminal accepts from a card (short APDU: 256 bytes of data). */
export const MAX_RESPONSE_DATA = 256;

/** Domain tags: a signature made for one purpose can never be taken for another. */
const CREDENTIAL_DOMAIN = Buffer.from('PR1-CRED', 'ascii');
const CHALLENGE_DOMAIN = Buffer.from('PR1-CARDAUTH', 'ascii');

export const SW = {
  OK: 0x9000,
  FILE_NOT_FOUND: 0x6a82,
  WRONG_LENGTH: 0x6700,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  WRONG_P1P2: 0x6a86,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  DATA_NOT_FOUND: 0x6a88,
} as const;

export const APDU = {
  select: (): Buffer => Buffer.concat([Buffer.from([0x00, 0xa4, 0x04, 0x00, PASS_REGION_AID.length]), PASS_REGION_AID, Buffer.from([0x00])]),
  getCredential: (): Buffer => Buffer.from([0x80, 0xca, 0xdf, 0x20, 0x00]),
  internalAuthenticate: (challenge: Uint8Array): Buffer => {
    if (challenge.length !== CHALLENGE_BYTES) throw new RangeError(`challenge must be ${CHALLENGE_BYTES} bytes`);
    return Buffer.concat([Buffer.from([0x00, 0x88, 0x00, 0x00, CHALLENGE_BYTES]), challenge, Buffer.from([0x00])]);
  },
};

/** A response APDU split into data and status word. */
export interface Response {
  readonly data: Buffer;
  readonly sw: number;
}

/** Split a response APDU; fewer than 2 bytes or more than the short-APDU maximum is CARD_RESPONSE_INVALID. */
export function splitResponse(raw: Uint8Array): Response {
  if (raw.length < 2) throw invalid(`the card answered ${raw.length} byte(s), less than a status word`);
  if (raw.length > MAX_RESPONSE_DATA + 2) throw invalid(`the card answered ${raw.length} bytes, more than a short APDU allows`);
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  return { data: buf.subarray(0, buf.length - 2), sw: buf.readUInt16BE(buf.length - 2) };
}

export function withSw(data: Uint8Array, sw: number): Buffer {
  const out = Buffer.alloc(data.length + 2);
  out.set(data, 0);
  out.writeUInt16BE(sw, data.length);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// FCI: 6F L [84 08 <AID>] [A5 03 [9F08 01 <version>]]

export function encodeFci(version = CARD_APP_VERSION): Buffer {
  const prop = Buffer.from([0xa5, 0x04, 0x9f, 0x08, 0x01, version]);
  const body = Buffer.concat([Buffer.from([0x84, PASS_REGION_AID.length]), PASS_REGION_AID, prop]);
  return Buffer.concat([Buffer.from([0x6f, body.length]), body]);
}

/** Checks the FCI names our AID and a version we speak. */
export function parseFci(data: Buffer): { version: number } {
  const expected = encodeFci(CARD_APP_VERSION);
  if (data.length !== expected.length) throw invalid(`FCI of ${data.length} bytes, expected ${expected.length}`);
  if (!data.subarray(0, expected.length - 1).equals(expected.subarray(0, expected.length - 1))) throw invalid('FCI does not name the Pass\'Région application');
  const version = data[data.length - 1]!;
  if (version !== CARD_APP_VERSION) {
    throw new PasserelleError('CARD_NOT_PASS_REGION', `the card application is version ${version}; this terminal speaks ${CARD_APP_VERSION}`);
  }
  return { version };
}

// ---------------------------------------------------------------------------------------------------
// Credential: 70 7A [5A 08 PAN] [5F24 03 YYMMDD] [DF21 20 card key] [DF22 01 issuer key index] [DF23 40 sig]

export interface CredentialFields {
  readonly cardNumber: string;
  /** The last day the card is valid, `YYYY-MM-DD` (year 2000–2099). */
  readonly expiry: string;
  readonly cardPublicKey: Uint8Array;
  /** Which issuer key signed it (the Region can rotate its key; terminals hold the current ones). */
  readonly issuerKeyIndex: number;
}

export interface Credential extends CredentialFields {
  readonly signature: Uint8Array;
  /** The credential's bytes as the card returns them. */
  readonly encoded: Buffer;
}

const T_TEMPLATE = 0x70;
const T_PAN = Buffer.from([0x5a, 0x08]);
const T_EXPIRY = Buffer.from([0x5f, 0x24, 0x03]);
const T_CARD_KEY = Buffer.from([0xdf, 0x21, PUBLIC_KEY_BYTES]);
const T_ISSUER_INDEX = Buffer.from([0xdf, 0x22, 0x01]);
const T_SIGNATURE = Buffer.from([0xdf, 0x23, SIGNATURE_BYTES]);
/** Bytes covered by the issuer's signature: the template content up to (not including) the signature. */
const SIGNED_LENGTH = 2 + 8 + 3 + 3 + 3 + PUBLIC_KEY_BYTES + 3 + 1;
const CONTENT_LENGTH = SIGNED_LENGTH + 3 + SIGNATURE_BYTES;
export const CREDENTIAL_BYTES = 2 + CONTENT_LENGTH;

function expiryToBcd(expiry: string): Buffer {
  const m = /^20([0-9]{2})-([0-9]{2})-([0-9]{2})$/.exec(expiry);
  if (!m || !isCalendarDate(expiry)) throw new RangeError(`expiry must be a date YYYY-MM-DD in 2000–2099: ${expiry}`);
  return Buffer.from(`${m[1]}${m[2]}${m[3]}`, 'hex');
}

function expiryFromBcd(b: Buffer): string | null {
  const digits = b.toString('hex');
  if (!/^[0-9]{6}$/.test(digits)) return null;
  const date = `20${digits.slice(0, 2)}-${digits.slice(2, 4)}-${digits.slice(4, 6)}`;
  return isCalendarDate(date) ? date : null;
}

/** True for a real calendar date `YYYY-MM-DD` (not 2030-02-30). */
export function isCalendarDate(date: string): boolean {
  const t = Date.parse(`${date}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === date;
}

function signedPart(f: CredentialFields): Buffer {
  if (!isValidCardNumber(f.cardNumber)) throw new RangeError('credential: invalid card number');
  if (f.cardPublicKey.length !== PUBLIC_KEY_BYTES) throw new RangeError('credential: card key must be 32 bytes');
  if (!Number.isInteger(f.issuerKeyIndex) || f.issuerKeyIndex < 0 || f.issuerKeyIndex > 255) throw new RangeError('credential: issuer key index is a byte');
  return Buffer.concat([
    T_PAN,
    cardNumberToBcd(f.cardNumber),
    T_EXPIRY,
    expiryToBcd(f.expiry),
    T_CARD_KEY,
    f.cardPublicKey,
    T_ISSUER_INDEX,
    Buffer.from([f.issuerKeyIndex]),
  ]);
}

/** The issuer's side: sign a card's credential when the card is personalised (gateway issuer key). */
export function issueCredential(f: CredentialFields, issuer: Signer): Credential {
  const signed = signedPart(f);
  const signature = issuer.sign(Buffer.concat([CREDENTIAL_DOMAIN, signed]));
  const encoded = Buffer.concat([Buffer.from([T_TEMPLATE, CONTENT_LENGTH]), signed, T_SIGNATURE, signature]);
  return { ...f, cardPublicKey: Uint8Array.from(f.cardPublicKey), signature, encoded };
}

/** Parse a credential strictly (exact tags, lengths and order); anything else is CARD_RESPONSE_INVALID. */
export function parseCredential(data: Uint8Array): Credential {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length !== CREDENTIAL_BYTES) throw invalid(`credential of ${b.length} bytes, expected ${CREDENTIAL_BYTES}`);
  if (b[0] !== T_TEMPLATE || b[1] !== CONTENT_LENGTH) throw invalid('credential template tag or length is wrong');
  let at = 2;
  const field = (tag: Buffer, len: number, what: string): Buffer => {
    if (!b.subarray(at, at + tag.length).equals(tag)) throw invalid(`credential: expected the ${what} tag at byte ${at}`);
    at += tag.length;
    const v = b.subarray(at, at + len);
    at += len;
    return v;
  };
  const pan = field(T_PAN, 8, 'card number');
  const exp = field(T_EXPIRY, 3, 'expiry');
  const key = field(T_CARD_KEY, PUBLIC_KEY_BYTES, 'card key');
  const idx = field(T_ISSUER_INDEX, 1, 'issuer key index');
  const sig = field(T_SIGNATURE, SIGNATURE_BYTES, 'issuer signature');
  const cardNumber = cardNumberFromBcd(pan);
  if (cardNumber === null) throw invalid('credential: the card number is not 16 BCD digits with a valid check digit');
  const expiry = expiryFromBcd(exp);
  if (expiry === null) throw invalid('credential: the expiry is not a BCD date YYMMDD');
  return { cardNumber, expiry, cardPublicKey: Uint8Array.from(key), issuerKeyIndex: idx[0]!, signature: Uint8Array.from(sig), encoded: Buffer.from(b) };
}

/** Issuer public keys a terminal trusts, by index. */
export type IssuerKeys = ReadonlyMap<number, Uint8Array>;

/** Verify the issuer's signature; an unknown index or a bad signature is CARD_NOT_GENUINE. */
export function verifyCredential(c: Credential, issuerKeys: IssuerKeys, verifier: Verifier): void {
  const key = issuerKeys.get(c.issuerKeyIndex);
  if (!key) throw new PasserelleError('CARD_NOT_GENUINE', `the credential names issuer key ${c.issuerKeyIndex}, which this terminal does not hold`);
  const signed = c.encoded.subarray(2, 2 + SIGNED_LENGTH);
  if (!verifier.verify(Buffer.concat([CREDENTIAL_DOMAIN, signed]), c.signature, key)) {
    throw new PasserelleError('CARD_NOT_GENUINE', 'the credential is not signed by the Region issuer key');
  }
}

/** What the card signs in INTERNAL AUTHENTICATE. */
export function challengeMessage(challenge: Uint8Array): Buffer {
  return Buffer.concat([CHALLENGE_DOMAIN, challenge]);
}

/**
 * A sale as the card signs it (the transaction's "cryptogram", as an EMV card's): which transaction, at
 * which terminal, of which benefit, how much, when. `ref` is the terminal's transaction id for the sale;
 * a sale judged offline after its online request went unanswered keeps the proof of that request, so
 * `ref` is then the voided request's id (the gateway lets one offline sale of the same terminal take it
 * over, and only one).
 */
export interface CardSale {
  readonly ref: string;
  readonly terminalId: string;
  readonly benefit: string;
  readonly amount: number;
  readonly unit: string;
  /** The terminal's clock at the tap. */
  readonly at: number;
}

const SALE_DOMAIN = 'PR1-SALE';

/**
 * The 32-byte challenge that makes the card's INTERNAL AUTHENTICATE answer a signature of this sale: the
 * SHA-256 of the sale's fields behind their own domain tag. The card signs it as any challenge (the APDU
 * does not change), and whoever holds the card's public key can check, from the request alone, that this
 * card answered for this sale: the terminal at the counter, and the gateway from its own records.
 */
export function saleChallenge(s: CardSale): Buffer {
  const fields = [SALE_DOMAIN, s.ref, s.terminalId, s.benefit, String(s.amount), s.unit, String(s.at)];
  return createHash('sha256').update(fields.join('\0'), 'utf8').digest();
}

/** Whether `signature` is the card's answer to this sale's challenge, with the card's public key. */
export function verifySaleProof(s: CardSale, signature: Uint8Array, cardPublicKey: Uint8Array, verifier: Verifier): boolean {
  return signature.length === SIGNATURE_BYTES && verifier.verify(challengeMessage(saleChallenge(s)), signature, cardPublicKey);
}

/** The message to verify for a sale proof (for callers that verify asynchronously). */
export function saleProofMessage(s: CardSale): Buffer {
  return challengeMessage(saleChallenge(s));
}

/** Verify the card's answer to the challenge with the key its credential carries. */
export function verifyChallenge(c: Credential, challenge: Uint8Array, signature: Uint8Array, verifier: Verifier): void {
  if (signature.length !== SIGNATURE_BYTES) throw invalid(`the card's signature is ${signature.length} bytes, expected ${SIGNATURE_BYTES}`);
  if (!verifier.verify(challengeMessage(challenge), signature, c.cardPublicKey)) {
    throw new PasserelleError('CARD_NOT_GENUINE', "the card could not sign the challenge with its credential's key (copied card)");
  }
}

/** True when the card is past its last valid day (`today` as `YYYY-MM-DD`, Paris time). */
export function isExpired(c: CredentialFields, today: string): boolean {
  return today > c.expiry;
}

function invalid(message: string): PasserelleError {
  return new PasserelleError('CARD_RESPONSE_INVALID', message);
}
