/**
 * What the ledger's parts (gateway/ledger/sql/) ask of a SQL database: prepared statements answered as
 * promises, transactions that span `await`s, and which dialect it speaks. Two drivers: SQLite
 * (better-sqlite3, embedded default) and PostgreSQL (node-postgres, region scale). The parts write one SQL,
 * the subset both engines read alike; where they differ a part asks `dialect`.
 */
export type Dialect = 'sqlite' | 'postgres';

export interface RunResult {
  /** Rows the statement inserted, updated or deleted. */
  readonly changes: number;
}

/** Positional parameters, or one object of named ones (`@name` in the SQL). */
type Args<P> = P extends readonly unknown[] ? P : [P];

export interface Query<P extends readonly unknown[] | object = unknown[], R = unknown> {
  get(...params: Args<P>): Promise<R | undefined>;
  all(...params: Args<P>): Promise<R[]>;
  run(...params: Args<P>): Promise<RunResult>;
}

export interface TransactionOptions {
  /**
   * false: a transaction that does not take the writers' turn, for writes that commute with every other
   * (monotonic upserts: a terminal's contacts and presence). Default true.
   */
  readonly exclusive?: boolean;
}

export interface SqlDb {
  readonly dialect: Dialect;
  /** A statement, parsed once; `?` for positional parameters, `@name` for named ones. */
  prepare<P extends readonly unknown[] | object = unknown[], R = unknown>(sql: string): Query<P, R>;
  /**
   * `fn`'s statements as one transaction: all of them or none. Called inside one, a savepoint: its failure
   * undoes its own statements and travels on. Writers take turns (one transaction at a time, on every
   * gateway of a PostgreSQL ledger): the parts read, decide and write as the only writer, as on SQLite.
   */
  transaction<T>(fn: () => Promise<T>, o?: TransactionOptions): Promise<T>;
  /** True inside a transaction of this async context (what it reads may still be rolled back). */
  readonly inTransaction: boolean;
  /** Statements without parameters or results (schema). */
  exec(sql: string): Promise<void>;
  /** A lock held until released or until this process's link to the database breaks; null when held elsewhere. */
  lock(key: number): Promise<{ readonly lost: Promise<void>; release(): Promise<void> } | null>;
  close(): Promise<void>;
}

/**
 * SQLite's parameters in PostgreSQL's spelling: `?` becomes `$1`, `$2`…, `@name` becomes `$n` (one number
 * per name, in order of first use); quoted strings and identifiers are left alone. `names` lists the
 * named parameters in the order of their numbers.
 */
export function toPostgresSql(sql: string): { readonly text: string; readonly names: readonly string[] } {
  let out = '';
  let positional = 0;
  const names: string[] = [];
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated quote in SQL: ${sql.slice(i, i + 40)}`);
      out += sql.slice(i, end + 1);
      i = end;
    } else if (c === '?') {
      out += `$${++positional}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))![0];
      let n = names.indexOf(name);
      if (n < 0) n = names.push(name) - 1;
      out += `$${n + 1}`;
      i += name.length;
    } else {
      out += c;
    }
  }
  if (positional > 0 && names.length > 0) throw new Error('SQL mixes ? and @name parameters');
  return { text: out, names };
}
