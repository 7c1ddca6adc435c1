import type { Benefit, Unit } from '../../protocol/benefits.ts';
import type { CardLoadRow } from '../bulk/types.ts';
import type { TransferKind } from './debits.ts';

export interface LoadRecord {
  readonly cardNumber: string;
  readonly benefit: Benefit;
  readonly campaign: string;
  /** In the benefit's unit; 0 for an access benefit (museums). */
  readonly amount: number;
  readonly at: number;
}

export interface BulkLoadResult {
  readonly cards: number;
  readonly loads: number;
}

export interface WalletView {
  readonly benefit: Benefit;
  readonly campaign: string;
  readonly unit: Unit;
  readonly access: boolean;
  readonly loaded: number;
  readonly balance: number;
  readonly validFrom: number;
  readonly validUntil: number;
  /** Usable now: in its window and not suspended. */
  readonly usable: boolean;
  readonly suspended: boolean;
}

export interface HistoryEntry {
  /** When it happened: a sale's own time (an offline sale's, however late it arrived), else when recorded. */
  readonly at: number;
  /** When the gateway recorded it. */
  readonly recordedAt: number;
  readonly kind: TransferKind;
  readonly benefit: Benefit;
  readonly campaign: string;
  readonly unit: Unit;
  /** Positive into the wallet, negative out of it (0 for a museum visit). */
  readonly amount: number;
  readonly txnId: string | null;
  readonly partnerId: string | null;
}

/** A youth's wallets: what is loaded into them (R8), what they hold now, and what moved through them. */
export interface WalletLedger {
  load(l: LoadRecord): Promise<void>;
  /** Load a start-of-year file's rows (new cards and their benefits). All of them or none. */
  bulkLoad(rows: Iterable<CardLoadRow>, at: number): Promise<BulkLoadResult>;
  /** The balance of the wallet a sale would use now (or the newest), for tests and the admin API. */
  walletBalance(cardNumber: string, benefit: Benefit, at?: number): Promise<number | undefined>;
  wallets(cardNumber: string, at: number): Promise<WalletView[]>;
  history(cardNumber: string, limit: number): Promise<HistoryEntry[]>;
}
