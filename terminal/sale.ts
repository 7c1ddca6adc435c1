import type { Benefit, Unit } from '../protocol/benefits.ts';
import type { Code, RejectCode } from '../protocol/codes.ts';
import type { CardProof, DebitReplyBody } from '../protocol/messages.ts';

/**
 * A sale as the cashier keys it, and how it can end: the words the lifecycle (`lifecycle.ts`), the screens
 * (`screens.ts`) and the runtime share, kept apart so that none of them imports another for its types.
 */

export interface Sale {
  readonly benefit: Benefit;
  readonly unit: Unit;
  /** In the benefit's unit: cents, or entries for cinema and museums. */
  readonly amount: number;
}

/** The credential as the request carries it: the card with its signature of the sale, or a QR code with the sealed code. */
export type CredentialDraft = { readonly kind: 'nfc'; readonly cardNumber: string; readonly proof: CardProof } | { readonly kind: 'qr'; readonly cardNumber: string; readonly pinBlock: string };

export type Outcome =
  | { readonly kind: 'approved'; readonly txnId: string; readonly reply: DebitReplyBody }
  | { readonly kind: 'declined'; readonly txnId: string; readonly reply: DebitReplyBody }
  /** Accepted offline under the signed policy: provisional until the gateway settles it. */
  | { readonly kind: 'offline'; readonly txnId: string; readonly sale: Sale }
  /** Refused by the terminal itself: offline limits, or no reply and no offline acceptance possible. */
  | { readonly kind: 'refused'; readonly code: Code; readonly sale: Sale }
  | { readonly kind: 'rejected'; readonly txnId: string; readonly code: RejectCode }
  | { readonly kind: 'cancelled'; readonly code: Code };
