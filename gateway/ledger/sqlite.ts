import type { Benefit } from '../../protocol/benefits.ts';
import { OfflineLimits } from '../../protocol/offline.ts';
import type { CardLoadRow } from '../bulk/types.ts';
import type { CampaignDef } from '../campaigns.ts';
import type { Statement } from '../reimbursement/types.ts';
import type { PinGate } from '../rules.ts';
import type { TerminalSettings } from '../../protocol/terminal-settings.ts';
import type { CardRecord, CardSearch, IssueCard, Opposition, OppositionResult, Suspension, CorrectionResult, ExpiryResult, LedgerItem, CommitOutcome, TerminalSync, TransferRecord, StoredRequest, AuditEntry, TerminalContact, EnrolmentCodeRecord, TerminalHeartbeat, FleetEntry, FleetFilter, FleetTotals, NewTerminalSettings, GroupList, GroupSale, GroupSaleResult, CardHotlistEntry, OfflineReport, PartnerRecord, TerminalRecord, ProofResult, ApiTokenRecord, LoadRecord, BulkLoadResult, WalletView, HistoryEntry, Ledger } from './ledger.ts';
import { SqliteStore, type SqliteLedgerOptions } from './sqlite/store.ts';
import { SqliteRegistry } from './sqlite/registry.ts';
import { SqliteFleet } from './sqlite/fleet.ts';
import { SqliteTokens } from './sqlite/tokens.ts';
import { SqliteStatements } from './sqlite/statements.ts';
import { SqliteCards } from './sqlite/cards.ts';
import { SqliteWallets } from './sqlite/wallets.ts';
import { SqliteDebits } from './sqlite/debits.ts';
import { SqliteOfflineState } from './sqlite/offline-state.ts';
import { SqliteCorrections } from './sqlite/corrections.ts';
import { SqliteGroupSales } from './sqlite/group-sales.ts';
import { SqliteBase } from './sqlite/base.ts';
import { SqliteAccounts } from './sqlite/accounts.ts';
import type { ConventionSignature, DailySales, NewWebUser, SaleFilter, SaleLine, TerminalRequest, TerminalRequestDecision, WebUser } from './accounts.ts';

export type { SqliteLedgerOptions } from './sqlite/store.ts';

/**
 * The SQLite ledger: one file, WAL, `synchronous = FULL` (a commit is on disk before we reply: a lost write
 * here is lost money), every batch of debits in one transaction (group commit). It is made of one part per
 * role of `Ledger` (gateway/ledger/sqlite/), all working through one store (the database, the prepared
 * statements, the caches), and answers each call by handing it to the part whose role it is.
 */
export class SqliteLedger implements Ledger {
  readonly #base: SqliteBase;
  readonly #registry: SqliteRegistry;
  readonly #fleet: SqliteFleet;
  readonly #cards: SqliteCards;
  readonly #wallets: SqliteWallets;
  readonly #debits: SqliteDebits;
  readonly #offline: SqliteOfflineState;
  readonly #corrections: SqliteCorrections;
  readonly #groups: SqliteGroupSales;
  readonly #statements: SqliteStatements;
  readonly #tokens: SqliteTokens;
  readonly #accounts: SqliteAccounts;

  constructor(opts: SqliteLedgerOptions) {
    const st = new SqliteStore(opts);
    this.#base = new SqliteBase(st);
    this.#registry = new SqliteRegistry(st);
    this.#fleet = new SqliteFleet(st);
    this.#cards = new SqliteCards(st);
    this.#wallets = new SqliteWallets(st);
    this.#debits = new SqliteDebits(st);
    this.#offline = new SqliteOfflineState(st);
    this.#corrections = new SqliteCorrections(st);
    this.#groups = new SqliteGroupSales(st);
    this.#statements = new SqliteStatements(st);
    this.#tokens = new SqliteTokens(st);
    this.#accounts = new SqliteAccounts(st);
  }

  // What every part shares

  atomically<T>(fn: () => T): T {
    return this.#base.atomically(fn);
  }
  counts(): { partners: number; terminals: number; cards: number; requests: number; transfers: number } {
    return this.#base.counts();
  }
  audit(): string[] {
    return this.#base.audit();
  }
  /** The durability settings in force (tests check them). */
  pragmas(): { journal_mode: string; synchronous: number } {
    return this.#base.pragmas();
  }
  close(): void {
    this.#base.close();
  }

  // Campaigns, partners and their terminals

  terminal(id: string): TerminalRecord | undefined {
    return this.#registry.terminal(id);
  }
  partner(id: string): PartnerRecord | undefined {
    return this.#registry.partner(id);
  }
  partners(): PartnerRecord[] {
    return this.#registry.partners();
  }
  terminalsOf(partnerId: string): TerminalRecord[] {
    return this.#registry.terminalsOf(partnerId);
  }
  addCampaign(def: CampaignDef): void {
    this.#registry.addCampaign(def);
  }
  campaigns(): CampaignDef[] {
    return this.#registry.campaigns();
  }
  addPartner(p: PartnerRecord): void {
    this.#registry.addPartner(p);
  }
  updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): void {
    this.#registry.updatePartner(id, patch);
  }
  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): void {
    this.#registry.addTerminal(t);
  }
  setTerminalActive(id: string, active: boolean): void {
    this.#registry.setTerminalActive(id, active);
  }
  replaceTerminalKey(id: string, publicKey: Uint8Array): void {
    this.#registry.replaceTerminalKey(id, publicKey);
  }

  // Terminals in the field

  recordContacts(contacts: readonly TerminalContact[]): void {
    this.#fleet.recordContacts(contacts);
  }
  lastConnectTokenMs(terminalId: string): number {
    return this.#fleet.lastConnectTokenMs(terminalId);
  }
  contactBounds(terminalId: string, seq: number): { after: number | null; before: number | null } {
    return this.#fleet.contactBounds(terminalId, seq);
  }
  addAudit(e: Omit<AuditEntry, 'id'>): void {
    this.#fleet.addAudit(e);
  }
  auditLog(filter: { readonly subject?: string; readonly action?: string; readonly limit: number }): AuditEntry[] {
    return this.#fleet.auditLog(filter);
  }
  addEnrolmentCode(c: Omit<EnrolmentCodeRecord, 'failures' | 'usedAt' | 'revokedAt'>): void {
    this.#fleet.addEnrolmentCode(c);
  }
  enrolmentCode(id: string): EnrolmentCodeRecord | undefined {
    return this.#fleet.enrolmentCode(id);
  }
  openEnrolmentCodes(): EnrolmentCodeRecord[] {
    return this.#fleet.openEnrolmentCodes();
  }
  countEnrolmentFailure(id: string): number {
    return this.#fleet.countEnrolmentFailure(id);
  }
  useEnrolmentCode(id: string, at: number): boolean {
    return this.#fleet.useEnrolmentCode(id, at);
  }
  revokeEnrolmentCode(id: string, at: number): boolean {
    return this.#fleet.revokeEnrolmentCode(id, at);
  }
  recordHeartbeat(h: TerminalHeartbeat): boolean {
    return this.#fleet.recordHeartbeat(h);
  }
  heartbeat(terminalId: string): TerminalHeartbeat | undefined {
    return this.#fleet.heartbeat(terminalId);
  }
  fleetTotals(): FleetTotals {
    return this.#fleet.fleetTotals();
  }
  fleet(filter: FleetFilter): FleetEntry[] {
    return this.#fleet.fleet(filter);
  }
  setTerminalSettings(s: NewTerminalSettings, at: number, actor: string): TerminalSettings {
    return this.#fleet.setTerminalSettings(s, at, actor);
  }
  terminalSettings(terminalId: string): TerminalSettings | undefined {
    return this.#fleet.terminalSettings(terminalId);
  }
  allTerminalSettings(): TerminalSettings[] {
    return this.#fleet.allTerminalSettings();
  }

  // Cards and their dossiers

  card(number: string): CardRecord | undefined {
    return this.#cards.card(number);
  }
  searchCards(q: CardSearch, limit: number): CardRecord[] {
    return this.#cards.searchCards(q, limit);
  }
  issueCard(c: IssueCard): void {
    this.#cards.issueCard(c);
  }
  setCardKey(cardNumber: string, publicKey: Uint8Array, expiry: string, at: number): void {
    this.#cards.setCardKey(cardNumber, publicKey, expiry, at);
  }
  cardKey(cardNumber: string): { readonly publicKey: Uint8Array; readonly expiry: string } | undefined {
    return this.#cards.cardKey(cardNumber);
  }
  cardKeys(cardNumbers: readonly string[]): Map<string, Uint8Array> {
    return this.#cards.cardKeys(cardNumbers);
  }
  setPin(cardNumber: string, pinHash: string | null): void {
    this.#cards.setPin(cardNumber, pinHash);
  }
  unlockPin(cardNumber: string): void {
    this.#cards.unlockPin(cardNumber);
  }
  pinGate(cardNumber: string, partnerId: string | null, at: number): PinGate {
    return this.#cards.pinGate(cardNumber, partnerId, at);
  }
  oppose(o: Opposition): OppositionResult {
    return this.#cards.oppose(o);
  }
  suspend(s: Suspension): void {
    this.#cards.suspend(s);
  }
  liftSuspension(cardNumber: string, benefit: Benefit | readonly Benefit[] | null, campaign: string, at: number): void {
    this.#cards.liftSuspension(cardNumber, benefit, campaign, at);
  }

  // Wallets

  load(l: LoadRecord): void {
    this.#wallets.load(l);
  }
  bulkLoad(rows: Iterable<CardLoadRow>, at: number): BulkLoadResult {
    return this.#wallets.bulkLoad(rows, at);
  }
  walletBalance(cardNumber: string, benefit: Benefit, at?: number): number | undefined {
    return this.#wallets.walletBalance(cardNumber, benefit, at);
  }
  wallets(cardNumber: string, at: number): WalletView[] {
    return this.#wallets.wallets(cardNumber, at);
  }
  history(cardNumber: string, limit: number): HistoryEntry[] {
    return this.#wallets.history(cardNumber, limit);
  }

  // Terminal records

  commitDebits(items: readonly LedgerItem[], decidedAt: number): CommitOutcome[] {
    return this.#debits.commitDebits(items, decidedAt);
  }
  terminalSync(terminalId: string, limit?: number): TerminalSync {
    return this.#debits.terminalSync(terminalId, limit);
  }
  chainHead(terminalId: string): { nextSeq: number; headHash: string } {
    return this.#debits.chainHead(terminalId);
  }
  request(txnId: string): StoredRequest | undefined {
    return this.#debits.request(txnId);
  }
  transfersForTxn(txnId: string): TransferRecord[] {
    return this.#debits.transfersForTxn(txnId);
  }
  conflictCount(txnId?: string): number {
    return this.#debits.conflictCount(txnId);
  }

  // Offline state (docs/offline.md)

  setOfflinePolicy(limits: OfflineLimits, at: number): { version: number; issuedAt: number; limits: OfflineLimits } {
    return this.#offline.setOfflinePolicy(limits, at);
  }
  offlinePolicy(version: number): OfflineLimits | undefined {
    return this.#offline.offlinePolicy(version);
  }
  hotlistVersion(): number {
    return this.#offline.hotlistVersion();
  }
  hotlist(base: number): { version: number; entries: CardHotlistEntry[] } {
    return this.#offline.hotlist(base);
  }
  liftSoftBlock(cardNumber: string, at: number): boolean {
    return this.#offline.liftSoftBlock(cardNumber, at);
  }
  offlineReport(limit?: number): OfflineReport {
    return this.#offline.offlineReport(limit);
  }

  // Corrections (a partner's cancellation, the Region's reversal) and the expiry sweep (R7)

  cancelSale(txnId: string, partnerId: string, at: number): CorrectionResult {
    return this.#corrections.cancelSale(txnId, partnerId, at);
  }
  reverseSale(txnId: string, reason: string, at: number): CorrectionResult {
    return this.#corrections.reverseSale(txnId, reason, at);
  }
  expire(at: number, maxWallets?: number): ExpiryResult {
    return this.#corrections.expire(at, maxWallets);
  }

  // Group sales (R12)

  groupSale(g: GroupSale): GroupSaleResult {
    return this.#groups.groupSale(g);
  }
  addGroupList(l: GroupList): void {
    this.#groups.addGroupList(l);
  }
  groupList(id: string): (GroupList & { paid: string[] }) | undefined {
    return this.#groups.groupList(id);
  }

  // Statements (R11)

  closeStatement(partnerId: string, periodFrom: string, periodTo: string, at: number): Statement {
    return this.#statements.closeStatement(partnerId, periodFrom, periodTo, at);
  }
  statement(id: string): Statement | undefined {
    return this.#statements.statement(id);
  }
  statements(filter: { partnerId?: string; status?: Statement['status'] }): Statement[] {
    return this.#statements.statements(filter);
  }
  recordProof(partnerId: string, campaign: string, at: number): ProofResult {
    return this.#statements.recordProof(partnerId, campaign, at);
  }
  markPaid(statementIds: readonly string[], at: number, file: { readonly id: string; readonly xml: string }): void {
    this.#statements.markPaid(statementIds, at, file);
  }
  sepaFile(id: string): { id: string; createdAt: number; xml: string; statementIds: string[] } | undefined {
    return this.#statements.sepaFile(id);
  }

  // The admin API's tokens, kept by hash

  addApiToken(t: ApiTokenRecord & { readonly tokenHash: string; readonly demo?: boolean }): void {
    this.#tokens.addApiToken(t);
  }
  apiToken(tokenHash: string): ApiTokenRecord | undefined {
    return this.#tokens.apiToken(tokenHash);
  }
  apiTokens(): (ApiTokenRecord & { readonly id: string })[] {
    return this.#tokens.apiTokens();
  }
  revokeApiToken(id: string, at: number): boolean {
    return this.#tokens.revokeApiToken(id, at);
  }
  revokeDemoTokens(at: number): number {
    return this.#tokens.revokeDemoTokens(at);
  }

  // The web space's accounts, convention signatures and sales list

  addWebUser(u: NewWebUser): void {
    this.#accounts.addWebUser(u);
  }
  webUser(id: string): WebUser | undefined {
    return this.#accounts.webUser(id);
  }
  webUserByEmail(email: string): WebUser | undefined {
    return this.#accounts.webUserByEmail(email);
  }
  webUserByInvite(inviteHash: string): WebUser | undefined {
    return this.#accounts.webUserByInvite(inviteHash);
  }
  webUsers(partnerId: string | null): WebUser[] {
    return this.#accounts.webUsers(partnerId);
  }
  acceptInvitation(id: string, inviteHash: string, passwordHash: string, at: number): boolean {
    return this.#accounts.acceptInvitation(id, inviteHash, passwordHash, at);
  }
  recordLoginFailure(id: string, at: number, lockAfter: number, lockForMs: number): WebUser {
    return this.#accounts.recordLoginFailure(id, at, lockAfter, lockForMs);
  }
  recordLoginSuccess(id: string): void {
    this.#accounts.recordLoginSuccess(id);
  }
  endSessions(id: string): void {
    this.#accounts.endSessions(id);
  }
  setWebPassword(id: string, passwordHash: string): void {
    this.#accounts.setWebPassword(id, passwordHash);
  }
  renewInvitation(id: string, inviteHash: string, expiresAt: number): boolean {
    return this.#accounts.renewInvitation(id, inviteHash, expiresAt);
  }
  disableWebUser(id: string, at: number): boolean {
    return this.#accounts.disableWebUser(id, at);
  }
  signConvention(s: ConventionSignature): ConventionSignature {
    return this.#accounts.signConvention(s);
  }
  conventionSignature(partnerId: string, documentId: string): ConventionSignature | undefined {
    return this.#accounts.conventionSignature(partnerId, documentId);
  }
  partnerSales(f: SaleFilter): SaleLine[] {
    return this.#accounts.partnerSales(f);
  }
  saleOf(txnId: string): SaleLine | undefined {
    return this.#accounts.saleOf(txnId);
  }
  addTerminalRequest(r: Pick<TerminalRequest, 'id' | 'partnerId' | 'requestedBy' | 'site' | 'note' | 'createdAt'>): void {
    this.#accounts.addTerminalRequest(r);
  }
  terminalRequest(id: string): TerminalRequest | undefined {
    return this.#accounts.terminalRequest(id);
  }
  terminalRequests(filter: { readonly partnerId?: string; readonly status?: TerminalRequest['status'] }): TerminalRequest[] {
    return this.#accounts.terminalRequests(filter);
  }
  decideTerminalRequest(id: string, d: TerminalRequestDecision, by: string, at: number): boolean {
    return this.#accounts.decideTerminalRequest(id, d, by, at);
  }
  partnerProofs(partnerId: string): string[] {
    return this.#accounts.partnerProofs(partnerId);
  }
  dailySales(fromDay: string, toDay: string): DailySales[] {
    return this.#accounts.dailySales(fromDay, toDay);
  }
}
