import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { defaultWindows } from '../gateway/campaigns.ts';
import { loadCardsFile } from '../gateway/bulk/load-file.ts';
import { SqliteLedger } from '../gateway/ledger/sqlite.ts';
import { CAMPAIGN, writeCardsCsv } from './make-cards-csv.ts';

/**
 * A ledger grown as the Region's is by the end of a school year, for the online-debit scenario's second
 * half (issue 14, item 5): the start-of-year load of `cards` youths with their benefits (the bulk-load
 * scenario's generated file, through the real loader), then `pastDebits` past sales at 1,000 past
 * terminals of another bookshop. Each past sale is what the ledger writes for one: its request (with a
 * reply of a real reply's size), a 'debit' transfer from a youth's wallet to the partner's payable account,
 * and its reimbursement line; the accounts' running totals and the past terminals' sequence states are
 * updated to match, so the ledger's audit holds over all of it. The benchmark then debits a sample of the
 * youths spread evenly over the population, so that their dossiers, cards and wallets lie all over the
 * file, as a morning's customers' do.
 *
 * The past sales are written by SQL in bulk (INSERT … SELECT over a counter): through the ledger they would
 * take many minutes, and what is measured afterwards is how a debit fares among those rows, not how they
 * were written. Their transaction ids are UUIDv7-shaped and older than any live one, as real ones would be.
 */

const PAST_TERMINALS = 1000;
const PAST_PARTNER = 'P-BENCH-PAST';
/** Bytes of a stored reply (a debit.reply with its Merkle path is about this). */
const REPLY_BYTES = 360;
const LOADED_AT = Date.parse('2022-09-01T08:00:00+02:00');
const YEAR_MS = 300 * 86_400_000;

export interface GrownLedger {
  readonly cards: number;
  /** `sampleSize` card numbers spread evenly over the population: the youths the benchmark then debits. */
  readonly sample: readonly string[];
  readonly transfers: number;
  readonly bytes: number;
  readonly seconds: number;
}

/** Grow a ledger file at `file` (which must not exist yet). */
export async function growLedger(dir: string, file: string, o: { cards: number; pastDebits: number; sampleSize: number }): Promise<GrownLedger> {
  const started = performance.now();
  const csv = join(dir, 'grown-cards.csv');
  await writeCardsCsv(csv, o.cards);
  const ledger = new SqliteLedger({ file });
  try {
    await ledger.addCampaign({ id: CAMPAIGN, windows: defaultWindows(CAMPAIGN) });
    await loadCardsFile(ledger, csv, { at: LOADED_AT });
    await ledger.atomically(async () => {
      await ledger.addPartner({ id: PAST_PARTNER, name: 'Librairie des années passées', type: 'bookshop', conventionFrom: '2022-06-01', conventionTo: '2099-12-31' });
      for (let i = 0; i < PAST_TERMINALS; i++) await ledger.addTerminal({ id: pastTerminal(i), partnerId: PAST_PARTNER, publicKey: randomBytes(32) });
    });
  } finally {
    await ledger.close();
    rmSync(csv, { force: true });
  }
  const sample = writePastSales(file, o.pastDebits, o.sampleSize);
  const check = new SqliteLedger({ file });
  let transfers: number;
  try {
    transfers = (await check.counts()).transfers;
  } finally {
    await check.close();
  }
  return { cards: o.cards, sample, transfers, bytes: statSync(file).size, seconds: (performance.now() - started) / 1000 };
}

function cardCount(db: Database.Database): number {
  return db.prepare('SELECT count(*) FROM cards').pluck().get() as number;
}

function pastTerminal(i: number): string {
  return `T-PAST-${String(i).padStart(4, '0')}`;
}

function writePastSales(file: string, n: number, sampleSize: number): string[] {
  const db = new Database(file);
  try {
    // Building a bench fixture: its durability does not matter (the gateway reopens it in WAL mode with
    // synchronous=FULL), and without a journal its gigabytes are written once, not to the WAL and again.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('cache_size = -262144');
    db.pragma('temp_store = MEMORY');
    db.transaction(() => {
      // Youths' cent wallets able to pay every past sale drawn on them (at most `perWallet` of at most 99 cents).
      const wallets = (db.prepare("SELECT count(*) AS n FROM accounts WHERE kind = 'wallet' AND unit = 'cent'").get() as { n: number }).n;
      const perWallet = Math.ceil(n / Math.max(1, wallets));
      db.exec(`CREATE TEMP TABLE w (k INTEGER PRIMARY KEY, id INTEGER NOT NULL, dossier_id TEXT NOT NULL, benefit TEXT NOT NULL, campaign TEXT NOT NULL, card TEXT NOT NULL);
        INSERT INTO w SELECT row_number() OVER (ORDER BY a.id) - 1, a.id, a.dossier_id, a.benefit, a.campaign, c.number
        FROM accounts a JOIN cards c ON c.dossier_id = a.dossier_id AND c.status = 'active'
        WHERE a.kind = 'wallet' AND a.unit = 'cent' AND a.loaded >= ${perWallet * 99}`);
      const w = (db.prepare('SELECT count(*) AS n FROM w').get() as { n: number }).n;
      if (w * perWallet < n) throw new Error(`grown ledger: ${w} wallets cannot pay ${n} past sales`);
      const payable = (db.prepare('SELECT id FROM accounts WHERE code = ?').get(`payable:${PAST_PARTNER}:cent`) as { id: number }).id;
      // 7919 is prime and does not divide w: each run of w consecutive sales touches every wallet once.
      db.exec(`CREATE TEMP TABLE past AS
        WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ${n})
        SELECT i,
          printf('0180%04x-%04x-7000-8%03x-%012x', (i >> 16) & 65535, i & 65535, (i >> 32) & 4095, i) AS txn,
          printf('T-PAST-%04d', i % ${PAST_TERMINALS}) AS terminal,
          i / ${PAST_TERMINALS} + 1 AS seq,
          1 + (i * 31) % 99 AS amount,
          ${LOADED_AT} + i * ${Math.floor(YEAR_MS / Math.max(1, n))} AS at,
          w.id AS wallet, w.dossier_id AS dossier, w.benefit AS benefit, w.campaign AS campaign, w.card AS card
        FROM c JOIN w ON w.k = (i * 7919) % ${w}`);
      db.exec(`INSERT INTO requests (txn_id, terminal_id, seq, fingerprint, status, mode, code, reply, decided_at, msg_hash, prev)
        SELECT txn, terminal, seq, printf('%064x', i), 'approved', 'online', NULL, zeroblob(${REPLY_BYTES}), at, printf('%064x', i + 1), printf('%064x', i) FROM past ORDER BY i`);
      db.exec(`INSERT INTO transfers (txn_id, kind, debit_account, credit_account, amount, unit, at)
        SELECT txn, 'debit', wallet, ${payable}, amount, 'cent', at FROM past ORDER BY i`);
      db.exec(`INSERT INTO sales (txn_id, kind, partner_id, terminal_id, group_id, card_number, dossier_id, benefit, campaign, unit, quantity, guaranteed, amount_cents, sale_at, recorded_at)
        SELECT txn, 'sale', '${PAST_PARTNER}', terminal, NULL, card, dossier, benefit, campaign, 'cent', amount, 0, amount, at, at FROM past ORDER BY i`);
      // The accounts' running totals, as the journal's transfers would have moved them.
      db.exec(`CREATE TEMP TABLE spent (id INTEGER PRIMARY KEY, s INTEGER NOT NULL);
        INSERT INTO spent SELECT wallet, sum(amount) FROM past GROUP BY wallet`);
      db.exec(`UPDATE accounts SET debits = debits + (SELECT s FROM spent WHERE spent.id = accounts.id) WHERE id IN (SELECT id FROM spent)`);
      db.prepare('UPDATE accounts SET credits = credits + (SELECT sum(amount) FROM past) WHERE id = ?').run(payable);
      // Each past terminal's sequence stands after its last past record.
      db.exec(`INSERT OR REPLACE INTO terminal_sync (terminal_id, next_seq, max_seq, head_hash)
        SELECT terminal, max(seq) + 1, max(seq), printf('%064x', max(i) + 1) FROM past GROUP BY terminal`);
      db.exec('DROP TABLE past; DROP TABLE spent; DROP TABLE w');
    })();
    db.pragma('journal_mode = WAL');
    const every = Math.max(1, Math.floor(cardCount(db) / Math.max(1, sampleSize)));
    return (db.prepare('SELECT number FROM cards WHERE rowid % ? = 0 ORDER BY rowid LIMIT ?').pluck().all(every, sampleSize) as string[]);
  } finally {
    db.close();
  }
}
