import { regionDate } from '../common/paris-time.ts';
import { maskCardNumber } from '../protocol/card.ts';
import { isCalendarDate, issueCredential, type Credential } from '../protocol/card-app.ts';
import { b64url, type Signer } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { ISSUER_KEY_INDEX } from '../protocol/gateway-keys.ts';
import type { Ledger } from './ledger/ledger.ts';

/**
 * Card personalisation (docs/card-application.md): the card bureau generated a key pair on the chip and
 * sends its public half; the gateway signs the credential with the Region's issuer key and records the
 * chip's public key, with which it checks the card's signature of every NFC sale from then on. The
 * private key never leaves the chip, so neither the gateway nor a copy of its database can make a clone.
 *
 * One chip per card number: a card that already has a different key is refused (CARD_ALREADY_PERSONALISED)
 * unless `replace` says so, and the replacement is in the audit log (its old chip no longer pays).
 */

export interface Personalisation {
  readonly cardNumber: string;
  readonly cardPublicKey: Uint8Array;
  /** The card's last valid day, `YYYY-MM-DD`. */
  readonly expiry: string;
  readonly replace?: boolean;
  /** Who asks, as the audit log names callers. */
  readonly actor: string;
}

export async function personaliseChip(ledger: Ledger, issuer: Signer, p: Personalisation, now: number): Promise<Credential> {
  const card = await ledger.card(p.cardNumber);
  const masked = maskCardNumber(p.cardNumber);
  if (!card) throw new PasserelleError('NOT_FOUND', `no card ${masked}`);
  if (card.status !== 'active') throw new PasserelleError('CARD_NOT_ACTIVE', `card ${masked} is opposed; personalise its replacement`);
  if (!isCalendarDate(p.expiry) || p.expiry < regionDate(now) || p.expiry > '2099-12-31') {
    throw new PasserelleError('DATA_INVALID', `expiry ${p.expiry} must be a real date from today to 2099-12-31`);
  }
  const credential = issueCredential({ cardNumber: card.number, expiry: p.expiry, cardPublicKey: p.cardPublicKey, issuerKeyIndex: ISSUER_KEY_INDEX }, issuer);
  const key = b64url(p.cardPublicKey);
  await ledger.atomically(async () => {
    const existing = await ledger.cardKey(card.number);
    const same = existing !== undefined && b64url(existing.publicKey) === key;
    if (existing && !same && !p.replace) {
      throw new PasserelleError('CARD_ALREADY_PERSONALISED', `card ${masked} already has another chip; replacing it needs replace: true`);
    }
    await ledger.setCardKey(card.number, p.cardPublicKey, p.expiry, now);
    const action = existing && !same ? 'card.key-replaced' : 'card.key-recorded';
    await ledger.addAudit({ at: now, actor: p.actor, action, subject: masked, details: { publicKey: key, expiry: p.expiry, ...(existing && !same ? { oldPublicKey: b64url(existing.publicKey) } : {}) } });
  });
  return credential;
}

/**
 * For simulators and benchmarks that run a gateway in the same process: the simulated card bureau
 * reports each chip it makes straight to the ledger, as the personalisation route would, without its
 * checks (a test taps opposed cards too). Cards the ledger does not know are left out.
 */
export function simulatedBureauRegistry(ledger: Ledger): (cardNumber: string, publicKey: Uint8Array, expiry: string) => void {
  // The bureau hands its card out at once and its key is recorded just after (before the card's first
  // tap in practice: a tap is a person's gesture). A failure is logged, never left unhandled.
  const record = async (cardNumber: string, publicKey: Uint8Array, expiry: string) => {
    if (await ledger.card(cardNumber)) await ledger.setCardKey(cardNumber, publicKey, expiry, Date.now());
  };
  return (cardNumber, publicKey, expiry) => void record(cardNumber, publicKey, expiry).catch((err: unknown) => process.stderr.write(`card ${cardNumber}: chip key not recorded: ${String(err)}\n`));
}
