import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { toPostgresSql, type Query, type RunResult, type SqlDb, type TransactionOptions } from './db.ts';

interface Tx {
  readonly client: pg.PoolClient;
  depth: number;
  ended: boolean;
}

/** The advisory lock every ledger transaction takes: writers take turns on every gateway (`SqlDb.transaction`). */
export const WRITERS_LOCK = 0x5041_5353; // 'PASS'

/**
 * Integers come back as numbers: bigint columns hold cents and milliseconds, far below 2^53; a value that
 * is not safe as a number is an error, never a rounding. `numeric` is what `sum()` of bigints gives.
 */
function toNumber(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || (Number.isInteger(n) && !Number.isSafeInteger(n))) throw new RangeError(`a ledger number out of range: ${text}`);
  return n;
}
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return toNumber;
    return pg.types.getTypeParser(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

export interface PgDbOptions {
  readonly url: string;
  /** Connections at most (default 10). */
  readonly maxConnections?: number;
  /** A connection of the pool failed while idle (the database restarted): it is dropped, the next query opens another. */
  readonly onIdleError?: (err: Error) => void;
}

/**
 * The PostgreSQL driver (node-postgres): a pool of connections; a transaction holds one connection for its
 * statements, found again through the async context, and takes the writers' advisory lock at its start, so
 * the ledger's parts run one write transaction at a time across all gateways, as on SQLite. Statements
 * outside a transaction run on any connection, each committed alone. A connection lost mid-transaction fails
 * it (nothing of it is committed); the pool opens a new one for the next.
 */
export class PgDb implements SqlDb {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  readonly #scope = new AsyncLocalStorage<Tx>();
  readonly #names = new Map<string, { readonly name: string; readonly text: string; readonly params: readonly string[] }>();

  readonly #url: string;
  readonly #writers: pg.Pool;
  /** The leases held, released when the driver closes. */
  readonly #leases = new Set<() => Promise<void>>();

  constructor(o: PgDbOptions) {
    this.#url = o.url;
    // Bounded waits, so that one stuck gateway cannot hold the others: a statement ends within 30 s, a
    // transaction left idle (its gateway frozen or cut off) is ended by the server after 15 s, freeing the
    // writers' turn, and a writer waits at most 20 s for its turn (then its batch fails, and is resent).
    const common = { connectionString: o.url, types: TYPES, application_name: 'passerelle-gateway', keepAlive: true, statement_timeout: 30_000, idle_in_transaction_session_timeout: 15_000 };
    this.pool = new pg.Pool({ ...common, max: o.maxConnections ?? 10, connectionTimeoutMillis: 5000 });
    // Writers wait for their turn on connections of their own: readers (a terminal's key, a page) never
    // queue behind them.
    this.#writers = new pg.Pool({ ...common, max: 2, connectionTimeoutMillis: 30_000 });
    for (const p of [this.pool, this.#writers]) p.on('error', (err) => o.onIdleError?.(err));
  }

  get inTransaction(): boolean {
    const tx = this.#scope.getStore();
    return tx !== undefined && !tx.ended;
  }

  #client(): pg.Pool | pg.PoolClient {
    const tx = this.#scope.getStore();
    return tx && !tx.ended ? tx.client : this.pool;
  }

  prepare<P extends readonly unknown[] | object = unknown[], R = unknown>(sql: string): Query<P, R> {
    let q = this.#names.get(sql);
    if (!q) {
      const { text, names } = toPostgresSql(sql);
      q = { name: `q${this.#names.size + 1}`, text, params: names };
      this.#names.set(sql, q);
    }
    const { name, text, params } = q;
    const run = async (args: readonly unknown[]) => {
      const values = params.length > 0 ? params.map((p) => (args[0] as Record<string, unknown>)[p] ?? null) : args.map((a) => (a === undefined ? null : a));
      return this.#client().query({ name, text, values: values as unknown[] });
    };
    return {
      get: async (...args) => (await run(args)).rows[0] as R | undefined,
      all: async (...args) => (await run(args)).rows as R[],
      run: async (...args): Promise<RunResult> => ({ changes: (await run(args)).rowCount ?? 0 }),
    };
  }

  async transaction<T>(fn: () => Promise<T>, o: TransactionOptions = {}): Promise<T> {
    const outer = this.#scope.getStore();
    if (outer && !outer.ended) {
      const sp = `sp${++outer.depth}`;
      await outer.client.query(`SAVEPOINT ${sp}`);
      try {
        const value = await fn();
        await outer.client.query(`RELEASE SAVEPOINT ${sp}`);
        return value;
      } catch (e) {
        await outer.client.query(`ROLLBACK TO SAVEPOINT ${sp}`);
        throw e;
      } finally {
        outer.depth--;
      }
    }
    const client = await (o.exclusive === false ? this.pool : this.#writers).connect();
    const tx: Tx = { client, depth: 0, ended: false };
    let broken: Error | undefined;
    // A connection lost while checked out says so here (the pool listens only to idle ones); its query fails.
    const lost = (err: Error) => (broken = err);
    client.on('error', lost);
    try {
      await client.query(o.exclusive === false ? 'BEGIN' : `BEGIN; SET LOCAL lock_timeout = '20s'; SELECT pg_advisory_xact_lock(${WRITERS_LOCK})`);
      const value = await this.#scope.run(tx, fn);
      const done = await client.query('COMMIT');
      // PostgreSQL answers a COMMIT of a failed transaction with ROLLBACK, not an error.
      if (done.command !== 'COMMIT') throw new Error(`the transaction was rolled back (${done.command})`);
      return value;
    } catch (e) {
      await client.query('ROLLBACK').catch((err: Error) => (broken = err));
      throw e;
    } finally {
      tx.ended = true;
      client.off('error', lost);
      client.release(broken);
    }
  }

  /**
   * A session advisory lock on a connection of its own, held as long as that connection lives: if it
   * breaks (the database restarted, the network cut), PostgreSQL releases the lock and `lost` settles, so
   * another gateway can take it.
   */
  async lock(key: number): Promise<{ readonly lost: Promise<void>; release(): Promise<void> } | null> {
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000, query_timeout: 5000, keepAlive: true, application_name: 'passerelle-gateway-lease' });
    let ended!: () => void;
    const lost = new Promise<void>((r) => (ended = r));
    client.on('error', () => ended());
    client.on('end', () => ended());
    let held = false;
    try {
      await client.connect();
      held = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [key])).rows[0]?.ok === true;
    } finally {
      if (!held) await client.end().catch(() => undefined);
    }
    if (!held) return null;
    // The lease holds while this connection answers: a connection that stops answering (a cut network,
    // a NAT that forgot it) is given up within seconds, before the server frees the lock for another.
    const ping = setInterval(() => {
      client.query('SELECT 1').catch(() => {
        ended();
        void client.end().catch(() => undefined);
      });
    }, 2000);
    ping.unref();
    void lost.then(() => clearInterval(ping));
    let released = false;
    const release = async () => {
      released = true;
      clearInterval(ping);
      this.#leases.delete(release);
      await client.end().catch(() => undefined);
    };
    this.#leases.add(release);
    return { lost: lost.then(() => (released ? new Promise<void>(() => undefined) : undefined)), release };
  }

  async exec(sql: string): Promise<void> {
    await this.#client().query(sql);
  }

  async close(): Promise<void> {
    for (const release of [...this.#leases]) await release();
    await this.#writers.end();
    await this.pool.end();
  }
}
