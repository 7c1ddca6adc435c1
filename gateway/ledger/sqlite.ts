import { AsyncLocalStorage } from 'node:async_hooks';
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
  /** Marks the calls made inside an open `atomically` with that transaction. */
  readonly #scope = new AsyncLocalStorage<{ readonly done: Promise<void> }>();
  /** The open `atomically`, if any; `done` settles when it ends. */
  #open: { readonly done: Promise<void> } | undefined;

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

  /**
   * The writes `fn` makes through this ledger, as one transaction. better-sqlite3 cannot hold a transaction
   * across an `await`, so this one is opened by hand and every other caller waits for its end (`#do`):
   * nothing another request writes meanwhile can be undone by its rollback. A nested call joins it.
   */
  async atomically<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#open && this.#scope.getStore() === this.#open) return fn();
    while (this.#open) await this.#open.done;
    let release!: () => void;
    const open = { done: new Promise<void>((r) => (release = r)) };
    this.#open = open;
    try {
      return await this.#scope.run(open, async () => {
        this.#base.begin();
        try {
          const value = await fn();
          this.#base.commit();
          return value;
        } catch (e) {
          this.#base.rollback();
          throw e;
        }
      });
    } finally {
      this.#open = undefined;
      release();
    }
  }

  /**
   * One call of a part, answered as a promise; held while another caller's `atomically` is open. Work
   * started inside a transaction that outlives it (a timer) carries its mark, which then matches nothing.
   */
  #do<T>(call: () => T): Promise<T> {
    if (this.#open && this.#scope.getStore() !== this.#open) return this.#open.done.then(() => this.#do(call));
    try {
      return Promise.resolve(call());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  counts(): Promise<{ partners: number; terminals: number; cards: number; requests: number; transfers: number }> {
    return this.#do(() => this.#base.counts());
  }
  audit(): Promise<string[]> {
    return this.#do(() => this.#base.audit());
  }
  /** The durability settings in force (tests check them). */
  pragmas(): { journal_mode: string; synchronous: number } {
    return this.#base.pragmas();
  }
  close(): Promise<void> {
    return this.#do(() => this.#base.close());
  }

  // Campaigns, partners and their terminals

  terminal(id: string): Promise<TerminalRecord | undefined> {
    return this.#do(() => this.#registry.terminal(id));
  }
  partner(id: string): Promise<PartnerRecord | undefined> {
    return this.#do(() => this.#registry.partner(id));
  }
  partners(): Promise<PartnerRecord[]> {
    return this.#do(() => this.#registry.partners());
  }
  terminalsOf(partnerId: string): Promise<TerminalRecord[]> {
    return this.#do(() => this.#registry.terminalsOf(partnerId));
  }
  addCampaign(def: CampaignDef): Promise<void> {
    return this.#do(() => this.#registry.addCampaign(def));
  }
  campaigns(): Promise<CampaignDef[]> {
    return this.#do(() => this.#registry.campaigns());
  }
  addPartner(p: PartnerRecord): Promise<void> {
    return this.#do(() => this.#registry.addPartner(p));
  }
  updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): Promise<void> {
    return this.#do(() => this.#registry.updatePartner(id, patch));
  }
  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): Promise<void> {
    return this.#do(() => this.#registry.addTerminal(t));
  }
  setTerminalActive(id: string, active: boolean): Promise<void> {
    return this.#do(() => this.#registry.setTerminalActive(id, active));
  }
  replaceTerminalKey(id: string, publicKey: Uint8Array): Promise<void> {
    return this.#do(() => this.#registry.replaceTerminalKey(id, publicKey));
  }

  // Terminals in the field

  recordContacts(contacts: readonly TerminalContact[]): Promise<void> {
    return this.#do(() => this.#fleet.recordContacts(contacts));
  }
  lastConnectTokenMs(terminalId: string): Promise<number> {
    return this.#do(() => this.#fleet.lastConnectTokenMs(terminalId));
  }
  contactBounds(terminalId: string, seq: number): Promise<{ after: number | null; before: number | null }> {
    return this.#do(() => this.#fleet.contactBounds(terminalId, seq));
  }
  addAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    return this.#do(() => this.#fleet.addAudit(e));
  }
  auditLog(filter: { readonly subject?: string; readonly action?: string; readonly limit: number }): Promise<AuditEntry[]> {
    return this.#do(() => this.#fleet.auditLog(filter));
  }
  addEnrolmentCode(c: Omit<EnrolmentCodeRecord, 'failures' | 'usedAt' | 'revokedAt'>): Promise<void> {
    return this.#do(() => this.#fleet.addEnrolmentCode(c));
  }
  enrolmentCode(id: string): Promise<EnrolmentCodeRecord | undefined> {
    return this.#do(() => this.#fleet.enrolmentCode(id));
  }
  openEnrolmentCodes(): Promise<EnrolmentCodeRecord[]> {
    return this.#do(() => this.#fleet.openEnrolmentCodes());
  }
  countEnrolmentFailure(id: string): Promise<number> {
    return this.#do(() => this.#fleet.countEnrolmentFailure(id));
  }
  useEnrolmentCode(id: string, at: number): Promise<boolean> {
    return this.#do(() => this.#fleet.useEnrolmentCode(id, at));
  }
  revokeEnrolmentCode(id: string, at: number): Promise<boolean> {
    return this.#do(() => this.#fleet.revokeEnrolmentCode(id, at));
  }
  recordHeartbeat(h: TerminalHeartbeat): Promise<boolean> {
    return this.#do(() => this.#fleet.recordHeartbeat(h));
  }
  heartbeat(terminalId: string): Promise<TerminalHeartbeat | undefined> {
    return this.#do(() => this.#fleet.heartbeat(terminalId));
  }
  fleetTotals(): Promise<FleetTotals> {
    return this.#do(() => this.#fleet.fleetTotals());
  }
  fleet(filter: FleetFilter): Promise<FleetEntry[]> {
    return this.#do(() => this.#fleet.fleet(filter));
  }
  setTerminalSettings(s: NewTerminalSettings, at: number, actor: string): Promise<TerminalSettings> {
    return this.#do(() => this.#fleet.setTerminalSettings(s, at, actor));
  }
  terminalSettings(terminalId: string): Promise<TerminalSettings | undefined> {
    return this.#do(() => this.#fleet.terminalSettings(terminalId));
  }
  allTerminalSettings(): Promise<TerminalSettings[]> {
    return this.#do(() => this.#fleet.allTerminalSettings());
  }

  // Cards and their dossiers

  card(number: string): Promise<CardRecord | undefined> {
    return this.#do(() => this.#cards.card(number));
  }
  searchCards(q: CardSearch, limit: number): Promise<CardRecord[]> {
    return this.#do(() => this.#cards.searchCards(q, limit));
  }
  issueCard(c: IssueCard): Promise<void> {
    return this.#do(() => this.#cards.issueCard(c));
  }
  setCardKey(cardNumber: string, publicKey: Uint8Array, expiry: string, at: number): Promise<void> {
    return this.#do(() => this.#cards.setCardKey(cardNumber, publicKey, expiry, at));
  }
  cardKey(cardNumber: string): Promise<{ readonly publicKey: Uint8Array; readonly expiry: string } | undefined> {
    return this.#do(() => this.#cards.cardKey(cardNumber));
  }
  cardKeys(cardNumbers: readonly string[]): Promise<Map<string, Uint8Array>> {
    return this.#do(() => this.#cards.cardKeys(cardNumbers));
  }
  setPin(cardNumber: string, pinHash: string | null): Promise<void> {
    return this.#do(() => this.#cards.setPin(cardNumber, pinHash));
  }
  unlockPin(cardNumber: string): Promise<void> {
    return this.#do(() => this.#cards.unlockPin(cardNumber));
  }
  pinGate(cardNumber: string, partnerId: string | null, at: number): Promise<PinGate> {
    return this.#do(() => this.#cards.pinGate(cardNumber, partnerId, at));
  }
  oppose(o: Opposition): Promise<OppositionResult> {
    return this.#do(() => this.#cards.oppose(o));
  }
  suspend(s: Suspension): Promise<void> {
    return this.#do(() => this.#cards.suspend(s));
  }
  liftSuspension(cardNumber: string, benefit: Benefit | readonly Benefit[] | null, campaign: string, at: number): Promise<void> {
    return this.#do(() => this.#cards.liftSuspension(cardNumber, benefit, campaign, at));
  }

  // Wallets

  load(l: LoadRecord): Promise<void> {
    return this.#do(() => this.#wallets.load(l));
  }
  bulkLoad(rows: Iterable<CardLoadRow>, at: number): Promise<BulkLoadResult> {
    return this.#do(() => this.#wallets.bulkLoad(rows, at));
  }
  walletBalance(cardNumber: string, benefit: Benefit, at?: number): Promise<number | undefined> {
    return this.#do(() => this.#wallets.walletBalance(cardNumber, benefit, at));
  }
  wallets(cardNumber: string, at: number): Promise<WalletView[]> {
    return this.#do(() => this.#wallets.wallets(cardNumber, at));
  }
  history(cardNumber: string, limit: number): Promise<HistoryEntry[]> {
    return this.#do(() => this.#wallets.history(cardNumber, limit));
  }

  // Terminal records

  commitDebits(items: readonly LedgerItem[], decidedAt: number): Promise<CommitOutcome[]> {
    return this.#do(() => this.#debits.commitDebits(items, decidedAt));
  }
  terminalSync(terminalId: string, limit?: number): Promise<TerminalSync> {
    return this.#do(() => this.#debits.terminalSync(terminalId, limit));
  }
  chainHead(terminalId: string): Promise<{ nextSeq: number; headHash: string }> {
    return this.#do(() => this.#debits.chainHead(terminalId));
  }
  request(txnId: string): Promise<StoredRequest | undefined> {
    return this.#do(() => this.#debits.request(txnId));
  }
  transfersForTxn(txnId: string): Promise<TransferRecord[]> {
    return this.#do(() => this.#debits.transfersForTxn(txnId));
  }
  conflictCount(txnId?: string): Promise<number> {
    return this.#do(() => this.#debits.conflictCount(txnId));
  }

  // Offline state (docs/offline.md)

  setOfflinePolicy(limits: OfflineLimits, at: number): Promise<{ version: number; issuedAt: number; limits: OfflineLimits }> {
    return this.#do(() => this.#offline.setOfflinePolicy(limits, at));
  }
  offlinePolicy(version: number): Promise<OfflineLimits | undefined> {
    return this.#do(() => this.#offline.offlinePolicy(version));
  }
  hotlistVersion(): Promise<number> {
    return this.#do(() => this.#offline.hotlistVersion());
  }
  hotlist(base: number): Promise<{ version: number; entries: CardHotlistEntry[] }> {
    return this.#do(() => this.#offline.hotlist(base));
  }
  liftSoftBlock(cardNumber: string, at: number): Promise<boolean> {
    return this.#do(() => this.#offline.liftSoftBlock(cardNumber, at));
  }
  offlineReport(limit?: number): Promise<OfflineReport> {
    return this.#do(() => this.#offline.offlineReport(limit));
  }

  // Corrections (a partner's cancellation, the Region's reversal) and the expiry sweep (R7)

  cancelSale(txnId: string, partnerId: string, at: number): Promise<CorrectionResult> {
    return this.#do(() => this.#corrections.cancelSale(txnId, partnerId, at));
  }
  reverseSale(txnId: string, reason: string, at: number): Promise<CorrectionResult> {
    return this.#do(() => this.#corrections.reverseSale(txnId, reason, at));
  }
  expire(at: number, maxWallets?: number): Promise<ExpiryResult> {
    return this.#do(() => this.#corrections.expire(at, maxWallets));
  }

  // Group sales (R12)

  groupSale(g: GroupSale): Promise<GroupSaleResult> {
    return this.#do(() => this.#groups.groupSale(g));
  }
  addGroupList(l: GroupList): Promise<void> {
    return this.#do(() => this.#groups.addGroupList(l));
  }
  groupList(id: string): Promise<(GroupList & { paid: string[] }) | undefined> {
    return this.#do(() => this.#groups.groupList(id));
  }

  // Statements (R11)

  closeStatement(partnerId: string, periodFrom: string, periodTo: string, at: number): Promise<Statement> {
    return this.#do(() => this.#statements.closeStatement(partnerId, periodFrom, periodTo, at));
  }
  statement(id: string): Promise<Statement | undefined> {
    return this.#do(() => this.#statements.statement(id));
  }
  statements(filter: { partnerId?: string; status?: Statement['status'] }): Promise<Statement[]> {
    return this.#do(() => this.#statements.statements(filter));
  }
  recordProof(partnerId: string, campaign: string, at: number): Promise<ProofResult> {
    return this.#do(() => this.#statements.recordProof(partnerId, campaign, at));
  }
  markPaid(statementIds: readonly string[], at: number, file: { readonly id: string; readonly xml: string }): Promise<void> {
    return this.#do(() => this.#statements.markPaid(statementIds, at, file));
  }
  sepaFile(id: string): Promise<{ id: string; createdAt: number; xml: string; statementIds: string[] } | undefined> {
    return this.#do(() => this.#statements.sepaFile(id));
  }

  // The admin API's tokens, kept by hash

  addApiToken(t: ApiTokenRecord & { readonly tokenHash: string; readonly demo?: boolean }): Promise<void> {
    return this.#do(() => this.#tokens.addApiToken(t));
  }
  apiToken(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    return this.#do(() => this.#tokens.apiToken(tokenHash));
  }
  apiTokens(): Promise<(ApiTokenRecord & { readonly id: string })[]> {
    return this.#do(() => this.#tokens.apiTokens());
  }
  revokeApiToken(id: string, at: number): Promise<boolean> {
    return this.#do(() => this.#tokens.revokeApiToken(id, at));
  }
  revokeDemoTokens(at: number): Promise<number> {
    return this.#do(() => this.#tokens.revokeDemoTokens(at));
  }

  // The web space's accounts, convention signatures and sales list

  addWebUser(u: NewWebUser): Promise<void> {
    return this.#do(() => this.#accounts.addWebUser(u));
  }
  webUser(id: string): Promise<WebUser | undefined> {
    return this.#do(() => this.#accounts.webUser(id));
  }
  webUserByEmail(email: string): Promise<WebUser | undefined> {
    return this.#do(() => this.#accounts.webUserByEmail(email));
  }
  webUserByInvite(inviteHash: string): Promise<WebUser | undefined> {
    return this.#do(() => this.#accounts.webUserByInvite(inviteHash));
  }
  webUsers(partnerId: string | null): Promise<WebUser[]> {
    return this.#do(() => this.#accounts.webUsers(partnerId));
  }
  acceptInvitation(id: string, inviteHash: string, passwordHash: string, at: number): Promise<boolean> {
    return this.#do(() => this.#accounts.acceptInvitation(id, inviteHash, passwordHash, at));
  }
  recordLoginFailure(id: string, at: number, lockAfter: number, lockForMs: number): Promise<WebUser> {
    return this.#do(() => this.#accounts.recordLoginFailure(id, at, lockAfter, lockForMs));
  }
  recordLoginSuccess(id: string): Promise<void> {
    return this.#do(() => this.#accounts.recordLoginSuccess(id));
  }
  endSessions(id: string): Promise<void> {
    return this.#do(() => this.#accounts.endSessions(id));
  }
  setWebPassword(id: string, passwordHash: string): Promise<void> {
    return this.#do(() => this.#accounts.setWebPassword(id, passwordHash));
  }
  renewInvitation(id: string, inviteHash: string, expiresAt: number): Promise<boolean> {
    return this.#do(() => this.#accounts.renewInvitation(id, inviteHash, expiresAt));
  }
  disableWebUser(id: string, at: number): Promise<boolean> {
    return this.#do(() => this.#accounts.disableWebUser(id, at));
  }
  signConvention(s: ConventionSignature): Promise<ConventionSignature> {
    return this.#do(() => this.#accounts.signConvention(s));
  }
  conventionSignature(partnerId: string, documentId: string): Promise<ConventionSignature | undefined> {
    return this.#do(() => this.#accounts.conventionSignature(partnerId, documentId));
  }
  partnerSales(f: SaleFilter): Promise<SaleLine[]> {
    return this.#do(() => this.#accounts.partnerSales(f));
  }
  saleOf(txnId: string): Promise<SaleLine | undefined> {
    return this.#do(() => this.#accounts.saleOf(txnId));
  }
  addTerminalRequest(r: Pick<TerminalRequest, 'id' | 'partnerId' | 'requestedBy' | 'site' | 'note' | 'createdAt'>): Promise<void> {
    return this.#do(() => this.#accounts.addTerminalRequest(r));
  }
  terminalRequest(id: string): Promise<TerminalRequest | undefined> {
    return this.#do(() => this.#accounts.terminalRequest(id));
  }
  terminalRequests(filter: { readonly partnerId?: string; readonly status?: TerminalRequest['status'] }): Promise<TerminalRequest[]> {
    return this.#do(() => this.#accounts.terminalRequests(filter));
  }
  decideTerminalRequest(id: string, d: TerminalRequestDecision, by: string, at: number): Promise<boolean> {
    return this.#do(() => this.#accounts.decideTerminalRequest(id, d, by, at));
  }
  partnerProofs(partnerId: string): Promise<string[]> {
    return this.#do(() => this.#accounts.partnerProofs(partnerId));
  }
  dailySales(fromDay: string, toDay: string): Promise<DailySales[]> {
    return this.#do(() => this.#accounts.dailySales(fromDay, toDay));
  }
}
