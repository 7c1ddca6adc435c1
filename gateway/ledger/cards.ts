import type { Benefit } from '../../protocol/benefits.ts';
import type { PinGate } from '../rules.ts';

export type CardStatus = 'active' | 'opposed';
export type OppositionReason = 'lost' | 'stolen' | 'broken' | 'school_change';

export interface CardRecord {
  readonly number: string;
  readonly dossierId: string;
  readonly holder: string;
  readonly status: CardStatus;
  /** The slow hash of the secret code (see pin-hash.ts), or null until the youth sets one. */
  readonly pinHash: string | null;
  /** Wrong codes since the last right one (R3; see `pinGate` for what they block). */
  readonly pinFailures: number;
}

/**
 * What an operator knows of a card without its number (issue 12): the youth's name (words, in any case,
 * with or without accents; a word may be the start of one), the dossier id, or the printed card's first
 * and last four digits (the masked number). Every criterion given must match.
 */
export interface CardSearch {
  readonly holder?: string;
  readonly dossierId?: string;
  readonly first4?: string;
  readonly last4?: string;
}

export interface IssueCard {
  readonly number: string;
  /** The youth's dossier; created with the first card. Defaults to `D-<card number>`. */
  readonly dossierId?: string;
  readonly holder: string;
  readonly pinHash: string | null;
  readonly at?: number;
}

export interface Opposition {
  readonly cardNumber: string;
  readonly reason: OppositionReason;
  /** The new card, when one is issued at the same time. */
  readonly replacement?: { readonly number: string; readonly holder?: string };
  readonly at: number;
}

export interface OppositionResult {
  readonly feeCents: number;
  /** The wallet the fee was taken from, or null when none was (free reason, or no benefit could pay it). */
  readonly feeFrom: { readonly benefit: Benefit; readonly campaign: string } | null;
  readonly replacement: string | null;
}

export interface Suspension {
  readonly cardNumber: string;
  /** null: every benefit of the campaign (R5: "all or part"); a list: each of those (a group, say), at once. */
  readonly benefit: Benefit | readonly Benefit[] | null;
  readonly campaign: string;
  readonly reason: string;
  readonly at: number;
}

/** A youth's cards through their life: issued, keyed, coded, found, opposed and replaced (R4), suspended (R5). */
export interface CardLedger {
  card(number: string): Promise<CardRecord | undefined>;
  /** Cards matching every criterion given (at least one), active ones first, then by holder; at most `limit`. */
  searchCards(q: CardSearch, limit: number): Promise<CardRecord[]>;
  issueCard(c: IssueCard): Promise<void>;
  /**
   * Record the chip key of a card at personalisation (gateway/personalise.ts). A key belongs to one card;
   * a card that already has another key is re-keyed (its old chip no longer proves sales).
   */
  setCardKey(cardNumber: string, publicKey: Uint8Array, expiry: string, at: number): Promise<void>;
  cardKey(cardNumber: string): Promise<{ readonly publicKey: Uint8Array; readonly expiry: string } | undefined>;
  /** The chip keys of these cards, by number; cards without one are left out. */
  cardKeys(cardNumbers: readonly string[]): Promise<Map<string, Uint8Array>>;
  setPin(cardNumber: string, pinHash: string | null): Promise<void>;
  /** An operator lifts a code lock (R3) without changing the code. */
  unlockPin(cardNumber: string): Promise<void>;
  /**
   * Where a youth's code stands for a QR sale at this partner (null: at none in particular) at `at`
   * (rules.ts `PIN_TRIES`): open, tried too often today, or locked.
   */
  pinGate(cardNumber: string, partnerId: string | null, at: number): Promise<PinGate>;

  /** R4: block a card, take the fee when the reason calls for it, and issue the replacement if given. */
  oppose(o: Opposition): Promise<OppositionResult>;
  /** R5: suspend all or part of a youth's benefits for the rest of a campaign. */
  suspend(s: Suspension): Promise<void>;
  /** Lift the suspension of one benefit, of each of a list (those in force; at least one), or the whole-campaign one (null). */
  liftSuspension(cardNumber: string, benefit: Benefit | readonly Benefit[] | null, campaign: string, at: number): Promise<void>;
}
