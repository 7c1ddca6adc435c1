import { partnerMayDebit } from '../../../protocol/benefits.ts';
import type { DebitRequestBody } from '../../../protocol/messages.ts';
import { assert } from '../../../protocol/errors.ts';
import { addDays, regionDate, startOfRegionDay } from '../../../common/paris-time.ts';
import { decide, offlineBreach, offlineCover, type CardProofCheck, type Decision, type OfflineBreach } from '../../rules.ts';
import type { DebitItem } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { TerminalRow, WalletRow, CardRow, HotlistTx } from './rows.ts';
import { transfer, payableAccount, regionAccount, recordSale } from './journal.ts';
import { chooseWallet, restoreExpired, suspendedKeysAt, walletSnapshot } from './wallet-choice.ts';
import { hotlistVersion, hotlistRefresh } from './hotlist.ts';
import { countPinTry, pinGateOf } from './pins.ts';
import { voidTarget } from './voids.ts';
import { contactBounds } from './fleet.ts';

/*
 * Offline sales (docs/offline.md): what the gateway knows of one from its own records, whether the terminal kept
 * to the policy it held, and what the Region's guarantee then covers.
 */

/**
 * How long a hotlist change may take to reach a connected terminal: the publisher polls the ledger every
 * second (gateway/offline-publisher.ts), and delivery takes a moment more. A change older than this at a
 * terminal's connect was on the list that terminal received.
 */
const HOTLIST_PUBLISH_MS = 10_000;

/** What the gateway knows of an offline sale from its own records (`offlineKnowledge`). */
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

/**
 * Settle a sale the terminal already accepted offline. The rules are applied as of the sale's time (the
 * terminal's clock, never later than now): the convention then, the wallet whose window held then, the
 * suspensions in force then, the card opposed only if it was by then; the balance is today's (R9 applies).
 *
 * What the wallet cannot pay is covered by the Region's guarantee when the terminal kept to the signed
 * policy it held (rules.ts `offlineBreach`, `offlineCover`) and the partner itself could make the sale (active terminal,
 * its partnership type, its convention): the reply is then approved with `guaranteed` = the shortfall,
 * the partner is paid the whole price, the loss is recorded and the card is soft-blocked for offline
 * sales. Without the guarantee the sale is settled by the rules alone: a partial stays partial, a
 * decline stays a decline, coded OFFLINE_POLICY_BREACH when the breach is what cost the guarantee.
 * Returns the decision to store, and what the guarantee pays of it.
 */
export async function settleOffline(st: SqlStore, item: DebitItem, tp: TerminalRow, decidedAt: number, hv: HotlistTx): Promise<{ readonly decision: Decision; readonly guaranteed: number }> {
  const body = item.body;
  const cardProof = item.proof === 'ok' && !await takeOverProof(st, body, decidedAt) ? 'failed' : item.proof;
  // The sale's time and what the terminal then knew, from the gateway's own records (not the terminal's word).
  const known = await offlineKnowledge(st, body, decidedAt);
  const saleAt = known.saleAt;
  const breach = await breachOf(st, body, cardProof, known);
  const card = await st.cardRow(body.credential.cardNumber);
  const opposedThen = card?.status === 'opposed' && (card.opposed_at ?? Number.NEGATIVE_INFINITY) <= saleAt;
  // Within the policy, the wallet pays as it stood at the sale time, even if the sweep has emptied it since.
  const choice = card ? await chooseWallet(st, card, body.benefit, saleAt, await suspendedKeysAt(st, card.dossier_id, saleAt), breach === null) : undefined;
  const conventionValid = saleAt >= tp.partner.conventionStart && saleAt < tp.partner.conventionEnd;
  const decided = decide(body, {
    terminalActive: tp.active,
    partnerType: tp.partnerType,
    conventionValid,
    ...(card ? { card: { status: opposedThen ? 'opposed' : 'active', pinGate: await pinGateOf(st, card, tp.partner.id, decidedAt, item.pin) } } : {}),
    ...walletSnapshot(choice),
    pin: item.pin,
    cardProof,
  });
  const decision = card ? await countPinTry(st, card, tp.partner.id, decidedAt, item.pin, decided) : decided;
  const partnerMay = tp.active && partnerMayDebit(tp.partnerType, body.benefit) && conventionValid;
  const taken = decision.status === 'approved' ? decision.taken : 0;
  const wallet = choice && 'wallet' in choice ? choice.wallet : undefined;
  let final: Decision = decision;
  if (wallet?.expired) {
    // The wallet pays as it stood; what it keeps after the sale stays expired (with the Region).
    if (taken > 0) await restoreExpired(st, body.txnId, wallet, taken, decidedAt);
    if (final.balanceAfter !== undefined) final = { ...final, balanceAfter: 0 };
  }
  const cover = offlineCover(body.amount, final, partnerMay, breach);
  const guaranteed = cover.kind === 'guaranteed' ? cover.guaranteed : 0;
  if (cover.kind === 'guaranteed') {
    await recordGuaranteedSale(st, { body, tp, card, wallet, taken, guaranteed, reason: cover.reason, saleAt, at: decidedAt });
    await hotlistRefresh(st, body.credential.cardNumber, hv, decidedAt, 'set');
  } else if (decision.status === 'approved') {
    assert(card && wallet, 'an approved debit has a card and a wallet');
    await recordSale(st, { txnId: body.txnId, partner: tp.partner, terminalId: body.terminalId, groupId: null, card, wallet, taken, saleAt, at: decidedAt });
  }
  // A sale below what was counted for its terminal would be missed by the next extension: forget the count.
  const counted = st.batchPending.has(body.terminalId) ? st.batchPending.get(body.terminalId) : st.pending.get(body.terminalId);
  if (counted && body.seq < counted.upTo) st.batchPending.set(body.terminalId, undefined);
  await st.s.insertOfflineSale.run({
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
  return { decision: cover.decision, guaranteed };
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
async function offlineKnowledge(st: SqlStore, body: DebitRequestBody, decidedAt: number): Promise<OfflineKnowledge> {
  const p = await st.offlinePolicy(body.policy);
  const skew = p?.clockSkewMaxMs ?? 0;
  const { after, before } = await contactBounds(st, body.terminalId, body.seq);
  const latest = Math.min(before ?? decidedAt, decidedAt);
  const plausible = (after === null || body.createdAt >= after - skew) && body.createdAt <= latest + skew;
  const saleAt = Math.max(Math.min(body.createdAt, latest), after ?? Number.NEGATIVE_INFINITY);
  const contact = await st.s.lastContactBelow.get(body.terminalId, body.seq);
  const knownAt = Math.max(contact ? contact.at - HOTLIST_PUBLISH_MS : Number.NEGATIVE_INFINITY, p ? saleAt - p.hotlistMaxAgeMs - skew : Number.NEGATIVE_INFINITY);
  const versionThen = Number.isFinite(knownAt) ? ((await st.s.hotlistVersionAt.get(knownAt))?.version ?? 0) : 0;
  const hotlist = Math.max(versionThen, Math.min(body.hotlist, await hotlistVersion(st)));
  return { saleAt, plausible, hotlist, sinceSeq: contact?.head_seq ?? 0 };
}

/**
 * Whether an offline sale broke the policy its terminal held (rules.ts `offlineBreach`), judged on what the
 * gateway recorded itself: the policy version, the sale's plausible time, the hotlist the terminal must
 * have held, and the terminal's offline sales of that card that day and those pending with this one.
 */
async function breachOf(st: SqlStore, body: DebitRequestBody, cardProof: CardProofCheck, k: OfflineKnowledge): Promise<OfflineBreach | null> {
  const day = regionDate(k.saleAt);
  const cardDay = (await st.s.cardDay.get(body.terminalId, body.credential.cardNumber, startOfRegionDay(day), startOfRegionDay(addDays(day, 1))))!;
  const pending = await pendingBefore(st, body.terminalId, k.sinceSeq, body.seq);
  return offlineBreach({
    credential: body.credential.kind,
    policy: await st.offlinePolicy(body.policy),
    cardProof,
    plausible: k.plausible,
    hotlisted: await hotlistedAt(st, body.credential.cardNumber, k.hotlist),
    unit: body.unit,
    amount: body.amount,
    cardDay: { count: cardDay.n, cents: cardDay.cents ?? 0 },
    pending: { count: pending.n, cents: pending.cents },
  });
}

/**
 * The terminal's offline sales with `since` < seq < `seq`: from what was already counted for the terminal
 * since the same contact, adding or taking away the few rows between, or counted afresh.
 */
async function pendingBefore(st: SqlStore, terminalId: string, since: number, seq: number): Promise<{ n: number; cents: number }> {
  const known = st.batchPending.has(terminalId) ? st.batchPending.get(terminalId) : st.pending.get(terminalId);
  let n: number;
  let cents: number;
  if (known && known.since === since && known.upTo <= seq) {
    // Add what lies in [upTo, seq), above `since`.
    const more = (await st.s.pendingSince.get(terminalId, Math.max(since, known.upTo - 1), seq))!;
    n = known.n + more.n;
    cents = known.cents + (more.cents ?? 0);
  } else if (known && known.since === since) {
    // A record that arrived after a later one (the thread pool verifies in any order): take away [seq, upTo).
    const less = (await st.s.pendingSince.get(terminalId, Math.max(since, seq - 1), known.upTo))!;
    n = known.n - less.n;
    cents = known.cents - (less.cents ?? 0);
  } else {
    const all = (await st.s.pendingSince.get(terminalId, since, seq))!;
    n = all.n;
    cents = all.cents ?? 0;
  }
  st.batchPending.set(terminalId, { since, upTo: seq, n, cents });
  return { n, cents };
}

/**
 * An offline sale's card proof may name another transaction: the online request of the same tap that
 * went unanswered, which the terminal voided when it judged the sale offline instead. The offline sale
 * takes the proof over, once: the request it names must be (or become) an online sale of this terminal,
 * and is voided here if its own void has not arrived yet (the void, when it comes, finds it done). Any
 * other foreign proof (another terminal's, an offline sale's, one already taken over) is a replay.
 */
async function takeOverProof(st: SqlStore, body: DebitRequestBody, at: number): Promise<boolean> {
  if (body.credential.kind !== 'nfc') return true;
  const ref = body.credential.proof.ref;
  if (ref === body.txnId) return true;
  if (await st.s.refUse.get(ref)) return false;
  const target = await st.request(ref);
  if (target && (target.terminal_id !== body.terminalId || target.mode !== 'online')) return false;
  await voidTarget(st, { txnId: body.txnId, terminalId: body.terminalId, target: ref, reason: 'timeout', createdAt: body.createdAt }, at);
  await st.s.insertRefUse.run(ref, body.txnId, body.terminalId);
  return true;
}

/** Whether the card was on the hotlist at `version` (the last stay on the list, which is what counts). */
async function hotlistedAt(st: SqlStore, cardNumber: string, version: number): Promise<boolean> {
  const r = await st.s.hotlistRow.get(cardNumber);
  return !!r && r.since !== null && r.since <= version && (r.reason !== null || r.version > version);
}

/**
 * A guaranteed offline sale: what the wallet paid (a 'debit' transfer, when anything) and the shortfall
 * from the Region's offline-guarantee account (a 'guarantee' transfer), on ONE reimbursement line for the
 * whole price, so the partner is paid what it was promised; and the loss, for the Region's report.
 */
async function recordGuaranteedSale(st: SqlStore, g: {
  body: DebitRequestBody;
  tp: TerminalRow;
  card: CardRow | undefined;
  wallet: WalletRow | undefined;
  taken: number;
  guaranteed: number;
  reason: string;
  saleAt: number;
  at: number;
}): Promise<void> {
  const { body, tp, card, wallet } = g;
  const unit = body.unit;
  const payable = await payableAccount(st, tp.partner.id, unit);
  if (g.taken > 0) {
    // A partial debit is never an access (an access approves in full), so the wallet pays it.
    assert(wallet && wallet.access === 0, 'a partial offline debit has a balance wallet');
    await transfer(st, body.txnId, 'debit', wallet.id, payable, g.taken, unit, g.at);
  }
  await transfer(st, body.txnId, 'guarantee', await regionAccount(st, unit), payable, g.guaranteed, unit, g.at);
  const price = unit === 'cent' ? 1 : tp.partner.entryPriceCents;
  const dossierId = card?.dossier_id ?? null;
  const campaign = wallet?.campaign ?? (card ? (await st.s.wallets.all(card.dossier_id, body.benefit)).at(-1)?.campaign : undefined) ?? null;
  await st.s.insertSale.run({
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
  await st.s.insertLoss.run({
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
