import { randomBytes } from 'node:crypto';
import { regionDate } from '../common/paris-time.ts';
import {
  APDU,
  CHALLENGE_BYTES,
  isExpired,
  parseCredential,
  saleChallenge,
  parseFci,
  splitResponse,
  SW,
  verifyChallenge,
  verifyCredential,
  type CardSale,
  type Credential,
  type IssuerKeys,
  type Response,
} from '../protocol/card-app.ts';
import { defaultVerifier, type Verifier } from '../protocol/crypto.ts';
import { isPasserelleError, PasserelleError } from '../protocol/errors.ts';
import type { Clock, NfcCard, NfcReader, SaleToSign } from './bindings.ts';
import type { CardSession, ContactlessReader } from './devices/contactless.ts';

/**
 * The terminal's side of the card application: SELECT, read the credential, check the issuer's signature
 * and the expiry, send a fresh random challenge and check the card's signature with the key the
 * credential names. Only then is the card number trusted. Works over any ContactlessReader (nfc-pcsc or
 * the simulation).
 */

export interface CardCheckOptions {
  readonly issuerKeys: IssuerKeys;
  readonly clock: Pick<Clock, 'now'>;
  /**
   * node:crypto by default, as every check on the terminal: a tap costs two Ed25519 checks (the issuer's,
   * once per card, and the card's answer, every time), about 4 ms each in tweetnacl against 0.07 ms in
   * OpenSSL, and they sit in front of every NFC sale.
   */
  readonly verifier?: Verifier;
  /** Per APDU; a contactless exchange is a few ms, so anything slower means the card is leaving. */
  readonly apduTimeoutMs?: number;
  readonly random?: (n: number) => Uint8Array;
}

export const DEFAULT_APDU_TIMEOUT_MS = 500;
/** Credentials already verified (keyed by their bytes): a regular's card costs one signature check, not two. */
const VERIFIED_CACHE_MAX = 2048;

export class CardChecker {
  readonly #o: CardCheckOptions;
  readonly #verifier: Verifier;
  readonly #verified = new Set<string>();

  constructor(o: CardCheckOptions) {
    this.#o = o;
    this.#verifier = o.verifier ?? defaultVerifier();
  }

  /**
   * Run the application on a card in the field; resolves with the authenticated card. With `sale`, the
   * challenge is the sale's (protocol/card-app.ts `saleChallenge`): the card's answer is then also its
   * signature of that sale, returned as `proof` for the gateway to check again.
   */
  async check(session: CardSession, sale?: SaleToSign): Promise<NfcCard> {
    const timeoutMs = this.#o.apduTimeoutMs ?? DEFAULT_APDU_TIMEOUT_MS;
    const select = await exchange(session, APDU.select(), timeoutMs);
    if (select.sw === SW.FILE_NOT_FOUND) throw new PasserelleError('CARD_NOT_PASS_REGION', "the card has no Pass'Région application");
    expectOk(select, 'SELECT');
    parseFci(select.data);
    const credResponse = await exchange(session, APDU.getCredential(), timeoutMs);
    expectOk(credResponse, 'GET DATA');
    const credential = parseCredential(credResponse.data);
    this.#verifyIssuer(credential);
    if (isExpired(credential, regionDate(this.#o.clock.now()))) {
      throw new PasserelleError('CARD_EXPIRED', `the card expired on ${credential.expiry}`, { expiry: credential.expiry });
    }
    const signed: CardSale | undefined = sale && { ...sale, at: this.#o.clock.now() };
    const challenge = signed ? saleChallenge(signed) : (this.#o.random ?? randomBytes)(CHALLENGE_BYTES);
    const auth = await exchange(session, APDU.internalAuthenticate(challenge), timeoutMs);
    expectOk(auth, 'INTERNAL AUTHENTICATE');
    verifyChallenge(credential, challenge, auth.data, this.#verifier);
    const card = { cardNumber: credential.cardNumber, expiry: credential.expiry, uid: session.uid, reader: session.reader, cardPublicKey: credential.cardPublicKey };
    return signed ? { ...card, proof: { ref: signed.ref, at: signed.at, sig: Buffer.from(auth.data).toString('base64url') } } : card;
  }

  #verifyIssuer(c: Credential): void {
    const key = c.encoded.toString('base64');
    if (this.#verified.has(key)) return;
    verifyCredential(c, this.#o.issuerKeys, this.#verifier);
    if (this.#verified.size >= VERIFIED_CACHE_MAX) this.#verified.clear();
    this.#verified.add(key);
  }
}

async function exchange(session: CardSession, apdu: Buffer, timeoutMs: number): Promise<Response> {
  return splitResponse(await session.transmit(apdu, timeoutMs));
}

function expectOk(r: Response, command: string): void {
  if (r.sw !== SW.OK) {
    throw new PasserelleError('CARD_RESPONSE_INVALID', `the card refused ${command} with status ${r.sw.toString(16).toUpperCase().padStart(4, '0')}`, {
      sw: r.sw,
    });
  }
}

/**
 * The NfcReader binding the runtime uses: waits for a card on the contactless reader and runs the card
 * application on it. A card that fails (removed, not genuine, not ours) rejects with its code, so the
 * runtime shows why and reads again; the next waitForCard needs the card to be presented again.
 */
export class CardAppNfcReader implements NfcReader {
  readonly #reader: ContactlessReader;
  readonly #checker: CardChecker;

  constructor(reader: ContactlessReader, checker: CardChecker) {
    this.#reader = reader;
    this.#checker = checker;
  }

  get contactless(): ContactlessReader {
    return this.#reader;
  }

  async waitForCard(signal: AbortSignal, sale?: SaleToSign): Promise<NfcCard> {
    const session = await this.#reader.waitForCard(signal);
    try {
      return await this.#checker.check(session, sale);
    } catch (e) {
      // A card pulled away mid-exchange can surface as a timeout or a transport error: name it for what it is.
      if (session.gone.aborted && !isPasserelleError(e, 'CARD_NOT_GENUINE')) {
        throw new PasserelleError('CARD_REMOVED', 'the card left the field during the exchange', {}, { cause: e });
      }
      throw e;
    }
  }
}
