import type { LedgerItem } from '../ledger.ts';
import { isVoidItem } from '../ledger.ts';
import { GENESIS_HASH } from '../../../protocol/offline.ts';
import type { CardRow, RequestRow, SyncState, TerminalPartnerRow, TerminalRow } from './rows.ts';
import { CARD_WITH_DOSSIER, TERMINAL_WITH_PARTNER } from './prepared.ts';
import type { SqlDb } from './db.ts';
import { terminalRowOf } from './terminal-row.ts';

/**
 * What a debit batch reads, fetched for the whole batch in five statements before its items are decided
 * (PostgreSQL, where every statement is a round trip): the records already stored under the batch's
 * transaction ids and void targets, the voids naming its sales, its cards, its terminals with their
 * partners and their sequence states. The batch holds the writers' lock, so nobody else changes these meanwhile; what the batch
 * itself writes is kept in step here (a stored record, a void, a card whose code tries changed is read
 * again). A key not fetched is read as before, one statement.
 */
export class BatchReads {
  /** null: fetched, and there is none. */
  readonly requests = new Map<string, RequestRow | null>();
  readonly voids = new Map<string, string | null>();
  readonly cards = new Map<string, CardRow | null>();
  readonly terminals = new Map<string, TerminalRow | null>();
  /** Each terminal's sequence state as committed (a terminal new to the ledger starts at its genesis). */
  readonly syncs = new Map<string, SyncState>();
}

export const voidKey = (target: string, terminalId: string) => `${target}\0${terminalId}`;

export async function prefetchBatch(db: SqlDb, items: readonly LedgerItem[]): Promise<BatchReads> {
  const b = new BatchReads();
  const txnIds = new Set<string>();
  const debits: { txnId: string; terminalId: string }[] = [];
  const cards = new Set<string>();
  const terminals = new Set<string>();
  for (const item of items) {
    if (isVoidItem(item)) {
      txnIds.add(item.void.txnId).add(item.void.target);
      terminals.add(item.void.terminalId);
    } else {
      txnIds.add(item.body.txnId);
      debits.push({ txnId: item.body.txnId, terminalId: item.body.terminalId });
      cards.add(item.body.credential.cardNumber);
      terminals.add(item.body.terminalId);
    }
  }
  // One after the other: a connection runs one statement at a time (node-postgres queues, and will refuse, more).
  const requests = await db.prepare<[string[]], RequestRow>('SELECT txn_id, terminal_id, seq, fingerprint, status, mode, code, reply FROM requests WHERE txn_id = ANY(?)').all([...txnIds]);
  const voids = await db.prepare<[string[]], { target: string; terminal_id: string; void_txn_id: string }>('SELECT target, terminal_id, void_txn_id FROM voids WHERE target = ANY(?)').all(debits.map((d) => d.txnId));
  const cardRows = await db.prepare<[string[]], CardRow>(`${CARD_WITH_DOSSIER} WHERE c.number = ANY(?)`).all([...cards]);
  const terminalRows = await db.prepare<[string[]], TerminalPartnerRow>(`${TERMINAL_WITH_PARTNER} WHERE t.id = ANY(?)`).all([...terminals]);
  const syncRows = await db.prepare<[string[]], SyncState & { terminal_id: string }>('SELECT terminal_id, next_seq, max_seq, head_hash FROM terminal_sync WHERE terminal_id = ANY(?)').all([...terminals]);
  for (const t of txnIds) b.requests.set(t, null);
  for (const r of requests) b.requests.set(r.txn_id, r);
  for (const d of debits) b.voids.set(voidKey(d.txnId, d.terminalId), null);
  for (const v of voids) b.voids.set(voidKey(v.target, v.terminal_id), v.void_txn_id);
  for (const c of cards) b.cards.set(c, null);
  for (const c of cardRows) b.cards.set(c.number, c);
  for (const t of terminals) b.terminals.set(t, null);
  for (const r of terminalRows) b.terminals.set(r.id, terminalRowOf(r));
  for (const t of terminals) b.syncs.set(t, { next_seq: 1, max_seq: 0, head_hash: GENESIS_HASH });
  for (const r of syncRows) b.syncs.set(r.terminal_id, { next_seq: r.next_seq, max_seq: r.max_seq, head_hash: r.head_hash });
  return b;
}
