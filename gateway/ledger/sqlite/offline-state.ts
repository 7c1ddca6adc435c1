import { WEB_CHANNEL_PREFIX } from '../registry.ts';
import { isDeepStrictEqual } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import type { Benefit, Unit } from '../../../protocol/benefits.ts';
import { OfflineLimits, type HotlistReason } from '../../../protocol/offline.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import type { CardHotlistEntry, OfflineReport, OfflineLoss, OfflineLedger } from '../ledger.ts';
import type { SqliteStore } from './store.ts';
import { hotlistVersion, hotlistRefresh } from './hotlist.ts';
import type { Synchronous } from "./synchronous.ts";

const LIMIT_KEYS = Object.keys(OfflineLimits.properties) as (keyof OfflineLimits)[];

/** Offline state (docs/offline.md): the signed policy's versions, the hotlist, and the report of what offline selling cost. */
export class SqliteOfflineState implements Synchronous<OfflineLedger> {
  readonly #st: SqliteStore;

  constructor(st: SqliteStore) {
    this.#st = st;
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

  offlineReport(limit = 50): OfflineReport {
    const policy = this.#latestPolicy();
    const terminals = this.#st.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM terminals WHERE active = 1 AND id NOT LIKE '${WEB_CHANNEL_PREFIX}%'`).get()?.n ?? 0;
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
}
