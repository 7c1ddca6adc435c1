import { WEB_CHANNEL_PREFIX } from '../registry.ts';
import type { LedgerBase } from '../ledger.ts';
import type { SqlStore } from './store.ts';

/** What every part shares: transactions over the whole ledger, its size, its own check of the journal, its end. */
export class SqlBase implements Omit<LedgerBase, 'atomically' | 'lease'> {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async counts() {
    const n = async (table: string) => (await this.#st.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    // Devices only: the partners' web counter channels are not terminals anyone installs.
    return { partners: await n('partners'), terminals: await n(`terminals WHERE id NOT LIKE '${WEB_CHANNEL_PREFIX}%'`), cards: await n('cards'), requests: await n('requests'), transfers: await n('transfers') };
  }

  async audit(): Promise<string[]> {
    const problems: string[] = [];
    const q = async <T>(sql: string) => await this.#st.db.prepare(sql).all() as T[];
    for (const r of await q<{ unit: string; net: number }>('SELECT unit, sum(credits) - sum(debits) AS net FROM accounts GROUP BY unit')) {
      if (r.net !== 0) problems.push(`accounts in ${r.unit} do not balance: credits − debits = ${r.net}`);
    }
    for (const r of await q<{ code: string }>("SELECT n.name AS code FROM accounts a JOIN account_names n ON n.id = a.id WHERE a.kind = 'wallet' AND (a.debits > a.credits OR a.credits - a.debits > a.loaded)")) {
      problems.push(`wallet ${r.code} is below zero or above what was loaded`);
    }
    // Replay the journal in one pass (two GROUP BYs), not one scan per account.
    const replay = `WITH d AS (SELECT debit_account AS id, sum(amount) AS s FROM transfers GROUP BY debit_account),
           c AS (SELECT credit_account AS id, sum(amount) AS s FROM transfers GROUP BY credit_account),
           l AS (SELECT credit_account AS id, sum(amount) AS s FROM transfers WHERE kind = 'load' GROUP BY credit_account)
      SELECT n.name AS code FROM accounts a JOIN account_names n ON n.id = a.id LEFT JOIN d ON d.id = a.id LEFT JOIN c ON c.id = a.id LEFT JOIN l ON l.id = a.id
      WHERE a.debits <> coalesce(d.s, 0) OR a.credits <> coalesce(c.s, 0) OR (a.kind = 'wallet' AND a.loaded <> coalesce(l.s, 0))`;
    for (const r of await q<{ code: string }>(replay)) problems.push(`account ${r.code} differs from its journal`);
    const unitMismatch = `SELECT t.id FROM transfers t JOIN accounts d ON d.id = t.debit_account JOIN accounts c ON c.id = t.credit_account
      WHERE t.unit <> d.unit OR t.unit <> c.unit`;
    for (const r of await q<{ id: number }>(unitMismatch)) problems.push(`transfer ${r.id} mixes units`);
    // An approved request moved money once: a 'debit' from the wallet, a 'guarantee' from the Region's
    // offline guarantee, or both (a partial offline sale); at most one of each (unique index).
    const approvedWithout = `SELECT r.txn_id FROM requests r WHERE r.status = 'approved'
      AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.txn_id = r.txn_id AND t.kind IN ('debit', 'guarantee'))`;
    for (const r of await q<{ txn_id: string }>(approvedWithout)) problems.push(`approved request ${r.txn_id} has no single debit`);
    const notApproved = `SELECT t.txn_id FROM transfers t JOIN requests r ON r.txn_id = t.txn_id WHERE t.kind IN ('debit', 'guarantee') AND r.status <> 'approved'`;
    for (const r of await q<{ txn_id: string }>(notApproved)) problems.push(`request ${r.txn_id} moved money but is not approved`);
    const orphan = `SELECT t.txn_id FROM transfers t LEFT JOIN sales s ON s.txn_id = t.txn_id AND s.kind = 'sale'
      WHERE t.kind IN ('debit', 'guarantee') AND s.id IS NULL`;
    for (const r of await q<{ txn_id: string }>(orphan)) problems.push(`debit ${r.txn_id} has no matching sale line`);
    const saleMismatch = `SELECT s.txn_id FROM sales s
      LEFT JOIN transfers d ON d.txn_id = s.txn_id AND d.kind = 'debit' LEFT JOIN transfers g ON g.txn_id = s.txn_id AND g.kind = 'guarantee'
      WHERE s.kind = 'sale' AND (s.quantity <> coalesce(d.amount, 0) + coalesce(g.amount, 0) OR s.guaranteed <> coalesce(g.amount, 0))`;
    for (const r of await q<{ txn_id: string }>(saleMismatch)) problems.push(`sale line ${r.txn_id} differs from its debit and guarantee`);
    const lossMismatch = `SELECT g.txn_id FROM transfers g LEFT JOIN offline_losses o ON o.txn_id = g.txn_id
        WHERE g.kind = 'guarantee' AND (o.txn_id IS NULL OR o.amount <> g.amount)
      UNION SELECT o.txn_id FROM offline_losses o LEFT JOIN transfers g ON g.txn_id = o.txn_id AND g.kind = 'guarantee' WHERE g.id IS NULL`;
    for (const r of await q<{ txn_id: string }>(lossMismatch)) problems.push(`guarantee of ${r.txn_id} differs from its recorded loss`);
    const correctionMismatch = `SELECT s.txn_id FROM sales s LEFT JOIN transfers t ON t.txn_id = s.txn_id AND t.kind = s.kind
      WHERE s.kind <> 'sale' AND (t.id IS NULL OR t.amount <> -s.quantity)`;
    for (const r of await q<{ txn_id: string }>(correctionMismatch)) problems.push(`correction of ${r.txn_id} has no matching transfer`);
    // Value brought back after expiry: never more than the sweep took from the wallet, and each time for a
    // sale that took at least as much from it.
    const overRestored = `SELECT n.name AS code FROM accounts a JOIN account_names n ON n.id = a.id WHERE a.kind = 'wallet'
      AND (SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'restore' AND credit_account = a.id)
        > (SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'expiry' AND debit_account = a.id)`;
    for (const r of await q<{ code: string }>(overRestored)) problems.push(`wallet ${r.code} got back more than its expiry took`);
    const restoreUnspent = `SELECT r.txn_id FROM transfers r LEFT JOIN transfers d ON d.txn_id = r.txn_id AND d.kind = 'debit'
      WHERE r.kind = 'restore' AND (d.id IS NULL OR d.debit_account <> r.credit_account OR d.amount < r.amount)`;
    for (const r of await q<{ txn_id: string }>(restoreUnspent)) problems.push(`value restored for ${r.txn_id} was not taken by its sale`);
    const statementTotals = `SELECT st.id FROM statements st WHERE st.total_cents <> (SELECT coalesce(sum(amount_cents), 0) FROM sales WHERE statement_id = st.id)`;
    for (const r of await q<{ id: string }>(statementTotals)) problems.push(`statement ${r.id} total differs from its lines`);
    return problems;
  }

  async close(): Promise<void> {
    return await this.#st.close();
  }
}
