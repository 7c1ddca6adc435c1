import { WEB_CHANNEL_PREFIX } from '../registry.ts';
import { BENEFIT_CODES, isPartnerType } from '../../../protocol/benefits.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { isIsoDate } from '../../../common/paris-time.ts';
import { checkCampaign, type BenefitWindow, type CampaignDef } from '../../campaigns.ts';
import type { PartnerRecord, TerminalRecord, RegistryLedger } from '../ledger.ts';
import type { SqliteStore } from './store.ts';
import type { TerminalRow } from './rows.ts';
import { account } from './journal.ts';
import type { Synchronous } from "./synchronous.ts";

/** Campaigns, partners and their terminals: who may sell what, and when (R10). */
export class SqliteRegistry implements Synchronous<RegistryLedger> {
  readonly #st: SqliteStore;

  constructor(st: SqliteStore) {
    this.#st = st;
  }

  terminal(id: string): TerminalRecord | undefined {
    return this.#st.terminal(id);
  }

  partner(id: string): PartnerRecord | undefined {
    return this.#st.partner(id);
  }

  partners(): PartnerRecord[] {
    const ids = this.#st.db.prepare<[], { id: string }>('SELECT id FROM partners ORDER BY id').all();
    return ids.map((r) => this.#st.partner(r.id)).filter((p): p is PartnerRecord => p !== undefined);
  }

  terminalsOf(partnerId: string): TerminalRecord[] {
    const ids = this.#st.db.prepare<[string], { id: string }>(`SELECT id FROM terminals WHERE partner_id = ? AND id NOT LIKE '${WEB_CHANNEL_PREFIX}%' ORDER BY id`).all(partnerId);
    return ids.map((r) => this.#st.terminal(r.id)).filter((t): t is TerminalRow => t !== undefined).map(({ id, partnerId: p, publicKey, active }) => ({ id, partnerId: p, publicKey, active }));
  }

  addCampaign(def: CampaignDef): void {
    checkCampaign(def);
    const missing = BENEFIT_CODES.filter((b) => !def.windows.some((w) => w.benefit === b));
    if (missing.length > 0) throw new PasserelleError('DATA_INVALID', `campaign ${def.id}: no window for ${missing.join(', ')}`);
    this.#st.run(() => this.#st.db.prepare('INSERT INTO campaigns (id, windows, created_at) VALUES (?, ?, ?)').run(def.id, JSON.stringify(def.windows), Date.now()), `campaign ${def.id}`);
  }

  campaigns(): CampaignDef[] {
    return this.#st.db
      .prepare<[], { id: string; windows: string }>('SELECT id, windows FROM campaigns ORDER BY id')
      .all()
      .map((r) => ({ id: r.id, windows: JSON.parse(r.windows) as BenefitWindow[] }));
  }

  addPartner(p: PartnerRecord): void {
    checkPartner(p);
    this.#st.run(
      () =>
        this.#st.db.transaction(() => {
          this.#st.db
            .prepare('INSERT INTO partners (id, name, type, convention_from, convention_to, entry_price_cents, iban, bic) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
            .run(p.id, p.name, p.type, p.conventionFrom, p.conventionTo, p.entryPriceCents ?? 0, p.iban ?? null, p.bic ?? null);
          for (const unit of ['cent', 'entry'] as const) account(this.#st, `payable:${p.id}:${unit}`, { kind: 'payable', unit, partner_id: p.id });
        })(),
      `partner ${p.id}`,
    );
  }

  updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): void {
    const current = this.#st.partner(id);
    if (!current) throw new PasserelleError('NOT_FOUND', `no partner ${id}`);
    const next = { ...current, ...patch };
    checkPartner(next);
    this.#st.db
      .prepare('UPDATE partners SET name = ?, convention_from = ?, convention_to = ?, entry_price_cents = ?, iban = ?, bic = ? WHERE id = ?')
      .run(next.name, next.conventionFrom, next.conventionTo, next.entryPriceCents ?? 0, next.iban ?? null, next.bic ?? null, id);
    this.#st.terminals.clear();
  }

  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): void {
    if (t.publicKey.length !== 32) throw new PasserelleError('DATA_INVALID', `terminal ${t.id}: public key must be 32 bytes`);
    this.#st.run(
      () =>
        this.#st.db
          .prepare('INSERT INTO terminals (id, partner_id, public_key, active) VALUES (?, ?, ?, ?)')
          .run(t.id, t.partnerId, Buffer.from(t.publicKey), t.active === false ? 0 : 1),
      `terminal ${t.id}`,
    );
  }

  setTerminalActive(id: string, active: boolean): void {
    this.#st.terminals.delete(id);
    const r = this.#st.db.prepare('UPDATE terminals SET active = ? WHERE id = ?').run(active ? 1 : 0, id);
    if (r.changes !== 1) throw new PasserelleError('NOT_FOUND', `no terminal ${id}`);
  }

  replaceTerminalKey(id: string, publicKey: Uint8Array): void {
    if (publicKey.length !== 32) throw new PasserelleError('DATA_INVALID', `terminal ${id}: public key must be 32 bytes`);
    this.#st.terminals.delete(id);
    const r = this.#st.db.prepare('UPDATE terminals SET public_key = ?, active = 1 WHERE id = ?').run(Buffer.from(publicKey), id);
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
