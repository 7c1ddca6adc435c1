import Database from 'better-sqlite3';
import { PasserelleError } from '../protocol/errors.ts';

/**
 * The terminal's outbox: every sale is committed here (SQLite, WAL, synchronous=FULL) before anything is
 * sent or shown, so a sale the cashier saw exists on disk whatever happens next. Each record keeps the
 * exact signed bytes it was sent with: a resend is byte for byte the same request, with the same id, and
 * the gateway answers it with the original reply.
 *
 * Sequence numbers come from a counter that never goes back, even if old records are pruned one day.
 */

export type OutboxState = 'pending' | 'replied' | 'rejected';

export interface OutboxEntry {
  readonly seq: number;
  readonly txnId: string;
  readonly createdAt: number;
  readonly frame: Buffer;
  readonly state: OutboxState;
  readonly status: 'approved' | 'declined' | null;
  readonly code: string | null;
  /** The verified reply message (JSON bytes), once replied. */
  readonly reply: Buffer | null;
}

interface Row {
  seq: number;
  txn_id: string;
  created_at: number;
  frame: Buffer;
  state: OutboxState;
  status: 'approved' | 'declined' | null;
  code: string | null;
  reply: Buffer | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  frame BLOB NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'replied', 'rejected')),
  status TEXT CHECK (status IN ('approved', 'declined')),
  code TEXT,
  reply BLOB,
  settled_at INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(seq) WHERE state = 'pending';
`;

export interface OutboxDraft {
  readonly txnId: string;
  readonly createdAt: number;
  readonly frame: Buffer;
}

export class Outbox {
  readonly #db: Database.Database;
  readonly #maxPending: number;
  readonly #s;

  constructor(opts: { file: string; maxPending: number }) {
    this.#db = new Database(opts.file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.exec(SCHEMA);
    this.#maxPending = opts.maxPending;
    const db = this.#db;
    this.#s = {
      nextSeq: db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'next_seq'"),
      bumpSeq: db.prepare("UPDATE meta SET value = value + 1 WHERE key = 'next_seq'"),
      pendingCount: db.prepare<[], { n: number; oldest: number | null }>("SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE state = 'pending'"),
      insert: db.prepare("INSERT INTO outbox (seq, txn_id, created_at, frame, state) VALUES (?, ?, ?, ?, 'pending')"),
      pending: db.prepare<[number], Row>("SELECT * FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?"),
      byTxn: db.prepare<[string], Row>('SELECT * FROM outbox WHERE txn_id = ?'),
      settle: db.prepare("UPDATE outbox SET state = 'replied', status = ?, code = ?, reply = ?, settled_at = ? WHERE txn_id = ? AND state = 'pending'"),
      reject: db.prepare("UPDATE outbox SET state = 'rejected', code = ?, settled_at = ? WHERE txn_id = ? AND state = 'pending'"),
    };
  }

  /**
   * Allocate the next sequence number, let `build` sign the request with it, and commit the record — one
   * durable transaction. Refuses with OUTBOX_FULL when `maxPending` requests are still unacknowledged.
   */
  append(build: (seq: number) => OutboxDraft): OutboxEntry {
    return this.#db.transaction(() => {
      const { n } = this.#s.pendingCount.get()!;
      if (n >= this.#maxPending) throw new PasserelleError('OUTBOX_FULL', `${n} requests wait to be sent (limit ${this.#maxPending})`);
      const seq = this.#s.nextSeq.get()!.value;
      const d = build(seq);
      this.#s.insert.run(seq, d.txnId, d.createdAt, d.frame);
      this.#s.bumpSeq.run();
      return { seq, txnId: d.txnId, createdAt: d.createdAt, frame: d.frame, state: 'pending' as const, status: null, code: null, reply: null };
    })();
  }

  /** The oldest unacknowledged requests, in sequence order. */
  pending(limit: number): OutboxEntry[] {
    return this.#s.pending.all(limit).map(toEntry);
  }

  entry(txnId: string): OutboxEntry | undefined {
    const r = this.#s.byTxn.get(txnId);
    return r && toEntry(r);
  }

  /** Record the gateway's verified reply; false if the request was not pending (a duplicate reply). */
  settle(txnId: string, status: 'approved' | 'declined', code: string | null, reply: Buffer, at: number): boolean {
    return this.#s.settle.run(status, code, reply, at, txnId).changes === 1;
  }

  /** Record a rejection (2xx): the request will not be resent. */
  reject(txnId: string, code: string, at: number): boolean {
    return this.#s.reject.run(code, at, txnId).changes === 1;
  }

  stats(): { pending: number; oldestPendingAt: number | null } {
    const r = this.#s.pendingCount.get()!;
    return { pending: r.n, oldestPendingAt: r.oldest };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function toEntry(r: Row): OutboxEntry {
  return { seq: r.seq, txnId: r.txn_id, createdAt: r.created_at, frame: r.frame, state: r.state, status: r.status, code: r.code, reply: r.reply };
}
