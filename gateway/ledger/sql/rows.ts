import type { Benefit, PartnerType, Unit } from '../../../protocol/benefits.ts';
import type { HotlistReason } from '../../../protocol/offline.ts';
import type { WalletProblem } from '../../rules.ts';
import type { StoredRequest, TerminalRecord } from '../ledger.ts';

/*
 * The rows and cached records the parts of the SQLite ledger hand each other.
 */

export interface TerminalRow extends TerminalRecord {
  readonly partnerType: PartnerType;
  readonly partner: PartnerCache;
}

export interface PartnerCache {
  readonly id: string;
  readonly type: PartnerType;
  readonly conventionStart: number;
  readonly conventionEnd: number;
  readonly entryPriceCents: number;
}

export interface WalletRow {
  readonly id: number;
  readonly benefit: Benefit;
  readonly campaign: string;
  readonly unit: Unit;
  readonly balance: number;
  readonly loaded: number;
  readonly access: number;
  readonly valid_from: number;
  readonly valid_until: number;
  /**
   * Set only when a late offline sale may draw on it: of `balance`, the value the expiry sweep returned to
   * the Region that is brought back (a 'restore' transfer) before the sale takes it.
   */
  readonly expired?: number;
}

export interface CardRow {
  readonly number: string;
  readonly dossier_id: string;
  readonly holder: string;
  readonly status: 'active' | 'opposed';
  readonly pin_hash: string | null;
  readonly pin_failures: number;
  readonly suspensions: number;
  readonly opposed_at: number | null;
}

export interface SaleRow {
  readonly id: number;
  readonly txn_id: string;
  readonly kind: 'sale' | 'cancellation' | 'reversal';
  readonly partner_id: string;
  readonly terminal_id: string | null;
  readonly card_number: string;
  /** Null only on a line the offline guarantee pays whole (no dossier, or no wallet for the benefit). */
  readonly dossier_id: string | null;
  readonly benefit: Benefit;
  readonly campaign: string | null;
  readonly unit: Unit;
  readonly quantity: number;
  readonly guaranteed: number;
  readonly amount_cents: number;
  readonly sale_at: number;
  readonly recorded_at: number;
}

/** Where the current expiry sweep stopped (`SqlCorrections.expire`). */
export interface ExpiryCursor {
  readonly at: number;
  readonly from: number;
  readonly validUntil: number;
  readonly id: number;
}

/** The wallet a sale uses, or why none can be used. */
export type WalletChoice = { readonly wallet: WalletRow } | { readonly problem: WalletProblem };

/** The hotlist version of the running transaction: bumped once, at its first change (see `hotlistRefresh`). */
export interface HotlistTx {
  version?: number;
}

/** Where a terminal's record sequence stands (a `terminal_sync` row). */
export interface SyncState {
  readonly next_seq: number;
  readonly max_seq: number;
  readonly head_hash: string;
}

export interface HotlistRow {
  readonly card_number: string;
  readonly reason: HotlistReason | null;
  readonly version: number;
  readonly since: number | null;
  readonly soft_at: number | null;
}

export interface RequestRow {
  readonly txn_id: string;
  readonly terminal_id: string;
  readonly seq: number;
  readonly fingerprint: string;
  readonly status: StoredRequest['status'];
  readonly mode: StoredRequest['mode'];
  readonly code: string | null;
  readonly reply: Buffer;
}

/** A terminal's offline sales with `since` < seq < `upTo`: how many, and their cents (entries count none). */
export interface PendingCount {
  readonly since: number;
  readonly upTo: number;
  readonly n: number;
  readonly cents: number;
}

/** A terminal row with its partner's columns (prepared.ts `TERMINAL_WITH_PARTNER`). */
export interface TerminalPartnerRow {
  readonly id: string;
  readonly partner_id: string;
  readonly public_key: Buffer;
  readonly active: number;
  readonly p_type: string;
  readonly p_from: string;
  readonly p_to: string;
  readonly p_price: number;
}
