import type { Benefit } from '../../protocol/benefits.ts';

/** Rules a backend applies that the documents leave to us (domain.md, "keep them configurable"). */
export interface LedgerRules {
  /** R4: the replacement fee for a lost, stolen or broken card, in cents (5 € in source 002/004). */
  readonly replacementFeeCents: number;
  /** R4: the benefits the fee is taken from, first that can pay it whole (our decision, configurable). */
  readonly replacementFeeOrder: readonly Benefit[];
}

export const DEFAULT_LEDGER_RULES: LedgerRules = {
  replacementFeeCents: 500,
  replacementFeeOrder: ['LEISURE_BOOKS', 'SHOWS', 'SPORT', 'SCHOOL_BOOKS', 'PRO_EQUIPMENT', 'FIRST_AID', 'BAFA', 'DRIVING_LICENCE'],
};

/** What every role of a backend shares: its transactions, its size, its own check, its end. */
export interface LedgerBase {
  /** Run several writes as one transaction (seeding, bulk loads): all of them or none. */
  atomically<T>(fn: () => Promise<T>): Promise<T>;
  counts(): Promise<{ partners: number; terminals: number; cards: number; requests: number; transfers: number }>;
  /** Check every invariant of the journal; returns what is violated (empty when all hold). */
  audit(): Promise<string[]>;
  /**
   * Hold the lease called `name`, if no other holder of this ledger has it: one gateway of several runs a
   * job (the offline documents' publisher). Null when another holds it. The lease ends by `release`, or
   * by itself when this holder's link to the ledger breaks (`lost` settles then): whoever held it stops.
   */
  lease(name: string): Promise<Lease | null>;
  close(): Promise<void>;
}

export interface Lease {
  /** Settles when the lease ends without `release` (the database connection behind it broke). */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}
