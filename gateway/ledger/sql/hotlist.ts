import type { HotlistReason } from '../../../protocol/offline.ts';
import type { SqlStore } from './store.ts';
import type { HotlistTx } from './rows.ts';

/*
 * The hotlist as terminals see it, kept in line with each card's state (docs/offline.md).
 */

/** The hotlist's current version (0: never changed). */
export async function hotlistVersion(st: SqlStore): Promise<number> {
  return (await st.s.meta.get('hotlist_version'))?.value ?? 0;
}

/**
 * Bring a card's hotlist row in line with its state: opposed > suspended (any suspension of its dossier
 * in force) > soft (soft-blocked after an offline loss) > off the list. `soft` sets or clears the soft
 * block. A change visible to terminals takes the transaction's hotlist version, bumped once per
 * transaction however many cards change; a card leaving the list keeps its row (reason NULL) so the
 * next delta tells the terminals.
 */
export async function hotlistRefresh(st: SqlStore, cardNumber: string, hv: HotlistTx, at: number, soft?: 'set' | 'clear'): Promise<void> {
  const row = await st.s.hotlistRow.get(cardNumber);
  const card = await st.cardRow(cardNumber);
  const softAt = soft === 'set' ? (row?.soft_at ?? at) : soft === 'clear' ? null : (row?.soft_at ?? null);
  const reason: HotlistReason | null =
    card?.status === 'opposed' ? 'opposed' : card && card.suspensions > 0 ? 'suspended' : softAt !== null ? 'soft' : null;
  const was = row?.reason ?? null;
  if (was === reason) {
    if (row && row.soft_at !== softAt) await st.s.setSoftAt.run(softAt, cardNumber);
    return;
  }
  if (hv.version === undefined) {
    hv.version = await hotlistVersion(st) + 1;
    await st.s.putMeta.run('hotlist_version', hv.version);
    await st.s.putHotlistVersion.run(hv.version, at);
  }
  const since = reason === null ? (row?.since ?? null) : was === null ? hv.version : (row?.since ?? hv.version);
  await st.s.putHotlist.run({ card_number: cardNumber, reason, version: hv.version, since, soft_at: softAt, changed_at: at });
}

/**
 * Offline acceptance is refused for the whole card while any suspension of its dossier is in force, whole
 * or partial (a terminal offline cannot tell which benefits a partial one covers; the card still works
 * online for the others).
 */
export async function hotlistDossier(st: SqlStore, dossierId: string, at: number): Promise<void> {
  const hv: HotlistTx = {};
  for (const c of await st.s.cardsOfDossier.all(dossierId)) await hotlistRefresh(st, c.number, hv, at);
}
