import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Postgrator from 'postgrator';
import { PasserelleError } from '../../../protocol/errors.ts';
import type { PgDb } from './pg-db.ts';

/** The migrations, `NNN.do.sql`, applied in order; their checksums are kept, so a changed file is refused. */
const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'postgres');
/** Held while migrating: gateways starting together migrate one after the other. */
const MIGRATION_LOCK = 0x5041_5344;

/**
 * Bring a PostgreSQL ledger's schema to this gateway's version (postgrator, its table `passerelle_schema`).
 * A database at a newer version than this gateway knows is refused, never migrated down.
 */
export async function migratePostgres(db: PgDb): Promise<{ from: number; to: number }> {
  const client = await db.pool.connect();
  try {
    await client.query('SET client_min_messages = warning');
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const postgrator = new Postgrator({
        migrationPattern: join(MIGRATIONS, '*.sql'),
        driver: 'pg',
        database: (await client.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db,
        schemaTable: 'passerelle_schema',
        execQuery: (sql) => client.query(sql),
      });
      const from = Number(await postgrator.getDatabaseVersion());
      const to = await postgrator.getMaxVersion();
      if (from > to) {
        throw new PasserelleError('DATA_INVALID', `ledger schema version ${from} is newer than this gateway (${to}): run a gateway of that version or newer`);
      }
      if (from < to) await postgrator.migrate(String(to));
      return { from, to };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}
