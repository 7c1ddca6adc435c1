import type { Benefit, PartnerType, Unit } from '../../protocol/benefits.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import type { PinCheck } from '../rules.ts';

/**
 * The wallet ledger, behind one interface with one contract test suite (`contract.ts`) that every backend
 * passes. Today: SQLite (embedded default). PostgreSQL for region scale comes later behind the same
 * interface.
 *
 * It is a double-entry journal: every movement is a transfer from one account to another, of a positive
 * amount in one unit. Loading a benefit moves value from the Region's funding account to the card's
 * wallet; a sale moves it from the wallet to what the Region owes the partner. An account's balance is
 * credits − debits; a wallet's balance can never go below zero.
 */

export interface PartnerRecord {
  readonly id: string;
  readonly name: string;
  readonly type: PartnerType;
}

export interface TerminalRecord {
  readonly id: string;
  readonly partnerId: string;
  readonly publicKey: Uint8Array;
  readonly active: boolean;
}

export interface CardRecord {
  readonly number: string;
  readonly holder: string;
  readonly status: 'active' | 'opposed';
  /** The slow hash of the secret code (see pin-hash.ts), or null until the youth sets one. */
  readonly pinHash: string | null;
}

export interface LoadRecord {
  readonly cardNumber: string;
  readonly benefit: Benefit;
  readonly campaign: string;
  readonly amount: number;
  readonly at: number;
}

/** One debit request ready to be decided: verified, parsed, its code (if any) already checked. */
export interface DebitItem {
  readonly body: DebitRequestBody;
  /** `requestFingerprint(body)`: what a repeat must match to get the original reply. */
  readonly fingerprint: string;
  readonly pin: PinCheck;
}

export type CommitOutcome =
  /** `reply` holds the exact reply bytes; `fresh` is false when they are the original reply to a repeat. */
  | { readonly kind: 'reply'; readonly reply: Buffer; readonly fresh: boolean; readonly status: 'approved' | 'declined' }
  /** The transaction id was already used for different content: refused, recorded, nothing applied. */
  | { readonly kind: 'conflict' };

export interface TransferRecord {
  readonly id: number;
  readonly txnId: string | null;
  readonly kind: 'load' | 'debit';
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
  readonly status: 'approved' | 'declined';
  readonly code: string | null;
  readonly reply: Buffer;
}

export interface Ledger {
  terminal(id: string): TerminalRecord | undefined;
  card(number: string): CardRecord | undefined;

  /**
   * Decide and apply a batch of debits in one transaction. Outcomes are in the order of `items`. Either
   * every item is decided and durable when this returns, or it throws and nothing is.
   */
  commitDebits(items: readonly DebitItem[], decidedAt: number): CommitOutcome[];

  addPartner(p: PartnerRecord): void;
  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): void;
  setTerminalActive(id: string, active: boolean): void;
  issueCard(c: Omit<CardRecord, 'status'>): void;
  setCardStatus(number: string, status: CardRecord['status']): void;
  load(l: LoadRecord): void;

  /** Run several writes as one transaction (seeding, bulk loads): all of them or none. */
  atomically<T>(fn: () => T): T;

  walletBalance(cardNumber: string, benefit: Benefit): number | undefined;
  request(txnId: string): StoredRequest | undefined;
  transfersForTxn(txnId: string): TransferRecord[];
  conflictCount(txnId?: string): number;
  counts(): { partners: number; terminals: number; cards: number; requests: number; transfers: number };

  /** Check every invariant of the journal; returns what is violated (empty when all hold). */
  audit(): string[];
  close(): void;
}
