import { AsyncLocalStorage } from 'node:async_hooks';
import type Database from 'better-sqlite3';
import type { Query, RunResult, SqlDb, TransactionOptions } from './db.ts';

interface Tx {
  /** Savepoints open inside it. */
  depth: number;
  readonly done: Promise<void>;
}

/**
 * The SQLite driver: better-sqlite3 answers at once, so a statement is one synchronous step. A
 * transaction, though, spans the `await`s of the part that runs it, and one connection serves every
 * request of the gateway: while it is open, statements from anywhere else wait for its end, so nothing
 * another request writes can land inside it (and be undone by its rollback) or read what it has not
 * committed. Work started inside a transaction that outlives it (a timer) carries its mark, which then
 * matches nothing.
 */
export class SqliteDb implements SqlDb {
  readonly dialect = 'sqlite' as const;
  readonly raw: Database.Database;
  readonly #scope = new AsyncLocalStorage<Tx>();
  #open: Tx | undefined;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(raw: Database.Database) {
    this.raw = raw;
  }

  get inTransaction(): boolean {
    return this.#open !== undefined && this.#scope.getStore() === this.#open;
  }

  /** Resolves when this context may run a statement: at once unless another context's transaction is open. */
  #turn(): Promise<void> | undefined {
    if (this.#open === undefined || this.#scope.getStore() === this.#open) return undefined;
    return this.#open.done.then(() => this.#turn());
  }

  prepare<P extends readonly unknown[] | object = unknown[], R = unknown>(sql: string): Query<P, R> {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.raw.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    const s = stmt;
    // The turn is checked again right before the statement: a transaction that was waiting too may have
    // opened in between, and this statement must not run inside it.
    const when = <T>(step: () => T): Promise<T> => {
      const wait = this.#turn();
      if (wait) return wait.then(() => when(step));
      try {
        return Promise.resolve(step());
      } catch (e) {
        return Promise.reject(e);
      }
    };
    return {
      get: (...params) => when(() => s.get(...(params as unknown[])) as R | undefined),
      all: (...params) => when(() => s.all(...(params as unknown[])) as R[]),
      run: (...params) => when((): RunResult => ({ changes: s.run(...(params as unknown[])).changes })),
    };
  }

  /** One connection: every transaction is exclusive (`o` changes nothing here). */
  async transaction<T>(fn: () => Promise<T>, _o?: TransactionOptions): Promise<T> {
    const mine = this.#scope.getStore();
    if (this.#open !== undefined && mine === this.#open) {
      const name = `sp${++mine.depth}`;
      this.raw.exec(`SAVEPOINT ${name}`);
      try {
        const value = await fn();
        this.raw.exec(`RELEASE ${name}`);
        return value;
      } catch (e) {
        this.raw.exec(`ROLLBACK TO ${name}`);
        this.raw.exec(`RELEASE ${name}`);
        throw e;
      } finally {
        mine.depth--;
      }
    }
    while (this.#open) await this.#open.done;
    let release!: () => void;
    const tx: Tx = { depth: 0, done: new Promise<void>((r) => (release = r)) };
    this.#open = tx;
    try {
      return await this.#scope.run(tx, async () => {
        this.raw.exec('BEGIN IMMEDIATE');
        try {
          const value = await fn();
          this.raw.exec('COMMIT');
          return value;
        } catch (e) {
          if (this.raw.inTransaction) this.raw.exec('ROLLBACK');
          throw e;
        }
      });
    } finally {
      this.#open = undefined;
      release();
    }
  }

  /** One gateway process per SQLite file: every lock is this process's. */
  async lock(_key: number): Promise<{ readonly lost: Promise<void>; release(): Promise<void> } | null> {
    return { lost: new Promise<void>(() => undefined), release: async () => undefined };
  }

  async exec(sql: string): Promise<void> {
    for (let wait = this.#turn(); wait; wait = this.#turn()) await wait;
    this.raw.exec(sql);
  }

  async close(): Promise<void> {
    while (this.#open) await this.#open.done;
    if (this.raw.open) this.raw.close();
  }
}
