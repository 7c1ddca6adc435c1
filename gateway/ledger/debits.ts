import type { Unit } from '../../protocol/benefits.ts';
import type { DebitRequestBody, VoidRequestBody } from '../../protocol/messages.ts';
import { chainHash } from '../../protocol/offline.ts';
import type { CardProofCheck, PinCheck } from '../rules.ts';

/** One debit request ready to be decided: verified, parsed, its code (if any) already checked. */
export interface DebitItem {
  readonly body: DebitRequestBody;
  /** `requestFingerprint(body)`: what a repeat must match to get the original reply. */
  readonly fingerprint: string;
  readonly pin: PinCheck;
  /** The card's signature of the sale, checked with its recorded key (NFC only; 'not-needed' for QR). */
  readonly proof: CardProofCheck;
  /**
   * `chainHash(message)` of the exact signed message bytes: the next record's `prev` must equal it. When
   * absent (tests that build bodies, not messages), the ledger uses `fallbackRecordHash(fingerprint)`.
   */
  readonly msgHash?: string;
}

/** A terminal's void of one of its own online requests (see protocol/messages.ts VoidRequestBody). */
export interface VoidItem {
  readonly void: VoidRequestBody;
  /** `voidFingerprint(body)`: what a repeat must match. */
  readonly fingerprint: string;
  /** As for `DebitItem.msgHash`. */
  readonly msgHash?: string;
}

/** The chain hash a ledger records for an item given without its message bytes (tests). */
export function fallbackRecordHash(fingerprint: string): string {
  return chainHash(Buffer.from(`record:${fingerprint}`, 'utf8'));
}

/** What a terminal publishes: a sale or a void. Both are outbox records with a seq and a chain hash. */
export type LedgerItem = DebitItem | VoidItem;

export function isVoidItem(item: LedgerItem): item is VoidItem {
  return 'void' in item;
}

export type CommitOutcome =
  /**
   * `reply` holds the exact reply bytes (a debit.reply, or a void.reply with status 'void'); `fresh` is
   * false when they are the original reply to a repeat.
   */
  | { readonly kind: 'reply'; readonly reply: Buffer; readonly fresh: boolean; readonly status: 'approved' | 'declined' | 'void' }
  /** The transaction id was already used for different content: refused, recorded, nothing applied. */
  | { readonly kind: 'conflict' }
  /** Another record of this terminal already holds this sequence number: refused, recorded as a chain break. */
  | { readonly kind: 'seq-conflict' };

/** Where the gateway stands with one terminal's record sequence (gap detection, docs/offline.md). */
export interface TerminalSync {
  readonly terminalId: string;
  /** The lowest sequence number not yet received (every record below it was). */
  readonly nextSeq: number;
  /** The highest sequence number received (0: none). */
  readonly maxSeq: number;
  /** Sequence numbers below `maxSeq` never received, lowest first, at most `limit` of them. */
  readonly missing: readonly number[];
  /** Records whose `prev` does not match the hash of the record before, and sequence-number conflicts. */
  readonly chainBreaks: number;
}

/**
 * 'guarantee': the Region pays a partner for an offline sale the wallet could not pay; 'restore': value the
 * expiry sweep returned, brought back to its wallet for an offline sale made before the wallet ended and
 * received after the sweep (docs/offline.md).
 */
export type TransferKind = 'load' | 'debit' | 'guarantee' | 'cancellation' | 'reversal' | 'expiry' | 'restore' | 'fee';

export interface TransferRecord {
  readonly id: number;
  readonly txnId: string | null;
  readonly kind: TransferKind;
  readonly debitAccount: string;
  readonly creditAccount: string;
  readonly amount: number;
  readonly unit: Unit;
  readonly at: number;
}

export interface StoredRequest {
  readonly txnId: string;
  readonly terminalId: string;
  readonly seq: number;
  /** 'void': a terminal's void record; `reply` is then its void.reply. */
  readonly status: 'approved' | 'declined' | 'void';
  /** The sale's mode; null for a void. */
  readonly mode: 'online' | 'offline' | null;
  readonly code: string | null;
  readonly reply: Buffer;
}

/** Terminal records in, replies out: the debits and voids of the till, their chain, and what they moved. */
export interface DebitLedger {
  /**
   * Decide and apply a batch of terminal records (sales and voids) in one transaction. Outcomes are in the
   * order of `items`. Either every item is decided and durable when this returns, or it throws and nothing
   * is. A repeat (same transaction id and fingerprint) gets its original reply; a fresh record takes its
   * place in its terminal's sequence (`seq-conflict` when another record holds the number) and chain (a
   * `prev` that does not match is recorded as a chain break, the record still decided).
   */
  commitDebits(items: readonly LedgerItem[], decidedAt: number): Promise<CommitOutcome[]>;
  /** Gap detection for one terminal's records; `limit` (default 100) bounds `missing`. */
  terminalSync(terminalId: string, limit?: number): Promise<TerminalSync>;
  /**
   * Where a channel the gateway writes itself (the partner web counter) continues its record chain: the
   * next sequence number and the hash of the record before it (GENESIS before the first).
   */
  chainHead(terminalId: string): Promise<{ readonly nextSeq: number; readonly headHash: string }>;
  request(txnId: string): Promise<StoredRequest | undefined>;
  transfersForTxn(txnId: string): Promise<TransferRecord[]>;
  conflictCount(txnId?: string): Promise<number>;
}
