import { partnerMayDebit, type PartnerType } from '../protocol/benefits.ts';
import type { DeclineCode } from '../protocol/codes.ts';
import type { DebitRequestBody } from '../protocol/messages.ts';

/**
 * The Pass'Région debit rules, as a pure function of a snapshot of the ledger. The ledger loads the
 * snapshot and applies the decision inside one transaction; nothing here reads or writes anything.
 *
 * Order matters: a deactivated terminal or a blocked card is refused before anything about the benefit
 * or the code is looked at, so a refusal never reveals more than it must.
 */

/** The outcome of checking the sealed secret code before the batch (QR sales only). */
export type PinCheck = 'not-needed' | 'ok' | 'incorrect' | 'not-set';

export interface Snapshot {
  readonly terminalActive: boolean;
  readonly partnerType: PartnerType;
  /** Absent when no card has this number. */
  readonly card?: { readonly status: 'active' | 'opposed' };
  /** Absent when the card holds no wallet for the requested benefit. */
  readonly wallet?: { readonly balance: number };
  readonly pin: PinCheck;
}

export type Decision =
  | { readonly status: 'approved'; readonly taken: number; readonly remainingToPay: number; readonly balanceAfter: number }
  | { readonly status: 'declined'; readonly code: DeclineCode; readonly balanceAfter?: number };

export function decide(req: DebitRequestBody, s: Snapshot): Decision {
  if (!s.terminalActive) return { status: 'declined', code: 'TERMINAL_INACTIVE' };
  if (!s.card) return { status: 'declined', code: 'CARD_UNKNOWN' };
  if (s.card.status === 'opposed') return { status: 'declined', code: 'CARD_BLOCKED' };
  // R10: only the benefit of the partner's type.
  if (!partnerMayDebit(s.partnerType, req.benefit)) return { status: 'declined', code: 'BENEFIT_NOT_ALLOWED' };
  // R2/R3: a QR sale needs the right secret code.
  if (s.pin === 'not-set') return { status: 'declined', code: 'PIN_NOT_SET' };
  if (s.pin === 'incorrect') return { status: 'declined', code: 'PIN_INCORRECT' };
  if (!s.wallet) return { status: 'declined', code: 'NO_SUCH_BENEFIT' };
  const balance = s.wallet.balance;
  if (balance <= 0) return { status: 'declined', code: 'BENEFIT_EXHAUSTED', balanceAfter: 0 };
  // R9: partial debit. Below the balance, take the price; above it, take the whole balance and the youth
  // pays the rest.
  const taken = Math.min(req.amount, balance);
  return { status: 'approved', taken, remainingToPay: req.amount - taken, balanceAfter: balance - taken };
}
