import type { SqlDb } from './db.ts';
import type { WalletRow, CardRow, SaleRow, HotlistRow, RequestRow, TerminalPartnerRow } from './rows.ts';

/**
 * The statements the ledger runs on every sale or load, prepared once when it opens (a statement run
 * now and then is prepared where it runs).
 */
/** A terminal with its partner's columns (`p_…`), in one statement: PostgreSQL pays a round trip a statement. */
export const TERMINAL_WITH_PARTNER = `SELECT t.id, t.partner_id, t.public_key, t.active, p.type AS p_type, p.convention_from AS p_from, p.convention_to AS p_to, p.entry_price_cents AS p_price
       FROM terminals t JOIN partners p ON p.id = t.partner_id`;

/** A card with its dossier's holder, code state and suspensions. */
export const CARD_WITH_DOSSIER = `SELECT c.number, c.dossier_id, d.holder, c.status, d.pin_hash, d.pin_failures, d.suspensions, c.opposed_at
       FROM cards c JOIN dossiers d ON d.id = c.dossier_id`;

export function prepareStatements(db: SqlDb) {
  const walletCols = `id, benefit, campaign, unit, credits - debits AS balance, loaded, access, valid_from, valid_until`;
  return {
    partner: db.prepare<[string], { id: string; name: string; type: string; convention_from: string; convention_to: string; entry_price_cents: number; iban: string | null; bic: string | null }>(
      'SELECT * FROM partners WHERE id = ?',
    ),
    terminalWithPartner: db.prepare<[string], TerminalPartnerRow>(`${TERMINAL_WITH_PARTNER} WHERE t.id = ?`),
    card: db.prepare<[string], CardRow>(`${CARD_WITH_DOSSIER} WHERE c.number = ?`),
    wallets: db.prepare<[string, string], WalletRow>(
      `SELECT ${walletCols} FROM accounts WHERE kind = 'wallet' AND dossier_id = ? AND benefit = ? ORDER BY valid_until, id`,
    ),
    allWallets: db.prepare<[string], WalletRow>(
      `SELECT ${walletCols} FROM accounts WHERE kind = 'wallet' AND dossier_id = ? ORDER BY benefit, valid_until`,
    ),
    walletById: db.prepare<[number], WalletRow>(`SELECT ${walletCols} FROM accounts WHERE id = ?`),
    // What the sweep took from a wallet less what late offline sales brought back (partial indexes).
    expiredOf: db.prepare<[number, number], { n: number }>(
      `SELECT (SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'expiry' AND debit_account = ?)
            - (SELECT coalesce(sum(amount), 0) FROM transfers WHERE kind = 'restore' AND credit_account = ?) AS n`,
    ),
    walletByKey: db.prepare<[string, string, string], WalletRow>(
      `SELECT ${walletCols} FROM accounts WHERE kind = 'wallet' AND dossier_id = ? AND benefit = ? AND campaign = ?`,
    ),
    suspensions: db.prepare<[string], { benefit: string | null; campaign: string }>(
      'SELECT benefit, campaign FROM suspensions WHERE dossier_id = ? AND lifted_at IS NULL',
    ),
    suspensionsAt: db.prepare<[string, number, number], { benefit: string | null; campaign: string }>(
      'SELECT benefit, campaign FROM suspensions WHERE dossier_id = ? AND at <= ? AND (lifted_at IS NULL OR lifted_at > ?)',
    ),
    campaign: db.prepare<[string], { id: string; windows: string }>('SELECT id, windows FROM campaigns WHERE id = ?'),
    accountByCode: db.prepare<[string], { id: number }>('SELECT id FROM accounts WHERE code = ?'),
    insertAccount: db.prepare<Record<string, unknown>, { id: number }>(
      `INSERT INTO accounts (code, kind, unit, dossier_id, benefit, campaign, partner_id, access, valid_from, valid_until)
       VALUES (@code, @kind, @unit, @dossier_id, @benefit, @campaign, @partner_id, @access, @valid_from, @valid_until) RETURNING id`,
    ),
    insertLoadedWallet: db.prepare<Record<string, unknown>, { id: number }>(
      `INSERT INTO accounts (kind, unit, dossier_id, benefit, campaign, access, valid_from, valid_until, loaded, credits)
       VALUES ('wallet', @unit, @dossier_id, @benefit, @campaign, @access, @valid_from, @valid_until, @amount, @amount) RETURNING id`,
    ),
    addLoaded: db.prepare<[number, number]>('UPDATE accounts SET loaded = loaded + ? WHERE id = ?'),
    addDebits: db.prepare<[number, number]>('UPDATE accounts SET debits = debits + ? WHERE id = ?'),
    addCredits: db.prepare<[number, number]>('UPDATE accounts SET credits = credits + ? WHERE id = ?'),
    // PostgreSQL only (SQLite has no data-modifying WITH): a transfer line and both accounts' totals in one statement.
    transferPg: db.dialect !== 'postgres' ? undefined : db.prepare(
      `WITH line AS (INSERT INTO transfers (txn_id, kind, debit_account, credit_account, amount, unit, at)
                     VALUES (@txn_id, @kind, @debit_account, @credit_account, @amount, @unit, @at)),
            out AS (UPDATE accounts SET debits = debits + @amount WHERE id = @debit_account)
       UPDATE accounts SET credits = credits + @amount WHERE id = @credit_account`,
    ),
    insertTransfer: db.prepare(
      `INSERT INTO transfers (txn_id, kind, debit_account, credit_account, amount, unit, at)
       VALUES (@txn_id, @kind, @debit_account, @credit_account, @amount, @unit, @at)`,
    ),
    request: db.prepare<[string], RequestRow>('SELECT txn_id, terminal_id, seq, fingerprint, status, mode, code, reply FROM requests WHERE txn_id = ?'),
    insertRequest: db.prepare(
      `INSERT INTO requests (txn_id, terminal_id, seq, fingerprint, status, mode, code, reply, decided_at, msg_hash, prev)
       VALUES (@txn_id, @terminal_id, @seq, @fingerprint, @status, @mode, @code, @reply, @decided_at, @msg_hash, @prev)`,
    ),
    insertSale: db.prepare(
      `INSERT INTO sales (txn_id, kind, partner_id, terminal_id, group_id, card_number, dossier_id, benefit, campaign, unit, quantity, guaranteed, amount_cents, sale_at, recorded_at, reason)
       VALUES (@txn_id, @kind, @partner_id, @terminal_id, @group_id, @card_number, @dossier_id, @benefit, @campaign, @unit, @quantity, @guaranteed, @amount_cents, @sale_at, @recorded_at, @reason)`,
    ),
    // The hash chain and gap detection
    record: db.prepare<[string, number], { txn_id: string; msg_hash: string; prev: string }>('SELECT txn_id, msg_hash, prev FROM requests WHERE terminal_id = ? AND seq = ?'),
    recordSeqsFrom: db.prepare<[string, number], { seq: number }>('SELECT seq FROM requests WHERE terminal_id = ? AND seq >= ? ORDER BY seq LIMIT 1000'),
    sync: db.prepare<[string], { next_seq: number; max_seq: number; head_hash: string }>('SELECT next_seq, max_seq, head_hash FROM terminal_sync WHERE terminal_id = ?'),
    putSync: db.prepare<[string, number, number, string]>(
      `INSERT INTO terminal_sync (terminal_id, next_seq, max_seq, head_hash) VALUES (?, ?, ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET next_seq = excluded.next_seq, max_seq = excluded.max_seq, head_hash = excluded.head_hash`,
    ),
    // PostgreSQL only: every terminal's sequence state of a batch in one statement.
    putSyncs:
      db.dialect !== 'postgres'
        ? undefined
        : db.prepare<[string[], number[], number[], string[]]>(
            `INSERT INTO terminal_sync (terminal_id, next_seq, max_seq, head_hash)
             SELECT * FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::text[])
             ON CONFLICT (terminal_id) DO UPDATE SET next_seq = excluded.next_seq, max_seq = excluded.max_seq, head_hash = excluded.head_hash`,
          ),
    insertBreak: db.prepare<[string, number, string, string, number]>('INSERT INTO chain_breaks (terminal_id, seq, txn_id, kind, at) VALUES (?, ?, ?, ?, ?)'),
    // Voids
    voidOf: db.prepare<[string, string], { void_txn_id: string }>('SELECT void_txn_id FROM voids WHERE target = ? AND terminal_id = ?'),
    insertVoid: db.prepare<[string, string, string, number]>('INSERT INTO voids (target, terminal_id, void_txn_id, at) VALUES (?, ?, ?, ?) ON CONFLICT (target, terminal_id) DO NOTHING'),
    // Offline acceptance
    policy: db.prepare<[number], { limits: string }>('SELECT limits FROM offline_policies WHERE version = ?'),
    latestPolicy: db.prepare<[], { version: number; limits: string; issued_at: number }>('SELECT version, limits, issued_at FROM offline_policies ORDER BY version DESC LIMIT 1'),
    hotlistRow: db.prepare<[string], HotlistRow>('SELECT card_number, reason, version, since, soft_at FROM hotlist WHERE card_number = ?'),
    putHotlist: db.prepare(
      `INSERT INTO hotlist (card_number, reason, version, since, soft_at, changed_at) VALUES (@card_number, @reason, @version, @since, @soft_at, @changed_at)
       ON CONFLICT (card_number) DO UPDATE SET reason = excluded.reason, version = excluded.version, since = excluded.since, soft_at = excluded.soft_at, changed_at = excluded.changed_at`,
    ),
    setSoftAt: db.prepare<[number | null, string]>('UPDATE hotlist SET soft_at = ? WHERE card_number = ?'),
    meta: db.prepare<[string], { value: number }>('SELECT value FROM ledger_meta WHERE key = ?'),
    putMeta: db.prepare<[string, number]>('INSERT INTO ledger_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    insertOfflineSale: db.prepare(
      `INSERT INTO offline_sales (txn_id, terminal_id, seq, card_number, benefit, unit, amount, guaranteed, breach, sale_at, recorded_at)
       VALUES (@txn_id, @terminal_id, @seq, @card_number, @benefit, @unit, @amount, @guaranteed, @breach, @sale_at, @recorded_at)`,
    ),
    // What the gateway knows of an offline sale's terminal (docs/offline.md, "the guarantee is earned").
    lastContactBelow: db.prepare<[string, number], { head_seq: number; at: number }>(
      'SELECT head_seq, at FROM terminal_contacts WHERE terminal_id = ? AND head_seq < ? ORDER BY at DESC LIMIT 1',
    ),
    hotlistVersionAt: db.prepare<[number], { version: number | null }>('SELECT max(version) AS version FROM hotlist_versions WHERE at <= ?'),
    putHotlistVersion: db.prepare<[number, number]>('INSERT INTO hotlist_versions (version, at) VALUES (?, ?) ON CONFLICT (version) DO UPDATE SET at = excluded.at'),
    cardDay: db.prepare<[string, string, number, number], { n: number; cents: number | null }>(
      "SELECT count(*) AS n, sum(CASE WHEN unit = 'cent' THEN amount END) AS cents FROM offline_sales WHERE terminal_id = ? AND card_number = ? AND sale_at >= ? AND sale_at < ?",
    ),
    pendingSince: db.prepare<[string, number, number], { n: number; cents: number | null }>(
      "SELECT count(*) AS n, sum(CASE WHEN unit = 'cent' THEN amount END) AS cents FROM offline_sales WHERE terminal_id = ? AND seq > ? AND seq < ?",
    ),
    insertLoss: db.prepare(
      `INSERT INTO offline_losses (txn_id, card_number, dossier_id, partner_id, terminal_id, benefit, unit, amount, amount_cents, reason, sale_at, recorded_at)
       VALUES (@txn_id, @card_number, @dossier_id, @partner_id, @terminal_id, @benefit, @unit, @amount, @amount_cents, @reason, @sale_at, @recorded_at)`,
    ),
    cardsOfDossier: db.prepare<[string], { number: string }>('SELECT number FROM cards WHERE dossier_id = ?'),
    refUse: db.prepare<[string], { txn_id: string }>('SELECT txn_id FROM card_ref_uses WHERE ref = ?'),
    insertRefUse: db.prepare<[string, string, string]>('INSERT INTO card_ref_uses (ref, txn_id, terminal_id) VALUES (?, ?, ?)'),
    cardKey: db.prepare<[string], { public_key: Buffer; expiry: string }>('SELECT public_key, expiry FROM card_keys WHERE card_number = ?'),
    contactAfter: db.prepare<[string, number], { at: number }>('SELECT max(at) AS at FROM terminal_contacts WHERE terminal_id = ? AND head_seq < ? HAVING count(*) > 0'),
    contactBefore: db.prepare<[string, number], { at: number }>('SELECT min(at) AS at FROM terminal_contacts WHERE terminal_id = ? AND head_seq >= ? HAVING count(*) > 0'),
    sale: db.prepare<[string], SaleRow>("SELECT * FROM sales WHERE txn_id = ? AND kind = 'sale'"),
    correctionOf: db.prepare<[string], { id: number }>("SELECT id FROM sales WHERE txn_id = ? AND kind <> 'sale'"),
    setPinFailures: db.prepare<[number, string]>('UPDATE dossiers SET pin_failures = ? WHERE id = ?'),
    addPinTry: db.prepare<[string, string, string]>(
      'INSERT INTO pin_tries (dossier_id, partner_id, day, failures) VALUES (?, ?, ?, 1) ON CONFLICT (dossier_id, partner_id, day) DO UPDATE SET failures = pin_tries.failures + 1',
    ),
    clearPinTries: db.prepare<[string]>('DELETE FROM pin_tries WHERE dossier_id = ?'),
    pinTries: db.prepare<[string, string, string, string], { total: number | null; partners: number; today: number | null; here: number | null }>(
      `SELECT sum(failures) AS total, count(DISTINCT partner_id) AS partners, sum(CASE WHEN day = ? THEN failures END) AS today,
              sum(CASE WHEN day = ? AND partner_id = ? THEN failures END) AS here
       FROM pin_tries WHERE dossier_id = ?`,
    ),
    insertConflict: db.prepare('INSERT INTO conflicts (txn_id, terminal_id, fingerprint, at) VALUES (?, ?, ?, ?)'),
    insertDossier: db.prepare('INSERT INTO dossiers (id, holder, pin_hash) VALUES (?, ?, ?)'),
    indexHolder: db.prepare<[string, string]>('INSERT INTO holder_search (holder, dossier_id) VALUES (?, ?)'),
    dossier: db.prepare<[string], { id: string; holder: string }>('SELECT id, holder FROM dossiers WHERE id = ?'),
    cardDossier: db.prepare<[string], { dossier_id: string }>('SELECT dossier_id FROM cards WHERE number = ?'),
    insertCard: db.prepare("INSERT INTO cards (number, dossier_id, status, issued_at) VALUES (?, ?, 'active', ?)"),
  };
}

/** The prepared statements, by name. */
export type Statements = ReturnType<typeof prepareStatements>;
