import type { Statement } from '../reimbursement/types.ts';

export interface ProofResult {
  /** Held statements now ready to pay. */
  readonly released: number;
  /** The partner's statements still held, each with the campaigns whose proof it still waits for. */
  readonly stillHeld: readonly { readonly statementId: string; readonly proofMissing: readonly string[] }[];
}

/** R11: what the Region owes each partner, stated per period, held until proven, paid by SEPA file. */
export interface StatementLedger {
  /** R11: close a partner's statement for a period: every line recorded up to the period's end not yet stated. */
  closeStatement(partnerId: string, periodFrom: string, periodTo: string, at: number): Promise<Statement>;
  statement(id: string): Promise<Statement | undefined>;
  statements(filter: { partnerId?: string; status?: Statement['status'] }): Promise<Statement[]>;
  /**
   * The yearly proof (sticker and logo) of an equipment shop, for one campaign (the school year whose
   * wallets its sales took from: 7 June to 31 May for equipment); releases the held statements that waited
   * only for it, and says which stay held and for which campaigns.
   */
  recordProof(partnerId: string, campaign: string, at: number): Promise<ProofResult>;
  /**
   * Mark statements paid by a SEPA file, and keep the file (same transaction): a file whose download was
   * lost can be fetched again, and every paid statement names the file that paid it.
   */
  markPaid(statementIds: readonly string[], at: number, file: { readonly id: string; readonly xml: string }): Promise<void>;
  sepaFile(id: string): Promise<{ readonly id: string; readonly createdAt: number; readonly xml: string; readonly statementIds: readonly string[] } | undefined>;
}
