import { randomBytes } from 'node:crypto';
import {
  CHALLENGE_BYTES,
  challengeMessage,
  encodeFci,
  issueCredential,
  parseCredential,
  PASS_REGION_AID,
  SW,
  withSw,
  type Credential,
} from '../protocol/card-app.ts';
import { nodeSigner, type Signer } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';

/**
 * A Pass'Région card emulated in Node: it implements the card application (protocol/card-app.ts) at the
 * APDU level, so the terminal runs the same code against it as against a real card, whether the APDUs
 * come through the simulated reader or through the real pcscd and vsmartcard-vpcd.
 *
 * Variants for tests: a genuine card, a clone (the credential copied onto a chip that lacks the private
 * key), a foreign card (no Pass'Région application), an expired card.
 */

export interface ApduCard {
  readonly uid: string;
  handle(apdu: Buffer): Buffer;
}

export interface PersonaliseOptions {
  readonly cardNumber: string;
  /** Last valid day, `YYYY-MM-DD`. */
  readonly expiry: string;
  readonly issuer: Signer;
  readonly issuerKeyIndex?: number;
  /** The chip's private seed (random by default). */
  readonly cardSeed?: Uint8Array;
  readonly uid?: string;
}

/** The issuer's personalisation bureau in one call: a fresh chip key, a signed credential. */
export function personaliseCard(o: PersonaliseOptions): SimPassCard {
  const chip = nodeSigner(o.cardSeed ?? randomBytes(32));
  const credential = issueCredential(
    { cardNumber: o.cardNumber, expiry: o.expiry, cardPublicKey: chip.publicKey, issuerKeyIndex: o.issuerKeyIndex ?? 1 },
    o.issuer,
  );
  return new SimPassCard(credential, chip, o.uid);
}

/**
 * A card personalised the way a real one is: the chip made its key pair (`chipSeed`), the gateway signed
 * the credential for its public half (`POST /api/v1/cards/{card}/credential`), and the credential is
 * written on the chip. No issuer key is needed here; a credential naming another chip's key is refused.
 */
export function cardFromCredential(encoded: Uint8Array, chipSeed: Uint8Array, uid?: string): SimPassCard {
  const credential = parseCredential(encoded);
  const chip = nodeSigner(chipSeed);
  if (!Buffer.from(credential.cardPublicKey).equals(Buffer.from(chip.publicKey))) {
    throw new PasserelleError('DATA_INVALID', "the credential names another chip key than this chip's: it cannot be written on it");
  }
  return new SimPassCard(credential, chip, uid);
}

export class SimPassCard implements ApduCard {
  readonly uid: string;
  readonly credential: Credential;
  readonly #chip: Signer;
  #selected = false;
  /** Every command APDU received, for assertions on what crossed the field. */
  readonly received: Buffer[] = [];

  constructor(credential: Credential, chip: Signer, uid?: string) {
    this.credential = credential;
    this.#chip = chip;
    this.uid = uid ?? randomBytes(7).toString('hex');
  }

  get cardNumber(): string {
    return this.credential.cardNumber;
  }

  /** The same credential on another chip, which holds a different private key: what a copier makes. */
  clone(): SimPassCard {
    return new SimPassCard(this.credential, nodeSigner(randomBytes(32)), this.uid);
  }

  handle(apdu: Buffer): Buffer {
    this.received.push(Buffer.from(apdu));
    if (apdu.length < 4) return withSw(Buffer.alloc(0), SW.WRONG_LENGTH);
    const [cla, ins, p1, p2] = [apdu[0]!, apdu[1]!, apdu[2]!, apdu[3]!];
    if (cla === 0x00 && ins === 0xa4) return this.#select(apdu, p1, p2);
    if (cla === 0x80 && ins === 0xca) return this.#getData(apdu, p1, p2);
    if (cla === 0x00 && ins === 0x88) return this.#authenticate(apdu, p1, p2);
    if (cla !== 0x00 && cla !== 0x80) return withSw(Buffer.alloc(0), SW.CLA_NOT_SUPPORTED);
    return withSw(Buffer.alloc(0), SW.INS_NOT_SUPPORTED);
  }

  #select(apdu: Buffer, p1: number, p2: number): Buffer {
    this.#selected = false;
    if (p1 !== 0x04 || p2 !== 0x00) return sw(SW.WRONG_P1P2);
    const data = commandData(apdu);
    if (!data) return sw(SW.WRONG_LENGTH);
    if (!data.equals(PASS_REGION_AID)) return sw(SW.FILE_NOT_FOUND);
    this.#selected = true;
    return withSw(encodeFci(), SW.OK);
  }

  #getData(apdu: Buffer, p1: number, p2: number): Buffer {
    if (!this.#selected) return sw(SW.CONDITIONS_NOT_SATISFIED);
    if (p1 !== 0xdf || p2 !== 0x20) return sw(SW.DATA_NOT_FOUND);
    if (apdu.length !== 5) return sw(SW.WRONG_LENGTH);
    return withSw(this.credential.encoded, SW.OK);
  }

  #authenticate(apdu: Buffer, p1: number, p2: number): Buffer {
    if (!this.#selected) return sw(SW.CONDITIONS_NOT_SATISFIED);
    if (p1 !== 0x00 || p2 !== 0x00) return sw(SW.WRONG_P1P2);
    const challenge = commandData(apdu);
    if (!challenge || challenge.length !== CHALLENGE_BYTES) return sw(SW.WRONG_LENGTH);
    return withSw(this.#chip.sign(challengeMessage(challenge)), SW.OK);
  }
}

/** A contactless card without our application: a transport card, a bank card. */
export class ForeignCard implements ApduCard {
  readonly uid = randomBytes(4).toString('hex');
  /** Whatever is asked, it has no Pass'Région application. */
  handle(_apdu: Buffer): Buffer {
    return sw(SW.FILE_NOT_FOUND);
  }
}

function sw(code: number): Buffer {
  return withSw(Buffer.alloc(0), code);
}

/** The data of a short case-3/case-4 command APDU (Lc then data, then an optional Le), or null if malformed. */
function commandData(apdu: Buffer): Buffer | null {
  if (apdu.length < 6) return null;
  const lc = apdu[4]!;
  if (lc === 0) return null;
  const rest = apdu.length - 5 - lc;
  if (rest !== 0 && rest !== 1) return null;
  return apdu.subarray(5, 5 + lc);
}
