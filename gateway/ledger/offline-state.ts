import type { Benefit, Unit } from '../../protocol/benefits.ts';
import type { HotlistReason, OfflineLimits } from '../../protocol/offline.ts';

/** A card's place on the hotlist as the ledger keeps it: by number (published by chip-key tag). */
export interface CardHotlistEntry {
  readonly card: string;
  /** null: the card left the hotlist. */
  readonly reason: HotlistReason | null;
}

/** The Region's offline exposure and what it lost (docs/offline.md, "same card at two terminals"). */
export interface OfflineReport {
  readonly policy: { readonly version: number; readonly issuedAt: number; readonly limits: OfflineLimits } | null;
  /**
   * The most the Region can lose on one card in one day: min(per-card-day amount, per-sale maximum × per-
   * card-day count) times every active terminal (conservative: the card could be used at each). 0 when
   * no policy is stored or it disables offline sales.
   */
  readonly boundPerCardDayCents: number;
  readonly offlineSales: number;
  readonly guaranteedCents: number;
  readonly guaranteedEntries: number;
  /**
   * Offline sales that broke the policy the terminal held, as the gateway judges it (QR credential, unknown
   * or disabled policy version, no valid card signature, an implausible sale time, a card on the hotlist the
   * terminal must have held, an amount over the per-sale maximum, the per-card-day or pending limits):
   * settled by the rules alone, never guaranteed. Counted whether or not the wallet paid in full.
   */
  readonly breaches: number;
  /**
   * Terminals that broke the offline policy, as the gateway judged from its own records, the most breaches
   * first: how many, of which kinds (docs/offline.md), and when the latest was recorded. For the Region to
   * look into (a stolen key, a tampered terminal, a wrong clock).
   */
  readonly flaggedTerminals: readonly { readonly terminalId: string; readonly breaches: number; readonly kinds: Readonly<Record<string, number>>; readonly lastAt: number }[];
  readonly softBlockedCards: number;
  /** The latest losses, newest first. */
  readonly losses: readonly OfflineLoss[];
}

export interface OfflineLoss {
  readonly txnId: string;
  readonly cardNumber: string;
  readonly partnerId: string;
  readonly terminalId: string;
  readonly benefit: Benefit;
  readonly unit: Unit;
  /** What the Region covered (in the benefit's unit) and, for entries, in cents at the partner's price. */
  readonly amount: number;
  readonly amountCents: number;
  /** The decline the wallet alone would have given, or BENEFIT_EXHAUSTED-like partial cover ('PARTIAL'). */
  readonly reason: string;
  readonly saleAt: number;
  readonly recordedAt: number;
}

/** What terminals need to sell offline (the signed policy, the hotlist) and what offline selling cost. */
export interface OfflineLedger {
  /**
   * The offline policy in force: stores `limits` as a new version when they differ from the latest one
   * (a gateway started with a changed configuration), and returns the latest. Versions are kept, so an
   * offline sale is judged by the exact limits its terminal held.
   */
  setOfflinePolicy(limits: OfflineLimits, at: number): Promise<{ readonly version: number; readonly issuedAt: number; readonly limits: OfflineLimits }>;
  offlinePolicy(version: number): Promise<OfflineLimits | undefined>;
  /**
   * The hotlist's current version (0: never changed). A transaction that changes what terminals see
   * (opposition, suspension or its lifting, soft block or its lifting) bumps it once, however many cards.
   * A card's reason is the strongest that holds: opposed > suspended (any suspension of its dossier in
   * force, whole or partial: offline acceptance is refused for the whole card) > soft.
   */
  hotlistVersion(): Promise<number>;
  /**
   * Cards whose hotlist state changed after `base`, removals (reason null) included; `base` 0: the whole
   * list, removals left out. A card unknown to the ledger may be listed (soft-blocked after an offline loss).
   */
  hotlist(base: number): Promise<{ readonly version: number; readonly entries: CardHotlistEntry[] }>;
  /** The Region lifts an offline soft block; false when the card had none. A stronger reason still holds. */
  liftSoftBlock(cardNumber: string, at: number): Promise<boolean>;
  /** `limit` (default 50): how many of the latest losses to list. */
  offlineReport(limit?: number): Promise<OfflineReport>;
}
