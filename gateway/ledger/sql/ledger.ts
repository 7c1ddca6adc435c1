import type { Benefit } from '../../../protocol/benefits.ts';
import { OfflineLimits } from '../../../protocol/offline.ts';
import type { CardLoadRow } from '../../bulk/types.ts';
import type { CampaignDef } from '../../campaigns.ts';
import type { Statement } from '../../reimbursement/types.ts';
import type { PinGate } from '../../rules.ts';
import type { TerminalSettings } from '../../../protocol/terminal-settings.ts';
import type { CardRecord, CardSearch, IssueCard, Opposition, OppositionResult, Suspension, CorrectionResult, ExpiryResult, LedgerItem, CommitOutcome, TerminalSync, TransferRecord, StoredRequest, AuditEntry, TerminalContact, EnrolmentCodeRecord, TerminalHeartbeat, FleetEntry, FleetFilter, FleetTotals, NewTerminalSettings, GroupList, GroupSale, GroupSaleResult, CardHotlistEntry, OfflineReport, PartnerRecord, TerminalRecord, ProofResult, ApiTokenRecord, LoadRecord, BulkLoadResult, WalletView, HistoryEntry, Ledger } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { SqlDb } from './db.ts';
import { createHash } from 'node:crypto';
import type { Lease } from '../base.ts';
import { SqlRegistry } from './registry.ts';
import { SqlFleet } from './fleet.ts';
import { SqlTokens } from './tokens.ts';
import { SqlStatements } from './statements.ts';
import { SqlCards } from './cards.ts';
import { SqlWallets } from './wallets.ts';
import { SqlDebits } from './debits.ts';
import { SqlOfflineState } from './offline-state.ts';
import { SqlCorrections } from './corrections.ts';
import { SqlGroupSales } from './group-sales.ts';
import { SqlBase } from './base.ts';
import { SqlAccounts } from './accounts.ts';
import type { ConventionSignature, DailySales, NewWebUser, SaleFilter, SaleLine, TerminalRequest, TerminalRequestDecision, WebUser } from '../accounts.ts';


/**
 * The SQL ledger, on SQLite (gateway/ledger/sqlite.ts) or PostgreSQL (gateway/ledger/postgres.ts): every
 * batch of debits in one transaction (group commit), every write method one transaction. It is made of one
 * part per role of `Ledger`, all working through one store (the driver, the prepared statements, the
 * caches), and answers each call by handing it to the part whose role it is.
 */
export class SqlLedger implements Ledger {
  readonly #st: SqlStore;
  readonly #base: SqlBase;
  readonly #registry: SqlRegistry;
  readonly #fleet: SqlFleet;
  readonly #cards: SqlCards;
  readonly #wallets: SqlWallets;
  readonly #debits: SqlDebits;
  readonly #offline: SqlOfflineState;
  readonly #corrections: SqlCorrections;
  readonly #groups: SqlGroupSales;
  readonly #statements: SqlStatements;
  readonly #tokens: SqlTokens;
  readonly #accounts: SqlAccounts;
  readonly #db: SqlDb;

  constructor(st: SqlStore) {
    this.#db = st.db;
    this.#st = st;
    this.#base = new SqlBase(st);
    this.#registry = new SqlRegistry(st);
    this.#fleet = new SqlFleet(st);
    this.#cards = new SqlCards(st);
    this.#wallets = new SqlWallets(st);
    this.#debits = new SqlDebits(st);
    this.#offline = new SqlOfflineState(st);
    this.#corrections = new SqlCorrections(st);
    this.#groups = new SqlGroupSales(st);
    this.#statements = new SqlStatements(st);
    this.#tokens = new SqlTokens(st);
    this.#accounts = new SqlAccounts(st);
  }

  // What every part shares

  /** Several writes as one transaction (seeding, bulk loads): all of them or none. A nested call joins it. */
  atomically<T>(fn: () => Promise<T>): Promise<T> {
    return this.#db.transaction(fn);
  }

  /** A read: one or a few statements, each seeing what is committed (or what the caller's transaction wrote). */
  #read<T>(call: () => Promise<T>): Promise<T> {
    return call();
  }

  /**
   * A write that opens its own transaction and keeps caches or a cursor only once it has committed (a debit
   * batch, an expiry step): not wrapped again, or what it keeps would run before the real commit.
   */
  #own<T>(call: () => Promise<T>): Promise<T> {
    return call();
  }

  /**
   * A write: its statements as one transaction, so what it reads and decides holds until it commits (writers
   * take turns, on every gateway: `SqlDb.transaction`). Inside `atomically`, a savepoint of it.
   */
  #write<T>(call: () => Promise<T>): Promise<T> {
    return this.#db.transaction(call);
  }

  counts(): Promise<{ partners: number; terminals: number; cards: number; requests: number; transfers: number }> {
    return this.#read(() => this.#base.counts());
  }
  /** A lease by name: its key is the name's hash (gateway/ledger/base.ts `lease`). */
  lease(name: string): Promise<Lease | null> {
    return this.#db.lock(leaseKey(name));
  }
  audit(): Promise<string[]> {
    return this.#read(() => this.#base.audit());
  }
  /** The driver underneath: its dialect, for tests and benches. */
  get db(): SqlDb {
    return this.#st.db;
  }
  close(): Promise<void> {
    return this.#base.close();
  }

  // Campaigns, partners and their terminals

  terminal(id: string): Promise<TerminalRecord | undefined> {
    return this.#read(() => this.#registry.terminal(id));
  }
  partner(id: string): Promise<PartnerRecord | undefined> {
    return this.#read(() => this.#registry.partner(id));
  }
  partners(): Promise<PartnerRecord[]> {
    return this.#read(() => this.#registry.partners());
  }
  terminalsOf(partnerId: string): Promise<TerminalRecord[]> {
    return this.#read(() => this.#registry.terminalsOf(partnerId));
  }
  addCampaign(def: CampaignDef): Promise<void> {
    return this.#write(() => this.#registry.addCampaign(def));
  }
  campaigns(): Promise<CampaignDef[]> {
    return this.#read(() => this.#registry.campaigns());
  }
  addPartner(p: PartnerRecord): Promise<void> {
    return this.#write(() => this.#registry.addPartner(p));
  }
  updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): Promise<void> {
    return this.#write(() => this.#registry.updatePartner(id, patch));
  }
  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): Promise<void> {
    return this.#write(() => this.#registry.addTerminal(t));
  }
  setTerminalActive(id: string, active: boolean): Promise<void> {
    return this.#write(() => this.#registry.setTerminalActive(id, active));
  }
  replaceTerminalKey(id: string, publicKey: Uint8Array): Promise<void> {
    return this.#write(() => this.#registry.replaceTerminalKey(id, publicKey));
  }

  // Terminals in the field

  recordContacts(contacts: readonly TerminalContact[]): Promise<void> {
    return this.#own(() => this.#fleet.recordContacts(contacts));
  }
  lastConnectTokenMs(terminalId: string): Promise<number> {
    return this.#read(() => this.#fleet.lastConnectTokenMs(terminalId));
  }
  contactBounds(terminalId: string, seq: number): Promise<{ after: number | null; before: number | null }> {
    return this.#read(() => this.#fleet.contactBounds(terminalId, seq));
  }
  addAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    return this.#write(() => this.#fleet.addAudit(e));
  }
  auditLog(filter: { readonly subject?: string; readonly action?: string; readonly limit: number }): Promise<AuditEntry[]> {
    return this.#read(() => this.#fleet.auditLog(filter));
  }
  addEnrolmentCode(c: Omit<EnrolmentCodeRecord, 'failures' | 'usedAt' | 'revokedAt'>): Promise<void> {
    return this.#write(() => this.#fleet.addEnrolmentCode(c));
  }
  enrolmentCode(id: string): Promise<EnrolmentCodeRecord | undefined> {
    return this.#read(() => this.#fleet.enrolmentCode(id));
  }
  openEnrolmentCodes(): Promise<EnrolmentCodeRecord[]> {
    return this.#read(() => this.#fleet.openEnrolmentCodes());
  }
  countEnrolmentFailure(id: string): Promise<number> {
    return this.#write(() => this.#fleet.countEnrolmentFailure(id));
  }
  useEnrolmentCode(id: string, at: number): Promise<boolean> {
    return this.#write(() => this.#fleet.useEnrolmentCode(id, at));
  }
  releaseEnrolmentCode(id: string, usedAt: number): Promise<boolean> {
    return this.#write(() => this.#fleet.releaseEnrolmentCode(id, usedAt));
  }
  revokeEnrolmentCode(id: string, at: number): Promise<boolean> {
    return this.#write(() => this.#fleet.revokeEnrolmentCode(id, at));
  }
  recordHeartbeat(h: TerminalHeartbeat): Promise<boolean> {
    // One upsert that keeps the newest heartbeat: no read-decide step, no writers' turn.
    return this.#read(() => this.#fleet.recordHeartbeat(h));
  }
  heartbeat(terminalId: string): Promise<TerminalHeartbeat | undefined> {
    return this.#read(() => this.#fleet.heartbeat(terminalId));
  }
  fleetTotals(): Promise<FleetTotals> {
    return this.#read(() => this.#fleet.fleetTotals());
  }
  fleet(filter: FleetFilter): Promise<FleetEntry[]> {
    return this.#read(() => this.#fleet.fleet(filter));
  }
  setTerminalSettings(s: NewTerminalSettings, at: number, actor: string): Promise<TerminalSettings> {
    return this.#write(() => this.#fleet.setTerminalSettings(s, at, actor));
  }
  terminalSettings(terminalId: string): Promise<TerminalSettings | undefined> {
    return this.#read(() => this.#fleet.terminalSettings(terminalId));
  }
  allTerminalSettings(): Promise<TerminalSettings[]> {
    return this.#read(() => this.#fleet.allTerminalSettings());
  }

  // Cards and their dossiers

  card(number: string): Promise<CardRecord | undefined> {
    return this.#read(() => this.#cards.card(number));
  }
  searchCards(q: CardSearch, limit: number): Promise<CardRecord[]> {
    return this.#read(() => this.#cards.searchCards(q, limit));
  }
  issueCard(c: IssueCard): Promise<void> {
    return this.#write(() => this.#cards.issueCard(c));
  }
  setCardKey(cardNumber: string, publicKey: Uint8Array, expiry: string, at: number): Promise<void> {
    return this.#write(() => this.#cards.setCardKey(cardNumber, publicKey, expiry, at));
  }
  cardKey(cardNumber: string): Promise<{ readonly publicKey: Uint8Array; readonly expiry: string } | undefined> {
    return this.#read(() => this.#cards.cardKey(cardNumber));
  }
  cardKeys(cardNumbers: readonly string[]): Promise<Map<string, Uint8Array>> {
    return this.#read(() => this.#cards.cardKeys(cardNumbers));
  }
  setPin(cardNumber: string, pinHash: string | null): Promise<void> {
    return this.#write(() => this.#cards.setPin(cardNumber, pinHash));
  }
  unlockPin(cardNumber: string): Promise<void> {
    return this.#write(() => this.#cards.unlockPin(cardNumber));
  }
  pinGate(cardNumber: string, partnerId: string | null, at: number): Promise<PinGate> {
    return this.#read(() => this.#cards.pinGate(cardNumber, partnerId, at));
  }
  oppose(o: Opposition): Promise<OppositionResult> {
    return this.#write(() => this.#cards.oppose(o));
  }
  suspend(s: Suspension): Promise<void> {
    return this.#write(() => this.#cards.suspend(s));
  }
  liftSuspension(cardNumber: string, benefit: Benefit | readonly Benefit[] | null, campaign: string, at: number): Promise<void> {
    return this.#write(() => this.#cards.liftSuspension(cardNumber, benefit, campaign, at));
  }

  // Wallets

  load(l: LoadRecord): Promise<void> {
    return this.#write(() => this.#wallets.load(l));
  }
  bulkLoad(rows: Iterable<CardLoadRow>, at: number): Promise<BulkLoadResult> {
    return this.#write(() => this.#wallets.bulkLoad(rows, at));
  }
  walletBalance(cardNumber: string, benefit: Benefit, at?: number): Promise<number | undefined> {
    return this.#read(() => this.#wallets.walletBalance(cardNumber, benefit, at));
  }
  wallets(cardNumber: string, at: number): Promise<WalletView[]> {
    return this.#read(() => this.#wallets.wallets(cardNumber, at));
  }
  history(cardNumber: string, limit: number): Promise<HistoryEntry[]> {
    return this.#read(() => this.#wallets.history(cardNumber, limit));
  }

  // Terminal records

  commitDebits(items: readonly LedgerItem[], decidedAt: number): Promise<CommitOutcome[]> {
    return this.#own(() => this.#debits.commitDebits(items, decidedAt));
  }
  terminalSync(terminalId: string, limit?: number): Promise<TerminalSync> {
    return this.#read(() => this.#debits.terminalSync(terminalId, limit));
  }
  chainHead(terminalId: string): Promise<{ nextSeq: number; headHash: string }> {
    return this.#read(() => this.#debits.chainHead(terminalId));
  }
  request(txnId: string): Promise<StoredRequest | undefined> {
    return this.#read(() => this.#debits.request(txnId));
  }
  transfersForTxn(txnId: string): Promise<TransferRecord[]> {
    return this.#read(() => this.#debits.transfersForTxn(txnId));
  }
  conflictCount(txnId?: string): Promise<number> {
    return this.#read(() => this.#debits.conflictCount(txnId));
  }

  // Offline state (docs/offline.md)

  setOfflinePolicy(limits: OfflineLimits, at: number): Promise<{ version: number; issuedAt: number; limits: OfflineLimits }> {
    return this.#write(() => this.#offline.setOfflinePolicy(limits, at));
  }
  offlinePolicy(version: number): Promise<OfflineLimits | undefined> {
    return this.#read(() => this.#offline.offlinePolicy(version));
  }
  hotlistVersion(): Promise<number> {
    return this.#read(() => this.#offline.hotlistVersion());
  }
  hotlist(base: number): Promise<{ version: number; entries: CardHotlistEntry[] }> {
    return this.#read(() => this.#offline.hotlist(base));
  }
  liftSoftBlock(cardNumber: string, at: number): Promise<boolean> {
    return this.#write(() => this.#offline.liftSoftBlock(cardNumber, at));
  }
  offlineReport(limit?: number): Promise<OfflineReport> {
    return this.#read(() => this.#offline.offlineReport(limit));
  }

  // Corrections (a partner's cancellation, the Region's reversal) and the expiry sweep (R7)

  cancelSale(txnId: string, partnerId: string, at: number): Promise<CorrectionResult> {
    return this.#write(() => this.#corrections.cancelSale(txnId, partnerId, at));
  }
  reverseSale(txnId: string, reason: string, at: number): Promise<CorrectionResult> {
    return this.#write(() => this.#corrections.reverseSale(txnId, reason, at));
  }
  expire(at: number, maxWallets?: number): Promise<ExpiryResult> {
    return this.#own(() => this.#corrections.expire(at, maxWallets));
  }

  // Group sales (R12)

  groupSale(g: GroupSale): Promise<GroupSaleResult> {
    return this.#write(() => this.#groups.groupSale(g));
  }
  addGroupList(l: GroupList): Promise<void> {
    return this.#write(() => this.#groups.addGroupList(l));
  }
  groupList(id: string): Promise<(GroupList & { paid: string[] }) | undefined> {
    return this.#read(() => this.#groups.groupList(id));
  }

  // Statements (R11)

  closeStatement(partnerId: string, periodFrom: string, periodTo: string, at: number): Promise<Statement> {
    return this.#write(() => this.#statements.closeStatement(partnerId, periodFrom, periodTo, at));
  }
  statement(id: string): Promise<Statement | undefined> {
    return this.#read(() => this.#statements.statement(id));
  }
  statements(filter: { partnerId?: string; status?: Statement['status'] }): Promise<Statement[]> {
    return this.#read(() => this.#statements.statements(filter));
  }
  recordProof(partnerId: string, campaign: string, at: number): Promise<ProofResult> {
    return this.#write(() => this.#statements.recordProof(partnerId, campaign, at));
  }
  markPaid(statementIds: readonly string[], at: number, file: { readonly id: string; readonly xml: string }): Promise<void> {
    return this.#write(() => this.#statements.markPaid(statementIds, at, file));
  }
  sepaFile(id: string): Promise<{ id: string; createdAt: number; xml: string; statementIds: string[] } | undefined> {
    return this.#read(() => this.#statements.sepaFile(id));
  }

  // The admin API's tokens, kept by hash

  addApiToken(t: ApiTokenRecord & { readonly tokenHash: string; readonly demo?: boolean }): Promise<void> {
    return this.#write(() => this.#tokens.addApiToken(t));
  }
  apiToken(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    return this.#read(() => this.#tokens.apiToken(tokenHash));
  }
  apiTokens(): Promise<(ApiTokenRecord & { readonly id: string })[]> {
    return this.#read(() => this.#tokens.apiTokens());
  }
  revokeApiToken(id: string, at: number): Promise<boolean> {
    return this.#write(() => this.#tokens.revokeApiToken(id, at));
  }
  revokeDemoTokens(at: number): Promise<number> {
    return this.#write(() => this.#tokens.revokeDemoTokens(at));
  }

  // The web space's accounts, convention signatures and sales list

  addWebUser(u: NewWebUser): Promise<void> {
    return this.#write(() => this.#accounts.addWebUser(u));
  }
  webUser(id: string): Promise<WebUser | undefined> {
    return this.#read(() => this.#accounts.webUser(id));
  }
  webUserByEmail(email: string): Promise<WebUser | undefined> {
    return this.#read(() => this.#accounts.webUserByEmail(email));
  }
  webUserByInvite(inviteHash: string): Promise<WebUser | undefined> {
    return this.#read(() => this.#accounts.webUserByInvite(inviteHash));
  }
  webUsers(partnerId: string | null): Promise<WebUser[]> {
    return this.#read(() => this.#accounts.webUsers(partnerId));
  }
  acceptInvitation(id: string, inviteHash: string, passwordHash: string, at: number): Promise<boolean> {
    return this.#write(() => this.#accounts.acceptInvitation(id, inviteHash, passwordHash, at));
  }
  recordLoginFailure(id: string, at: number, lockAfter: number, lockForMs: number): Promise<WebUser> {
    return this.#write(() => this.#accounts.recordLoginFailure(id, at, lockAfter, lockForMs));
  }
  recordLoginSuccess(id: string): Promise<void> {
    return this.#write(() => this.#accounts.recordLoginSuccess(id));
  }
  endSessions(id: string): Promise<void> {
    return this.#write(() => this.#accounts.endSessions(id));
  }
  setWebPassword(id: string, passwordHash: string): Promise<void> {
    return this.#write(() => this.#accounts.setWebPassword(id, passwordHash));
  }
  renewInvitation(id: string, inviteHash: string, expiresAt: number): Promise<boolean> {
    return this.#write(() => this.#accounts.renewInvitation(id, inviteHash, expiresAt));
  }
  disableWebUser(id: string, at: number): Promise<boolean> {
    return this.#write(() => this.#accounts.disableWebUser(id, at));
  }
  signConvention(s: ConventionSignature): Promise<ConventionSignature> {
    return this.#write(() => this.#accounts.signConvention(s));
  }
  conventionSignature(partnerId: string, documentId: string): Promise<ConventionSignature | undefined> {
    return this.#read(() => this.#accounts.conventionSignature(partnerId, documentId));
  }
  partnerSales(f: SaleFilter): Promise<SaleLine[]> {
    return this.#read(() => this.#accounts.partnerSales(f));
  }
  saleOf(txnId: string): Promise<SaleLine | undefined> {
    return this.#read(() => this.#accounts.saleOf(txnId));
  }
  addTerminalRequest(r: Pick<TerminalRequest, 'id' | 'partnerId' | 'requestedBy' | 'site' | 'note' | 'createdAt'>): Promise<void> {
    return this.#write(() => this.#accounts.addTerminalRequest(r));
  }
  terminalRequest(id: string): Promise<TerminalRequest | undefined> {
    return this.#read(() => this.#accounts.terminalRequest(id));
  }
  terminalRequests(filter: { readonly partnerId?: string; readonly status?: TerminalRequest['status'] }): Promise<TerminalRequest[]> {
    return this.#read(() => this.#accounts.terminalRequests(filter));
  }
  decideTerminalRequest(id: string, d: TerminalRequestDecision, by: string, at: number): Promise<boolean> {
    return this.#write(() => this.#accounts.decideTerminalRequest(id, d, by, at));
  }
  partnerProofs(partnerId: string): Promise<string[]> {
    return this.#read(() => this.#accounts.partnerProofs(partnerId));
  }
  dailySales(fromDay: string, toDay: string): Promise<DailySales[]> {
    return this.#read(() => this.#accounts.dailySales(fromDay, toDay));
  }
}

/** A lease's advisory lock key: the first 4 bytes of its name's SHA-256, as a positive 31-bit number. */
function leaseKey(name: string): number {
  return createHash('sha256').update(`passerelle-lease:${name}`).digest().readUInt32BE(0) & 0x7fff_ffff;
}
