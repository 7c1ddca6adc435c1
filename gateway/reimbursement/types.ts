import type { Benefit, Unit } from '../../protocol/benefits.ts';

/**
 * Reimbursement statements (R11): what the Region owes one partner for one period. Built by the ledger
 * (`Ledger.closeStatement`), exported as CSV (`statement-csv.ts`) and paid by SEPA credit transfer
 * (`sepa.ts`, pain.001.001.03).
 */

export type StatementLineKind = 'sale' | 'cancellation' | 'reversal';

export interface StatementLine {
  /** Ledger row id of the sale or correction; unique and stable. */
  readonly id: number;
  /** The transaction id of the sale (a correction carries the id of the sale it corrects in `corrects`). */
  readonly txnId: string;
  readonly kind: StatementLineKind;
  /** For a cancellation or a reversal: the transaction id of the sale it corrects. */
  readonly corrects: string | null;
  /** When the sale happened (terminal clock for terminal sales), ms since the epoch. */
  readonly saleAt: number;
  /** When the gateway recorded it, ms since the epoch. */
  readonly recordedAt: number;
  readonly terminalId: string | null;
  /** Masked card number, e.g. `8250 •••• •••• 8901`: a statement never carries a whole card number. */
  readonly cardMasked: string;
  readonly benefit: Benefit;
  readonly unit: Unit;
  /** What was taken from (or, negative, given back to) the benefit, in its unit. */
  readonly quantity: number;
  /** What the Region pays the partner for this line, in cents; negative for corrections. */
  readonly amountCents: number;
  /** True when the sale happened before this statement's period (it arrived late, e.g. offline). */
  readonly adjustment: boolean;
}

export type StatementStatus = 'ready' | 'held' | 'paid';

export interface Statement {
  /** e.g. `S-P-LIB-LYON-2022-10`, unique. */
  readonly id: string;
  readonly partnerId: string;
  readonly partnerName: string;
  /** Inclusive period, local dates (Europe/Paris), `YYYY-MM-DD`. */
  readonly periodFrom: string;
  readonly periodTo: string;
  readonly createdAt: number;
  /** `held`: an equipment shop without its yearly proof (sticker/logo) on record; not paid until released. */
  readonly status: StatementStatus;
  /**
   * The campaigns (school years, e.g. `2022-2023`) of the statement's lines whose yearly proof the partner
   * has not sent: what a held statement waits for. Empty for any statement not held.
   */
  readonly proofMissing: readonly string[];
  /** Sum of `lines[].amountCents`. */
  readonly totalCents: number;
  /** When it was paid, and the SEPA file that paid it; null until then. */
  readonly paidAt: number | null;
  readonly paidBy: string | null;
  /** Ordered by sale time, then id. */
  readonly lines: readonly StatementLine[];
}

export interface BankAccount {
  readonly name: string;
  readonly iban: string;
  readonly bic: string;
}

/** One credit transfer in a SEPA file: one statement paid to one partner. */
export interface Payment {
  /** End-to-end id carried to the partner's bank statement (max 35 chars): the statement id. */
  readonly endToEndId: string;
  readonly creditor: BankAccount;
  /** Positive integer cents. */
  readonly amountCents: number;
  /** Unstructured remittance text (max 140 chars), e.g. "Pass'Région remboursement 2022-10". */
  readonly remittance: string;
}

export interface CreditTransferFile {
  /** Message id (max 35 chars, unique per file). */
  readonly messageId: string;
  readonly createdAt: Date;
  /** The Region's account that pays. */
  readonly debtor: BankAccount;
  /** Requested execution date, `YYYY-MM-DD`. */
  readonly executionDate: string;
  readonly payments: readonly Payment[];
}
