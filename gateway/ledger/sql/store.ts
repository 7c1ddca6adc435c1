import { chmodSync, closeSync, existsSync, openSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { SqlDb } from './db.ts';
import { SqliteDb } from './sqlite-db.ts';
import { isPartnerType, type Benefit } from '../../../protocol/benefits.ts';
import { GENESIS_HASH, OfflineLimits } from '../../../protocol/offline.ts';
import { maskCardNumber } from '../../../protocol/card.ts';
import { assert, PasserelleError } from '../../../protocol/errors.ts';
import type { BenefitWindow } from '../../campaigns.ts';
import { DEFAULT_LEDGER_RULES, type LedgerRules, type PartnerRecord } from '../ledger.ts';
import { FIRST_MIGRATED_VERSION, MIGRATIONS, SCHEMA, SCHEMA_VERSION } from '../sqlite-schema.ts';
import { prepareStatements, type Statements } from './prepared.ts';
import { voidKey, type BatchReads } from './batch-reads.ts';
import { partnerCacheOf, terminalRowOf } from './terminal-row.ts';
import type { TerminalRow, PartnerCache, CardRow, ExpiryCursor, SyncState, PendingCount, RequestRow } from './rows.ts';

/**
 * The SQLite ledger: one file, WAL, `synchronous = FULL` (a commit is on disk before we reply: a lost write
 * here is lost money), every batch of debits in one transaction (group commit).
 */
export interface SqliteLedgerOptions {
  /** A file path, or ':memory:' for tests. */
  readonly file: string;
  readonly rules?: LedgerRules;
}

export interface StoreOptions {
  readonly db: SqlDb;
  readonly rules?: LedgerRules;
  /** Whether the voids table holds a row (read once at opening). */
  readonly voidsExist: boolean;
  /**
   * Other processes write this database too (several gateways on one PostgreSQL): rows they may change are
   * never cached; only what never changes once committed is (account ids, offline policy versions).
   */
  readonly shared: boolean;
}

/**
 * An SQLite file opened for the ledger, its schema brought to this gateway's version: WAL,
 * `synchronous = FULL`, foreign keys, the file readable by the gateway's user only.
 */
export function openSqliteStore(opts: SqliteLedgerOptions): SqlStore {
  privateFile(opts.file);
  const raw = new Database(opts.file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = FULL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  // 64 MiB of page cache: the hot part of the wallets stays in memory between batches.
  raw.pragma('cache_size = -65536');
  migrateSqlite(raw);
  const voidsExist = raw.prepare('SELECT 1 FROM voids LIMIT 1').get() !== undefined;
  return new SqlStore({ db: new SqliteDb(raw), ...(opts.rules ? { rules: opts.rules } : {}), voidsExist, shared: false });
}

function migrateSqlite(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new PasserelleError('DATA_INVALID', `ledger schema version ${version} is newer than this gateway (${SCHEMA_VERSION})`);
  }
  if (version !== 0 && version < FIRST_MIGRATED_VERSION) {
    // Versions 1 (before wallets moved to dossiers) and 2 (before offline acceptance and the hash chain)
    // only ever held development and demo data; there is nothing to carry over, and guessing would be
    // worse than saying so.
    throw new PasserelleError(
      'DATA_INVALID',
      `ledger schema version ${version} is from a development build (this gateway uses ${SCHEMA_VERSION}) and cannot be upgraded: it only ever held demo data; delete the data directory or move the ledger file aside to start a new one`,
    );
  }
  // One transaction: a ledger is at one version or the next, never half-way.
  db.transaction(() => {
    // Columns added to existing tables first; then the schema creates whatever tables and indexes are new.
    if (version !== 0) for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v] ?? '');
    db.exec(SCHEMA);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
}

/**
 * What the parts of the SQL ledger share (one part a role, gateway/ledger/sql/): the database driver, the
 * prepared statements, the rules, and the caches with the lookups that fill them (none of rows another
 * gateway may change, when `shared`). Its fields are open to those parts (sqlite.ts and postgres.ts export
 * none of it), and each cache is filled only outside transactions (`mayCache`); what a batch keeps is in
 * `commitDebits` (debits.ts).
 */
export class SqlStore {
  readonly db: SqlDb;
  /** See `StoreOptions.shared`. */
  readonly shared: boolean;
  readonly s: Statements;
  readonly rules: LedgerRules;
  // Caches of committed rows this ledger alone writes (one gateway process per SQLite file), dropped on
  // every write to them. Only rows committed before a debit batch are cached, so a rolled-back batch can
  // leave nothing behind here.
  readonly terminals = new Map<string, TerminalRow>();
  /** Chip keys read for sale proofs (one lookup per NFC sale otherwise); bounded, cleared when full. */
  readonly cardKeys = new Map<string, { readonly publicKey: Uint8Array; readonly expiry: string }>();
  readonly accountIds = new Map<string, number>();
  /** Offline policy versions never change once committed. */
  readonly policies = new Map<number, OfflineLimits>();
  /** Committed `terminal_sync` rows, and those the running debit batch changed (merged once it commits). */
  readonly syncs = new Map<string, SyncState>();
  batchSyncs = new Map<string, SyncState>();
  /**
   * Each terminal's offline sales pending since its last contact as far as they were counted
   * (`pendingSince`, seq in (since, upTo)), so that the next sale of a drain counts only the rows in between
   * instead of the whole backlog again: 10,000 queued sales cost O(n²) row reads otherwise (8 of the
   * drain's 13 s, issue 14). `pending` holds committed counts; the running batch writes to `batchPending`
   * (undefined: forget the committed count, a sale below it was inserted), merged as `syncs` are once the
   * batch commits, dropped if it rolls back (debits.ts). One entry a terminal.
   */
  readonly pending = new Map<string, PendingCount>();
  batchPending = new Map<string, PendingCount | undefined>();
  /** False while the voids table is empty, so a debit skips the tombstone lookup (set before any insert). */
  voidsExist: boolean;
  /** Where the current expiry sweep stopped; set only once a step is committed. */
  expiryCursor: ExpiryCursor | undefined;

  constructor(opts: StoreOptions) {
    this.db = opts.db;
    this.rules = opts.rules ?? DEFAULT_LEDGER_RULES;
    this.shared = opts.shared;
    this.s = prepareStatements(this.db);
    // Shared: another gateway may record the first void at any time.
    this.voidsExist = opts.shared || opts.voidsExist;
  }

  /** Whether a row read now may be cached: committed, and no other process can change it. */
  get mayCache(): boolean {
    return !this.shared && !this.db.inTransaction;
  }

  /**
   * Run a write; a constraint violation (duplicate id, unknown partner) becomes a refusal with its code.
   * Inside a transaction, in a savepoint of its own: PostgreSQL fails the whole transaction after any error,
   * and a caller may go on after the refusal.
   */
  async run(fn: () => Promise<unknown>, what: string): Promise<void> {
    try {
      await (this.db.inTransaction ? this.db.transaction(fn) : fn());
    } catch (e) {
      throw constraintRefusal(e, what) ?? e;
    }
  }

  /**
   * What the running debit batch fetched ahead (batch-reads.ts; PostgreSQL only), read instead of the
   * database by the calls made inside that batch's transaction.
   */
  batch: BatchReads | undefined;

  #batch(): BatchReads | undefined {
    return this.batch && this.db.inTransaction ? this.batch : undefined;
  }

  /** A terminal with its partner, cached: every debit asks for it. */
  async terminal(id: string): Promise<TerminalRow | undefined> {
    const b = this.#batch()?.terminals.get(id);
    if (b !== undefined) return b ?? undefined;
    let t = this.terminals.get(id);
    if (!t) {
      const r = await this.s.terminalWithPartner.get(id);
      if (!r) return undefined;
      t = terminalRowOf(r);
      if (this.mayCache) this.terminals.set(id, t);
    }
    return t;
  }

  /** The record stored under a transaction id (the batch's own, once stored, included). */
  async request(txnId: string): Promise<RequestRow | undefined> {
    const b = this.#batch()?.requests.get(txnId);
    if (b !== undefined) return b ?? undefined;
    return await this.s.request.get(txnId);
  }

  async insertRequest(row: RequestRow & { readonly decided_at: number; readonly msg_hash: string; readonly prev: string }): Promise<void> {
    await this.s.insertRequest.run(row);
    this.#batch()?.requests.set(row.txn_id, { txn_id: row.txn_id, terminal_id: row.terminal_id, seq: row.seq, fingerprint: row.fingerprint, status: row.status, mode: row.mode, code: row.code, reply: row.reply });
  }

  /** The void that names this sale of this terminal, if one came first. */
  async voidOf(target: string, terminalId: string): Promise<string | undefined> {
    const b = this.#batch()?.voids.get(voidKey(target, terminalId));
    if (b !== undefined) return b ?? undefined;
    return (await this.s.voidOf.get(target, terminalId))?.void_txn_id;
  }

  async insertVoid(target: string, terminalId: string, voidTxnId: string, at: number): Promise<void> {
    this.voidsExist = true;
    await this.s.insertVoid.run(target, terminalId, voidTxnId, at);
    // The first void of a target stays (the statement ignores a second).
    const b = this.#batch();
    if (b && !b.voids.get(voidKey(target, terminalId))) b.voids.set(voidKey(target, terminalId), voidTxnId);
  }

  /** A card with its dossier's code state. */
  async cardRow(number: string): Promise<CardRow | undefined> {
    const b = this.#batch()?.cards.get(number);
    if (b !== undefined) return b ?? undefined;
    return await this.s.card.get(number);
  }

  /** The batch wrote to this dossier (its code tries): its cards are read again. */
  forgetDossier(dossierId: string): void {
    const b = this.#batch();
    if (!b) return;
    for (const [n, c] of b.cards) if (c?.dossier_id === dossierId) b.cards.delete(n);
  }

  /** What a debit needs of a partner: its type, its convention as instants, its entry price. */
  async partnerCache(id: string): Promise<PartnerCache> {
    const p = await this.s.partner.get(id);
    assert(p, `partner ${id} is referenced but missing`);
    return partnerCacheOf(p);
  }

  /** A partner as the API shows it, read afresh each time. */
  async partner(id: string): Promise<PartnerRecord | undefined> {
    const p = await this.s.partner.get(id);
    if (!p || !isPartnerType(p.type)) return undefined;
    return {
      id: p.id,
      name: p.name,
      type: p.type,
      conventionFrom: p.convention_from,
      conventionTo: p.convention_to,
      entryPriceCents: p.entry_price_cents,
      iban: p.iban,
      bic: p.bic,
    };
  }

  /** A card an operator names: NOT_FOUND, with its number masked, when there is none. */
  async cardOrThrow(number: string): Promise<CardRow> {
    const r = await this.s.card.get(number);
    if (!r) throw new PasserelleError('NOT_FOUND', `no card ${maskCardNumber(number)}`);
    return r;
  }

  /** A benefit's validity window in a campaign (R6); a load for a campaign not created yet is refused. */
  async window(campaign: string, benefit: Benefit): Promise<BenefitWindow> {
    const c = await this.s.campaign.get(campaign);
    if (!c) throw new PasserelleError('DATA_INVALID', `no campaign ${campaign}: create it first`);
    const w = (JSON.parse(c.windows) as BenefitWindow[]).find((x) => x.benefit === benefit);
    assert(w, `campaign ${campaign} has no window for ${benefit}`);
    return w;
  }

  /** The limits of one offline policy version, as the terminals that hold it were told. */
  async offlinePolicy(version: number): Promise<OfflineLimits | undefined> {
    let p = this.policies.get(version);
    if (!p) {
      const r = await this.s.policy.get(version);
      if (!r) return undefined;
      p = JSON.parse(r.limits) as OfflineLimits;
      // A stored version never changes once committed.
      if (!this.db.inTransaction) this.policies.set(version, p);
    }
    return p;
  }

  /** A terminal's sequence state as the running batch sees it. */
  async sync(terminalId: string): Promise<SyncState> {
    // What the running batch changed is seen only inside its transaction.
    let sync = (this.db.inTransaction ? this.batchSyncs.get(terminalId) : undefined) ?? this.syncs.get(terminalId) ?? this.#batch()?.syncs.get(terminalId);
    if (!sync) {
      sync = await this.s.sync.get(terminalId) ?? { next_seq: 1, max_seq: 0, head_hash: GENESIS_HASH };
      if (this.mayCache) this.syncs.set(terminalId, sync);
    }
    return sync;
  }

  /** The durability settings in force (tests check them). */
  pragmas(): { journal_mode: string; synchronous: number } {
    const raw = (this.db as SqliteDb).raw;
    return {
      journal_mode: raw.pragma('journal_mode', { simple: true }) as string,
      synchronous: raw.pragma('synchronous', { simple: true }) as number,
    };
  }

  async close(): Promise<void> {
    return await this.db.close();
  }
}

/**
 * A constraint the schema enforces, said as a person would say it: SQLite's own message names tables and
 * columns ("UNIQUE constraint failed: campaigns.id"), which mean nothing to an operator and stay in the log.
 * Anything else (an I/O or lock failure) is not a refusal: undefined, and it travels as it is.
 */
export function constraintRefusal(e: unknown, what: string): PasserelleError | undefined {
  const kind = constraintKind(e);
  if (kind === undefined) return undefined;
  if (kind === 'unique') return new PasserelleError('ALREADY_EXISTS', `${what} already exists`);
  if (kind === 'foreign-key') return new PasserelleError('DATA_INVALID', `${what} names a partner, dossier or card that does not exist`);
  return new PasserelleError('DATA_INVALID', `${what} has a value out of range or inconsistent with the ledger`);
}

/** Which constraint a database error broke, on either engine (PostgreSQL's SQLSTATE class 23); undefined: none. */
export function constraintKind(e: unknown): 'unique' | 'foreign-key' | 'other' | undefined {
  if (e instanceof Database.SqliteError) {
    if (!e.code.startsWith('SQLITE_CONSTRAINT')) return undefined;
    if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique';
    return e.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' ? 'foreign-key' : 'other';
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^23[0-9A-Z]{3}$/.test(code) || !(e instanceof Error)) return undefined;
  return code === '23505' ? 'unique' : code === '23503' ? 'foreign-key' : 'other';
}

/**
 * The ledger holds every youth's balances and every partner's bank details: readable by the gateway's
 * user only. The file is made 0600 before SQLite opens it, and SQLite gives its WAL and shared-memory
 * files the database file's permissions; a file from an older gateway (0644) is tightened, with its
 * journal files.
 */
function privateFile(file: string): void {
  if (file === ':memory:' || file === '' || file.startsWith('file:')) return;
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    if (existsSync(f) && (statSync(f).mode & 0o077) !== 0) chmodSync(f, 0o600);
  }
}
