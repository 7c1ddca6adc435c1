import { partnerMayDebit, type PartnerType } from '../protocol/benefits.ts';
import type { DeclineCode } from '../protocol/codes.ts';
import type { DebitRequestBody } from '../protocol/messages.ts';

/**
 * The Pass'Région debit rules, as a pure function of a snapshot of the ledger. The ledger loads the
 * snapshot and applies the decision inside one transaction; nothing here reads or writes anything.
 *
 * Order matters: a deactivated terminal or a blocked card is refused before anything about the benefit
 * or the code is looked at, so a refusal never reveals more than it must; the code is checked before the
 * wallet, so a wrong code learns nothing about the balance.
 */

/**
 * R3, as the gateway applies it (docs/rules.md). Three wrong codes must stop a guesser, but a rogue
 * terminal must not be able to lock a youth out by sending wrong codes for her card. So wrong codes are
 * counted per partner and per Paris day, since the last right code:
 *  - three at one partner in a day: that partner can try no more that day (PIN_TRIES_EXCEEDED);
 *  - six in a day, wherever: no QR sale anywhere until the next day;
 *  - nine from at least three partners, or thirty in all: the code is locked until the Region unlocks
 *    it or the youth sets a new one (PIN_LOCKED).
 * One partner's terminals (a stolen key, a rogue shop) can never make the day limit nor the lock alone,
 * short of thirty days of it; a guesser gets at most three tries a shop, six a day, thirty in all.
 */
/**
 * R12: the most youths one group sale (and one approved list) holds: a whole school year's outing. One limit
 * for the API's schema and the ledger, so a request the schema lets through is never refused for its size.
 */
export const MAX_GROUP_SIZE = 200;

export const PIN_TRIES = { perPartnerDay: 3, perDay: 6, lockAfter: 9, lockFromPartners: 3, lockAlways: 30 } as const;

/** Wrong codes since the last right one: in all, from how many partners, today, and today at this partner. */
export interface PinTries {
  readonly total: number;
  readonly partners: number;
  readonly today: number;
  readonly todayHere: number;
}

export type PinGate = 'open' | 'tries-exceeded' | 'locked';

export function pinGate(t: PinTries): PinGate {
  if (t.total >= PIN_TRIES.lockAlways || (t.total >= PIN_TRIES.lockAfter && t.partners >= PIN_TRIES.lockFromPartners)) return 'locked';
  if (t.todayHere >= PIN_TRIES.perPartnerDay || t.today >= PIN_TRIES.perDay) return 'tries-exceeded';
  return 'open';
}

/**
 * The outcome of checking the sealed secret code before the batch (QR sales only). `locked` and
 * `tries-exceeded`: the code could not be tried here and now, so no slow hash was spent on it (a blocked
 * code must not stay a free guessing oracle).
 */
export type PinCheck = 'not-needed' | 'ok' | 'incorrect' | 'not-set' | 'locked' | 'tries-exceeded';

/**
 * The card's signature of an NFC sale, checked before the batch with the key recorded at personalisation:
 * `failed` when there is no key for the card or the signature does not verify (no card was there).
 */
export type CardProofCheck = 'not-needed' | 'ok' | 'failed';

/** Why no wallet can pay, when none can. */
export type WalletProblem = 'none' | 'suspended' | 'not-yet-valid' | 'expired';

export interface Snapshot {
  readonly terminalActive: boolean;
  readonly partnerType: PartnerType;
  /** R10: the partner's convention covers the sale date. */
  readonly conventionValid: boolean;
  /** Absent when no card has this number. */
  readonly card?: { readonly status: 'active' | 'opposed'; readonly pinGate: PinGate };
  /** The wallet that pays: usable (in its window, not suspended); absent when none is. */
  readonly wallet?: { readonly balance: number; readonly access: boolean };
  /** Why no wallet is usable, when `wallet` is absent. */
  readonly walletProblem?: WalletProblem;
  readonly pin: PinCheck;
  /** NFC: the card proved it was there for this sale; QR sales carry the sealed code instead. */
  readonly cardProof: CardProofCheck;
}

export type Decision =
  | { readonly status: 'approved'; readonly taken: number; readonly remainingToPay: number; readonly balanceAfter?: number }
  | { readonly status: 'declined'; readonly code: DeclineCode; readonly balanceAfter?: number };

const WALLET_DECLINES: Record<WalletProblem, DeclineCode> = {
  none: 'NO_SUCH_BENEFIT',
  suspended: 'BENEFIT_SUSPENDED',
  'not-yet-valid': 'BENEFIT_NOT_YET_VALID',
  expired: 'BENEFIT_EXPIRED',
};

export function decide(req: Pick<DebitRequestBody, 'benefit' | 'amount'>, s: Snapshot): Decision {
  if (!s.terminalActive) return { status: 'declined', code: 'TERMINAL_INACTIVE' };
  // No card signature, no NFC debit: before anything about the card is revealed.
  if (s.cardProof === 'failed') return { status: 'declined', code: 'CARD_NOT_AUTHENTICATED' };
  if (!s.card) return { status: 'declined', code: 'CARD_UNKNOWN' };
  if (s.card.status === 'opposed') return { status: 'declined', code: 'CARD_BLOCKED' };
  // R10: only the benefit of the partner's type, and only while its convention is valid.
  if (!partnerMayDebit(s.partnerType, req.benefit)) return { status: 'declined', code: 'BENEFIT_NOT_ALLOWED' };
  if (!s.conventionValid) return { status: 'declined', code: 'CONVENTION_INVALID' };
  // R2/R3: a QR sale needs the right secret code; wrong ones are limited per partner and day, then locked.
  if (s.pin !== 'not-needed') {
    if (s.pin === 'not-set') return { status: 'declined', code: 'PIN_NOT_SET' };
    if (s.pin === 'locked' || s.card.pinGate === 'locked') return { status: 'declined', code: 'PIN_LOCKED' };
    if (s.pin === 'tries-exceeded' || s.card.pinGate === 'tries-exceeded') return { status: 'declined', code: 'PIN_TRIES_EXCEEDED' };
    if (s.pin === 'incorrect') return { status: 'declined', code: 'PIN_INCORRECT' };
  }
  if (!s.wallet) return { status: 'declined', code: WALLET_DECLINES[s.walletProblem ?? 'none'] };
  // Museums: free, unlimited access; the visit is recorded and counted, nothing is taken from a balance.
  if (s.wallet.access) return { status: 'approved', taken: req.amount, remainingToPay: 0 };
  const balance = s.wallet.balance;
  if (balance <= 0) return { status: 'declined', code: 'BENEFIT_EXHAUSTED', balanceAfter: 0 };
  // R9: partial debit. Below the balance, take the price; above it, take the whole balance and the youth
  // pays the rest.
  const taken = Math.min(req.amount, balance);
  return { status: 'approved', taken, remainingToPay: req.amount - taken, balanceAfter: balance - taken };
}
