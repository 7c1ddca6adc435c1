import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import { partnerMayDebit, type Benefit, type Unit } from '../../protocol/benefits.ts';
import type { DeclineCode } from '../../protocol/codes.ts';
import type { DebitRequestBody, VoidRequestBody } from '../../protocol/messages.ts';
import { OfflineLimits, type HotlistReason } from '../../protocol/offline.ts';
import { encodeJson } from '../../protocol/debit.ts';
import { assert, PasserelleError } from '../../protocol/errors.ts';
import { addDays, regionDate, startOfRegionDay } from '../../common/paris-time.ts';
import type { CardLoadRow } from '../bulk/types.ts';
import type { CampaignDef } from '../campaigns.ts';
import type { Statement } from '../reimbursement/types.ts';
import { debitReply, voidReply } from '../replies.ts';
import { decide, MAX_GROUP_SIZE, type CardProofCheck, type Decision, type PinGate } from '../rules.ts';
import { fallbackRecordHash, isVoidItem, type CardRecord, type CardSearch, type IssueCard, type Opposition, type OppositionResult, type Suspension, type CorrectionResult, type ExpiryResult, type DebitItem, type VoidItem, type LedgerItem, type CommitOutcome, type TerminalSync, type TransferKind, type TransferRecord, type StoredRequest, type AuditEntry, type TerminalContact, type EnrolmentCodeRecord, type GroupList, type GroupSale, type GroupSaleLine, type GroupSaleResult, type CardHotlistEntry, type OfflineReport, type OfflineLoss, type PartnerRecord, type TerminalRecord, type ProofResult, type ApiTokenRecord, type LoadRecord, type BulkLoadResult, type WalletView, type HistoryEntry, type Ledger } from './ledger.ts';
import { OFFLINE_BREACHES } from './sqlite-schema.ts';
import { SqliteStore, type SqliteLedgerOptions } from './sqlite/store.ts';
import type { TerminalRow, PartnerCache, WalletRow, CardRow, SaleRow, ExpiryCursor, HotlistTx } from './sqlite/rows.ts';
import { transfer, fundingAccount, payableAccount, regionAccount, recordSale, correct } from './sqlite/journal.ts';
import { chooseWallet, restoreExpired, suspendedKeysAt, walletSnapshot } from './sqlite/wallet-choice.ts';
import { hotlistVersion, hotlistRefresh } from './sqlite/hotlist.ts';
import { countPinTry, pinGateOf } from './sqlite/pins.ts';
import { SqliteRegistry } from './sqlite/registry.ts';
import { SqliteFleet } from './sqlite/fleet.ts';
import { SqliteTokens } from './sqlite/tokens.ts';
import { SqliteStatements } from './sqlite/statements.ts';
import { SqliteCards } from './sqlite/cards.ts';
import { SqliteWallets } from './sqlite/wallets.ts';

export type { SqliteLedgerOptions } from './sqlite/store.ts';

/** Benefits a school may pay an outing with (R12): shows and cinema, never first aid. */
export const GROUP_BENEFITS: readonly Benefit[] = ['SHOWS', 'CINEMA'];

const LIMIT_KEYS = Object.keys(OfflineLimits.properties) as (keyof OfflineLimits)[];

/**
 * How long a hotlist change may take to reach a connected terminal: the publisher polls the ledger every
 * second (gateway/offline-publisher.ts), and delivery takes a moment more. A change older than this at a
 * terminal's connect was on the list that terminal received.
 */
const HOTLIST_PUBLISH_MS = 10_000;

/**
 * The declines the offline guarantee covers: the card or its wallet, which a terminal offline cannot see
 * (beyond the hotlist it holds). The partner's own standing (terminal, partnership type, convention) and
 * the secret code are never covered.
 */
const GUARANTEED_DECLINES: ReadonlySet<DeclineCode> = new Set<DeclineCode>([
  'CARD_UNKNOWN',
  'CARD_BLOCKED',
  'NO_SUCH_BENEFIT',
  'BENEFIT_EXHAUSTED',
  'BENEFIT_SUSPENDED',
  'BENEFIT_EXPIRED',
  'BENEFIT_NOT_YET_VALID',
]);

/** Why an offline sale is not covered by the Region's guarantee although the rules alone fell short. */
type OfflineBreach = (typeof OFFLINE_BREACHES)[number];

/** What the gateway knows of an offline sale from its own records (`#offlineKnowledge`). */
interface OfflineKnowledge {
  /** The sale's time for the rules: its `createdAt`, brought within what the terminal's contacts allow. */
  readonly saleAt: number;
  /** Whether `createdAt` itself lies within those bounds (the policy's clock skew allowed). */
  readonly plausible: boolean;
  /** The hotlist version the terminal must have held. */
  readonly hotlist: number;
  /** The outbox head at the terminal's last connect before the sale: sales above it were pending together. */
  readonly sinceSeq: number;
}

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
  readonly #statements: SqliteStatements;
  readonly #tokens: SqliteTokens;
  readonly #commit: (items: readonly LedgerItem[], decidedAt: number) => CommitOutcome[];

  constructor(opts: SqliteLedgerOptions) {
    const st = new SqliteStore(opts);
    this.#st = st;
    this.#registry = new SqliteRegistry(st);
    this.#fleet = new SqliteFleet(st);
    this.#cards = new SqliteCards(st);
    this.#wallets = new SqliteWallets(st);
    this.#statements = new SqliteStatements(st);
    this.#tokens = new SqliteTokens(st);
    this.#commit = st.db.transaction((items: readonly LedgerItem[], decidedAt: number) => {
      const hv: HotlistTx = {};
      const outcomes = items.map((item) => this.#applyItem(item, decidedAt, hv));
      // Each terminal's sequence state once per batch, however many of its records the batch holds.
      for (const [t, sync] of st.batchSyncs) st.s.putSync.run(t, sync.next_seq, sync.max_seq, sync.head_hash);
      return outcomes;
    });
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

  commitDebits(items: readonly LedgerItem[], decidedAt: number): CommitOutcome[] {
    this.#st.batchSyncs = new Map();
    try {
      const outcomes = this.#commit(items, decidedAt);
      // Inside an outer transaction (atomically) the batch is not committed yet: forget, do not cache.
      const committed = !this.#st.db.inTransaction;
      for (const [t, sync] of this.#st.batchSyncs) {
        if (committed) this.#st.syncs.set(t, sync);
        else this.#st.syncs.delete(t);
      }
      return outcomes;
    } catch (e) {
      throw new PasserelleError('LEDGER_FAILED', `batch of ${items.length} rolled back: ${(e as Error).message}`, {}, { cause: e });
    } finally {
      this.#st.batchSyncs = new Map();
    }
  }

  /**
   * One terminal record (a sale or a void): a repeat by transaction id gets its original reply; a fresh
   * one takes its place in the terminal's sequence and hash chain, then is decided.
   */
  #applyItem(item: LedgerItem, decidedAt: number, hv: HotlistTx): CommitOutcome {
    const rec = isVoidItem(item) ? item.void : item.body;
    const prior = this.#st.s.request.get(rec.txnId);
    if (prior) {
      if (prior.fingerprint === item.fingerprint) return { kind: 'reply', reply: prior.reply, fresh: false, status: prior.status };
      this.#st.s.insertConflict.run(rec.txnId, rec.terminalId, item.fingerprint, decidedAt);
      return { kind: 'conflict' };
    }
    const tp = this.#st.terminal(rec.terminalId);
    assert(tp, `terminal ${rec.terminalId} was verified but is not in the ledger`);
    if (!this.#chain(rec, recordHash(item), decidedAt)) return { kind: 'seq-conflict' };
    return isVoidItem(item) ? this.#applyVoid(item, decidedAt) : this.#applyDebit(item, tp, decidedAt, hv);
  }

  /**
   * Place a fresh record in its terminal's sequence. A sequence number already held by another record is
   * refused (false) and recorded as a chain break. A `prev` that does not match the hash of the record
   * before (or a record after naming another hash than this one) is recorded as a chain break too, but the
   * record is still processed: its signature already proves where it comes from; the break is for the
   * operator. The record itself is stored with its request (`requests.msg_hash`, `prev`). In order, this
   * costs no lookup at all (the terminal's sequence state is cached and written once per batch).
   */
  #chain(rec: DebitRequestBody | VoidRequestBody, msgHash: string, at: number): boolean {
    const { terminalId: t, seq, txnId, prev } = rec;
    const sync = this.#st.sync(t);
    // Below next_seq every number is taken; above max_seq none is; in between, look.
    if (seq < sync.next_seq || (seq <= sync.max_seq && this.#st.s.record.get(t, seq))) {
      this.#st.s.insertBreak.run(t, seq, txnId, 'seq-reused', at);
      return false;
    }
    // In order (the usual case), the record before is the head of the contiguous run: no lookup.
    const before = seq === sync.next_seq ? sync.head_hash : this.#st.s.record.get(t, seq - 1)?.msg_hash;
    if (before !== undefined && before !== prev) this.#st.s.insertBreak.run(t, seq, txnId, 'prev-mismatch', at);
    if (seq < sync.max_seq) {
      const after = this.#st.s.record.get(t, seq + 1);
      if (after && after.prev !== msgHash) this.#st.s.insertBreak.run(t, seq + 1, after.txn_id, 'prev-mismatch', at);
    }
    const max = Math.max(sync.max_seq, seq);
    let next = sync.next_seq;
    let head = sync.head_hash;
    if (seq === next) {
      next++;
      head = msgHash;
      // A gap just filled: run on over the records that came after it.
      for (let r = next <= max ? this.#st.s.record.get(t, next) : undefined; r; r = next <= max ? this.#st.s.record.get(t, next) : undefined) {
        head = r.msg_hash;
        next++;
      }
    }
    this.#st.batchSyncs.set(t, { next_seq: next, max_seq: max, head_hash: head });
    return true;
  }

  #applyDebit(item: DebitItem, tp: TerminalRow, decidedAt: number, hv: HotlistTx): CommitOutcome {
    const body = item.body;
    if (body.mode === 'offline') return this.#settleOffline(item, tp, decidedAt, hv);
    // Voided by its terminal before it arrived: never applied, and its repeats get the same answer.
    if (this.#st.voidsExist && this.#st.s.voidOf.get(body.txnId, body.terminalId)) return this.#storeDebit(item, { status: 'declined', code: 'TXN_VOIDED' }, decidedAt);
    const card = this.#st.s.card.get(body.credential.cardNumber);
    const choice = card ? chooseWallet(this.#st, card, body.benefit, decidedAt) : undefined;
    const decided = decide(body, {
      terminalActive: tp.active,
      partnerType: tp.partnerType,
      conventionValid: decidedAt >= tp.partner.conventionStart && decidedAt < tp.partner.conventionEnd,
      ...(card ? { card: { status: card.status, pinGate: pinGateOf(this.#st, card, tp.partner.id, decidedAt, item.pin) } } : {}),
      ...walletSnapshot(choice),
      pin: item.pin,
      // An online sale carries the proof of its own tap: a proof naming another transaction is a replay.
      cardProof: body.credential.kind === 'nfc' && body.credential.proof.ref !== body.txnId ? 'failed' : item.proof,
    });
    const decision = card ? countPinTry(this.#st, card, tp.partner.id, decidedAt, item.pin, decided) : decided;
    if (decision.status === 'approved') {
      assert(card && choice && 'wallet' in choice, 'an approved debit has a card and a wallet');
      recordSale(this.#st, {
        txnId: body.txnId,
        partner: tp.partner,
        terminalId: body.terminalId,
        groupId: null,
        card,
        wallet: choice.wallet,
        taken: decision.taken,
        saleAt: body.createdAt,
        at: decidedAt,
      });
    }
    return this.#storeDebit(item, decision, decidedAt);
  }

  /** Store a decided sale with its reply bytes (what every repeat gets) and return them. */
  #storeDebit(item: DebitItem, decision: Decision, decidedAt: number, guaranteed = 0): CommitOutcome {
    const body = item.body;
    const reply = encodeJson(debitReply(body, decision, decidedAt, guaranteed));
    this.#st.s.insertRequest.run({
      txn_id: body.txnId,
      terminal_id: body.terminalId,
      seq: body.seq,
      fingerprint: item.fingerprint,
      status: decision.status,
      mode: body.mode,
      code: decision.status === 'declined' ? decision.code : null,
      reply,
      decided_at: decidedAt,
      msg_hash: recordHash(item),
      prev: body.prev,
    });
    return { kind: 'reply', reply, fresh: true, status: decision.status };
  }

  /**
   * Settle a sale the terminal already accepted offline. The rules are applied as of the sale's time (the
   * terminal's clock, never later than now): the convention then, the wallet whose window held then, the
   * suspensions in force then, the card opposed only if it was by then; the balance is today's (R9 applies).
   *
   * What the wallet cannot pay is covered by the Region's guarantee when the terminal kept to the signed
   * policy it held (see `#offlineBreach`) and the partner itself could make the sale (active terminal,
   * its partnership type, its convention): the reply is then approved with `guaranteed` = the shortfall,
   * the partner is paid the whole price, the loss is recorded and the card is soft-blocked for offline
   * sales. Without the guarantee the sale is settled by the rules alone: a partial stays partial, a
   * decline stays a decline, coded OFFLINE_POLICY_BREACH when the breach is what cost the guarantee.
   */
  #settleOffline(item: DebitItem, tp: TerminalRow, decidedAt: number, hv: HotlistTx): CommitOutcome {
    const body = item.body;
    const cardProof = item.proof === 'ok' && !this.#takeOverProof(body, decidedAt) ? 'failed' : item.proof;
    // The sale's time and what the terminal then knew, from the gateway's own records (not the terminal's word).
    const known = this.#offlineKnowledge(body, decidedAt);
    const saleAt = known.saleAt;
    const breach = this.#offlineBreach(body, cardProof, known);
    const card = this.#st.s.card.get(body.credential.cardNumber);
    const opposedThen = card?.status === 'opposed' && (card.opposed_at ?? Number.NEGATIVE_INFINITY) <= saleAt;
    // Within the policy, the wallet pays as it stood at the sale time, even if the sweep has emptied it since.
    const choice = card ? chooseWallet(this.#st, card, body.benefit, saleAt, suspendedKeysAt(this.#st, card.dossier_id, saleAt), breach === null) : undefined;
    const conventionValid = saleAt >= tp.partner.conventionStart && saleAt < tp.partner.conventionEnd;
    const decided = decide(body, {
      terminalActive: tp.active,
      partnerType: tp.partnerType,
      conventionValid,
      ...(card ? { card: { status: opposedThen ? 'opposed' : 'active', pinGate: pinGateOf(this.#st, card, tp.partner.id, decidedAt, item.pin) } } : {}),
      ...walletSnapshot(choice),
      pin: item.pin,
      cardProof,
    });
    const decision = card ? countPinTry(this.#st, card, tp.partner.id, decidedAt, item.pin, decided) : decided;
    const partnerMay = tp.active && partnerMayDebit(tp.partnerType, body.benefit) && conventionValid;
    const taken = decision.status === 'approved' ? decision.taken : 0;
    // What the wallet alone falls short by, and why; null when it pays in full or the cause is not covered.
    const shortfall =
      decision.status === 'approved' ? (taken < body.amount ? 'PARTIAL' : null) : GUARANTEED_DECLINES.has(decision.code) ? decision.code : null;
    const wallet = choice && 'wallet' in choice ? choice.wallet : undefined;
    let final: Decision = decision;
    if (wallet?.expired) {
      // The wallet pays as it stood; what it keeps after the sale stays expired (with the Region).
      if (taken > 0) restoreExpired(this.#st, body.txnId, wallet, taken, decidedAt);
      if (final.balanceAfter !== undefined) final = { ...final, balanceAfter: 0 };
    }
    let guaranteed = 0;
    if (shortfall !== null && partnerMay && breach === null) {
      guaranteed = body.amount - taken;
      final = { status: 'approved', taken, remainingToPay: 0, ...(final.balanceAfter === undefined ? {} : { balanceAfter: final.balanceAfter }) };
      this.#recordGuaranteedSale({ body, tp, card, wallet, taken, guaranteed, reason: shortfall, saleAt, at: decidedAt });
      hotlistRefresh(this.#st, body.credential.cardNumber, hv, decidedAt, 'set');
    } else if (decision.status === 'approved') {
      assert(card && wallet, 'an approved debit has a card and a wallet');
      recordSale(this.#st, { txnId: body.txnId, partner: tp.partner, terminalId: body.terminalId, groupId: null, card, wallet, taken, saleAt, at: decidedAt });
    } else if (shortfall !== null && partnerMay) {
      final = { status: 'declined', code: 'OFFLINE_POLICY_BREACH', ...(final.balanceAfter === undefined ? {} : { balanceAfter: final.balanceAfter }) };
    }
    this.#st.s.insertOfflineSale.run({
      txn_id: body.txnId,
      terminal_id: body.terminalId,
      seq: body.seq,
      card_number: body.credential.cardNumber,
      benefit: body.benefit,
      unit: body.unit,
      amount: body.amount,
      guaranteed,
      breach,
      sale_at: saleAt,
      recorded_at: decidedAt,
    });
    return this.#storeDebit(item, final, decidedAt, guaranteed);
  }

  /**
   * What the gateway itself knows of an offline sale's time and terminal, whatever the request claims:
   *
   * - the sale was made after the last connect whose declared outbox head is below its number, and no later
   *   than the first connect whose head reaches it, nor than its arrival (gateway/contacts.ts); a
   *   `createdAt` outside that span (beyond the clock skew the policy allows) is implausible, and the rules
   *   then use the nearest plausible time;
   * - the hotlist the terminal must have held: the one in force at its last connect before the sale (less
   *   the time a change takes to be published), and no older than the policy's `hotlistMaxAgeMs` before the
   *   sale; the version the request claims counts only when it is newer;
   * - the terminal's offline sales between that connect and this one: what was pending when it sold.
   */
  #offlineKnowledge(body: DebitRequestBody, decidedAt: number): OfflineKnowledge {
    const p = this.#st.offlinePolicy(body.policy);
    const skew = p?.clockSkewMaxMs ?? 0;
    const { after, before } = this.contactBounds(body.terminalId, body.seq);
    const latest = Math.min(before ?? decidedAt, decidedAt);
    const plausible = (after === null || body.createdAt >= after - skew) && body.createdAt <= latest + skew;
    const saleAt = Math.max(Math.min(body.createdAt, latest), after ?? Number.NEGATIVE_INFINITY);
    const contact = this.#st.s.lastContactBelow.get(body.terminalId, body.seq);
    const knownAt = Math.max(contact ? contact.at - HOTLIST_PUBLISH_MS : Number.NEGATIVE_INFINITY, p ? saleAt - p.hotlistMaxAgeMs - skew : Number.NEGATIVE_INFINITY);
    const versionThen = Number.isFinite(knownAt) ? (this.#st.s.hotlistVersionAt.get(knownAt)?.version ?? 0) : 0;
    const hotlist = Math.max(versionThen, Math.min(body.hotlist, hotlistVersion(this.#st)));
    return { saleAt, plausible, hotlist, sinceSeq: contact?.head_seq ?? 0 };
  }

  /**
   * How an offline sale broke the signed policy its terminal held, as the gateway judges it from its own
   * records, or null. In order: a QR credential (never offline: the code needs the gateway), a policy
   * version never issued or disabling offline sales, no valid card signature, an implausible sale time, a
   * card on the hotlist the terminal must have held, an amount over the per-sale maximum, more offline
   * sales of the card that day at that terminal than the policy allows, or more offline sales pending at
   * the terminal than it allows. What the gateway cannot see (the hotlist's age on the terminal, its time
   * offline by its own clock) stays the terminal's to enforce.
   */
  #offlineBreach(body: DebitRequestBody, cardProof: CardProofCheck, k: OfflineKnowledge): OfflineBreach | null {
    if (body.credential.kind === 'qr') return 'qr';
    const p = this.#st.offlinePolicy(body.policy);
    if (!p) return 'policy-unknown';
    if (!p.enabled) return 'policy-disabled';
    if (cardProof === 'failed') return 'card-proof';
    if (!k.plausible) return 'time';
    if (this.#hotlistedAt(body.credential.cardNumber, k.hotlist)) return 'hotlisted';
    if (body.amount > (body.unit === 'entry' ? p.maxSaleEntries : p.maxSaleCents)) return 'amount';
    const cents = body.unit === 'cent' ? body.amount : 0;
    const dayStart = startOfRegionDay(regionDate(k.saleAt));
    const day = this.#st.s.cardDay.get(body.terminalId, body.credential.cardNumber, dayStart, startOfRegionDay(addDays(regionDate(k.saleAt), 1)))!;
    if (day.n + 1 > p.perCardDayCount || (day.cents ?? 0) + cents > p.perCardDayCents) return 'card-day';
    const pending = this.#st.s.pendingSince.get(body.terminalId, k.sinceSeq, body.seq)!;
    if (pending.n + 1 > p.maxPendingCount || (pending.cents ?? 0) + cents > p.maxPendingCents) return 'pending';
    return null;
  }

  /**
   * An offline sale's card proof may name another transaction: the online request of the same tap that
   * went unanswered, which the terminal voided when it judged the sale offline instead. The offline sale
   * takes the proof over, once: the request it names must be (or become) an online sale of this terminal,
   * and is voided here if its own void has not arrived yet (the void, when it comes, finds it done). Any
   * other foreign proof (another terminal's, an offline sale's, one already taken over) is a replay.
   */
  #takeOverProof(body: DebitRequestBody, at: number): boolean {
    if (body.credential.kind !== 'nfc') return true;
    const ref = body.credential.proof.ref;
    if (ref === body.txnId) return true;
    if (this.#st.s.refUse.get(ref)) return false;
    const target = this.#st.s.request.get(ref);
    if (target && (target.terminal_id !== body.terminalId || target.mode !== 'online')) return false;
    this.#voidTarget({ txnId: body.txnId, terminalId: body.terminalId, target: ref, reason: 'timeout' }, at);
    this.#st.s.insertRefUse.run(ref, body.txnId, body.terminalId);
    return true;
  }

  /** Whether the card was on the hotlist at `version` (the last stay on the list, which is what counts). */
  #hotlistedAt(cardNumber: string, version: number): boolean {
    const r = this.#st.s.hotlistRow.get(cardNumber);
    return !!r && r.since !== null && r.since <= version && (r.reason !== null || r.version > version);
  }

  /**
   * A guaranteed offline sale: what the wallet paid (a 'debit' transfer, when anything) and the shortfall
   * from the Region's offline-guarantee account (a 'guarantee' transfer), on ONE reimbursement line for the
   * whole price, so the partner is paid what it was promised; and the loss, for the Region's report.
   */
  #recordGuaranteedSale(g: {
    body: DebitRequestBody;
    tp: TerminalRow;
    card: CardRow | undefined;
    wallet: WalletRow | undefined;
    taken: number;
    guaranteed: number;
    reason: string;
    saleAt: number;
    at: number;
  }): void {
    const { body, tp, card, wallet } = g;
    const unit = body.unit;
    const payable = payableAccount(this.#st, tp.partner.id, unit);
    if (g.taken > 0) {
      // A partial debit is never an access (an access approves in full), so the wallet pays it.
      assert(wallet && wallet.access === 0, 'a partial offline debit has a balance wallet');
      transfer(this.#st, body.txnId, 'debit', wallet.id, payable, g.taken, unit, g.at);
    }
    transfer(this.#st, body.txnId, 'guarantee', regionAccount(this.#st, unit), payable, g.guaranteed, unit, g.at);
    const price = unit === 'cent' ? 1 : tp.partner.entryPriceCents;
    const dossierId = card?.dossier_id ?? null;
    const campaign = wallet?.campaign ?? (card ? this.#st.s.wallets.all(card.dossier_id, body.benefit).at(-1)?.campaign : undefined) ?? null;
    this.#st.s.insertSale.run({
      txn_id: body.txnId,
      kind: 'sale',
      partner_id: tp.partner.id,
      terminal_id: body.terminalId,
      group_id: null,
      card_number: body.credential.cardNumber,
      dossier_id: dossierId,
      benefit: body.benefit,
      campaign,
      unit,
      quantity: body.amount,
      guaranteed: g.guaranteed,
      amount_cents: body.amount * price,
      sale_at: g.saleAt,
      recorded_at: g.at,
      reason: null,
    });
    this.#st.s.insertLoss.run({
      txn_id: body.txnId,
      card_number: body.credential.cardNumber,
      dossier_id: dossierId,
      partner_id: tp.partner.id,
      terminal_id: body.terminalId,
      benefit: body.benefit,
      unit,
      amount: g.guaranteed,
      amount_cents: g.guaranteed * price,
      reason: g.reason,
      sale_at: g.saleAt,
      recorded_at: g.at,
    });
  }

  /** A terminal's void of one of its own online sales; stored with its reply so a repeat gets the same bytes. */
  #applyVoid(item: VoidItem, decidedAt: number): CommitOutcome {
    const v = item.void;
    const reply = encodeJson(voidReply(v, this.#voidTarget(v, decidedAt), decidedAt));
    this.#st.s.insertRequest.run({
      txn_id: v.txnId,
      terminal_id: v.terminalId,
      seq: v.seq,
      fingerprint: item.fingerprint,
      status: 'void',
      mode: null,
      code: null,
      reply,
      decided_at: decidedAt,
      msg_hash: recordHash(item),
      prev: v.prev,
    });
    return { kind: 'reply', reply, fresh: true, status: 'void' };
  }

  /**
   * `undone`: the target was applied and is given back (a reversal, "voided by terminal"), or already was
   * by a correction. `prevented`: the target was not applied and never will be: not received yet (a
   * tombstone declines it TXN_VOIDED when it comes) or declined. A void never touches another terminal's
   * record, an offline sale (its result was shown: "accepted offline") or a void: those are answered
   * `prevented` and nothing changes.
   */
  #voidTarget(v: Pick<VoidRequestBody, 'txnId' | 'terminalId' | 'target' | 'reason'>, at: number): 'undone' | 'prevented' {
    const target = this.#st.s.request.get(v.target);
    if (!target) {
      this.#st.voidsExist = true;
      this.#st.s.insertVoid.run(v.target, v.terminalId, v.txnId, at);
      return 'prevented';
    }
    if (target.terminal_id !== v.terminalId || target.mode !== 'online') return 'prevented';
    if (target.status === 'declined') {
      this.#st.voidsExist = true;
      this.#st.s.insertVoid.run(v.target, v.terminalId, v.txnId, at);
      return 'prevented';
    }
    if (this.#st.s.correctionOf.get(v.target)) return 'undone';
    const sale = this.#st.s.sale.get(v.target);
    assert(sale && sale.guaranteed === 0, `approved online request ${v.target} has a plain sale line`);
    correct(this.#st, sale, 'reversal', `voided by terminal: ${v.reason}`, at);
    return 'undone';
  }

  hotlistVersion(): number {
    return hotlistVersion(this.#st);
  }

  hotlist(base: number): { version: number; entries: CardHotlistEntry[] } {
    const version = hotlistVersion(this.#st);
    const rows =
      base > 0
        ? this.#st.db.prepare<[number], { card_number: string; reason: HotlistReason | null }>('SELECT card_number, reason FROM hotlist WHERE version > ? ORDER BY version, card_number').all(base)
        : this.#st.db.prepare<[], { card_number: string; reason: HotlistReason | null }>('SELECT card_number, reason FROM hotlist WHERE reason IS NOT NULL ORDER BY card_number').all();
    return { version, entries: rows.map((r) => ({ card: r.card_number, reason: r.reason })) };
  }

  liftSoftBlock(cardNumber: string, at: number): boolean {
    return this.#st.db.transaction(() => {
      const row = this.#st.s.hotlistRow.get(cardNumber);
      if (!row || row.soft_at === null) return false;
      hotlistRefresh(this.#st, cardNumber, {}, at, 'clear');
      return true;
    })();
  }

  setOfflinePolicy(limits: OfflineLimits, at: number): { version: number; issuedAt: number; limits: OfflineLimits } {
    if (!Value.Check(OfflineLimits, limits)) throw new PasserelleError('DATA_INVALID', 'offline limits do not match their schema');
    const clean = Object.fromEntries(LIMIT_KEYS.map((k) => [k, limits[k]])) as OfflineLimits;
    return this.#st.db.transaction(() => {
      const latest = this.#latestPolicy();
      if (latest && isDeepStrictEqual(latest.limits, clean)) return latest;
      const version = (latest?.version ?? 0) + 1;
      this.#st.db.prepare('INSERT INTO offline_policies (version, limits, issued_at) VALUES (?, ?, ?)').run(version, JSON.stringify(clean), at);
      return { version, issuedAt: at, limits: clean };
    })();
  }

  #latestPolicy(): { version: number; issuedAt: number; limits: OfflineLimits } | null {
    const r = this.#st.s.latestPolicy.get();
    return r ? { version: r.version, issuedAt: r.issued_at, limits: JSON.parse(r.limits) as OfflineLimits } : null;
  }

  offlinePolicy(version: number): OfflineLimits | undefined {
    return this.#st.offlinePolicy(version);
  }

  terminalSync(terminalId: string, limit = 100): TerminalSync {
    const sync = this.#st.sync(terminalId);
    const missing: number[] = [];
    let expected = sync.next_seq;
    if (limit > 0) {
      for (const r of this.#st.s.recordSeqsFrom.iterate(terminalId, sync.next_seq)) {
        while (expected < r.seq && missing.length < limit) missing.push(expected++);
        if (missing.length >= limit) break;
        expected = r.seq + 1;
      }
    }
    const breaks = this.#st.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM chain_breaks WHERE terminal_id = ?').get(terminalId)?.n ?? 0;
    return { terminalId, nextSeq: sync.next_seq, maxSeq: sync.max_seq, missing, chainBreaks: breaks };
  }

  offlineReport(limit = 50): OfflineReport {
    const policy = this.#latestPolicy();
    const terminals = this.#st.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM terminals WHERE active = 1').get()?.n ?? 0;
    const l = policy?.limits;
    // Conservative: the same card could be used at every active terminal on the same day.
    const boundPerCardDayCents = l && l.enabled ? Math.min(l.perCardDayCents, l.maxSaleCents * l.perCardDayCount) * terminals : 0;
    const sales = this.#st.db
      .prepare<[], { n: number; breaches: number | null }>('SELECT count(*) AS n, sum(breach IS NOT NULL) AS breaches FROM offline_sales')
      .get();
    const lost = this.#st.db
      .prepare<[], { cents: number; entries: number }>("SELECT coalesce(sum(amount_cents), 0) AS cents, coalesce(sum(CASE WHEN unit = 'entry' THEN amount END), 0) AS entries FROM offline_losses")
      .get();
    const soft = this.#st.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM hotlist WHERE soft_at IS NOT NULL').get()?.n ?? 0;
    const losses = this.#st.db
      .prepare<[number], { txn_id: string; card_number: string; partner_id: string; terminal_id: string; benefit: Benefit; unit: Unit; amount: number; amount_cents: number; reason: string; sale_at: number; recorded_at: number }>(
        'SELECT * FROM offline_losses ORDER BY recorded_at DESC, rowid DESC LIMIT ?',
      )
      .all(limit)
      .map((r): OfflineLoss => ({
        txnId: r.txn_id,
        cardNumber: r.card_number,
        partnerId: r.partner_id,
        terminalId: r.terminal_id,
        benefit: r.benefit,
        unit: r.unit,
        amount: r.amount,
        amountCents: r.amount_cents,
        reason: r.reason,
        saleAt: r.sale_at,
        recordedAt: r.recorded_at,
      }));
    const flagged = new Map<string, { terminalId: string; breaches: number; kinds: Record<string, number>; lastAt: number }>();
    const byKind = this.#st.db
      .prepare<[], { terminal_id: string; breach: string; n: number; last_at: number }>(
        'SELECT terminal_id, breach, count(*) AS n, max(recorded_at) AS last_at FROM offline_sales WHERE breach IS NOT NULL GROUP BY terminal_id, breach',
      )
      .all();
    for (const r of byKind) {
      const t = flagged.get(r.terminal_id) ?? { terminalId: r.terminal_id, breaches: 0, kinds: {}, lastAt: 0 };
      t.breaches += r.n;
      t.kinds[r.breach] = r.n;
      t.lastAt = Math.max(t.lastAt, r.last_at);
      flagged.set(r.terminal_id, t);
    }
    return {
      policy,
      boundPerCardDayCents,
      offlineSales: sales?.n ?? 0,
      guaranteedCents: lost?.cents ?? 0,
      guaranteedEntries: lost?.entries ?? 0,
      breaches: sales?.breaches ?? 0,
      flaggedTerminals: [...flagged.values()].sort((a, b) => b.breaches - a.breaches || b.lastAt - a.lastAt).slice(0, limit),
      softBlockedCards: soft,
      losses,
    };
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

  request(txnId: string): StoredRequest | undefined {
    const r = this.#st.s.request.get(txnId);
    return r && { txnId: r.txn_id, terminalId: r.terminal_id, seq: r.seq, status: r.status, mode: r.mode, code: r.code, reply: r.reply };
  }

  transfersForTxn(txnId: string): TransferRecord[] {
    return this.#st.db
      .prepare<[string], { id: number; txn_id: string | null; kind: TransferKind; d: string; c: string; amount: number; unit: Unit; at: number }>(
        `SELECT t.id, t.txn_id, t.kind, da.name AS d, ca.name AS c, t.amount, t.unit, t.at FROM transfers t
         JOIN account_names da ON da.id = t.debit_account JOIN account_names ca ON ca.id = t.credit_account WHERE t.txn_id = ? ORDER BY t.id`,
      )
      .all(txnId)
      .map((r) => ({ id: r.id, txnId: r.txn_id, kind: r.kind, debitAccount: r.d, creditAccount: r.c, amount: r.amount, unit: r.unit, at: r.at }));
  }

  conflictCount(txnId?: string): number {
    const row = txnId
      ? this.#st.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM conflicts WHERE txn_id = ?').get(txnId)
      : this.#st.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM conflicts').get();
    return row?.n ?? 0;
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

/** The chain hash a record is stored under: its message's, or one derived from its fingerprint (tests). */
function recordHash(item: LedgerItem): string {
  return item.msgHash ?? fallbackRecordHash(item.fingerprint);
}
