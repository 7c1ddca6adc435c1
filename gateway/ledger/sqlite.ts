import { SqlLedger } from './sql/ledger.ts';
import { openSqliteStore, type SqlStore, type SqliteLedgerOptions } from './sql/store.ts';

export type { SqliteLedgerOptions } from './sql/store.ts';

/**
 * The SQLite ledger, the embedded default: one file, WAL, `synchronous = FULL` (a commit is on disk before
 * we reply: a lost write here is lost money), every batch of debits in one transaction (group commit). One
 * gateway process per file. Its logic is the SQL ledger's (gateway/ledger/sql/), shared with PostgreSQL.
 */
export class SqliteLedger extends SqlLedger {
  readonly #store: SqlStore;

  constructor(opts: SqliteLedgerOptions) {
    const store = openSqliteStore(opts);
    super(store);
    this.#store = store;
  }

  /** The durability settings in force (tests check them). */
  pragmas(): { journal_mode: string; synchronous: number } {
    return this.#store.pragmas();
  }
}
