import type { Benefit, PartnerType, Unit } from '../../protocol/benefits.ts';
import type { DeclineCode } from '../../protocol/codes.ts';
import type { DebitRequestBody, VoidRequestBody } from '../../protocol/messages.ts';
import { chainHash, type HotlistReason, type OfflineLimits } from '../../protocol/offline.ts';
import type { CampaignDef } from '../campaigns.ts';
import type { Statement } from '../reimbursement/types.ts';
import type { CardLoadRow } from '../bulk/types.ts';
import type { CardProofCheck, PinCheck, PinGate } from '../rules.ts';

/**
 * The wallet ledger, behind one interface with one contract test suite (`contract.ts`) that every backend
 * passes. Today: SQLite (embedded default). PostgreSQL for region scale comes later behind the same
 * interface.
 *
 * It is a double-entry journal: every movement is a transfer from one account to another, of a positive
 * amount in one unit. Loading a benefit moves value from the Region's funding account for that benefit
 * and campaign to the youth's wallet; a sale moves it from the wallet to what the Region owes the partner;
 * a correction moves it back; expiry returns what is left to the funding account; a replacement fee goes
 * to the Region's fee account. An account's balance is credits − debits; a wallet's balance is never below
 * zero and never above what was loaded into it.
 *
 * Wallets belong to the youth's dossier, not to a card (R1: the card number is not the dossier number), so
 * a replacement card carries the remaining balances without moving any value (R4).
 *
 * Offline sales (docs/offline.md): what a wallet cannot pay of an offline sale accepted within the signed
 * policy is paid to the partner by the Region's offline guarantee (a 'guarantee' transfer from the Region's
 * `offline-guarantee:<unit>` account), recorded as a loss, and the card is soft-blocked for offline sales.
 */

export interface PartnerRecord {
  readonly id: string;
  readonly name: string;
  readonly type: PartnerType;
  /** The partnership convention's first and last valid days (R10), local dates `YYYY-MM-DD`. */
  readonly conventionFrom: string;
  readonly conventionTo: string;
  /** What the Region pays per entry, in cents: cinema entries (by convention) and museum visits (0 if free). */
  readonly entryPriceCents?: number;
  /** For SEPA reimbursement; optional until the partner has sent its bank details. */
  readonly iban?: string | null;
  readonly bic?: string | null;
}

export interface TerminalRecord {
  readonly id: string;
  readonly partnerId: string;
  readonly publicKey: Uint8Array;
  readonly active: boolean;
}

export type CardStatus = 'active' | 'opposed';
export type OppositionReason = 'lost' | 'stolen' | 'broken' | 'school_change';

export interface CardRecord {
  readonly number: string;
  readonly dossierId: string;
  readonly holder: string;
  readonly status: CardStatus;
  /** The slow hash of the secret code (see pin-hash.ts), or null until the youth sets one. */
  readonly pinHash: string | null;
  /** Wrong codes since the last right one (R3; see `pinGate` for what they block). */
  readonly pinFailures: number;
}

/**
 * What an operator knows of a card without its number (issue 12): the youth's name (words, in any case,
 * with or without accents; a word may be the start of one), the dossier id, or the printed card's first
 * and last four digits (the masked number). Every criterion given must match.
 */
export interface CardSearch {
  readonly holder?: string;
  readonly dossierId?: string;
  readonly first4?: string;
  readonly last4?: string;
}

export interface IssueCard {
  readonly number: string;
  /** The youth's dossier; created with the first card. Defaults to `D-<card number>`. */
  readonly dossierId?: string;
  readonly holder: string;
  readonly pinHash: string | null;
  readonly at?: number;
}

export interface LoadRecord {
  readonly cardNumber: string;
  readonly benefit: Benefit;
  readonly campaign: string;
  /** In the benefit's unit; 0 for an access benefit (museums). */
  readonly amount: number;
  readonly at: number;
}

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

/** A card's place on the hotlist as the ledger keeps it: by number (published by chip-key tag). */
export interface CardHotlistEntry {
  readonly card: string;
  /** null: the card left the hotlist. */
  readonly reason: HotlistReason | null;
}

/** The Region's offline exposure and what it lost (docs/offline.md, "same card at two terminals"). */
export interface OfflineReport {
  readonly policy: { readonly version: number; readonly issuedAt: number; readonly limits: OfflineLimits } | null;
  /**
   * The most the Region can lose on one card in one day: min(per-card-day amount, per-sale maximum × per-
   * card-day count) times every active terminal (conservative: the card could be used at each). 0 when
   * no policy is stored or it disables offline sales.
   */
  readonly boundPerCardDayCents: number;
  readonly offlineSales: number;
  readonly guaranteedCents: number;
  readonly guaranteedEntries: number;
  /**
   * Offline sales that broke the policy the terminal held, as the gateway judges it (QR credential, unknown
   * or disabled policy version, no valid card signature, an implausible sale time, a card on the hotlist the
   * terminal must have held, an amount over the per-sale maximum, the per-card-day or pending limits):
   * settled by the rules alone, never guaranteed. Counted whether or not the wallet paid in full.
   */
  readonly breaches: number;
  /**
   * Terminals that broke the offline policy, as the gateway judged from its own records, the most breaches
   * first: how many, of which kinds (docs/offline.md), and when the latest was recorded. For the Region to
   * look into (a stolen key, a tampered terminal, a wrong clock).
   */
  readonly flaggedTerminals: readonly { readonly terminalId: string; readonly breaches: number; readonly kinds: Readonly<Record<string, number>>; readonly lastAt: number }[];
  readonly softBlockedCards: number;
  /** The latest losses, newest first. */
  readonly losses: readonly OfflineLoss[];
}

export interface OfflineLoss {
  readonly txnId: string;
  readonly cardNumber: string;
  readonly partnerId: string;
  readonly terminalId: string;
  readonly benefit: Benefit;
  readonly unit: Unit;
  /** What the Region covered (in the benefit's unit) and, for entries, in cents at the partner's price. */
  readonly amount: number;
  readonly amountCents: number;
  /** The decline the wallet alone would have given, or BENEFIT_EXHAUSTED-like partial cover ('PARTIAL'). */
  readonly reason: string;
  readonly saleAt: number;
  readonly recordedAt: number;
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

export interface ProofResult {
  /** Held statements now ready to pay. */
  readonly released: number;
  /** The partner's statements still held, each with the campaigns whose proof it still waits for. */
  readonly stillHeld: readonly { readonly statementId: string; readonly proofMissing: readonly string[] }[];
}

export interface Opposition {
  readonly cardNumber: string;
  readonly reason: OppositionReason;
  /** The new card, when one is issued at the same time. */
  readonly replacement?: { readonly number: string; readonly holder?: string };
  readonly at: number;
}

export interface OppositionResult {
  readonly feeCents: number;
  /** The wallet the fee was taken from, or null when none was (free reason, or no benefit could pay it). */
  readonly feeFrom: { readonly benefit: Benefit; readonly campaign: string } | null;
  readonly replacement: string | null;
}

export interface Suspension {
  readonly cardNumber: string;
  /** null: every benefit of the campaign (R5: "all or part"); a list: each of those (a group, say), at once. */
  readonly benefit: Benefit | readonly Benefit[] | null;
  readonly campaign: string;
  readonly reason: string;
  readonly at: number;
}

/** A correction applied. Refusals throw PasserelleError: SALE_UNKNOWN, ALREADY_CORRECTED, NOT_SAME_DAY, NOT_YOUR_SALE, SALE_GUARANTEED. */
export interface CorrectionResult {
  readonly txnId: string;
  readonly amount: number;
  readonly unit: Unit;
  /** Back into the wallet, or to the Region when the wallet's window has ended (the value would have expired). */
  readonly to: 'wallet' | 'region';
}

/**
 * R12: the youths of one outing, approved by the Region (for their school) for one partner and benefit.
 * A group sale names its list: only cards on it, each paid once under it, within the amount per youth.
 */
export interface GroupList {
  readonly id: string;
  readonly partnerId: string;
  readonly benefit: Benefit;
  /** The outing, e.g. "Lycée du Parc, sortie théâtre 12/10". */
  readonly reference: string;
  readonly cardNumbers: readonly string[];
  /** Most taken per youth, in the benefit's unit. */
  readonly maxPerYouth: number;
  /** The last moment a group sale may use it. */
  readonly validUntil: number;
  readonly createdAt: number;
  readonly createdBy: string;
}

export interface GroupSale {
  /** Minted by the caller; a repeat with the same content gets the original results. */
  readonly groupId: string;
  /** The Region's approved list the group's cards come from. */
  readonly listId: string;
  readonly partnerId: string;
  readonly benefit: Benefit;
  /** Per youth, in the benefit's unit. */
  readonly amount: number;
  readonly cardNumbers: readonly string[];
  readonly reference: string;
  readonly at: number;
}

export interface GroupSaleLine {
  readonly cardNumber: string;
  readonly txnId: string;
  readonly status: 'approved' | 'declined';
  readonly code?: DeclineCode;
  readonly taken: number;
  readonly remainingToPay: number;
}

export interface GroupSaleResult {
  readonly groupId: string;
  readonly fresh: boolean;
  readonly lines: readonly GroupSaleLine[];
}

export interface ExpiryResult {
  readonly wallets: number;
  /** What went back to the Region, per unit. */
  readonly returned: { readonly cent: number; readonly entry: number };
  /** False when `maxWallets` stopped the sweep: call again for the rest. */
  readonly done: boolean;
}

export interface BulkLoadResult {
  readonly cards: number;
  readonly loads: number;
}

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

export type ApiRole = 'operator' | 'technician' | 'partner';

/** An HTTP API token: only its hash is stored. A partner token sees only its partner's data. */
export interface ApiTokenRecord {
  readonly name: string;
  readonly role: ApiRole;
  readonly partnerId: string | null;
  readonly createdAt: number;
}

/** One line of the audit log: who did what to which terminal, code, card or token (docs/security.md). */
export interface AuditEntry {
  readonly id: number;
  readonly at: number;
  /** `<role>:<token name>` for an API caller, `enrolment-code:<id>` for a terminal enrolling, `gateway` for itself. */
  readonly actor: string;
  /** e.g. `terminal.registered`, `terminal.key-replaced`, `enrolment-code.failed`, `card.key-recorded`. */
  readonly action: string;
  /** What it was done to: a terminal id, a masked card number, a token id. */
  readonly subject: string;
  readonly details: Readonly<Record<string, unknown>> | null;
}

/** A terminal's admitted connect (gateway/contacts.ts): when, with which outbox head, and its token's time. */
export interface TerminalContact {
  readonly terminalId: string;
  /** The sequence number of the terminal's last record when it connected (0: none). */
  readonly headSeq: number;
  /** The gateway's clock. */
  readonly at: number;
  readonly tokenMs: number;
}

/** An enrolment code as stored: its secret part only as a hash (gateway/enrolment.ts). */
export interface EnrolmentCodeRecord {
  readonly id: string;
  readonly secretHash: string;
  readonly partnerId: string;
  readonly terminalId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly maxTries: number;
  readonly failures: number;
  readonly createdBy: string;
  readonly usedAt: number | null;
  readonly revokedAt: number | null;
}

export interface Ledger {
  terminal(id: string): TerminalRecord | undefined;
  card(number: string): CardRecord | undefined;
  /** Cards matching every criterion given (at least one), active ones first, then by holder; at most `limit`. */
  searchCards(q: CardSearch, limit: number): CardRecord[];
  partner(id: string): PartnerRecord | undefined;
  partners(): PartnerRecord[];
  terminalsOf(partnerId: string): TerminalRecord[];

  /**
   * Decide and apply a batch of terminal records (sales and voids) in one transaction. Outcomes are in the
   * order of `items`. Either every item is decided and durable when this returns, or it throws and nothing
   * is. A repeat (same transaction id and fingerprint) gets its original reply; a fresh record takes its
   * place in its terminal's sequence (`seq-conflict` when another record holds the number) and chain (a
   * `prev` that does not match is recorded as a chain break, the record still decided).
   */
  commitDebits(items: readonly LedgerItem[], decidedAt: number): CommitOutcome[];

  /**
   * The offline policy in force: stores `limits` as a new version when they differ from the latest one
   * (a gateway started with a changed configuration), and returns the latest. Versions are kept, so an
   * offline sale is judged by the exact limits its terminal held.
   */
  setOfflinePolicy(limits: OfflineLimits, at: number): { readonly version: number; readonly issuedAt: number; readonly limits: OfflineLimits };
  offlinePolicy(version: number): OfflineLimits | undefined;
  /**
   * The hotlist's current version (0: never changed). A transaction that changes what terminals see
   * (opposition, suspension or its lifting, soft block or its lifting) bumps it once, however many cards.
   * A card's reason is the strongest that holds: opposed > suspended (any suspension of its dossier in
   * force, whole or partial: offline acceptance is refused for the whole card) > soft.
   */
  hotlistVersion(): number;
  /**
   * Cards whose hotlist state changed after `base`, removals (reason null) included; `base` 0: the whole
   * list, removals left out. A card unknown to the ledger may be listed (soft-blocked after an offline loss).
   */
  hotlist(base: number): { readonly version: number; readonly entries: CardHotlistEntry[] };
  /** The Region lifts an offline soft block; false when the card had none. A stronger reason still holds. */
  liftSoftBlock(cardNumber: string, at: number): boolean;
  /** Gap detection for one terminal's records; `limit` (default 100) bounds `missing`. */
  terminalSync(terminalId: string, limit?: number): TerminalSync;
  /** `limit` (default 50): how many of the latest losses to list. */
  offlineReport(limit?: number): OfflineReport;

  addCampaign(def: CampaignDef): void;
  campaigns(): CampaignDef[];
  addPartner(p: PartnerRecord): void;
  updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): void;
  /**
   * The yearly proof (sticker and logo) of an equipment shop, for one campaign (the school year whose
   * wallets its sales took from: 7 June to 31 May for equipment); releases the held statements that waited
   * only for it, and says which stay held and for which campaigns.
   */
  recordProof(partnerId: string, campaign: string, at: number): ProofResult;
  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): void;
  setTerminalActive(id: string, active: boolean): void;
  /** A replaced device: the new key takes over at once and the terminal is active; the old key is refused from now on. */
  replaceTerminalKey(id: string, publicKey: Uint8Array): void;

  /** Record admitted connects in one transaction (contacts by head, the last token time, the connect time). */
  recordContacts(contacts: readonly TerminalContact[]): void;
  /** The time in the last connect token admitted for this terminal (0: none). */
  lastConnectTokenMs(terminalId: string): number;
  /**
   * When record `seq` of a terminal can have been made, from its contacts alone: after the latest contact
   * whose head is below `seq`, and no later than the earliest whose head reaches it (null: no such contact).
   */
  contactBounds(terminalId: string, seq: number): { readonly after: number | null; readonly before: number | null };

  addAudit(e: Omit<AuditEntry, 'id'>): void;
  /** Newest first; `limit` at most 1,000. */
  auditLog(filter: { readonly subject?: string; readonly action?: string; readonly limit: number }): AuditEntry[];
  addEnrolmentCode(c: Omit<EnrolmentCodeRecord, 'failures' | 'usedAt' | 'revokedAt'>): void;
  enrolmentCode(id: string): EnrolmentCodeRecord | undefined;
  /** Codes not yet used nor revoked, newest first. */
  openEnrolmentCodes(): EnrolmentCodeRecord[];
  /** One more wrong try; returns the count. */
  countEnrolmentFailure(id: string): number;
  /** Mark used; false when it already was (or was revoked): a code enrols once. */
  useEnrolmentCode(id: string, at: number): boolean;
  revokeEnrolmentCode(id: string, at: number): boolean;
  issueCard(c: IssueCard): void;
  /**
   * Record the chip key of a card at personalisation (gateway/personalise.ts). A key belongs to one card;
   * a card that already has another key is re-keyed (its old chip no longer proves sales).
   */
  setCardKey(cardNumber: string, publicKey: Uint8Array, expiry: string, at: number): void;
  cardKey(cardNumber: string): { readonly publicKey: Uint8Array; readonly expiry: string } | undefined;
  /** The chip keys of these cards, by number; cards without one are left out. */
  cardKeys(cardNumbers: readonly string[]): Map<string, Uint8Array>;
  setPin(cardNumber: string, pinHash: string | null): void;
  /** An operator lifts a code lock (R3) without changing the code. */
  unlockPin(cardNumber: string): void;
  /**
   * Where a youth's code stands for a QR sale at this partner (null: at none in particular) at `at`
   * (rules.ts `PIN_TRIES`): open, tried too often today, or locked.
   */
  pinGate(cardNumber: string, partnerId: string | null, at: number): PinGate;
  load(l: LoadRecord): void;
  /** Load a start-of-year file's rows (new cards and their benefits). All of them or none. */
  bulkLoad(rows: Iterable<CardLoadRow>, at: number): BulkLoadResult;

  /** R4: block a card, take the fee when the reason calls for it, and issue the replacement if given. */
  oppose(o: Opposition): OppositionResult;
  /** R5: suspend all or part of a youth's benefits for the rest of a campaign. */
  suspend(s: Suspension): void;
  /** Lift the suspension of one benefit, of each of a list (those in force; at least one), or the whole-campaign one (null). */
  liftSuspension(cardNumber: string, benefit: Benefit | readonly Benefit[] | null, campaign: string, at: number): void;

  /** A partner cancels its own sale, the same local day. A sale the offline guarantee paid: SALE_GUARANTEED. */
  cancelSale(txnId: string, partnerId: string, at: number): CorrectionResult;
  /** The Region reverses a sale, at any later time. A sale the offline guarantee paid: SALE_GUARANTEED. */
  reverseSale(txnId: string, reason: string, at: number): CorrectionResult;
  /** R12: a school's outing paid with the shows or cinema benefit, each youth's debit on its own, from an approved list. */
  groupSale(g: GroupSale): GroupSaleResult;
  addGroupList(l: GroupList): void;
  /** The list, with the cards already paid under it. */
  groupList(id: string): (GroupList & { readonly paid: readonly string[] }) | undefined;
  /**
   * R7: return the unspent value of every wallet whose window ended at or before `at`; at most
   * `maxWallets` in one transaction, so a caller can sweep a whole campaign in short steps.
   */
  expire(at: number, maxWallets?: number): ExpiryResult;

  /** R11: close a partner's statement for a period: every line recorded up to the period's end not yet stated. */
  closeStatement(partnerId: string, periodFrom: string, periodTo: string, at: number): Statement;
  statement(id: string): Statement | undefined;
  statements(filter: { partnerId?: string; status?: Statement['status'] }): Statement[];
  /**
   * Mark statements paid by a SEPA file, and keep the file (same transaction): a file whose download was
   * lost can be fetched again, and every paid statement names the file that paid it.
   */
  markPaid(statementIds: readonly string[], at: number, file: { readonly id: string; readonly xml: string }): void;
  sepaFile(id: string): { readonly id: string; readonly createdAt: number; readonly xml: string; readonly statementIds: readonly string[] } | undefined;

  /** `demo`: made by the demo seeding, withdrawn by `revokeDemoTokens` when the demo is switched off. */
  addApiToken(t: ApiTokenRecord & { readonly tokenHash: string; readonly demo?: boolean }): void;
  apiToken(tokenHash: string): ApiTokenRecord | undefined;
  /** Tokens in force, each with its id (the first 16 hex digits of its hash, not a secret). */
  apiTokens(): (ApiTokenRecord & { readonly id: string })[];
  /** Revoke a token by its id; false when no token in force has it. */
  revokeApiToken(id: string, at: number): boolean;
  /** Revoke every token the demo seeding made; returns how many were still in force. */
  revokeDemoTokens(at: number): number;

  /** Run several writes as one transaction (seeding, bulk loads): all of them or none. */
  atomically<T>(fn: () => T): T;

  /** The balance of the wallet a sale would use now (or the newest), for tests and the admin API. */
  walletBalance(cardNumber: string, benefit: Benefit, at?: number): number | undefined;
  wallets(cardNumber: string, at: number): WalletView[];
  history(cardNumber: string, limit: number): HistoryEntry[];
  request(txnId: string): StoredRequest | undefined;
  transfersForTxn(txnId: string): TransferRecord[];
  conflictCount(txnId?: string): number;
  counts(): { partners: number; terminals: number; cards: number; requests: number; transfers: number };

  /** Check every invariant of the journal; returns what is violated (empty when all hold). */
  audit(): string[];
  close(): void;
}
