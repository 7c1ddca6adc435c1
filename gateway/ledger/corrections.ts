import type { Unit } from '../../protocol/benefits.ts';

/** A correction applied. Refusals throw PasserelleError: SALE_UNKNOWN, ALREADY_CORRECTED, NOT_SAME_DAY, NOT_YOUR_SALE, SALE_GUARANTEED. */
export interface CorrectionResult {
  readonly txnId: string;
  readonly amount: number;
  readonly unit: Unit;
  /** Back into the wallet, or to the Region when the wallet's window has ended (the value would have expired). */
  readonly to: 'wallet' | 'region';
}

export interface ExpiryResult {
  readonly wallets: number;
  /** What went back to the Region, per unit. */
  readonly returned: { readonly cent: number; readonly entry: number };
  /** False when `maxWallets` stopped the sweep: call again for the rest. */
  readonly done: boolean;
}

/** Value that goes back after a sale: a partner's cancellation, the Region's reversal, and the expiry sweep (R7). */
export interface CorrectionLedger {
  /** A partner cancels its own sale, the same local day. A sale the offline guarantee paid: SALE_GUARANTEED. */
  cancelSale(txnId: string, partnerId: string, at: number): Promise<CorrectionResult>;
  /** The Region reverses a sale, at any later time. A sale the offline guarantee paid: SALE_GUARANTEED. */
  reverseSale(txnId: string, reason: string, at: number): Promise<CorrectionResult>;
  /**
   * R7: return the unspent value of every wallet whose window ended at or before `at`; at most
   * `maxWallets` in one transaction, so a caller can sweep a whole campaign in short steps.
   */
  expire(at: number, maxWallets?: number): Promise<ExpiryResult>;
}
