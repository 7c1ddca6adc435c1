import Database from 'better-sqlite3';
import { benefitUnit, isPartnerType, type Benefit, type PartnerType, type Unit } from '../../protocol/benefits.ts';
import { isValidCardNumber } from '../../protocol/card.ts';
import { assert, PasserelleError } from '../../protocol/errors.ts';
import { encodeJson } from '../../protocol/debit.ts';
import { debitReply } from '../replies.ts';
import { decide } from '../rules.ts';
import type {
  CardRecord,
  CommitOutcome,
  DebitItem,
  Ledger,
  LoadRecord,
  PartnerRecord,
  StoredRequest,
  TerminalRecord,
  TransferRecord,
} from './ledger.ts';

/**
 * The SQLite ledger: one file, WAL, `synchronous = FULL` (a commit is on disk before we reply: a lost write
 * here is lost money), every batch of debits in one transaction (group commit).
 */

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS partners (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  type TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS terminals (
  id TEXT PRIMARY KEY,
  partner_id TEXT NOT NULL REFERENCES partners(id),
  public_key BLOB NOT NULL CHECK (length(public_key) = 32),
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1))
) STRICT;
CREATE TABLE IF NOT EXISTS cards (
  number TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'opposed')),
  pin_hash TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('wallet', 'funding', 'payable')),
  unit TEXT NOT NULL CHECK (unit IN ('cent', 'entry')),
  card_number TEXT REFERENCES cards(number),
  benefit TEXT,
  campaign TEXT,
  partner_id TEXT REFERENCES partners(id),
  debits INTEGER NOT NULL DEFAULT 0 CHECK (debits >= 0),
  credits INTEGER NOT NULL DEFAULT 0 CHECK (credits >= 0),
  CHECK (kind <> 'wallet' OR debits <= credits)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS wallet_key ON accounts(card_number, benefit, campaign) WHERE kind = 'wallet';
CREATE TABLE IF NOT EXISTS transfers (
  id INTEGER PRIMARY KEY,
  txn_id TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('load', 'debit')),
  debit_account INTEGER NOT NULL REFERENCES accounts(id),
  credit_account INTEGER NOT NULL REFERENCES accounts(id),
  amount INTEGER NOT NULL CHECK (amount > 0),
  unit TEXT NOT NULL,
  at INTEGER NOT NULL,
  CHECK (debit_account <> credit_account)
) STRICT;
-- A request id moves money at most once, whatever happens above this table.
CREATE UNIQUE INDEX IF NOT EXISTS transfer_txn ON transfers(txn_id) WHERE txn_id IS NOT NULL;
-- A rowid table: rows (with their reply) are appended; only the small txn_id index takes random-ish
-- writes, and with time-ordered (UUIDv7) ids even those land at its end.
CREATE TABLE IF NOT EXISTS requests (
  id INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL UNIQUE,
  terminal_id TEXT NOT NULL REFERENCES terminals(id),
  seq INTEGER NOT NULL,
  fingerprint TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('approved', 'declined')),
  code TEXT,
  reply BLOB NOT NULL,
  decided_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS requests_by_terminal ON requests(terminal_id, seq);
CREATE TABLE IF NOT EXISTS conflicts (
  id INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL,
  terminal_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;
`;

interface WalletRow {
  id: number;
  balance: number;
}

export interface SqliteLedgerOptions {
  /** A file path, or ':memory:' for tests. */
  readonly file: string;
}

export class SqliteLedger implements Ledger {
  readonly #db: Database.Database;
  readonly #s;
  readonly #commit: (items: readonly DebitItem[], decidedAt: number) => CommitOutcome[];
  // Caches of committed rows this object alone writes (one gateway process per SQLite file), dropped on
  // every write to them. Only rows committed before a debit batch are cached, so a rolled-back batch can
  // leave nothing behind here.
  readonly #terminals = new Map<string, TerminalRecord & { readonly partnerType: PartnerType }>();
  readonly #payables = new Map<string, number>();

  constructor(opts: SqliteLedgerOptions) {
    this.#db = new Database(opts.file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('foreign_keys = ON');
    this.#db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache: the hot part of the wallets stays in memory between batches.
    this.#db.pragma('cache_size = -65536');
    this.#migrate();
    this.#s = this.#prepare();
    this.#commit = this.#db.transaction((items: readonly DebitItem[], decidedAt: number) =>
      items.map((item) => this.#applyDebit(item, decidedAt)),
    );
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new PasserelleError('DATA_INVALID', `ledger schema version ${version} is newer than this gateway (${SCHEMA_VERSION})`);
    }
    this.#db.exec(SCHEMA);
    this.#db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  #prepare() {
    const db = this.#db;
    return {
      terminal: db.prepare<[string], { id: string; partner_id: string; public_key: Buffer; active: number; type: string }>(
        'SELECT t.id, t.partner_id, t.public_key, t.active, p.type FROM terminals t JOIN partners p ON p.id = t.partner_id WHERE t.id = ?',
      ),
      card: db.prepare<[string], { number: string; holder: string; status: 'active' | 'opposed'; pin_hash: string | null }>(
        'SELECT number, holder, status, pin_hash FROM cards WHERE number = ?',
      ),
      // The card and its newest wallet for a benefit in one lookup (wallet columns null when it has none).
      cardWallet: db.prepare<[{ card: string; benefit: string }], { status: 'active' | 'opposed'; wallet_id: number | null; balance: number | null }>(
        `SELECT c.status, w.id AS wallet_id, w.credits - w.debits AS balance FROM cards c
         LEFT JOIN accounts w ON w.id = (SELECT id FROM accounts WHERE kind = 'wallet' AND card_number = c.number AND benefit = @benefit
                                         ORDER BY campaign DESC LIMIT 1)
         WHERE c.number = @card`,
      ),
      // The newest campaign's wallet; issue 3 brings validity windows to choose among campaigns.
      wallet: db.prepare<[string, string], WalletRow>(
        `SELECT id, credits - debits AS balance FROM accounts
         WHERE kind = 'wallet' AND card_number = ? AND benefit = ? ORDER BY campaign DESC LIMIT 1`,
      ),
      accountByCode: db.prepare<[string], { id: number }>('SELECT id FROM accounts WHERE code = ?'),
      insertAccount: db.prepare(
        `INSERT INTO accounts (code, kind, unit, card_number, benefit, campaign, partner_id)
         VALUES (@code, @kind, @unit, @card_number, @benefit, @campaign, @partner_id)`,
      ),
      addDebits: db.prepare<[number, number]>('UPDATE accounts SET debits = debits + ? WHERE id = ?'),
      addCredits: db.prepare<[number, number]>('UPDATE accounts SET credits = credits + ? WHERE id = ?'),
      insertTransfer: db.prepare(
        `INSERT INTO transfers (txn_id, kind, debit_account, credit_account, amount, unit, at)
         VALUES (@txn_id, @kind, @debit_account, @credit_account, @amount, @unit, @at)`,
      ),
      request: db.prepare<[string], { txn_id: string; terminal_id: string; seq: number; fingerprint: string; status: 'approved' | 'declined'; code: string | null; reply: Buffer }>(
        'SELECT txn_id, terminal_id, seq, fingerprint, status, code, reply FROM requests WHERE txn_id = ?',
      ),
      insertRequest: db.prepare(
        `INSERT INTO requests (txn_id, terminal_id, seq, fingerprint, status, code, reply, decided_at)
         VALUES (@txn_id, @terminal_id, @seq, @fingerprint, @status, @code, @reply, @decided_at)`,
      ),
      insertConflict: db.prepare('INSERT INTO conflicts (txn_id, terminal_id, fingerprint, at) VALUES (?, ?, ?, ?)'),
    };
  }

  terminal(id: string): TerminalRecord | undefined {
    return this.#terminal(id);
  }

  #terminal(id: string): (TerminalRecord & { readonly partnerType: PartnerType }) | undefined {
    let t = this.#terminals.get(id);
    if (!t) {
      const r = this.#s.terminal.get(id);
      if (!r) return undefined;
      assert(isPartnerType(r.type), `partner of terminal ${id} has an unknown type ${r.type}`);
      t = { id: r.id, partnerId: r.partner_id, publicKey: new Uint8Array(r.public_key), active: r.active === 1, partnerType: r.type };
      this.#terminals.set(id, t);
    }
    return t;
  }

  card(number: string): CardRecord | undefined {
    const r = this.#s.card.get(number);
    return r && { number: r.number, holder: r.holder, status: r.status, pinHash: r.pin_hash };
  }

  commitDebits(items: readonly DebitItem[], decidedAt: number): CommitOutcome[] {
    try {
      return this.#commit(items, decidedAt);
    } catch (e) {
      throw new PasserelleError('LEDGER_FAILED', `batch of ${items.length} rolled back: ${(e as Error).message}`, {}, { cause: e });
    }
  }

  #applyDebit(item: DebitItem, decidedAt: number): CommitOutcome {
    const body = item.body;
    const prior = this.#s.request.get(body.txnId);
    if (prior) {
      if (prior.fingerprint === item.fingerprint) return { kind: 'reply', reply: prior.reply, fresh: false, status: prior.status };
      this.#s.insertConflict.run(body.txnId, body.terminalId, item.fingerprint, decidedAt);
      return { kind: 'conflict' };
    }
    const tp = this.#terminal(body.terminalId);
    assert(tp, `terminal ${body.terminalId} was verified but is not in the ledger`);
    const cw = this.#s.cardWallet.get({ card: body.credential.cardNumber, benefit: body.benefit });
    const decision = decide(body, {
      terminalActive: tp.active,
      partnerType: tp.partnerType,
      ...(cw ? { card: { status: cw.status } } : {}),
      ...(cw && cw.wallet_id !== null ? { wallet: { balance: cw.balance ?? 0 } } : {}),
      pin: item.pin,
    });
    if (decision.status === 'approved') {
      assert(cw && cw.wallet_id !== null, 'an approved debit has a wallet');
      const payable = this.#payableAccount(tp.partnerId, body.unit);
      this.#transfer(body.txnId, 'debit', cw.wallet_id, payable, decision.taken, body.unit, decidedAt);
    }
    const reply = encodeJson(debitReply(body, decision, decidedAt));
    this.#s.insertRequest.run({
      txn_id: body.txnId,
      terminal_id: body.terminalId,
      seq: body.seq,
      fingerprint: item.fingerprint,
      status: decision.status,
      code: decision.status === 'declined' ? decision.code : null,
      reply,
      decided_at: decidedAt,
    });
    return { kind: 'reply', reply, fresh: true, status: decision.status };
  }

  #transfer(txnId: string | null, kind: 'load' | 'debit', from: number, to: number, amount: number, unit: Unit, at: number): void {
    assert(Number.isSafeInteger(amount) && amount > 0, `transfer amount must be a positive integer, got ${amount}`);
    this.#s.insertTransfer.run({ txn_id: txnId, kind, debit_account: from, credit_account: to, amount, unit, at });
    this.#s.addDebits.run(amount, from);
    this.#s.addCredits.run(amount, to);
  }

  #account(code: string, fields: { kind: string; unit: Unit; card_number?: string; benefit?: string; campaign?: string; partner_id?: string }): number {
    const found = this.#s.accountByCode.get(code);
    if (found) return found.id;
    const r = this.#s.insertAccount.run({ card_number: null, benefit: null, campaign: null, partner_id: null, ...fields, code });
    return Number(r.lastInsertRowid);
  }

  /** What the Region owes a partner, in one unit. Created with the partner, so a debit only reads it. */
  #payableAccount(partnerId: string, unit: Unit): number {
    const code = `payable:${partnerId}:${unit}`;
    let id = this.#payables.get(code);
    if (id === undefined) {
      id = this.#s.accountByCode.get(code)?.id;
      assert(id !== undefined, `partner ${partnerId} has no ${code} account`);
      this.#payables.set(code, id);
    }
    return id;
  }

  addPartner(p: PartnerRecord): void {
    if (!isPartnerType(p.type)) throw new PasserelleError('DATA_INVALID', `unknown partner type ${p.type}`);
    this.#run(
      () =>
        this.#db.transaction(() => {
          this.#db.prepare('INSERT INTO partners (id, name, type) VALUES (?, ?, ?)').run(p.id, p.name, p.type);
          for (const unit of ['cent', 'entry'] as const) this.#account(`payable:${p.id}:${unit}`, { kind: 'payable', unit, partner_id: p.id });
        })(),
      `partner ${p.id}`,
    );
  }

  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): void {
    if (t.publicKey.length !== 32) throw new PasserelleError('DATA_INVALID', `terminal ${t.id}: public key must be 32 bytes`);
    this.#run(
      () =>
        this.#db
          .prepare('INSERT INTO terminals (id, partner_id, public_key, active) VALUES (?, ?, ?, ?)')
          .run(t.id, t.partnerId, Buffer.from(t.publicKey), t.active === false ? 0 : 1),
      `terminal ${t.id}`,
    );
  }

  setTerminalActive(id: string, active: boolean): void {
    this.#terminals.delete(id);
    const r = this.#db.prepare('UPDATE terminals SET active = ? WHERE id = ?').run(active ? 1 : 0, id);
    if (r.changes !== 1) throw new PasserelleError('DATA_INVALID', `no terminal ${id}`);
  }

  issueCard(c: Omit<CardRecord, 'status'>): void {
    if (!isValidCardNumber(c.number)) throw new PasserelleError('DATA_INVALID', 'card number fails its Luhn check');
    this.#run(
      () => this.#db.prepare('INSERT INTO cards (number, holder, pin_hash) VALUES (?, ?, ?)').run(c.number, c.holder, c.pinHash),
      'card',
    );
  }

  setCardStatus(number: string, status: CardRecord['status']): void {
    const r = this.#db.prepare('UPDATE cards SET status = ? WHERE number = ?').run(status, number);
    if (r.changes !== 1) throw new PasserelleError('DATA_INVALID', 'no such card');
  }

  load(l: LoadRecord): void {
    if (!Number.isSafeInteger(l.amount) || l.amount <= 0) throw new PasserelleError('DATA_INVALID', `load amount must be a positive integer: ${l.amount}`);
    if (!this.#s.card.get(l.cardNumber)) throw new PasserelleError('DATA_INVALID', 'load for an unknown card');
    const unit = benefitUnit(l.benefit);
    this.#db.transaction(() => {
      const funding = this.#account(`funding:${l.benefit}:${l.campaign}`, { kind: 'funding', unit, benefit: l.benefit, campaign: l.campaign });
      const wallet = this.#account(`wallet:${l.cardNumber}:${l.benefit}:${l.campaign}`, {
        kind: 'wallet',
        unit,
        card_number: l.cardNumber,
        benefit: l.benefit,
        campaign: l.campaign,
      });
      this.#transfer(null, 'load', funding, wallet, l.amount, unit, l.at);
    })();
  }

  /** Run a write; a constraint violation (duplicate id, unknown partner) becomes DATA_INVALID. */
  #run(fn: () => unknown, what: string): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof Database.SqliteError && e.code.startsWith('SQLITE_CONSTRAINT')) {
        throw new PasserelleError('DATA_INVALID', `${what}: ${e.message}`);
      }
      throw e;
    }
  }

  atomically<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  walletBalance(cardNumber: string, benefit: Benefit): number | undefined {
    return this.#s.wallet.get(cardNumber, benefit)?.balance;
  }

  request(txnId: string): StoredRequest | undefined {
    const r = this.#s.request.get(txnId);
    return r && { txnId: r.txn_id, terminalId: r.terminal_id, seq: r.seq, status: r.status, code: r.code, reply: r.reply };
  }

  transfersForTxn(txnId: string): TransferRecord[] {
    return this.#db
      .prepare<[string], { id: number; txn_id: string | null; kind: 'load' | 'debit'; d: string; c: string; amount: number; unit: Unit; at: number }>(
        `SELECT t.id, t.txn_id, t.kind, da.code AS d, ca.code AS c, t.amount, t.unit, t.at FROM transfers t
         JOIN accounts da ON da.id = t.debit_account JOIN accounts ca ON ca.id = t.credit_account WHERE t.txn_id = ?`,
      )
      .all(txnId)
      .map((r) => ({ id: r.id, txnId: r.txn_id, kind: r.kind, debitAccount: r.d, creditAccount: r.c, amount: r.amount, unit: r.unit, at: r.at }));
  }

  conflictCount(txnId?: string): number {
    const row = txnId
      ? this.#db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM conflicts WHERE txn_id = ?').get(txnId)
      : this.#db.prepare<[], { n: number }>('SELECT count(*) AS n FROM conflicts').get();
    return row?.n ?? 0;
  }

  counts() {
    const n = (table: string) => (this.#db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { partners: n('partners'), terminals: n('terminals'), cards: n('cards'), requests: n('requests'), transfers: n('transfers') };
  }

  audit(): string[] {
    const problems: string[] = [];
    const q = <T>(sql: string) => this.#db.prepare(sql).all() as T[];
    for (const r of q<{ unit: string; net: number }>('SELECT unit, sum(credits) - sum(debits) AS net FROM accounts GROUP BY unit')) {
      if (r.net !== 0) problems.push(`accounts in ${r.unit} do not balance: credits − debits = ${r.net}`);
    }
    for (const r of q<{ code: string }>("SELECT code FROM accounts WHERE kind = 'wallet' AND debits > credits")) {
      problems.push(`wallet ${r.code} is below zero`);
    }
    // Replay the journal in one pass (two GROUP BYs), not one scan per account.
    const replay = `WITH d AS (SELECT debit_account AS id, sum(amount) AS s FROM transfers GROUP BY debit_account),
           c AS (SELECT credit_account AS id, sum(amount) AS s FROM transfers GROUP BY credit_account)
      SELECT a.code FROM accounts a LEFT JOIN d ON d.id = a.id LEFT JOIN c ON c.id = a.id
      WHERE a.debits <> coalesce(d.s, 0) OR a.credits <> coalesce(c.s, 0)`;
    for (const r of q<{ code: string }>(replay)) problems.push(`account ${r.code} differs from its journal`);
    const unitMismatch = `SELECT t.id FROM transfers t JOIN accounts d ON d.id = t.debit_account JOIN accounts c ON c.id = t.credit_account
      WHERE t.unit <> d.unit OR t.unit <> c.unit`;
    for (const r of q<{ id: number }>(unitMismatch)) problems.push(`transfer ${r.id} mixes units`);
    const approvedWithout = `SELECT r.txn_id FROM requests r WHERE r.status = 'approved'
      AND (SELECT count(*) FROM transfers t WHERE t.txn_id = r.txn_id AND t.kind = 'debit') <> 1`;
    for (const r of q<{ txn_id: string }>(approvedWithout)) problems.push(`approved request ${r.txn_id} has no single debit`);
    const movedWithout = `SELECT t.txn_id FROM transfers t WHERE t.kind = 'debit'
      AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.txn_id = t.txn_id AND r.status = 'approved')`;
    for (const r of q<{ txn_id: string }>(movedWithout)) problems.push(`debit ${r.txn_id} has no approved request`);
    return problems;
  }

  /** The durability settings in force (tests check them). */
  pragmas(): { journal_mode: string; synchronous: number } {
    return {
      journal_mode: this.#db.pragma('journal_mode', { simple: true }) as string,
      synchronous: this.#db.pragma('synchronous', { simple: true }) as number,
    };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
