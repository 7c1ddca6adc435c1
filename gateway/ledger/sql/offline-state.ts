import { WEB_CHANNEL_PREFIX } from '../registry.ts';
import { isDeepStrictEqual } from 'node:util';
import { Value } from '@sinclair/typebox/value';
import type { Benefit, Unit } from '../../../protocol/benefits.ts';
import { OfflineLimits, type HotlistReason } from '../../../protocol/offline.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import type { CardHotlistEntry, OfflineReport, OfflineLoss, OfflineLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import { hotlistVersion, hotlistRefresh } from './hotlist.ts';

const LIMIT_KEYS = Object.keys(OfflineLimits.properties) as (keyof OfflineLimits)[];

/** Offline state (docs/offline.md): the signed policy's versions, the hotlist, and the report of what offline selling cost. */
export class SqlOfflineState implements OfflineLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async setOfflinePolicy(limits: OfflineLimits, at: number): Promise<{ version: number; issuedAt: number; limits: OfflineLimits }> {
    if (!Value.Check(OfflineLimits, limits)) throw new PasserelleError('DATA_INVALID', 'offline limits do not match their schema');
    const clean = Object.fromEntries(LIMIT_KEYS.map((k) => [k, limits[k]])) as OfflineLimits;
    return await this.#st.db.transaction(async () => {
      const latest = await this.#latestPolicy();
      if (latest && isDeepStrictEqual(latest.limits, clean)) return latest;
      const version = (latest?.version ?? 0) + 1;
      await this.#st.db.prepare('INSERT INTO offline_policies (version, limits, issued_at) VALUES (?, ?, ?)').run(version, JSON.stringify(clean), at);
      return { version, issuedAt: at, limits: clean };
    });
  }

  async #latestPolicy(): Promise<{ version: number; issuedAt: number; limits: OfflineLimits } | null> {
    const r = await this.#st.s.latestPolicy.get();
    return r ? { version: r.version, issuedAt: r.issued_at, limits: JSON.parse(r.limits) as OfflineLimits } : null;
  }

  async offlinePolicy(version: number): Promise<OfflineLimits | undefined> {
    return await this.#st.offlinePolicy(version);
  }

  async hotlistVersion(): Promise<number> {
    return await hotlistVersion(this.#st);
  }

  async hotlist(base: number): Promise<{ version: number; entries: CardHotlistEntry[] }> {
    const version = await hotlistVersion(this.#st);
    const rows =
      base > 0
        ? await this.#st.db.prepare<[number], { card_number: string; reason: HotlistReason | null }>('SELECT card_number, reason FROM hotlist WHERE version > ? ORDER BY version, card_number').all(base)
        : await this.#st.db.prepare<[], { card_number: string; reason: HotlistReason | null }>('SELECT card_number, reason FROM hotlist WHERE reason IS NOT NULL ORDER BY card_number').all();
    return { version, entries: rows.map((r) => ({ card: r.card_number, reason: r.reason })) };
  }

  async liftSoftBlock(cardNumber: string, at: number): Promise<boolean> {
    return await this.#st.db.transaction(async () => {
      const row = await this.#st.s.hotlistRow.get(cardNumber);
      if (!row || row.soft_at === null) return false;
      await hotlistRefresh(this.#st, cardNumber, {}, at, 'clear');
      return true;
    });
  }

  async offlineReport(limit = 50): Promise<OfflineReport> {
    const policy = await this.#latestPolicy();
    const terminals = (await this.#st.db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM terminals WHERE active = 1 AND id NOT LIKE '${WEB_CHANNEL_PREFIX}%'`).get())?.n ?? 0;
    const l = policy?.limits;
    // Conservative: the same card could be used at every active terminal on the same day.
    const boundPerCardDayCents = l && l.enabled ? Math.min(l.perCardDayCents, l.maxSaleCents * l.perCardDayCount) * terminals : 0;
    const sales = await this.#st.db
      .prepare<[], { n: number; breaches: number | null }>('SELECT count(*) AS n, count(breach) AS breaches FROM offline_sales')
      .get();
    const lost = await this.#st.db
      .prepare<[], { cents: number; entries: number }>("SELECT coalesce(sum(amount_cents), 0) AS cents, coalesce(sum(CASE WHEN unit = 'entry' THEN amount END), 0) AS entries FROM offline_losses")
      .get();
    const soft = (await this.#st.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM hotlist WHERE soft_at IS NOT NULL').get())?.n ?? 0;
    const losses = (await this.#st.db
      .prepare<[number], { txn_id: string; card_number: string; partner_id: string; terminal_id: string; benefit: Benefit; unit: Unit; amount: number; amount_cents: number; reason: string; sale_at: number; recorded_at: number }>(
        'SELECT * FROM offline_losses ORDER BY recorded_at DESC, rowid DESC LIMIT ?',
      )
      .all(limit))
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
    const byKind = await this.#st.db
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
