import type { Benefit, Unit } from '../../../protocol/benefits.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { regionDate } from '../../../common/paris-time.ts';
import type { CorrectionResult, ExpiryResult, CorrectionLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { SaleRow, ExpiryCursor } from './rows.ts';
import { fundingAccount, correct } from './journal.ts';

interface DueWallet {
  readonly id: number;
  readonly benefit: Benefit;
  readonly campaign: string;
  readonly unit: Unit;
  readonly balance: number;
  readonly valid_until: number;
}

/** Corrections (a partner's cancellation, the Region's reversal) and the expiry sweep (R7). */
export class SqlCorrections implements CorrectionLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async cancelSale(txnId: string, partnerId: string, at: number): Promise<CorrectionResult> {
    return await this.#st.db.transaction(async () => {
      const sale = await this.#saleToCorrect(txnId);
      if (sale.partner_id !== partnerId) throw new PasserelleError('NOT_YOUR_SALE', `sale ${txnId} belongs to another partner`);
      if (regionDate(sale.sale_at) !== regionDate(at)) throw new PasserelleError('NOT_SAME_DAY', `sale ${txnId} was made on ${regionDate(sale.sale_at)}`);
      return await correct(this.#st, sale, 'cancellation', null, at);
    });
  }

  async reverseSale(txnId: string, reason: string, at: number): Promise<CorrectionResult> {
    if (!reason.trim()) throw new PasserelleError('DATA_INVALID', 'a reversal needs a reason');
    return await this.#st.db.transaction(async () => await correct(this.#st, await this.#saleToCorrect(txnId), 'reversal', reason, at));
  }

  async #saleToCorrect(txnId: string): Promise<SaleRow> {
    const sale = await this.#st.s.sale.get(txnId);
    if (!sale) throw new PasserelleError('SALE_UNKNOWN', `no approved sale ${txnId}`);
    if (await this.#st.s.correctionOf.get(txnId)) throw new PasserelleError('ALREADY_CORRECTED', `sale ${txnId} is already corrected`);
    if (sale.guaranteed > 0) {
      throw new PasserelleError('SALE_GUARANTEED', `sale ${txnId} was paid in part by the Region's offline guarantee; the Region settles it with the partner directly`);
    }
    return sale;
  }

  /**
   * Once swept up to an instant, a wallet ended by then stays empty: nothing credits an ended wallet (a
   * correction then goes to the Region, a load is refused). So each sweep only looks at the wallets
   * that ended since the last one, through an index on the end of their window, however many campaigns
   * the ledger holds.
   */
  async expire(at: number, maxWallets = Number.MAX_SAFE_INTEGER): Promise<ExpiryResult> {
    const r = await this.#st.db.transaction(async () => await this.#expireStep(at, maxWallets));
    // Set only once the step is committed: a rolled-back step leaves the cursor where it was.
    this.#st.expiryCursor = r.next;
    return r.result;
  }

  /**
   * One step of a sweep. Between the steps of one sweep (same `at`, same mark) a cursor on the end of the
   * windows carries on where the last step stopped, so a sweep of a million wallets reads each index entry
   * once instead of wading through the emptied ones again at every step.
   */
  async #expireStep(at: number, maxWallets: number): Promise<{ result: ExpiryResult; next: ExpiryCursor | undefined }> {
    const from = (await this.#st.db.prepare<[], { value: number }>("SELECT value FROM ledger_meta WHERE key = 'expired_through'").get())?.value ?? -1;
    const returned = { cent: 0, entry: 0 };
    if (at <= from) return { result: { wallets: 0, returned, done: true }, next: undefined };
    const c = this.#st.expiryCursor?.at === at && this.#st.expiryCursor.from === from ? this.#st.expiryCursor : { at, from, validUntil: from, id: Number.MAX_SAFE_INTEGER };
    // Two seeks rather than one row-value comparison, which SQLite would answer by rescanning every wallet
    // ending at the cursor's instant (a whole campaign ends at the same instant).
    const cols = 'id, benefit, campaign, unit, credits - debits AS balance, valid_until';
    const live = "kind = 'wallet' AND access = 0 AND credits > debits";
    const due: DueWallet[] = await this.#st.db
      .prepare<[number, number, number], DueWallet>(`SELECT ${cols} FROM accounts WHERE ${live} AND valid_until = ? AND id > ? ORDER BY id LIMIT ?`)
      .all(c.validUntil, c.id, maxWallets);
    if (due.length < maxWallets) {
      due.push(
        ...await this.#st.db
          .prepare<[number, number, number], DueWallet>(`SELECT ${cols} FROM accounts WHERE ${live} AND valid_until > ? AND valid_until <= ? ORDER BY valid_until, id LIMIT ?`)
          .all(c.validUntil, at, maxWallets - due.length),
      );
    }
    // Each wallet's side one by one; the Region's side once per funding account.
    const funding = new Map<string, { id: number; total: number }>();
    for (const w of due) {
      const key = `${w.benefit}:${w.campaign}`;
      let f = funding.get(key);
      if (!f) funding.set(key, (f = { id: await fundingAccount(this.#st, w.benefit, w.campaign), total: 0 }));
      await this.#st.s.insertTransfer.run({ txn_id: null, kind: 'expiry', debit_account: w.id, credit_account: f.id, amount: w.balance, unit: w.unit, at });
      await this.#st.s.addDebits.run(w.balance, w.id);
      f.total += w.balance;
      returned[w.unit] += w.balance;
    }
    for (const f of funding.values()) await this.#st.s.addCredits.run(f.total, f.id);
    // Only a complete sweep moves the mark: a partial one leaves the rest (still holding value) for the next.
    const done = due.length < maxWallets;
    if (done) await this.#st.db.prepare("INSERT INTO ledger_meta (key, value) VALUES ('expired_through', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(at);
    const last = due.at(-1);
    return { result: { wallets: due.length, returned, done }, next: done || !last ? undefined : { at, from, validUntil: last.valid_until, id: last.id } };
  }
}
