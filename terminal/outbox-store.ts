import type { Benefit, Unit } from '../protocol/benefits.ts';
import type { TerminalSettings } from '../protocol/terminal-settings.ts';
import type { HotlistDoc, HotlistReason, OfflineLimits } from '../protocol/offline.ts';

/**
 * What the terminal's runtime needs of its outbox, apart from how it is kept (terminal/outbox.ts keeps it
 * in SQLite). Two roles: the records (every sale and void, committed before anything is sent or shown,
 * forwarded in sequence order and settled by the gateway's replies), and what the terminal trusts to sell
 * offline (the signed policy and hotlist the gateway pushes, and the last signed time it heard). Every
 * implementation passes one contract suite, terminal/outbox.contract.ts.
 */

/** Waiting for the gateway, answered by it, or refused by it for good (a 2xx code: never resent). */
export type OutboxState = 'pending' | 'replied' | 'rejected';
export type Mode = 'online' | 'offline';

/** What every record has, sale or void: its place in the sequence, its signed bytes, and the gateway's answer. */
interface RecordBase {
  readonly seq: number;
  readonly txnId: string;
  readonly createdAt: number;
  /** The frame sent (signature and message): a resend is these bytes again. */
  readonly frame: Buffer;
  readonly state: OutboxState;
  /** Why a sale was declined, what a void did (`undone`, `prevented`), or why the record was rejected. */
  readonly code: string | null;
  /** The verified reply message (JSON bytes), once replied. */
  readonly reply: Buffer | null;
}

/** A sale: what was sold, to which card, online or offline, and what the gateway made of it. */
export interface SaleEntry extends RecordBase {
  readonly kind: 'sale';
  readonly mode: Mode;
  readonly card: string;
  readonly benefit: Benefit;
  readonly unit: Unit;
  readonly amount: number;
  /** Null until the gateway answers (and for a rejected sale). */
  readonly status: 'approved' | 'declined' | null;
  readonly taken: number | null;
  /** Offline sales: what the Region covers because the wallet could not. */
  readonly guaranteed: number | null;
  /** The void that cancelled this online sale, if any. */
  readonly voidedBy: string | null;
}

/** A void: the terminal declares that one of its online sales, whose result it never showed, must not count. */
export interface VoidEntry extends RecordBase {
  readonly kind: 'void';
  /** The online sale voided. */
  readonly target: string;
  /** A void is never voided itself: declared so that any record can be asked whether it was. */
  readonly voidedBy?: never;
}

export type OutboxEntry = SaleEntry | VoidEntry;

/** What a record is made of before the outbox numbers it: the signed JSON message (what the chain hashes) and the frame sent. */
interface DraftBase {
  readonly txnId: string;
  readonly createdAt: number;
  readonly message: Buffer;
  readonly frame: Buffer;
}

export interface SaleDraft extends DraftBase, Pick<SaleEntry, 'kind' | 'mode' | 'card' | 'benefit' | 'unit' | 'amount'> {}
export interface VoidDraft extends DraftBase, Pick<VoidEntry, 'kind' | 'target'> {
  /**
   * A cashier's cancellation of a sale whose result was shown: the sale is not marked `voidedBy` (which says
   * its result was never shown); its cancellation is read from the void (`voidOf`).
   */
  readonly cancellation?: boolean;
}
export type RecordDraft = SaleDraft | VoidDraft;

/** A verified reply to record: a sale's debit reply, or a void's. */
export type SettleReply =
  | {
      readonly kind: 'sale';
      readonly txnId: string;
      readonly status: 'approved' | 'declined';
      readonly code: string | null;
      readonly taken: number;
      readonly guaranteed: number;
      readonly reply: Buffer;
    }
  /** `result`: undone, prevented, or `refused:<code>` (a cashier's cancellation the gateway refused). */
  | { readonly kind: 'void'; readonly txnId: string; readonly result: string; readonly reply: Buffer };

export interface PolicyState {
  readonly version: number;
  readonly issuedAt: number;
  readonly limits: OfflineLimits;
}

export interface HotlistState {
  readonly version: number;
  readonly issuedAt: number;
}

/** 'applied'; 'refreshed' (same version, newer issue time); 'stale' (ignored); 'needs-full' (a delta starting after what is held). */
export type HotlistResult = 'applied' | 'refreshed' | 'stale' | 'needs-full';

/** The last signed time heard from the gateway, and the terminal's own wall clock at that moment. */
export interface GatewayTime {
  readonly gatewayAt: number;
  readonly localAt: number;
}

export interface OutboxStats {
  /** Records (sales and voids) not yet acknowledged by the gateway. */
  readonly pending: number;
  readonly oldestPendingAt: number | null;
  /** Offline sales not yet settled, and their total in cents (money benefits). */
  readonly offlinePending: number;
  readonly offlinePendingCents: number;
}

/** The records, numbered 1, 2, 3… and hash-chained, each kept with the exact bytes it was sent with. */
export interface RecordStore {
  /**
   * Allocate the next sequence number and the chain's head, let `build` sign the record with them, and
   * commit it durably. Refuses with OUTBOX_FULL when the limit of records waiting is reached, unless
   * `ignoreLimit` (a void only takes value off the gateway). Inside `atomically`, commits with the rest.
   */
  append(build: (seq: number, prev: string) => RecordDraft, opts?: { readonly ignoreLimit?: boolean }): OutboxEntry;
  /** Run several writes as one transaction: all of them are kept, or none. */
  atomically<T>(fn: () => T): T;
  /** Unacknowledged records after `afterSeq`, in sequence order, at most `limit`. */
  pending(limit: number, afterSeq?: number): OutboxEntry[];
  entry(txnId: string): OutboxEntry | undefined;
  bySeq(seq: number): OutboxEntry | undefined;
  /** The latest sale, whatever its state (shown again after a restart). */
  lastSale(): SaleEntry | undefined;
  /** The latest void record aimed at this sale, if any. */
  voidOf(target: string): VoidEntry | undefined;
  /** The latest sales, newest first, at most `limit` (1 to 50): the cashier's list. */
  recentSales(limit: number): SaleEntry[];
  /** Online sales still waiting for their reply and not voided: after a restart, their result was never shown. */
  unvoidedOnline(): SaleEntry[];
  /** Record verified replies in one transaction; returns the ids that were pending (a duplicate changes nothing). */
  settle(replies: readonly SettleReply[], at: number): string[];
  /** Record a rejection: the record will not be resent. False when it was not pending. */
  reject(txnId: string, code: string, at: number): boolean;
  stats(): OutboxStats;
  /** This card's offline sales since `from` (the start of the local day): how many, and their cents. */
  offlineSinceForCard(card: string, from: number): { count: number; cents: number };
}

/** What the terminal holds to sell offline, each document verified before it is kept. */
export interface TrustStore {
  policy(): PolicyState | undefined;
  /** Keep a policy; an older or equal version than the one held is ignored (false). */
  setPolicy(p: PolicyState): boolean;
  hotlistState(): HotlistState;
  /** Why the card with this hotlist tag (`hotlistTag` of its chip key) is refused offline, or null. */
  hotlisted(tag: string): HotlistReason | null;
  /** Apply a hotlist document atomically: a full list replaces everything; a delta applies on its base or later. */
  applyHotlist(doc: HotlistDoc['body']): HotlistResult;
  gatewayTime(): GatewayTime | undefined;
  setGatewayTime(t: GatewayTime): void;
  /** The settings the gateway pushed last (protocol/terminal-settings.ts), if any. */
  settings(): TerminalSettings | undefined;
  /** Keep pushed settings whole; an older or equal version than the one held is ignored (false). */
  setSettings(s: TerminalSettings): boolean;
}

export interface OutboxStore extends RecordStore, TrustStore {}
