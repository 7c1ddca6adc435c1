import { maskCardNumber } from '../../../protocol/card.ts';
import { assert, PasserelleError } from '../../../protocol/errors.ts';
import { endOfRegionDay, isIsoDate, startOfRegionDay } from '../../../common/paris-time.ts';
import { campaignAt } from '../../campaigns.ts';
import type { Statement, StatementLine } from '../../reimbursement/types.ts';
import type { ProofResult, StatementLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';
import type { SaleRow } from './rows.ts';

/** Statements (R11): what the Region owes each partner per period, the yearly proofs that hold them, the SEPA files that pay them. */
export class SqlStatements implements StatementLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async closeStatement(partnerId: string, periodFrom: string, periodTo: string, at: number): Promise<Statement> {
    const partner = await this.#st.partner(partnerId);
    if (!partner) throw new PasserelleError('NOT_FOUND', `no partner ${partnerId}`);
    if (!isIsoDate(periodFrom) || !isIsoDate(periodTo) || periodFrom > periodTo) throw new PasserelleError('PERIOD_INVALID', 'period must be two dates, from ≤ to');
    const end = endOfRegionDay(periodTo);
    if (end > at) throw new PasserelleError('PERIOD_INVALID', `period ends ${periodTo}, which is not over yet`);
    return await this.#st.db.transaction(async (): Promise<Statement> => {
      const overlap = await this.#st.db
        .prepare<[string, string, string], { id: string }>('SELECT id FROM statements WHERE partner_id = ? AND period_from <= ? AND period_to >= ?')
        .get(partnerId, periodTo, periodFrom);
      if (overlap) throw new PasserelleError('PERIOD_INVALID', `period overlaps statement ${overlap.id}`);
      // No empty statement: a partner with nothing recorded (a convention that starts after the period, a
      // shop that sold nothing) gets none, so no one pays, holds or files a zero.
      const lines = ((await this.#st.db.prepare<[string, number], { n: number }>('SELECT count(*) AS n FROM sales WHERE partner_id = ? AND statement_id IS NULL AND recorded_at < ?').get(partnerId, end))!).n;
      if (lines === 0) {
        const why = partner.conventionFrom > periodTo ? `its convention starts on ${partner.conventionFrom}, after the period` : `nothing recorded up to ${periodTo} is left to state`;
        throw new PasserelleError('NOTHING_TO_STATE', `no statement for ${partnerId}: ${why}`);
      }
      const n = ((await this.#st.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM statements').get())?.n ?? 0) + 1;
      const id = `ST-${periodTo.replace(/-/g, '')}-${String(n).padStart(6, '0')}`;
      await this.#st.db
        .prepare("INSERT INTO statements (id, partner_id, period_from, period_to, created_at, status, school_year, total_cents) VALUES (?, ?, ?, ?, ?, 'ready', '', 0)")
        .run(id, partnerId, periodFrom, periodTo, at);
      await this.#st.db.prepare('UPDATE sales SET statement_id = ? WHERE partner_id = ? AND statement_id IS NULL AND recorded_at < ?').run(id, partnerId, end);
      // An equipment shop is paid once it sent its yearly proof for each campaign its lines took from.
      const held = partner.type === 'equipment_shop' && (await this.#proofMissing(partnerId, id)).length > 0;
      await this.#st.db
        .prepare("UPDATE statements SET status = ?, total_cents = (SELECT coalesce(sum(amount_cents), 0) FROM sales WHERE statement_id = ?) WHERE id = ?")
        .run(held ? 'held' : 'ready', id, id);
      const s = await this.statement(id);
      assert(s, 'statement just written');
      return s;
    });
  }

  async statement(id: string): Promise<Statement | undefined> {
    const r = await this.#st.db
      .prepare<[string], { id: string; partner_id: string; name: string; period_from: string; period_to: string; created_at: number; status: Statement['status']; total_cents: number; paid_at: number | null; paid_by: string | null }>(
        'SELECT s.*, p.name FROM statements s JOIN partners p ON p.id = s.partner_id WHERE s.id = ?',
      )
      .get(id);
    if (!r) return undefined;
    const start = startOfRegionDay(r.period_from);
    const lines = (await this.#st.db
      .prepare<[string], SaleRow>('SELECT * FROM sales WHERE statement_id = ? ORDER BY sale_at, id')
      .all(id))
      .map((l): StatementLine => ({
        id: l.id,
        txnId: l.txn_id,
        kind: l.kind,
        corrects: l.kind === 'sale' ? null : l.txn_id,
        saleAt: l.sale_at,
        recordedAt: l.recorded_at,
        terminalId: l.terminal_id,
        cardMasked: maskCardNumber(l.card_number),
        benefit: l.benefit,
        unit: l.unit,
        quantity: l.quantity,
        amountCents: l.amount_cents,
        adjustment: (l.kind === 'sale' ? l.sale_at : l.recorded_at) < start,
      }));
    return {
      id: r.id,
      partnerId: r.partner_id,
      partnerName: r.name,
      periodFrom: r.period_from,
      periodTo: r.period_to,
      createdAt: r.created_at,
      status: r.status,
      proofMissing: r.status === 'held' ? await this.#proofMissing(r.partner_id, r.id) : [],
      totalCents: r.total_cents,
      paidAt: r.paid_at,
      paidBy: r.paid_by,
      lines,
    };
  }

  async statements(filter: { partnerId?: string; status?: Statement['status'] }): Promise<Statement[]> {
    const ids = await this.#st.db
      .prepare<[{ partner: string | null; status: string | null }], { id: string }>(
        'SELECT id FROM statements WHERE (CAST(@partner AS TEXT) IS NULL OR partner_id = @partner) AND (CAST(@status AS TEXT) IS NULL OR status = @status) ORDER BY period_from, id',
      )
      .all({ partner: filter.partnerId ?? null, status: filter.status ?? null });
    const out: Statement[] = [];
    for (const r of ids) out.push((await this.statement(r.id))!);
    return out;
  }

  async markPaid(statementIds: readonly string[], at: number, file: { readonly id: string; readonly xml: string }): Promise<void> {
    if (statementIds.length === 0) throw new PasserelleError('DATA_INVALID', 'a SEPA file pays at least one statement');
    await this.#st.run(
      async () =>
        await this.#st.db.transaction(async () => {
          await this.#st.db.prepare('INSERT INTO sepa_files (id, created_at, xml) VALUES (?, ?, ?)').run(file.id, at, file.xml);
          for (const id of statementIds) {
            const r = await this.#st.db
              .prepare("UPDATE statements SET status = 'paid', paid_at = ?, paid_by = ? WHERE id = ? AND status = 'ready' AND total_cents > 0")
              .run(at, file.id, id);
            if (r.changes !== 1) throw new PasserelleError('DATA_INVALID', `statement ${id} is not ready to pay (held, paid, or nothing owed)`);
          }
        }),
      `SEPA file ${file.id}`,
    );
  }

  async sepaFile(id: string): Promise<{ id: string; createdAt: number; xml: string; statementIds: string[] } | undefined> {
    const f = await this.#st.db.prepare<[string], { id: string; created_at: number; xml: string }>('SELECT id, created_at, xml FROM sepa_files WHERE id = ?').get(id);
    if (!f) return undefined;
    const ids = await this.#st.db.prepare<[string], { id: string }>('SELECT id FROM statements WHERE paid_by = ? ORDER BY id').all(id);
    return { id: f.id, createdAt: f.created_at, xml: f.xml, statementIds: ids.map((r) => r.id) };
  }

  async recordProof(partnerId: string, campaign: string, at: number): Promise<ProofResult> {
    const partner = await this.#st.partner(partnerId);
    if (!partner) throw new PasserelleError('NOT_FOUND', `no partner ${partnerId}`);
    if (partner.type !== 'equipment_shop') throw new PasserelleError('DATA_INVALID', `partner ${partnerId} is a ${partner.type}: only equipment shops send a yearly proof`);
    if (!await this.#st.s.campaign.get(campaign)) {
      throw new PasserelleError('NOT_FOUND', `no campaign ${campaign}: a proof is recorded for the campaign whose wallets the sales took from (e.g. 2022-2023 for sales from 7 June 2022 to 31 May 2023)`);
    }
    return await this.#st.db.transaction(async (): Promise<ProofResult> => {
      await this.#st.db.prepare('INSERT INTO partner_proofs (partner_id, school_year, recorded_at) VALUES (?, ?, ?) ON CONFLICT (partner_id, school_year) DO NOTHING').run(partnerId, campaign, at);
      let released = 0;
      const stillHeld: { statementId: string; proofMissing: string[] }[] = [];
      for (const { id } of await this.#st.db.prepare<[string], { id: string }>("SELECT id FROM statements WHERE partner_id = ? AND status = 'held' ORDER BY period_from").all(partnerId)) {
        const missing = await this.#proofMissing(partnerId, id);
        if (missing.length > 0) stillHeld.push({ statementId: id, proofMissing: missing });
        else released += (await this.#st.db.prepare("UPDATE statements SET status = 'ready' WHERE id = ?").run(id)).changes;
      }
      return { released, stillHeld };
    });
  }

  /**
   * The campaigns of a statement's lines for which the partner has no yearly proof: a line's campaign is
   * the wallet's it took from, or, for a sale the Region's guarantee paid whole (no wallet), the campaign
   * of its date.
   */
  async #proofMissing(partnerId: string, statementId: string): Promise<string[]> {
    const lines = await this.#st.db.prepare<[string], { campaign: string | null; sale_at: number }>('SELECT campaign, sale_at FROM sales WHERE statement_id = ?').all(statementId);
    const campaigns = new Set(lines.map((l) => l.campaign ?? campaignAt(l.sale_at)));
    const proven = new Set(
      (await this.#st.db.prepare<[string], { school_year: string }>('SELECT school_year FROM partner_proofs WHERE partner_id = ?').all(partnerId)).map((r) => r.school_year),
    );
    return [...campaigns].filter((c) => !proven.has(c)).sort();
  }
}
