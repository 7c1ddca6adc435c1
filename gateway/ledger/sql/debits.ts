import type { Unit } from '../../../protocol/benefits.ts';
import type { DebitRequestBody, VoidRequestBody } from '../../../protocol/messages.ts';
import { encodeJson } from '../../../protocol/debit.ts';
import { assert, PasserelleError } from '../../../protocol/errors.ts';
import { debitReply, voidReply } from '../../replies.ts';
import { decide, type Decision } from '../../rules.ts';
import { fallbackRecordHash, isVoidItem, type DebitItem, type VoidItem, type LedgerItem, type CommitOutcome, type TerminalSync, type TransferKind, type TransferRecord, type StoredRequest, type DebitLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { TerminalRow, HotlistTx } from './rows.ts';
import { recordSale } from './journal.ts';
import { chooseWallet, walletSnapshot } from './wallet-choice.ts';
import { countPinTry, pinGateOf } from './pins.ts';
import { voidTarget } from './voids.ts';
import { settleOffline } from './offline-settle.ts';
import { prefetchBatch } from './batch-reads.ts';

/** Terminal records: sales and voids decided in one transaction per batch, in each terminal's sequence and hash chain. */
export class SqlDebits implements DebitLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async #commit(items: readonly LedgerItem[], decidedAt: number): Promise<CommitOutcome[]> {
    const st = this.#st;
    return await st.db.transaction(async () => {
      // PostgreSQL: what the batch reads, in five statements rather than several a record.
      if (st.db.dialect === 'postgres') st.batch = await prefetchBatch(st.db, items);
      const hv: HotlistTx = {};
      const outcomes: CommitOutcome[] = [];
      // One after the other: each item sees what the ones before it wrote.
      for (const item of items) outcomes.push(await this.#applyItem(item, decidedAt, hv));
      // Each terminal's sequence state once per batch, however many of its records the batch holds.
      if (st.s.putSyncs) {
        const rows = [...st.batchSyncs];
        if (rows.length > 0) await st.s.putSyncs.run(rows.map(([t]) => t), rows.map(([, s]) => s.next_seq), rows.map(([, s]) => s.max_seq), rows.map(([, s]) => s.head_hash));
      } else {
        for (const [t, sync] of st.batchSyncs) await st.s.putSync.run(t, sync.next_seq, sync.max_seq, sync.head_hash);
      }
      return outcomes;
    });
  }

  async commitDebits(items: readonly LedgerItem[], decidedAt: number): Promise<CommitOutcome[]> {
    this.#st.batchSyncs = new Map();
    this.#st.batchPending = new Map();
    try {
      const outcomes = await this.#commit(items, decidedAt);
      // Inside an outer transaction (atomically) the batch is not committed yet: forget, do not cache; nor
      // when other gateways write the same records.
      const committed = this.#st.mayCache;
      for (const [t, sync] of this.#st.batchSyncs) {
        if (committed) this.#st.syncs.set(t, sync);
        else this.#st.syncs.delete(t);
      }
      for (const [t, count] of this.#st.batchPending) {
        if (committed && count) this.#st.pending.set(t, count);
        else this.#st.pending.delete(t);
      }
      return outcomes;
    } catch (e) {
      throw new PasserelleError('LEDGER_FAILED', `batch of ${items.length} rolled back: ${(e as Error).message}`, {}, { cause: e });
    } finally {
      this.#st.batch = undefined;
      this.#st.batchSyncs = new Map();
      this.#st.batchPending = new Map();
    }
  }

  /**
   * One terminal record (a sale or a void): a repeat by transaction id gets its original reply; a fresh
   * one takes its place in the terminal's sequence and hash chain, then is decided.
   */
  async #applyItem(item: LedgerItem, decidedAt: number, hv: HotlistTx): Promise<CommitOutcome> {
    const rec = isVoidItem(item) ? item.void : item.body;
    const prior = await this.#st.request(rec.txnId);
    if (prior) {
      if (prior.fingerprint === item.fingerprint) return { kind: 'reply', reply: prior.reply, fresh: false, status: prior.status };
      await this.#st.s.insertConflict.run(rec.txnId, rec.terminalId, item.fingerprint, decidedAt);
      return { kind: 'conflict' };
    }
    const tp = await this.#st.terminal(rec.terminalId);
    assert(tp, `terminal ${rec.terminalId} was verified but is not in the ledger`);
    if (!await this.#chain(rec, recordHash(item), decidedAt)) return { kind: 'seq-conflict' };
    return isVoidItem(item) ? await this.#applyVoid(item, decidedAt) : await this.#applyDebit(item, tp, decidedAt, hv);
  }

  /**
   * Place a fresh record in its terminal's sequence. A sequence number already held by another record is
   * refused (false) and recorded as a chain break. A `prev` that does not match the hash of the record
   * before (or a record after naming another hash than this one) is recorded as a chain break too, but the
   * record is still processed: its signature already proves where it comes from; the break is for the
   * operator. The record itself is stored with its request (`requests.msg_hash`, `prev`). In order, this
   * costs no lookup at all (the terminal's sequence state is cached and written once per batch).
   */
  async #chain(rec: DebitRequestBody | VoidRequestBody, msgHash: string, at: number): Promise<boolean> {
    const { terminalId: t, seq, txnId, prev } = rec;
    const sync = await this.#st.sync(t);
    // Below next_seq every number is taken; above max_seq none is; in between, look.
    if (seq < sync.next_seq || (seq <= sync.max_seq && await this.#st.s.record.get(t, seq))) {
      await this.#st.s.insertBreak.run(t, seq, txnId, 'seq-reused', at);
      return false;
    }
    // In order (the usual case), the record before is the head of the contiguous run: no lookup.
    const before = seq === sync.next_seq ? sync.head_hash : (await this.#st.s.record.get(t, seq - 1))?.msg_hash;
    if (before !== undefined && before !== prev) await this.#st.s.insertBreak.run(t, seq, txnId, 'prev-mismatch', at);
    if (seq < sync.max_seq) {
      const after = await this.#st.s.record.get(t, seq + 1);
      if (after && after.prev !== msgHash) await this.#st.s.insertBreak.run(t, seq + 1, after.txn_id, 'prev-mismatch', at);
    }
    const max = Math.max(sync.max_seq, seq);
    let next = sync.next_seq;
    let head = sync.head_hash;
    if (seq === next) {
      next++;
      head = msgHash;
      // A gap just filled: run on over the records that came after it.
      for (let r = next <= max ? await this.#st.s.record.get(t, next) : undefined; r; r = next <= max ? await this.#st.s.record.get(t, next) : undefined) {
        head = r.msg_hash;
        next++;
      }
    }
    this.#st.batchSyncs.set(t, { next_seq: next, max_seq: max, head_hash: head });
    return true;
  }

  async #applyDebit(item: DebitItem, tp: TerminalRow, decidedAt: number, hv: HotlistTx): Promise<CommitOutcome> {
    const body = item.body;
    if (body.mode === 'offline') {
      const settled = await settleOffline(this.#st, item, tp, decidedAt, hv);
      return await this.#storeDebit(item, settled.decision, decidedAt, settled.guaranteed);
    }
    // Voided by its terminal before it arrived: never applied, and its repeats get the same answer.
    if (this.#st.voidsExist && (await this.#st.voidOf(body.txnId, body.terminalId)) !== undefined) return await this.#storeDebit(item, { status: 'declined', code: 'TXN_VOIDED' }, decidedAt);
    const card = await this.#st.cardRow(body.credential.cardNumber);
    const choice = card ? await chooseWallet(this.#st, card, body.benefit, decidedAt) : undefined;
    const decided = decide(body, {
      terminalActive: tp.active,
      partnerType: tp.partnerType,
      conventionValid: decidedAt >= tp.partner.conventionStart && decidedAt < tp.partner.conventionEnd,
      ...(card ? { card: { status: card.status, pinGate: await pinGateOf(this.#st, card, tp.partner.id, decidedAt, item.pin) } } : {}),
      ...walletSnapshot(choice),
      pin: item.pin,
      // An online sale carries the proof of its own tap: a proof naming another transaction is a replay.
      cardProof: body.credential.kind === 'nfc' && body.credential.proof.ref !== body.txnId ? 'failed' : item.proof,
    });
    const decision = card ? await countPinTry(this.#st, card, tp.partner.id, decidedAt, item.pin, decided) : decided;
    if (decision.status === 'approved') {
      assert(card && choice && 'wallet' in choice, 'an approved debit has a card and a wallet');
      await recordSale(this.#st, {
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
    return await this.#storeDebit(item, decision, decidedAt);
  }

  /** Store a decided sale with its reply bytes (what every repeat gets) and return them. */
  async #storeDebit(item: DebitItem, decision: Decision, decidedAt: number, guaranteed = 0): Promise<CommitOutcome> {
    const body = item.body;
    const reply = encodeJson(debitReply(body, decision, decidedAt, guaranteed));
    await this.#st.insertRequest({
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

  /** A terminal's void of one of its own online sales; stored with its reply so a repeat gets the same bytes. */
  async #applyVoid(item: VoidItem, decidedAt: number): Promise<CommitOutcome> {
    const v = item.void;
    const reply = encodeJson(voidReply(v, await voidTarget(this.#st, v, decidedAt), decidedAt));
    await this.#st.insertRequest({
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

  async terminalSync(terminalId: string, limit = 100): Promise<TerminalSync> {
    const sync = await this.#st.sync(terminalId);
    const missing: number[] = [];
    let expected = sync.next_seq;
    // The records received past the first gap, a page at a time, until `limit` numbers are found missing.
    for (let from = sync.next_seq; limit > 0 && missing.length < limit; ) {
      const page = await this.#st.s.recordSeqsFrom.all(terminalId, from);
      for (const r of page) {
        while (expected < r.seq && missing.length < limit) missing.push(expected++);
        if (missing.length >= limit) break;
        expected = r.seq + 1;
      }
      if (page.length < 1000) break;
      from = page[page.length - 1]!.seq + 1;
    }
    const breaks = (await this.#st.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM chain_breaks WHERE terminal_id = ?').get(terminalId))?.n ?? 0;
    return { terminalId, nextSeq: sync.next_seq, maxSeq: sync.max_seq, missing, chainBreaks: breaks };
  }

  async chainHead(terminalId: string): Promise<{ nextSeq: number; headHash: string }> {
    const sync = await this.#st.sync(terminalId);
    return { nextSeq: sync.next_seq, headHash: sync.head_hash };
  }

  async request(txnId: string): Promise<StoredRequest | undefined> {
    const r = await this.#st.s.request.get(txnId);
    return r && { txnId: r.txn_id, terminalId: r.terminal_id, seq: r.seq, status: r.status, mode: r.mode, code: r.code, reply: r.reply };
  }

  async transfersForTxn(txnId: string): Promise<TransferRecord[]> {
    return (await this.#st.db
      .prepare<[string], { id: number; txn_id: string | null; kind: TransferKind; d: string; c: string; amount: number; unit: Unit; at: number }>(
        `SELECT t.id, t.txn_id, t.kind, da.name AS d, ca.name AS c, t.amount, t.unit, t.at FROM transfers t
         JOIN account_names da ON da.id = t.debit_account JOIN account_names ca ON ca.id = t.credit_account WHERE t.txn_id = ? ORDER BY t.id`,
      )
      .all(txnId))
      .map((r) => ({ id: r.id, txnId: r.txn_id, kind: r.kind, debitAccount: r.d, creditAccount: r.c, amount: r.amount, unit: r.unit, at: r.at }));
  }

  async conflictCount(txnId?: string): Promise<number> {
    const row = txnId
      ? await this.#st.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM conflicts WHERE txn_id = ?').get(txnId)
      : await this.#st.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM conflicts').get();
    return row?.n ?? 0;
  }
}

/** The chain hash a record is stored under: its message's, or one derived from its fingerprint (tests). */
function recordHash(item: LedgerItem): string {
  return item.msgHash ?? fallbackRecordHash(item.fingerprint);
}
