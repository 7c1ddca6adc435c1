import { regionDate } from '../../../common/paris-time.ts';
import type { VoidRequestBody } from '../../../protocol/messages.ts';
import type { VoidOutcome } from '../../replies.ts';
import { assert } from '../../../protocol/errors.ts';
import type { SqlStore } from './store.ts';
import { correct } from './journal.ts';

/*
 * What a terminal's void does to its target. A void record asks it (debits.ts), and so does an offline sale
 * that takes over the card proof of the same tap's unanswered online request (offline-settle.ts).
 */

/**
 * `undone`: the target was applied and is given back (a reversal, "voided by terminal"), or already was
 * by a correction. `prevented`: the target was not applied and never will be: not received yet (a
 * tombstone declines it TXN_VOIDED when it comes) or declined. A void never touches another terminal's
 * record, an offline sale (its result was shown: "accepted offline") or a void: those are answered
 * `prevented` and nothing changes.
 */
export async function voidTarget(st: SqlStore, v: Pick<VoidRequestBody, 'txnId' | 'terminalId' | 'target' | 'reason' | 'createdAt'>, at: number): Promise<VoidOutcome> {
  if (v.reason === 'cancelled') return await cancelAtTerminal(st, v, at);
  return { result: await voidUnshown(st, v, at) };
}

/**
 * A cashier's cancellation of one of the terminal's sales (online or offline), decided as a partner's
 * cancellation through the API is (corrections.ts): an approved sale of this terminal, made the same local
 * day as the gateway decides it, not already corrected, not paid in part by the offline guarantee. Refused
 * otherwise, with nothing changed and the reason in the reply.
 */
async function cancelAtTerminal(st: SqlStore, v: Pick<VoidRequestBody, 'terminalId' | 'target' | 'createdAt'>, at: number): Promise<VoidOutcome> {
  const target = await st.request(v.target);
  if (!target || target.terminal_id !== v.terminalId) return { result: 'refused', code: target ? 'NOT_YOUR_SALE' : 'SALE_UNKNOWN' };
  if (target.status === 'declined') return { result: 'prevented' };
  const sale = await st.s.sale.get(v.target);
  if (!sale) return { result: 'refused', code: 'SALE_UNKNOWN' };
  if (await st.s.correctionOf.get(v.target)) return { result: 'refused', code: 'ALREADY_CORRECTED' };
  if (sale.guaranteed > 0) return { result: 'refused', code: 'SALE_GUARANTEED' };
  if (regionDate(sale.sale_at) !== regionDate(cancelledAt(v.createdAt, sale.sale_at, at))) return { result: 'refused', code: 'NOT_SAME_DAY' };
  await correct(st, sale, 'cancellation', `cancelled at terminal ${v.terminalId}`, at);
  return { result: 'undone' };
}

/** How far a terminal's clock may run ahead of the gateway's, and how long a cancellation may wait offline. */
const CLOCK_SKEW_MS = 5 * 60_000;
const MAX_QUEUED_MS = 7 * 86_400_000;

/**
 * When the cashier cancelled: the void's own time (a cancellation queued offline before midnight still
 * counts for its day), taken only when it is plausible from the gateway's records (not before the sale, not
 * after the gateway's clock beyond the skew, not older than a week); otherwise the gateway's own time.
 */
function cancelledAt(createdAt: number, saleAt: number, at: number): number {
  return createdAt >= saleAt && createdAt <= at + CLOCK_SKEW_MS && at - createdAt <= MAX_QUEUED_MS ? createdAt : at;
}

async function voidUnshown(st: SqlStore, v: Pick<VoidRequestBody, 'txnId' | 'terminalId' | 'target' | 'reason'>, at: number): Promise<'undone' | 'prevented'> {
  const target = await st.request(v.target);
  if (!target) {
    await st.insertVoid(v.target, v.terminalId, v.txnId, at);
    return 'prevented';
  }
  if (target.terminal_id !== v.terminalId || target.mode !== 'online') return 'prevented';
  if (target.status === 'declined') {
    await st.insertVoid(v.target, v.terminalId, v.txnId, at);
    return 'prevented';
  }
  if (await st.s.correctionOf.get(v.target)) return 'undone';
  const sale = await st.s.sale.get(v.target);
  assert(sale && sale.guaranteed === 0, `approved online request ${v.target} has a plain sale line`);
  await correct(st, sale, 'reversal', `voided by terminal: ${v.reason}`, at);
  return 'undone';
}
