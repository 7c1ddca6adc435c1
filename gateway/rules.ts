import { benefitUnit, partnerMayDebit, type Benefit, type PartnerType, type Unit } from '../protocol/benefits.ts';
import type { DeclineCode } from '../protocol/codes.ts';
import type { DebitRequestBody } from '../protocol/messages.ts';
import type { OfflineLimits } from '../protocol/offline.ts';

/**
 * The Pass'Région debit rules, as a pure function of a snapshot of the ledger. The ledger loads the
 * snapshot and applies the decision inside one transaction; nothing here reads or writes anything.
 *
 * Order matters: a deactivated terminal or a blocked card is refused before anything about the benefit
 * or the code is looked at, so a refusal never reveals more than it must; the code is checked before the
 * wallet, so a wrong code learns nothing about the balance.
 *
 * The other decisions the ledger takes are here too, each a pure function of what the ledger gathered:
 * the replacement fee's wallet (R4), what a group sale may be (R12), and whether an offline sale is
 * covered by the Region's guarantee (docs/offline.md).
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

/**
 * R4: which of a youth's wallets pays the replacement fee: the usable one of the first benefit in the
 * configured order, counted in cents, that can pay the fee whole. None when none can (the documents say only
 * "from one of the benefits still available"), nor when the fee is 0. `walletFor`: the wallet a sale of
 * that benefit would use now, if any.
 */
export function replacementFeeWallet<W extends { readonly balance: number; readonly access: boolean }>(
  fee: { readonly replacementFeeCents: number; readonly replacementFeeOrder: readonly Benefit[] },
  walletFor: (benefit: Benefit) => W | undefined,
): W | undefined {
  if (fee.replacementFeeCents <= 0) return undefined;
  for (const benefit of fee.replacementFeeOrder) {
    if (benefitUnit(benefit) !== 'cent') continue;
    const w = walletFor(benefit);
    if (w && !w.access && w.balance >= fee.replacementFeeCents) return w;
  }
  return undefined;
}

/**
 * R12: the most youths one group sale (and one approved list) holds: a whole school year's outing. One limit
 * for the API's schema and the ledger, so a request the schema lets through is never refused for its size.
 */
export const MAX_GROUP_SIZE = 200;

/** Benefits a school may pay an outing with (R12): shows and cinema, never first aid. */
export const GROUP_BENEFITS: readonly Benefit[] = ['SHOWS', 'CINEMA'];

/** Why a group sale, or a list the Region approves for one, is refused before anything is looked up. */
export interface GroupRefusal {
  readonly code: 'GROUP_NOT_ALLOWED' | 'DATA_INVALID';
  readonly message: string;
}

/**
 * R12, what a group sale (`group`) or an approved list (`list`) must be by itself: for a group benefit, of
 * 1 to `MAX_GROUP_SIZE` youths, each once, with a whole positive amount per youth (the list's: the most).
 */
export function groupRefusal(kind: 'group' | 'list', g: { readonly benefit: Benefit; readonly cardNumbers: readonly string[]; readonly perYouth: number }): GroupRefusal | null {
  if (!GROUP_BENEFITS.includes(g.benefit)) {
    const use = kind === 'group' ? 'group sales use' : 'group lists are for';
    return { code: 'GROUP_NOT_ALLOWED', message: `${use} ${GROUP_BENEFITS.join(' or ')}, not ${g.benefit}` };
  }
  if (g.cardNumbers.length === 0 || g.cardNumbers.length > MAX_GROUP_SIZE) return { code: 'DATA_INVALID', message: `a ${kind} has 1..${MAX_GROUP_SIZE} youths` };
  if (new Set(g.cardNumbers).size !== g.cardNumbers.length) return { code: 'DATA_INVALID', message: `a card appears twice in the ${kind}` };
  if (!Number.isSafeInteger(g.perYouth) || g.perYouth < 1) {
    return { code: 'DATA_INVALID', message: `the ${kind === 'group' ? 'amount' : 'maximum'} per youth must be a positive integer` };
  }
  return null;
}

/** A list the Region approved, as a group sale from it sees it. */
export interface ApprovedList {
  readonly partnerId: string;
  readonly benefit: string;
  readonly maxPerYouth: number;
  readonly validUntil: number;
  /** Its cards not yet paid under it. */
  readonly unpaid: ReadonlySet<string>;
}

/**
 * R12: a group sale pays only youths the Region approved for this partner's outing: the list exists, is
 * this partner's and benefit's, is still valid, covers the amount per youth, and holds every card of the
 * group not yet paid under it. Why not, or null; any of these refuses the whole group.
 */
export function groupListRefusal(
  g: { readonly listId: string; readonly partnerId: string; readonly benefit: Benefit; readonly amount: number; readonly cardNumbers: readonly string[]; readonly at: number },
  list: ApprovedList | undefined,
): string | null {
  if (!list || list.partnerId !== g.partnerId) return `no approved list ${g.listId} for partner ${g.partnerId}`;
  if (list.benefit !== g.benefit) return `list ${g.listId} is for ${list.benefit}, not ${g.benefit}`;
  if (g.at > list.validUntil) return `list ${g.listId} is no longer valid`;
  if (g.amount > list.maxPerYouth) return `list ${g.listId} allows at most ${list.maxPerYouth} per youth`;
  const outside = g.cardNumbers.filter((n) => !list.unpaid.has(n)).length;
  if (outside > 0) return `${outside} card(s) not on list ${g.listId}, or already paid under it`;
  return null;
}

/**
 * Why an offline sale lost the Region's guarantee (docs/offline.md): the terminal broke the policy it held,
 * as the gateway judges from its own records; in the order they are judged. The ledger's schema accepts
 * these and no other.
 */
export const OFFLINE_BREACHES = ['qr', 'policy-unknown', 'policy-disabled', 'card-proof', 'time', 'hotlisted', 'amount', 'card-day', 'pending'] as const;

/** Why an offline sale is not covered by the Region's guarantee although the rules alone fell short. */
export type OfflineBreach = (typeof OFFLINE_BREACHES)[number];

/** Offline sales counted together against a limit: how many, and their amount in cents (entries count 0). */
export interface OfflineTally {
  readonly count: number;
  readonly cents: number;
}

/** What the gateway knows of an offline sale from its own records (never from the terminal's word alone). */
export interface OfflineEvidence {
  readonly credential: 'nfc' | 'qr';
  /** The limits of the policy version the sale names; absent when no such version was issued. */
  readonly policy: OfflineLimits | undefined;
  readonly cardProof: CardProofCheck;
  /** The sale's time lies within what the terminal's contacts allow, give or take the policy's clock skew. */
  readonly plausible: boolean;
  /** The card was on the hotlist the terminal must have held. */
  readonly hotlisted: boolean;
  readonly unit: Unit;
  readonly amount: number;
  /** The card's offline sales already settled from this terminal on the sale's Paris day. */
  readonly cardDay: OfflineTally;
  /** The terminal's offline sales already settled that were pending with this one (since its last connect). */
  readonly pending: OfflineTally;
}

/**
 * How an offline sale broke the signed policy its terminal held, as the gateway judges it from its own
 * records, or null. In order: a QR credential (never offline: the code needs the gateway), a policy
 * version never issued or disabling offline sales, no valid card signature, an implausible sale time, a
 * card on the hotlist the terminal must have held, an amount over the per-sale maximum, more offline
 * sales of the card that day at that terminal than the policy allows, or more offline sales pending at
 * the terminal than it allows. What the gateway cannot see (the hotlist's age on the terminal, its time
 * offline by its own clock) stays the terminal's to enforce.
 */
export function offlineBreach(e: OfflineEvidence): OfflineBreach | null {
  if (e.credential === 'qr') return 'qr';
  const p = e.policy;
  if (!p) return 'policy-unknown';
  if (!p.enabled) return 'policy-disabled';
  if (e.cardProof === 'failed') return 'card-proof';
  if (!e.plausible) return 'time';
  if (e.hotlisted) return 'hotlisted';
  if (e.amount > (e.unit === 'entry' ? p.maxSaleEntries : p.maxSaleCents)) return 'amount';
  const cents = e.unit === 'cent' ? e.amount : 0;
  if (e.cardDay.count + 1 > p.perCardDayCount || e.cardDay.cents + cents > p.perCardDayCents) return 'card-day';
  if (e.pending.count + 1 > p.maxPendingCount || e.pending.cents + cents > p.maxPendingCents) return 'pending';
  return null;
}

/**
 * The declines the offline guarantee covers: the card or its wallet, which a terminal offline cannot see
 * (beyond the hotlist it holds). The partner's own standing (terminal, partnership type, convention) and
 * the secret code are never covered.
 */
export const GUARANTEED_DECLINES: ReadonlySet<DeclineCode> = new Set<DeclineCode>([
  'CARD_UNKNOWN',
  'CARD_BLOCKED',
  'NO_SUCH_BENEFIT',
  'BENEFIT_EXHAUSTED',
  'BENEFIT_SUSPENDED',
  'BENEFIT_EXPIRED',
  'BENEFIT_NOT_YET_VALID',
]);

/** What becomes of an offline sale the rules decided as of its time. */
export type OfflineCover =
  /** The Region pays the partner what the wallet could not: `reason`, the decline the wallet alone gave, or 'PARTIAL'. */
  | { readonly kind: 'guaranteed'; readonly decision: Decision; readonly guaranteed: number; readonly reason: string }
  /** Settled by the rules alone: a partial stays partial, a decline a decline (OFFLINE_POLICY_BREACH when the breach cost the guarantee). */
  | { readonly kind: 'rules'; readonly decision: Decision };

/**
 * The Region's offline guarantee (docs/offline.md): what the wallet cannot pay of an offline sale is covered
 * when the cause is one a terminal offline cannot see (`GUARANTEED_DECLINES`, or a partial debit), the
 * partner itself could make the sale (`partnerMay`: active terminal, its type, its convention), and the
 * terminal kept to its policy (`breach` null). The sale is then approved whole; otherwise the rules'
 * decision stands, coded OFFLINE_POLICY_BREACH when the breach is all that cost the guarantee.
 */
export function offlineCover(amount: number, d: Decision, partnerMay: boolean, breach: OfflineBreach | null): OfflineCover {
  const taken = d.status === 'approved' ? d.taken : 0;
  // What the wallet alone falls short by, and why; null when it pays in full or the cause is not covered.
  const shortfall = d.status === 'approved' ? (taken < amount ? 'PARTIAL' : null) : GUARANTEED_DECLINES.has(d.code) ? d.code : null;
  if (shortfall === null || !partnerMay) return { kind: 'rules', decision: d };
  const balance = d.balanceAfter === undefined ? {} : { balanceAfter: d.balanceAfter };
  if (breach === null) return { kind: 'guaranteed', decision: { status: 'approved', taken, remainingToPay: 0, ...balance }, guaranteed: amount - taken, reason: shortfall };
  return { kind: 'rules', decision: d.status === 'declined' ? { status: 'declined', code: 'OFFLINE_POLICY_BREACH', ...balance } : d };
}
