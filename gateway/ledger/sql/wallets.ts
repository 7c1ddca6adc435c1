import { benefitUnit, isAccessBenefit, maxLoad, type Benefit, type Unit } from '../../../protocol/benefits.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import type { CardLoadRow } from '../../bulk/types.ts';
import { walletValidity } from '../../campaigns.ts';
import type { TransferKind, LoadRecord, BulkLoadResult, WalletView, HistoryEntry, WalletLedger } from '../ledger.ts';
import { constraintRefusal, type SqlStore } from './store.ts';
import type { HotlistTx } from './rows.ts';
import { transfer, fundingAccount } from './journal.ts';
import { chooseWallet, suspendedKeysOf } from './wallet-choice.ts';
import { hotlistRefresh } from './hotlist.ts';

/** What a bulk load looks up once per file; dropped with its transaction. */
interface BulkContext {
  readonly funding: Map<string, { readonly id: number; total: number }>;
  readonly validity: Map<string, { readonly validFrom: number; readonly validUntil: number }>;
  readonly hv: HotlistTx;
}

/** Wallets: loads (R8, bulk files included) and what the wallets hold and went through. */
export class SqlWallets implements WalletLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async load(l: LoadRecord): Promise<void> {
    const card = await this.#st.s.card.get(l.cardNumber);
    if (!card) throw new PasserelleError('DATA_INVALID', 'load for an unknown card');
    await this.#st.db.transaction(async () => await this.#load(card.dossier_id, l.benefit, l.campaign, l.amount, l.at));
  }

  /**
   * One load into a youth's wallet. "No reload during the year" (source 004): a wallet is loaded once per
   * campaign, except professional equipment, paid in one or two instalments (source 003), up to its cap.
   */
  async #load(dossierId: string, benefit: Benefit, campaign: string, amount: number, at: number): Promise<void> {
    const access = isAccessBenefit(benefit);
    if (!Number.isSafeInteger(amount) || amount < 0 || (access ? amount !== 0 : amount === 0) || amount > maxLoad(benefit)) {
      throw new PasserelleError('DATA_INVALID', access ? `${benefit} is an access: load it with amount 0` : `${benefit} load must be 1..${maxLoad(benefit)} ${benefitUnit(benefit)}s, got ${amount}`);
    }
    const unit = benefitUnit(benefit);
    const existing = await this.#st.s.walletByKey.get(dossierId, benefit, campaign);
    if (existing) {
      if (benefit !== 'PRO_EQUIPMENT' || existing.loaded + amount > maxLoad(benefit)) {
        throw new PasserelleError('DATA_INVALID', `${benefit} of campaign ${campaign} is already loaded for this youth (no reload during the year)`);
      }
      // An ended wallet takes nothing more: its value went (or goes) back to the Region (R7).
      if (at >= existing.valid_until) throw new PasserelleError('DATA_INVALID', `${benefit} of campaign ${campaign}: its window has ended`);
      await this.#st.s.addLoaded.run(amount, existing.id);
      await transfer(this.#st, null, 'load', await fundingAccount(this.#st, benefit, campaign), existing.id, amount, unit, at);
      return;
    }
    const validity = walletValidity(await this.#st.window(campaign, benefit), at);
    if (at >= validity.validUntil) throw new PasserelleError('DATA_INVALID', `${benefit} of campaign ${campaign}: its window has ended`);
    const funding = await fundingAccount(this.#st, benefit, campaign);
    if (amount > 0) await this.#st.s.addDebits.run(amount, funding);
    await this.#newWallet({ dossierId, benefit, campaign, validity, amount, funding, at });
  }

  /**
   * A new wallet written whole: balance and loaded amount in its row, and the load's journal line. The
   * funding account's side (its debits) is the caller's: at once for one load, summed for a bulk load.
   */
  async #newWallet(w: { dossierId: string; benefit: Benefit; campaign: string; validity: { validFrom: number; validUntil: number }; amount: number; funding: number; at: number }): Promise<void> {
    const unit = benefitUnit(w.benefit);
    const r = await this.#st.s.insertLoadedWallet.get({
      unit,
      dossier_id: w.dossierId,
      benefit: w.benefit,
      campaign: w.campaign,
      access: isAccessBenefit(w.benefit) ? 1 : 0,
      valid_from: w.validity.validFrom,
      valid_until: w.validity.validUntil,
      amount: w.amount,
    });
    if (w.amount > 0) {
      await this.#st.s.insertTransfer.run({ txn_id: null, kind: 'load', debit_account: w.funding, credit_account: r!.id, amount: w.amount, unit, at: w.at });
    }
  }

  async bulkLoad(rows: Iterable<CardLoadRow>, at: number): Promise<BulkLoadResult> {
    let cards = 0;
    let loads = 0;
    await this.#st.run(
      async () =>
        await this.#st.db.transaction(async () => {
          const ctx: BulkContext = { funding: new Map(), validity: new Map(), hv: {} };
          const lastDossier = (await this.#st.db.prepare<[], { n: number | null }>('SELECT max(rowid) AS n FROM dossiers').get())?.n ?? 0;
          for (const row of rows) {
            try {
              await this.#bulkRow(row, at, ctx);
            } catch (e) {
              const refusal = constraintRefusal(e, 'its card or dossier') ?? e;
              throw new PasserelleError('BULK_LOAD_INVALID', `line ${row.line}: ${(refusal as Error).message}`, { line: row.line });
            }
            cards++;
            loads += row.loads.length;
          }
          // The Region's side of every load, one update per funding account rather than one per wallet.
          for (const f of ctx.funding.values()) if (f.total > 0) await this.#st.s.addDebits.run(f.total, f.id);
          // The new youths' names for the card search, in one statement (dossiers are only ever appended).
          await this.#st.db.prepare('INSERT INTO holder_search (holder, dossier_id) SELECT holder, id FROM dossiers WHERE rowid > ?').run(lastDossier);
        }),
      'bulk load',
    );
    return { cards, loads };
  }

  /**
   * A new card (and dossier) or the dossier's current card, then its loads (R8: a new campaign at once).
   * New wallets are written whole (balance, loaded amount and journal line in two statements); what is
   * the same for every row (windows, funding accounts) is looked up once per file.
   */
  async #bulkRow(row: CardLoadRow, at: number, ctx: BulkContext): Promise<void> {
    const card = await this.#st.s.cardDossier.get(row.cardNumber);
    if (card && card.dossier_id !== row.dossierId) throw new PasserelleError('DATA_INVALID', `card belongs to another dossier`);
    let fresh = false;
    if (!card) {
      fresh = !await this.#st.s.dossier.get(row.dossierId);
      if (fresh) await this.#st.s.insertDossier.run(row.dossierId, row.holder, null);
      await this.#st.s.insertCard.run(row.cardNumber, row.dossierId, at);
      // A new card of a known dossier joins the hotlist if that dossier is suspended.
      if (!fresh) await hotlistRefresh(this.#st, row.cardNumber, ctx.hv, at);
    }
    for (const l of row.loads) {
      // A dossier created by this row has no wallet yet: no lookup, no reload check needed.
      if (!fresh || !await this.#bulkNewWallet(row.dossierId, l.benefit, row.campaign, l.amount, at, ctx)) {
        await this.#load(row.dossierId, l.benefit, row.campaign, l.amount, at);
      }
    }
  }

  /** Write a new wallet already loaded; false when the general path must handle this load. */
  async #bulkNewWallet(dossierId: string, benefit: Benefit, campaign: string, amount: number, at: number, ctx: BulkContext): Promise<boolean> {
    const key = `${benefit}:${campaign}`;
    let v = ctx.validity.get(key);
    if (!v) {
      v = walletValidity(await this.#st.window(campaign, benefit), at);
      ctx.validity.set(key, v);
    }
    const access = isAccessBenefit(benefit);
    if (at >= v.validUntil || !Number.isSafeInteger(amount) || (access ? amount !== 0 : amount < 1 || amount > maxLoad(benefit))) return false;
    let f = ctx.funding.get(key);
    if (!f) {
      f = { id: await fundingAccount(this.#st, benefit, campaign), total: 0 };
      ctx.funding.set(key, f);
    }
    await this.#newWallet({ dossierId, benefit, campaign, validity: v, amount, funding: f.id, at });
    f.total += amount;
    return true;
  }

  async walletBalance(cardNumber: string, benefit: Benefit, at?: number): Promise<number | undefined> {
    const card = await this.#st.s.card.get(cardNumber);
    if (!card) return undefined;
    if (at !== undefined) {
      const choice = await chooseWallet(this.#st, card, benefit, at);
      return 'wallet' in choice ? choice.wallet.balance : undefined;
    }
    return (await this.#st.s.wallets.all(card.dossier_id, benefit)).at(-1)?.balance;
  }

  async wallets(cardNumber: string, at: number): Promise<WalletView[]> {
    const card = await this.#st.cardOrThrow(cardNumber);
    const suspended = await suspendedKeysOf(this.#st, card.dossier_id);
    return (await this.#st.s.allWallets.all(card.dossier_id)).map((w) => {
      const isSuspended = suspended.has(`*:${w.campaign}`) || suspended.has(`${w.benefit}:${w.campaign}`);
      return {
        benefit: w.benefit,
        campaign: w.campaign,
        unit: w.unit,
        access: w.access === 1,
        loaded: w.loaded,
        balance: w.balance,
        validFrom: w.valid_from,
        validUntil: w.valid_until,
        suspended: isSuspended,
        usable: !isSuspended && at >= w.valid_from && at < w.valid_until,
      };
    });
  }

  async history(cardNumber: string, limit: number): Promise<HistoryEntry[]> {
    const card = await this.#st.cardOrThrow(cardNumber);
    // A sale is dated when it was made (a late offline sale arrives days after), every other movement
    // when it was recorded; both instants are given.
    const rows = await this.#st.db
      .prepare<
        [{ dossier: string; limit: number }],
        { at: number; recorded_at: number; kind: TransferKind; benefit: Benefit; campaign: string; unit: Unit; amount: number; txn_id: string | null; partner_id: string | null }
      >(
        `SELECT CASE WHEN t.kind = 'debit' THEN coalesce(s.sale_at, t.at) ELSE t.at END AS at, t.at AS recorded_at, t.kind, w.benefit, w.campaign, t.unit,
                CASE WHEN t.credit_account = w.id THEN t.amount ELSE -t.amount END AS amount,
                t.txn_id, s.partner_id
         FROM accounts w JOIN transfers t ON t.debit_account = w.id OR t.credit_account = w.id
         LEFT JOIN sales s ON s.txn_id = t.txn_id AND s.kind = 'sale'
         WHERE w.kind = 'wallet' AND w.dossier_id = @dossier
         UNION ALL
         SELECT s.sale_at, s.recorded_at, 'debit', s.benefit, s.campaign, s.unit, 0, s.txn_id, s.partner_id
         FROM sales s JOIN accounts w ON w.kind = 'wallet' AND w.dossier_id = s.dossier_id AND w.benefit = s.benefit AND w.campaign = s.campaign
         WHERE s.dossier_id = @dossier AND s.kind = 'sale' AND w.access = 1
         ORDER BY 1 DESC, 2 DESC LIMIT @limit`,
      )
      .all({ dossier: card.dossier_id, limit });
    return rows.map((r) => ({
      at: r.at,
      recordedAt: r.recorded_at,
      kind: r.kind,
      benefit: r.benefit,
      campaign: r.campaign,
      unit: r.unit,
      amount: r.amount,
      txnId: r.txn_id,
      partnerId: r.partner_id,
    }));
  }
}
