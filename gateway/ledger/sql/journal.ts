import { benefitUnit, type Benefit, type Unit } from '../../../protocol/benefits.ts';
import { assert } from '../../../protocol/errors.ts';
import type { CorrectionResult, TransferKind } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { PartnerCache, WalletRow, CardRow, SaleRow } from './rows.ts';

/*
 * The double-entry journal every part writes to: transfers between accounts, the accounts themselves (found
 * or created by code, their ids cached once committed), a sale and its reimbursement line, a correction.
 */

/** One movement of the journal: its line, and both accounts' running totals, in the caller's transaction. */
export async function transfer(st: SqlStore, txnId: string | null, kind: TransferKind, from: number, to: number, amount: number, unit: Unit, at: number): Promise<void> {
  assert(Number.isSafeInteger(amount) && amount > 0, `transfer amount must be a positive integer, got ${amount}`);
  if (st.s.transferPg) {
    // One round trip: the line and both running totals (the accounts' CHECKs apply as they would alone).
    await st.s.transferPg.run({ txn_id: txnId, kind, debit_account: from, credit_account: to, amount, unit, at });
    return;
  }
  await st.s.insertTransfer.run({ txn_id: txnId, kind, debit_account: from, credit_account: to, amount, unit, at });
  await st.s.addDebits.run(amount, from);
  await st.s.addCredits.run(amount, to);
}

/** An account found by its code, created if missing. Ids are cached only once their creation is committed. */
export async function account(st: SqlStore, code: string, fields: { kind: string; unit: Unit; benefit?: string; campaign?: string; partner_id?: string }): Promise<number> {
  const cached = st.accountIds.get(code);
  if (cached !== undefined) return cached;
  const found = await st.s.accountByCode.get(code);
  if (found) {
    if (!st.db.inTransaction) st.accountIds.set(code, found.id);
    return found.id;
  }
  const r = await st.s.insertAccount.get({
    dossier_id: null,
    benefit: null,
    campaign: null,
    partner_id: null,
    access: 0,
    valid_from: null,
    valid_until: null,
    ...fields,
    code,
  });
  return r!.id;
}

/** The Region's account of a benefit and campaign: what loads take from and the expiry sweep returns to. */
export async function fundingAccount(st: SqlStore, benefit: Benefit, campaign: string): Promise<number> {
  return await account(st, `funding:${benefit}:${campaign}`, { kind: 'funding', unit: benefitUnit(benefit), benefit, campaign });
}

/** What the Region owes a partner, in one unit. Created with the partner, so a debit only reads it. */
export async function payableAccount(st: SqlStore, partnerId: string, unit: Unit): Promise<number> {
  const code = `payable:${partnerId}:${unit}`;
  let id = st.accountIds.get(code);
  if (id === undefined) {
    id = (await st.s.accountByCode.get(code))?.id;
    assert(id !== undefined, `partner ${partnerId} has no ${code} account`);
    st.accountIds.set(code, id);
  }
  return id;
}

/** The Region's offline guarantee in one unit: what pays a partner the shortfall of a guaranteed offline sale. */
export async function regionAccount(st: SqlStore, unit: Unit): Promise<number> {
  return await account(st, `offline-guarantee:${unit}`, { kind: 'region', unit });
}

/**
 * Move what a sale takes and write its reimbursement line. A balance benefit moves from the wallet to
 * the partner's payable account; a museum visit (an access, R: "gratuit") moves the counted entries
 * from the Region's funding account, so every approved sale has exactly one debit transfer.
 */
export async function recordSale(st: SqlStore, s: {
  txnId: string;
  partner: PartnerCache;
  terminalId: string | null;
  groupId: string | null;
  card: CardRow;
  wallet: WalletRow;
  taken: number;
  saleAt: number;
  at: number;
}): Promise<void> {
  const w = s.wallet;
  const from = w.access === 1 ? await fundingAccount(st, w.benefit, w.campaign) : w.id;
  await transfer(st, s.txnId, 'debit', from, await payableAccount(st, s.partner.id, w.unit), s.taken, w.unit, s.at);
  await st.s.insertSale.run({
    txn_id: s.txnId,
    kind: 'sale',
    partner_id: s.partner.id,
    terminal_id: s.terminalId,
    group_id: s.groupId,
    card_number: s.card.number,
    dossier_id: s.card.dossier_id,
    benefit: w.benefit,
    campaign: w.campaign,
    unit: w.unit,
    quantity: s.taken,
    guaranteed: 0,
    amount_cents: w.unit === 'cent' ? s.taken : s.taken * s.partner.entryPriceCents,
    sale_at: s.saleAt,
    recorded_at: s.at,
    reason: null,
  });
}

/**
 * Give a sale back: what it took returns to the wallet while the wallet is still in its window, or to
 * the Region's funding account once it is not (the value would have expired). A sale is corrected at
 * most once (unique index), so no correction can lift a wallet above what was loaded into it.
 */
export async function correct(st: SqlStore, sale: SaleRow, kind: 'cancellation' | 'reversal', reason: string | null, at: number): Promise<CorrectionResult> {
  assert(sale.guaranteed === 0 && sale.dossier_id !== null && sale.campaign !== null, `sale ${sale.txn_id} is guaranteed: never corrected`);
  const wallet = await st.s.walletByKey.get(sale.dossier_id, sale.benefit, sale.campaign);
  assert(wallet, `sale ${sale.txn_id} has no wallet`);
  const toWallet = wallet.access === 0 && at >= wallet.valid_from && at < wallet.valid_until;
  const to = toWallet ? wallet.id : await fundingAccount(st, sale.benefit, sale.campaign);
  await transfer(st, sale.txn_id, kind, await payableAccount(st, sale.partner_id, sale.unit), to, sale.quantity, sale.unit, at);
  await st.s.insertSale.run({
    txn_id: sale.txn_id,
    kind,
    partner_id: sale.partner_id,
    terminal_id: sale.terminal_id,
    group_id: null,
    card_number: sale.card_number,
    dossier_id: sale.dossier_id,
    benefit: sale.benefit,
    campaign: sale.campaign,
    unit: sale.unit,
    quantity: -sale.quantity,
    guaranteed: 0,
    amount_cents: -sale.amount_cents,
    sale_at: sale.sale_at,
    recorded_at: at,
    reason,
  });
  return { txnId: sale.txn_id, amount: sale.quantity, unit: sale.unit, to: toWallet ? 'wallet' : 'region' };
}
