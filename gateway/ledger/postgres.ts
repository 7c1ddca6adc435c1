import type { LedgerRules } from './base.ts';
import { PgDb } from './sql/pg-db.ts';
import { migratePostgres } from './sql/pg-migrate.ts';
import { SqlLedger } from './sql/ledger.ts';
import { SqlStore } from './sql/store.ts';

export interface PostgresLedgerOptions {
  /** `postgres://user@host:port/database` (a password is better given by PGPASSWORD or ~/.pgpass). */
  readonly url: string;
  readonly rules?: LedgerRules;
  /** Connections at most (default 10). */
  readonly maxConnections?: number;
  /** An idle connection failed (the database restarted); the pool opens another for the next query. */
  readonly onIdleError?: (err: Error) => void;
}

/**
 * The PostgreSQL ledger, for region scale: several gateways on one database. The SQL ledger's logic
 * (gateway/ledger/sql/), on the PostgreSQL driver: write transactions take turns across gateways, nothing
 * another gateway may change is cached, and the schema is migrated at opening.
 */
export class PostgresLedger extends SqlLedger {
  static async open(o: PostgresLedgerOptions): Promise<PostgresLedger> {
    const db = new PgDb({ url: o.url, ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}), ...(o.onIdleError ? { onIdleError: o.onIdleError } : {}) });
    try {
      await migratePostgres(db);
    } catch (e) {
      await db.close();
      throw e;
    }
    return new PostgresLedger(new SqlStore({ db, ...(o.rules ? { rules: o.rules } : {}), voidsExist: true, shared: true }));
  }
}
