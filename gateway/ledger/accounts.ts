import type { Benefit, Unit } from '../../protocol/benefits.ts';

/**
 * The web space's people and what they do there (docs/web.md): partner staff and Region agents with a
 * password, invited by a single-use link; the partners' signatures of their convention; the sales list a
 * partner follows. Passwords and invitation links are stored as hashes only.
 */

/** Partner staff: `manager` (everything of its partner), `cashier` (the counter and the sales), `accountant` (sales and statements). Region: `operator`, `technician`. */
export type WebRole = 'manager' | 'cashier' | 'accountant' | 'operator' | 'technician';
export const PARTNER_WEB_ROLES = ['manager', 'cashier', 'accountant'] as const satisfies readonly WebRole[];
export const REGION_WEB_ROLES = ['operator', 'technician'] as const satisfies readonly WebRole[];

export function isPartnerWebRole(r: WebRole): r is (typeof PARTNER_WEB_ROLES)[number] {
  return (PARTNER_WEB_ROLES as readonly WebRole[]).includes(r);
}

export interface WebUser {
  readonly id: string;
  /** Lower case; unique. */
  readonly email: string;
  readonly name: string;
  readonly role: WebRole;
  /** Set for partner staff, null for the Region. */
  readonly partnerId: string | null;
  /** Null until the invitation is accepted. */
  readonly passwordHash: string | null;
  /** Wrong passwords since the last right one. */
  readonly failedLogins: number;
  /** While set and in the future, no login is tried. */
  readonly lockedUntil: number | null;
  /** Raised at logout and at every password change: a session cookie of an older epoch is refused. */
  readonly sessionEpoch: number;
  readonly createdAt: number;
  readonly invitedBy: string;
  readonly inviteExpiresAt: number | null;
  readonly disabledAt: number | null;
}

export interface NewWebUser {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly role: WebRole;
  readonly partnerId: string | null;
  /** SHA-256 of the invitation link's secret, base64url. */
  readonly inviteHash: string;
  readonly inviteExpiresAt: number;
  readonly createdAt: number;
  readonly invitedBy: string;
}

export interface ConventionSignature {
  readonly partnerId: string;
  /** Which convention text (e.g. `convention-2022-2027`). */
  readonly documentId: string;
  /** SHA-256 of the exact text signed, hex. */
  readonly documentSha256: string;
  readonly userId: string;
  /** The name the signer typed. */
  readonly signerName: string;
  readonly signedAt: number;
}

export type SaleState = 'valid' | 'cancelled' | 'reversed';

export interface SaleFilter {
  readonly partnerId: string;
  /** Sale time bounds, epoch ms: from inclusive, to exclusive. */
  readonly from?: number;
  readonly to?: number;
  readonly benefit?: Benefit;
  readonly terminalId?: string;
  readonly state?: SaleState;
  readonly limit: number;
}

/** One sale of a partner as the partner follows it (from the reimbursement lines, R11). */
export interface SaleLine {
  readonly txnId: string;
  readonly terminalId: string | null;
  readonly groupId: string | null;
  readonly cardNumber: string;
  readonly benefit: Benefit;
  readonly unit: Unit;
  /** Taken from the benefit: cents, or entries. */
  readonly quantity: number;
  /** What the Region owes the partner for it, in cents. */
  readonly amountCents: number;
  /** The part the Region's offline guarantee paid. */
  readonly guaranteed: number;
  readonly saleAt: number;
  readonly recordedAt: number;
  readonly state: SaleState;
  readonly correctedAt: number | null;
  readonly statementId: string | null;
}

/** A partner's request for a new terminal, which the Region approves (and makes its enrolment code) or refuses. */
export interface TerminalRequest {
  readonly id: string;
  readonly partnerId: string;
  /** The web user who asked. */
  readonly requestedBy: string;
  /** Where it goes (the shop, the counter) and why, as the partner wrote it. */
  readonly site: string;
  readonly note: string;
  readonly createdAt: number;
  readonly status: 'open' | 'approved' | 'refused';
  readonly decidedBy: string | null;
  readonly decidedAt: number | null;
  /** Approved: the terminal id given and the enrolment code made for it (its id, never the code). */
  readonly terminalId: string | null;
  readonly codeId: string | null;
  /** Refused: why, for the partner. */
  readonly refusal: string | null;
}

export type TerminalRequestDecision =
  | { readonly status: 'approved'; readonly terminalId: string; readonly codeId: string }
  | { readonly status: 'refused'; readonly refusal: string };

/** One day's sales of one benefit (Paris day), for the Region's charts. */
export interface DailySales {
  /** `YYYY-MM-DD`, Paris time. */
  readonly day: string;
  readonly benefit: Benefit;
  readonly sales: number;
  /** Sales made offline (accepted by a terminal without the gateway, settled later). */
  readonly offline: number;
  readonly amountCents: number;
}

export interface AccountLedger {
  /** Refused with `ALREADY_EXISTS` when the e-mail is taken, `DATA_INVALID` for an unknown partner. */
  addWebUser(u: NewWebUser): Promise<void>;
  webUser(id: string): Promise<WebUser | undefined>;
  webUserByEmail(email: string): Promise<WebUser | undefined>;
  /** The user whose open invitation has this hash (accepted, expired or not). */
  webUserByInvite(inviteHash: string): Promise<WebUser | undefined>;
  /** A partner's staff (partnerId), or the Region's agents (null); oldest first. */
  webUsers(partnerId: string | null): Promise<WebUser[]>;
  /** Set the password of an invited user and close the invitation; false when it is not open at `at`. */
  acceptInvitation(id: string, inviteHash: string, passwordHash: string, at: number): Promise<boolean>;
  /**
   * A wrong password: count it and, at `lockAfter` in a row, lock the account until `at + lockForMs`
   * (the count starts again after the lock). Returns the user as it now stands.
   */
  recordLoginFailure(id: string, at: number, lockAfter: number, lockForMs: number): Promise<WebUser>;
  /** A right password: the count goes back to zero. */
  recordLoginSuccess(id: string): Promise<void>;
  /** End every session of the user (logout, password change, disabling). */
  endSessions(id: string): Promise<void>;
  /** A new password, typed by the user: every other session ends. */
  setWebPassword(id: string, passwordHash: string): Promise<void>;
  /**
   * A new invitation link for an existing account (a forgotten password, an expired invitation); its
   * password stays valid until the link is used. False for a disabled or unknown account.
   */
  renewInvitation(id: string, inviteHash: string, expiresAt: number): Promise<boolean>;
  /** No more login for this user, its sessions and any open invitation ended; false when already disabled or unknown. */
  disableWebUser(id: string, at: number): Promise<boolean>;
  /** Record a convention signature; a partner signs a document once (the first signature is returned again). */
  signConvention(s: ConventionSignature): Promise<ConventionSignature>;
  conventionSignature(partnerId: string, documentId: string): Promise<ConventionSignature | undefined>;
  /** A partner's sales, newest first, at most `limit`, with their corrections. */
  partnerSales(f: SaleFilter): Promise<SaleLine[]>;
  /** One approved sale, by its transaction id, with its correction if any. */
  saleOf(txnId: string): Promise<SaleLine | undefined>;
  addTerminalRequest(r: Pick<TerminalRequest, 'id' | 'partnerId' | 'requestedBy' | 'site' | 'note' | 'createdAt'>): Promise<void>;
  terminalRequest(id: string): Promise<TerminalRequest | undefined>;
  /** Newest first; a partner's (partnerId), or all; only those of a status when given. */
  terminalRequests(filter: { readonly partnerId?: string; readonly status?: TerminalRequest['status'] }): Promise<TerminalRequest[]>;
  /** Decide an open request; false when it is not open (already decided, or unknown). */
  decideTerminalRequest(id: string, d: TerminalRequestDecision, by: string, at: number): Promise<boolean>;
  /** The school years whose yearly proof (sticker, logo) the partner has sent (equipment shops). */
  partnerProofs(partnerId: string): Promise<string[]>;
  /**
   * Sales per Paris day and benefit between two local dates (inclusive), every partner: the console's
   * charts. Days without sales are absent.
   */
  dailySales(fromDay: string, toDay: string): Promise<DailySales[]>;
}
