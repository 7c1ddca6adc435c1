import { WEB_CHANNEL_PREFIX } from '../registry.ts';
import { BENEFIT_CODES, isPartnerType } from '../../../protocol/benefits.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { isIsoDate } from '../../../common/paris-time.ts';
import { checkCampaign, type BenefitWindow, type CampaignDef } from '../../campaigns.ts';
import type { PartnerRecord, TerminalRecord, RegistryLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';

import { account } from './journal.ts';

/** Campaigns, partners and their terminals: who may sell what, and when (R10). */
export class SqlRegistry implements RegistryLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async terminal(id: string): Promise<TerminalRecord | undefined> {
    return await this.#st.terminal(id);
  }

  async partner(id: string): Promise<PartnerRecord | undefined> {
    return await this.#st.partner(id);
  }

  async partners(): Promise<PartnerRecord[]> {
    const ids = await this.#st.db.prepare<[], { id: string }>('SELECT id FROM partners ORDER BY id').all();
    const out: PartnerRecord[] = [];
    for (const r of ids) {
      const p = await this.#st.partner(r.id);
      if (p) out.push(p);
    }
    return out;
  }

  async terminalsOf(partnerId: string): Promise<TerminalRecord[]> {
    const ids = await this.#st.db.prepare<[string], { id: string }>(`SELECT id FROM terminals WHERE partner_id = ? AND id NOT LIKE '${WEB_CHANNEL_PREFIX}%' ORDER BY id`).all(partnerId);
    const out: TerminalRecord[] = [];
    for (const r of ids) {
      const t = await this.#st.terminal(r.id);
      if (t) out.push({ id: t.id, partnerId: t.partnerId, publicKey: t.publicKey, active: t.active });
    }
    return out;
  }

  async addCampaign(def: CampaignDef): Promise<void> {
    checkCampaign(def);
    const missing = BENEFIT_CODES.filter((b) => !def.windows.some((w) => w.benefit === b));
    if (missing.length > 0) throw new PasserelleError('DATA_INVALID', `campaign ${def.id}: no window for ${missing.join(', ')}`);
    await this.#st.run(async () => await this.#st.db.prepare('INSERT INTO campaigns (id, windows, created_at) VALUES (?, ?, ?)').run(def.id, JSON.stringify(def.windows), Date.now()), `campaign ${def.id}`);
  }

  async campaigns(): Promise<CampaignDef[]> {
    return (await this.#st.db
      .prepare<[], { id: string; windows: string }>('SELECT id, windows FROM campaigns ORDER BY id')
      .all())
      .map((r) => ({ id: r.id, windows: JSON.parse(r.windows) as BenefitWindow[] }));
  }

  async addPartner(p: PartnerRecord): Promise<void> {
    checkPartner(p);
    await this.#st.run(
      async () =>
        await this.#st.db.transaction(async () => {
          await this.#st.db
            .prepare('INSERT INTO partners (id, name, type, convention_from, convention_to, entry_price_cents, iban, bic) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
            .run(p.id, p.name, p.type, p.conventionFrom, p.conventionTo, p.entryPriceCents ?? 0, p.iban ?? null, p.bic ?? null);
          for (const unit of ['cent', 'entry'] as const) await account(this.#st, `payable:${p.id}:${unit}`, { kind: 'payable', unit, partner_id: p.id });
        }),
      `partner ${p.id}`,
    );
  }

  async updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): Promise<void> {
    const current = await this.#st.partner(id);
    if (!current) throw new PasserelleError('NOT_FOUND', `no partner ${id}`);
    const next = { ...current, ...patch };
    checkPartner(next);
    await this.#st.db
      .prepare('UPDATE partners SET name = ?, convention_from = ?, convention_to = ?, entry_price_cents = ?, iban = ?, bic = ? WHERE id = ?')
      .run(next.name, next.conventionFrom, next.conventionTo, next.entryPriceCents ?? 0, next.iban ?? null, next.bic ?? null, id);
    this.#st.terminals.clear();
  }

  async addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): Promise<void> {
    if (t.publicKey.length !== 32) throw new PasserelleError('DATA_INVALID', `terminal ${t.id}: public key must be 32 bytes`);
    await this.#st.run(
      async () =>
        await this.#st.db
          .prepare('INSERT INTO terminals (id, partner_id, public_key, active) VALUES (?, ?, ?, ?)')
          .run(t.id, t.partnerId, Buffer.from(t.publicKey), t.active === false ? 0 : 1),
      `terminal ${t.id}`,
    );
  }

  async setTerminalActive(id: string, active: boolean): Promise<void> {
    this.#st.terminals.delete(id);
    const r = await this.#st.db.prepare('UPDATE terminals SET active = ? WHERE id = ?').run(active ? 1 : 0, id);
    if (r.changes !== 1) throw new PasserelleError('NOT_FOUND', `no terminal ${id}`);
  }

  async replaceTerminalKey(id: string, publicKey: Uint8Array): Promise<void> {
    if (publicKey.length !== 32) throw new PasserelleError('DATA_INVALID', `terminal ${id}: public key must be 32 bytes`);
    this.#st.terminals.delete(id);
    const r = await this.#st.db.prepare('UPDATE terminals SET public_key = ?, active = 1 WHERE id = ?').run(Buffer.from(publicKey), id);
    if (r.changes !== 1) throw new PasserelleError('NOT_FOUND', `no terminal ${id}`);
  }
}

function checkPartner(p: PartnerRecord): void {
  if (!isPartnerType(p.type)) throw new PasserelleError('DATA_INVALID', `unknown partner type ${p.type}`);
  if (!isIsoDate(p.conventionFrom) || !isIsoDate(p.conventionTo) || p.conventionFrom > p.conventionTo) {
    throw new PasserelleError('DATA_INVALID', `partner ${p.id}: convention dates must be two calendar dates, from ≤ to`);
  }
  if (p.entryPriceCents !== undefined && (!Number.isSafeInteger(p.entryPriceCents) || p.entryPriceCents < 0)) {
    throw new PasserelleError('DATA_INVALID', `partner ${p.id}: entry price must be whole cents ≥ 0`);
  }
}
