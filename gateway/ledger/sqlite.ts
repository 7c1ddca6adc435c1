import { createHash } from 'node:crypto';
import type { Benefit, Unit } from '../../protocol/benefits.ts';
import { OfflineLimits } from '../../protocol/offline.ts';
import { assert, PasserelleError } from '../../protocol/errors.ts';
import { regionDate } from '../../common/paris-time.ts';
import type { CardLoadRow } from '../bulk/types.ts';
import type { CampaignDef } from '../campaigns.ts';
import type { Statement } from '../reimbursement/types.ts';
import { decide, MAX_GROUP_SIZE, type PinGate } from '../rules.ts';
import type { CardRecord, CardSearch, IssueCard, Opposition, OppositionResult, Suspension, CorrectionResult, ExpiryResult, LedgerItem, CommitOutcome, TerminalSync, TransferRecord, StoredRequest, AuditEntry, TerminalContact, EnrolmentCodeRecord, GroupList, GroupSale, GroupSaleLine, GroupSaleResult, CardHotlistEntry, OfflineReport, PartnerRecord, TerminalRecord, ProofResult, ApiTokenRecord, LoadRecord, BulkLoadResult, WalletView, HistoryEntry, Ledger } from './ledger.ts';
import { SqliteStore, type SqliteLedgerOptions } from './sqlite/store.ts';
import type { PartnerCache, SaleRow, ExpiryCursor } from './sqlite/rows.ts';
import { fundingAccount, recordSale, correct } from './sqlite/journal.ts';
import { chooseWallet, walletSnapshot } from './sqlite/wallet-choice.ts';
import { SqliteRegistry } from './sqlite/registry.ts';
import { SqliteFleet } from './sqlite/fleet.ts';
import { SqliteTokens } from './sqlite/tokens.ts';
import { SqliteStatements } from './sqlite/statements.ts';
import { SqliteCards } from './sqlite/cards.ts';
import { SqliteWallets } from './sqlite/wallets.ts';
import { SqliteDebits } from './sqlite/debits.ts';
import { SqliteOfflineState } from './sqlite/offline-state.ts';

export type { SqliteLedgerOptions } from './sqlite/store.ts';

/** Benefits a school may pay an outing with (R12): shows and cinema, never first aid. */
export const GROUP_BENEFITS: readonly Benefit[] = ['SHOWS', 'CINEMA'];

interface DueWallet {
  readonly id: number;
  readonly benefit: Benefit;
  readonly campaign: string;
  readonly unit: Unit;
  readonly balance: number;
  readonly valid_until: number;
}

/**
 * The SQLite ledger: one file, WAL, `synchronous = FULL` (a commit is on disk before we reply: a lost write
 * here is lost money), every batch of debits in one transaction (group commit). It is made of one part per
 * role of `Ledger` (gateway/ledger/sqlite/), all working through one store (the database, the prepared
 * statements, the caches), and answers each call by handing it to the part whose role it is.
 */
export class SqliteLedger implements Ledger {
  readonly #st: SqliteStore;
  readonly #registry: SqliteRegistry;
  readonly #fleet: SqliteFleet;
  readonly #cards: SqliteCards;
  readonly #wallets: SqliteWallets;
  readonly #debits: SqliteDebits;
  readonly #offline: SqliteOfflineState;
  readonly #statements: SqliteStatements;
  readonly #tokens: SqliteTokens;

  constructor(opts: SqliteLedgerOptions) {
    const st = new SqliteStore(opts);
    this.#st = st;
    this.#registry = new SqliteRegistry(st);
    this.#fleet = new SqliteFleet(st);
    this.#cards = new SqliteCards(st);
    this.#wallets = new SqliteWallets(st);
    this.#debits = new SqliteDebits(st);
    this.#offline = new SqliteOfflineState(st);
    this.#statements = new SqliteStatements(st);
    this.#tokens = new SqliteTokens(st);
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

  cancelSale(txnId: string, partnerId: string, at: number): CorrectionResult {
    return this.#st.db.transaction(() => {
      const sale = this.#saleToCorrect(txnId);
      if (sale.partner_id !== partnerId) throw new PasserelleError('NOT_YOUR_SALE', `sale ${txnId} belongs to another partner`);
      if (regionDate(sale.sale_at) !== regionDate(at)) throw new PasserelleError('NOT_SAME_DAY', `sale ${txnId} was made on ${regionDate(sale.sale_at)}`);
      return correct(this.#st, sale, 'cancellation', null, at);
    })();
  }

  reverseSale(txnId: string, reason: string, at: number): CorrectionResult {
    if (!reason.trim()) throw new PasserelleError('DATA_INVALID', 'a reversal needs a reason');
    return this.#st.db.transaction(() => correct(this.#st, this.#saleToCorrect(txnId), 'reversal', reason, at))();
  }

  #saleToCorrect(txnId: string): SaleRow {
    const sale = this.#st.s.sale.get(txnId);
    if (!sale) throw new PasserelleError('SALE_UNKNOWN', `no approved sale ${txnId}`);
    if (this.#st.s.correctionOf.get(txnId)) throw new PasserelleError('ALREADY_CORRECTED', `sale ${txnId} is already corrected`);
    if (sale.guaranteed > 0) {
      throw new PasserelleError('SALE_GUARANTEED', `sale ${txnId} was paid in part by the Region's offline guarantee; the Region settles it with the partner directly`);
    }
    return sale;
  }

  groupSale(g: GroupSale): GroupSaleResult {
    if (!GROUP_BENEFITS.includes(g.benefit)) throw new PasserelleError('GROUP_NOT_ALLOWED', `group sales use ${GROUP_BENEFITS.join(' or ')}, not ${g.benefit}`);
    if (g.cardNumbers.length === 0 || g.cardNumbers.length > MAX_GROUP_SIZE) throw new PasserelleError('DATA_INVALID', `a group has 1..${MAX_GROUP_SIZE} youths`);
    if (new Set(g.cardNumbers).size !== g.cardNumbers.length) throw new PasserelleError('DATA_INVALID', 'a card appears twice in the group');
    if (!Number.isSafeInteger(g.amount) || g.amount < 1) throw new PasserelleError('DATA_INVALID', 'the amount per youth must be a positive integer');
    const fingerprint = createHash('sha256').update(JSON.stringify([g.partnerId, g.listId, g.benefit, g.amount, g.cardNumbers, g.reference])).digest('hex');
    return this.#st.db.transaction((): GroupSaleResult => {
      const prior = this.#st.db.prepare<[string], { fingerprint: string; result: string }>('SELECT fingerprint, result FROM group_sales WHERE id = ?').get(g.groupId);
      if (prior) {
        if (prior.fingerprint !== fingerprint) throw new PasserelleError('GROUP_CONFLICT', `group ${g.groupId} was recorded with other content`);
        return { groupId: g.groupId, fresh: false, lines: JSON.parse(prior.result) as GroupSaleLine[] };
      }
      this.#checkGroupList(g);
      const partner = this.#st.partnerCache(g.partnerId);
      const lines = g.cardNumbers.map((n, i) => this.#groupLine(g, partner, n, `${g.groupId}:${i + 1}`));
      const paid = this.#st.db.prepare<[string, string, string]>('UPDATE group_list_cards SET paid_by = ? WHERE list_id = ? AND card_number = ?');
      for (const line of lines) if (line.status === 'approved') paid.run(g.groupId, g.listId, line.cardNumber);
      this.#st.db.prepare('INSERT INTO group_sales (id, partner_id, fingerprint, result, at) VALUES (?, ?, ?, ?, ?)').run(g.groupId, g.partnerId, fingerprint, JSON.stringify(lines), g.at);
      return { groupId: g.groupId, fresh: true, lines };
    })();
  }

  /**
   * A group sale pays only youths the Region approved for this partner's outing (R12): the list exists, is
   * this partner's and benefit's, is still valid, covers the amount per youth, and holds every card of the
   * group not yet paid under it. Anything else refuses the whole group, nothing debited.
   */
  #checkGroupList(g: GroupSale): void {
    const list = this.#st.db.prepare<[string], { partner_id: string; benefit: string; max_per_youth: number; valid_until: number }>('SELECT * FROM group_lists WHERE id = ?').get(g.listId);
    const refuse = (why: string) => new PasserelleError('GROUP_NOT_APPROVED', `group ${g.groupId}: ${why}`);
    if (!list || list.partner_id !== g.partnerId) throw refuse(`no approved list ${g.listId} for partner ${g.partnerId}`);
    if (list.benefit !== g.benefit) throw refuse(`list ${g.listId} is for ${list.benefit}, not ${g.benefit}`);
    if (g.at > list.valid_until) throw refuse(`list ${g.listId} is no longer valid`);
    if (g.amount > list.max_per_youth) throw refuse(`list ${g.listId} allows at most ${list.max_per_youth} per youth`);
    const open = new Set(
      this.#st.db.prepare<[string], { card_number: string }>('SELECT card_number FROM group_list_cards WHERE list_id = ? AND paid_by IS NULL').all(g.listId).map((r) => r.card_number),
    );
    const outside = g.cardNumbers.filter((n) => !open.has(n)).length;
    if (outside > 0) throw refuse(`${outside} card(s) not on list ${g.listId}, or already paid under it`);
  }

  addGroupList(l: GroupList): void {
    if (!GROUP_BENEFITS.includes(l.benefit)) throw new PasserelleError('GROUP_NOT_ALLOWED', `group lists are for ${GROUP_BENEFITS.join(' or ')}, not ${l.benefit}`);
    if (l.cardNumbers.length === 0 || l.cardNumbers.length > MAX_GROUP_SIZE) throw new PasserelleError('DATA_INVALID', `a list has 1..${MAX_GROUP_SIZE} youths`);
    if (new Set(l.cardNumbers).size !== l.cardNumbers.length) throw new PasserelleError('DATA_INVALID', 'a card appears twice in the list');
    if (!Number.isSafeInteger(l.maxPerYouth) || l.maxPerYouth < 1) throw new PasserelleError('DATA_INVALID', 'the maximum per youth must be a positive integer');
    this.#st.run(
      () =>
        this.#st.db.transaction(() => {
          this.#st.db
            .prepare('INSERT INTO group_lists (id, partner_id, benefit, reference, max_per_youth, valid_until, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
            .run(l.id, l.partnerId, l.benefit, l.reference, l.maxPerYouth, l.validUntil, l.createdAt, l.createdBy);
          const card = this.#st.db.prepare<[string, string]>('INSERT INTO group_list_cards (list_id, card_number) VALUES (?, ?)');
          for (const n of l.cardNumbers) card.run(l.id, n);
        })(),
      `group list ${l.id}`,
    );
  }

  groupList(id: string): (GroupList & { paid: string[] }) | undefined {
    const r = this.#st.db
      .prepare<[string], { id: string; partner_id: string; benefit: Benefit; reference: string; max_per_youth: number; valid_until: number; created_at: number; created_by: string }>('SELECT * FROM group_lists WHERE id = ?')
      .get(id);
    if (!r) return undefined;
    const cards = this.#st.db.prepare<[string], { card_number: string; paid_by: string | null }>('SELECT card_number, paid_by FROM group_list_cards WHERE list_id = ? ORDER BY card_number').all(id);
    return {
      id: r.id,
      partnerId: r.partner_id,
      benefit: r.benefit,
      reference: r.reference,
      cardNumbers: cards.map((c) => c.card_number),
      maxPerYouth: r.max_per_youth,
      validUntil: r.valid_until,
      createdAt: r.created_at,
      createdBy: r.created_by,
      paid: cards.filter((c) => c.paid_by !== null).map((c) => c.card_number),
    };
  }

  /** One youth of a group: the same rules as at a till (R9 partial debit included), no code asked. */
  #groupLine(g: GroupSale, partner: PartnerCache, cardNumber: string, txnId: string): GroupSaleLine {
    const card = this.#st.s.card.get(cardNumber);
    const choice = card ? chooseWallet(this.#st, card, g.benefit, g.at) : undefined;
    const d = decide(
      { benefit: g.benefit, amount: g.amount },
      {
        terminalActive: true,
        partnerType: partner.type,
        conventionValid: g.at >= partner.conventionStart && g.at < partner.conventionEnd,
        ...(card ? { card: { status: card.status, pinGate: 'open' as const } } : {}),
        ...walletSnapshot(choice),
        pin: 'not-needed',
        // The Region's approved list stands for the cards (see groupSale).
        cardProof: 'not-needed',
      },
    );
    if (d.status === 'declined') return { cardNumber, txnId, status: 'declined', code: d.code, taken: 0, remainingToPay: g.amount };
    assert(card && choice && 'wallet' in choice, 'an approved group line has a wallet');
    recordSale(this.#st, { txnId, partner, terminalId: null, groupId: g.groupId, card, wallet: choice.wallet, taken: d.taken, saleAt: g.at, at: g.at });
    return { cardNumber, txnId, status: 'approved', taken: d.taken, remainingToPay: d.remainingToPay };
  }

  /**
   * Once swept up to an instant, a wallet ended by then stays empty: nothing credits an ended wallet (a
   * correction then goes to the Region, a load is refused). So each sweep only looks at the wallets
   * that ended since the last one, through an index on the end of their window, however many campaigns
   * the ledger holds.
   */
  expire(at: number, maxWallets = Number.MAX_SAFE_INTEGER): ExpiryResult {
    const r = this.#st.db.transaction(() => this.#expireStep(at, maxWallets))();
    // Set only once the step is committed: a rolled-back step leaves the cursor where it was.
    this.#st.expiryCursor = r.next;
    return r.result;
  }

  /**
   * One step of a sweep. Between the steps of one sweep (same `at`, same mark) a cursor on the end of the
   * windows carries on where the last step stopped, so a sweep of a million wallets reads each index entry
   * once instead of wading through the emptied ones again at every step.
   */
  #expireStep(at: number, maxWallets: number): { result: ExpiryResult; next: ExpiryCursor | undefined } {
    const from = this.#st.db.prepare<[], { value: number }>("SELECT value FROM ledger_meta WHERE key = 'expired_through'").get()?.value ?? -1;
    const returned = { cent: 0, entry: 0 };
    if (at <= from) return { result: { wallets: 0, returned, done: true }, next: undefined };
    const c = this.#st.expiryCursor?.at === at && this.#st.expiryCursor.from === from ? this.#st.expiryCursor : { at, from, validUntil: from, id: Number.MAX_SAFE_INTEGER };
    // Two seeks rather than one row-value comparison, which SQLite would answer by rescanning every wallet
    // ending at the cursor's instant (a whole campaign ends at the same instant).
    const cols = 'id, benefit, campaign, unit, credits - debits AS balance, valid_until';
    const live = "kind = 'wallet' AND access = 0 AND credits > debits";
    const due: DueWallet[] = this.#st.db
      .prepare<[number, number, number], DueWallet>(`SELECT ${cols} FROM accounts WHERE ${live} AND valid_until = ? AND id > ? ORDER BY id LIMIT ?`)
      .all(c.validUntil, c.id, maxWallets);
    if (due.length < maxWallets) {
      due.push(
        ...this.#st.db
          .prepare<[number, number, number], DueWallet>(`SELECT ${cols} FROM accounts WHERE ${live} AND valid_until > ? AND valid_until <= ? ORDER BY valid_until, id LIMIT ?`)
          .all(c.validUntil, at, maxWallets - due.length),
      );
    }
    // Each wallet's side one by one; the Region's side once per funding account.
    const funding = new Map<string, { id: number; total: number }>();
    for (const w of due) {
      const key = `${w.benefit}:${w.campaign}`;
      let f = funding.get(key);
      if (!f) funding.set(key, (f = { id: fundingAccount(this.#st, w.benefit, w.campaign), total: 0 }));
      this.#st.s.insertTransfer.run({ txn_id: null, kind: 'expiry', debit_account: w.id, credit_account: f.id, amount: w.balance, unit: w.unit, at });
      this.#st.s.addDebits.run(w.balance, w.id);
      f.total += w.balance;
      returned[w.unit] += w.balance;
    }
    for (const f of funding.values()) this.#st.s.addCredits.run(f.total, f.id);
    // Only a complete sweep moves the mark: a partial one leaves the rest (still holding value) for the next.
    const done = due.length < maxWallets;
    if (done) this.#st.db.prepare("INSERT INTO ledger_meta (key, value) VALUES ('expired_through', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(at);
    const last = due.at(-1);
    return { result: { wallets: due.length, returned, done }, next: done || !last ? undefined : { at, from, validUntil: last.valid_until, id: last.id } };
  }

  atomically<T>(fn: () => T): T {
    try {
      return this.#st.db.transaction(fn)();
    } catch (e) {
      // Rolled back: a row cached inside it may never have been committed.
      this.#st.terminals.clear();
      this.#st.cardKeys.clear();
      throw e;
    }
  }

  counts() {
    const n = (table: string) => (this.#st.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { partners: n('partners'), terminals: n('terminals'), cards: n('cards'), requests: n('requests'), transfers: n('transfers') };
  }

  audit(): string[] {
    const problems: string[] = [];
    const q = <T>(sql: string) => this.#st.db.prepare(sql).all() as T[];
    for (const r of q<{ unit: string; net: number }>('SELECT unit, sum(credits) - sum(debits) AS net FROM accounts GROUP BY unit')) {
      if (r.net !== 0) problems.push(`accounts in ${r.unit} do not balance: credits − debits = ${r.net}`);
    }
    for (const r of q<{ code: string }>("SELECT n.name AS code FROM accounts a JOIN account_names n ON n.id = a.id WHERE a.kind = 'wallet' AND (a.debits > a.credits OR a.credits - a.debits > a.loaded)")) {
      problems.push(`wallet ${r.code} is below zero or above what was loaded`);
    }
    // Replay the journal in one pass (two GROUP BYs), not one scan per account.
    const replay = `WITH d AS (SELECT debit_account AS id, sum(amount) AS s FROM transfers GROUP BY debit_account),
           c AS (SELECT credit_account AS id, sum(amount) AS s FROM transfers GROUP BY credit_account),
           l AS (SELECT credit_account AS id, sum(amount) AS s FROM transfers WHERE kind = 'load' GROUP BY credit_account)
      SELECT n.name AS code FROM accounts a JOIN account_names n ON n.id = a.id LEFT JOIN d ON d.id = a.id LEFT JOIN c ON c.id = a.id LEFT JOIN l ON l.id = a.id
      WHERE a.debits <> coalesce(d.s, 0) OR a.credits <> coalesce(c.s, 0) OR (a.kind = 'wallet' AND a.loaded <> coalesce(l.s, 0))`;
    for (const r of q<{ code: string }>(replay)) problems.push(`account ${r.code} differs from its journal`);
    const unitMismatch = `SELECT t.id FROM transfers t JOIN accounts d ON d.id = t.debit_account JOIN accounts c ON c.id = t.credit_account
      WHERE t.unit <> d.unit OR t.unit <> c.unit`;
    for (const r of q<{ id: number }>(unitMismatch)) problems.push(`transfer ${r.id} mixes units`);
    // An approved request moved money once: a 'debit' from the wallet, a 'guarantee' from the Region's
    // offline guarantee, or both (a partial offline sale); at most one of each (unique index).
    const approvedWithout = `SELECT r.txn_id FROM requests r WHERE r.status = 'approved'
      AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.txn_id = r.txn_id AND t.kind IN ('debit', 'guarantee'))`;
    for (const r of q<{ txn_id: string }>(approvedWithout)) problems.push(`approved request ${r.txn_id} has no single debit`);
    const notApproved = `SELECT t.txn_id FROM transfers t JOIN requests r ON r.txn_id = t.txn_id WHERE t.kind IN ('debit', 'guarantee') AND r.status <> 'approved'`;
    for (const r of q<{ txn_id: string }>(notApproved)) problems.push(`request ${r.txn_id} moved money but is not approved`);
    const orphan = `SELECT t.txn_id FROM transfers t LEFT JOIN sales s ON s.txn_id = t.txn_id AND s.kind = 'sale'
      WHERE t.kind IN ('debit', 'guarantee') AND s.id IS NULL`;
    for (const r of q<{ txn_id: string }>(orphan)) problems.push(`debit ${r.txn_id} has no matching sale line`);
    const saleMismatch = `SELECT s.txn_id FROM sales s
      LEFT JOIN transfers d ON d.txn_id = s.txn_id AND d.kind = 'debit' LEFT JOIN transfers g ON g.txn_id = s.txn_id AND g.kind = 'guarantee'
      WHERE s.kind = 'sale' AND (s.quantity <> coalesce(d.amount, 0) + coalesce(g.amount, 0) OR s.guaranteed <> coalesce(g.amount, 0))`;
    for (const r of q<{ txn_id: string }>(saleMismatch)) problems.push(`sale line ${r.txn_id} differs from its debit and guarantee`);
    const lossMismatch = `SELECT g.txn_id FROM transfers g LEFT JOIN offline_losses o ON o.txn_id = g.txn_id
        WHERE g.kind = 'guarantee' AND (o.txn_id IS NULL OR o.amount <> g.amount)
      UNION SELECT o.txn_id FROM offline_losses o LEFT JOIN transfers g ON g.txn_id = o.txn_id AND g.kind = 'guarantee' WHERE g.id IS NULL`;
    for (const r of q<{ txn_id: string }>(lossMismatch)) problems.push(`guarantee of ${r.txn_id} differs from its recorded loss`);
    const correctionMismatch = `SELECT s.txn_id FROM sales s LEFT JOIN transfers t ON t.txn_id = s.txn_id AND t.kind = s.kind
      WHERE s.kind <> 'sale' AND (t.id IS NULL OR t.amount <> -s.quantity)`;
    for (const r of q<{ txn_id: string }>(correctionMismatch)) problems.push(`correction of ${r.txn_id} has no matching transfer`);
    // Value brought back after expiry: never more than the sweep took from the wallet, and each time for a
    // sale that took at least as much from it.
    const overRestored = `SELECT n.name AS code FROM accounts a JOIN account_names n ON n.id = a.id WHERE a.kind = 'wallet'
      AND (SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'restore' AND credit_account = a.id)
        > (SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'expiry' AND debit_account = a.id)`;
    for (const r of q<{ code: string }>(overRestored)) problems.push(`wallet ${r.code} got back more than its expiry took`);
    const restoreUnspent = `SELECT r.txn_id FROM transfers r LEFT JOIN transfers d ON d.txn_id = r.txn_id AND d.kind = 'debit'
      WHERE r.kind = 'restore' AND (d.id IS NULL OR d.debit_account <> r.credit_account OR d.amount < r.amount)`;
    for (const r of q<{ txn_id: string }>(restoreUnspent)) problems.push(`value restored for ${r.txn_id} was not taken by its sale`);
    const statementTotals = `SELECT st.id FROM statements st WHERE st.total_cents <> (SELECT coalesce(sum(amount_cents), 0) FROM sales WHERE statement_id = st.id)`;
    for (const r of q<{ id: string }>(statementTotals)) problems.push(`statement ${r.id} total differs from its lines`);
    return problems;
  }

  /** The durability settings in force (tests check them). */
  pragmas(): { journal_mode: string; synchronous: number } {
    return this.#st.pragmas();
  }

  close(): void {
    this.#st.close();
  }
}
