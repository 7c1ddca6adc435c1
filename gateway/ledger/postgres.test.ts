import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { OFFLINE_BREACHES } from '../rules.ts';
import { TestPostgres } from '../../simulators/engines.ts';
import { thrown } from '../../tests/helpers/errors.ts';
import { ledgerContract } from './ledger.contract.ts';
import { PostgresLedger } from './postgres.ts';

/**
 * The PostgreSQL ledger passes the contract the SQLite one does, on a PostgreSQL 15 of its own (initdb in a
 * temporary directory, a free port, stopped by pid). Each test gets a fresh database, copied from one the
 * migrations made once.
 */
let server: TestPostgres;
let made = 0;
const TEMPLATE = 'ledger_template';

beforeAll(async () => {
  server = await TestPostgres.start();
  const l = await PostgresLedger.open({ url: await server.createDatabase(TEMPLATE) });
  await l.close();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

ledgerContract('postgres', async (rules) => PostgresLedger.open({ url: await server.createDatabase(`t${++made}`, TEMPLATE), ...(rules ? { rules } : {}), maxConnections: 4 }), {
  // Each of its runs opens a new database: 20 sequences here, 80 on SQLite, the same property.
  propertyRuns: 20,
});

describe('postgres ledger schema', () => {
  it('migrates an empty database once, and again changes nothing', async () => {
    const url = await server.createDatabase('fresh');
    const a = await PostgresLedger.open({ url });
    await a.close();
    const b = await PostgresLedger.open({ url });
    expect((await b.counts()).partners).toBe(0);
    await b.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const versions = (await c.query<{ version: string }>('SELECT version FROM passerelle_schema WHERE version > 0 ORDER BY version')).rows.map((r) => Number(r.version));
    await c.end();
    expect(versions).toEqual([1]);
  });

  it('refuses a database at a newer schema version with a clear DATA_INVALID, and changes nothing', async () => {
    const url = await server.createDatabase('newer', TEMPLATE);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("INSERT INTO passerelle_schema (version, name, md5, run_at) VALUES (99, 'from-the-future', '', now())");
    await c.end();
    const e = await thrown(() => PostgresLedger.open({ url }));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.message).toMatch(/version 99 is newer than this gateway \(1\)/);
  });

  it('lists the offline breaches the rules know, in its CHECK', () => {
    const sql = readFileSync(new URL('./sql/postgres/001.do.sql', import.meta.url), 'utf8');
    const listed = /breach text CHECK \(breach IN \(([^)]*)\)\)/.exec(sql)?.[1]?.split(',').map((s) => s.trim().replace(/'/g, ''));
    expect(listed).toEqual([...OFFLINE_BREACHES]);
  });

  it('gives a lease to one holder at a time, and to another once it is released or its link breaks', async () => {
    const url = await server.createDatabase('leases', TEMPLATE);
    const [a, b] = await Promise.all([PostgresLedger.open({ url }), PostgresLedger.open({ url })]);
    try {
      const first = await a.lease('job');
      expect(first).not.toBeNull();
      expect(await b.lease('job')).toBeNull();
      expect(await b.lease('another job')).not.toBeNull();
      await first!.release();
      const second = await b.lease('job');
      expect(second).not.toBeNull();
      // The holder's connection dies (a database restart, a cut): the lease is lost, and free again.
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'passerelle-gateway-lease' AND pid <> pg_backend_pid()");
      await admin.end();
      await second!.lost;
      const third = await a.lease('job');
      expect(third).not.toBeNull();
      await third!.release();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
