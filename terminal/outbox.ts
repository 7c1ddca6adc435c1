import Database from 'better-sqlite3';
import type { Benefit, Unit } from '../protocol/benefits.ts';
import type { ConnectClaims, ConnectTokenStore } from '../protocol/connect-token.ts';
import { PasserelleError } from '../protocol/errors.ts';
import type { TerminalSettings } from '../protocol/terminal-settings.ts';
import { chainHash, GENESIS_HASH, type HotlistDoc, type HotlistReason } from '../protocol/offline.ts';
import type {
  GatewayTime,
  HotlistResult,
  HotlistState,
  Mode,
  OutboxEntry,
  OutboxState,
  OutboxStats,
  OutboxStore,
  PolicyState,
  RecordDraft,
  SaleEntry,
  SettleReply,
  VoidEntry,
} from './outbox-store.ts';

/**
 * The terminal's outbox on SQLite (the OutboxStore of outbox-store.ts): every record (a sale, or a void of an earlier online sale) is committed here
 * (SQLite, WAL, synchronous=FULL) before anything is sent or shown, so a sale the cashier saw exists on
 * disk whatever happens next. Each record keeps the exact signed bytes it was sent with: a resend is byte
 * for byte the same request, with the same id, and the gateway answers it with the original reply.
 *
 * Records are numbered 1, 2, 3… per terminal and chained: each carries the SHA-256 of the previous
 * record's message, so the gateway sees a missing or altered record. The next number and the chain's
 * head are read from the last record, so a commit writes one row and nothing else.
 *
 * The same file holds what the terminal needs to decide offline: the signed offline policy, the hotlist
 * (applied atomically, one transaction per document) and the last signed time heard from the gateway.
 */

/** How far ahead of the terminal's clock a recorded token time can be and still have been admitted (see `#tokenFloor`). */
const TOKEN_AHEAD_MAX_MS = 3_600_000;

/** A row of `records`: one table for both kinds, the columns of the other kind null (checked by the schema). */
interface Row {
  seq: number;
  txn_id: string;
  kind: OutboxEntry['kind'];
  mode: Mode | null;
  target: string | null;
  card: string | null;
  benefit: Benefit | null;
  unit: Unit | null;
  amount: number | null;
  created_at: number;
  frame: Buffer;
  msg_hash: string;
  state: OutboxState;
  status: 'approved' | 'declined' | 'void' | null;
  code: string | null;
  taken: number | null;
  guaranteed: number | null;
  reply: Buffer | null;
  voided_by: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS records (
  seq INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('sale', 'void')),
  mode TEXT CHECK (mode IN ('online', 'offline')),
  target TEXT,
  card TEXT,
  benefit TEXT,
  unit TEXT,
  amount INTEGER,
  created_at INTEGER NOT NULL,
  frame BLOB NOT NULL,
  msg_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'replied', 'rejected')),
  status TEXT CHECK (status IN ('approved', 'declined', 'void')),
  code TEXT,
  taken INTEGER,
  guaranteed INTEGER,
  reply BLOB,
  settled_at INTEGER,
  voided_by TEXT,
  CHECK ((kind = 'sale') = (mode IS NOT NULL AND card IS NOT NULL AND amount > 0)),
  CHECK ((kind = 'void') = (target IS NOT NULL))
) STRICT;
CREATE INDEX IF NOT EXISTS records_pending ON records(seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS records_offline_card ON records(card, created_at) WHERE mode = 'offline';
-- Cards refused offline, by the tag of their chip key (protocol/offline.ts hotlistTag), never by number.
CREATE TABLE IF NOT EXISTS hotlist_tags (tag TEXT PRIMARY KEY, reason TEXT NOT NULL) STRICT;
`;

/**
 * Outboxes written before the hotlist named cards by tag held it by card number (table \`hotlist\`): that
 * list is dropped and its version forgotten, so the terminal fetches the whole list again at its next
 * connection. Until then it holds no hotlist, and sells nothing offline (OFFLINE_HOTLIST_STALE).
 */
const HOTLIST_FORMAT = 2;

type LeftQueue = Pick<Row, 'mode' | 'unit' | 'amount'>;

interface Counts {
  pending: number;
  offlinePending: number;
  offlinePendingCents: number;
}

export class Outbox implements OutboxStore, ConnectTokenStore {
  readonly #db: Database.Database;
  readonly #maxPending: number;
  readonly #s;
  /**
   * What waits to be sent, kept in memory: counting the pending rows on every sale would cost a scan of
   * the whole backlog (10 ms a sale with 10,000 waiting). Updated with each write, and read again from the
   * table whenever a transaction fails, so it never drifts from what is on disk.
   */
  #counts: Counts = { pending: 0, offlinePending: 0, offlinePendingCents: 0 };
  /** The pushed settings, read once: the runtime asks at every timer it sets (a resend, a reply wait). */
  #settings: TerminalSettings | undefined | null = null;

  constructor(opts: { file: string; maxPending: number }) {
    this.#db = new Database(opts.file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.exec(SCHEMA);
    this.#upgradeHotlist();
    this.#maxPending = opts.maxPending;
    const db = this.#db;
    this.#s = {
      head: db.prepare<[], { seq: number; msg_hash: string }>('SELECT seq, msg_hash FROM records ORDER BY seq DESC LIMIT 1'),
      pendingCount: db.prepare<[], { n: number }>("SELECT count(*) AS n FROM records WHERE state = 'pending'"),
      oldestPending: db.prepare<[], { created_at: number }>("SELECT created_at FROM records WHERE state = 'pending' ORDER BY seq LIMIT 1"),
      offlinePending: db.prepare<[], { n: number; cents: number | null }>(
        "SELECT count(*) AS n, sum(CASE WHEN unit = 'cent' THEN amount ELSE 0 END) AS cents FROM records WHERE state = 'pending' AND mode = 'offline'",
      ),
      insert: db.prepare(
        `INSERT INTO records (seq, txn_id, kind, mode, target, card, benefit, unit, amount, created_at, frame, msg_hash, state)
         VALUES (@seq, @txn_id, @kind, @mode, @target, @card, @benefit, @unit, @amount, @created_at, @frame, @msg_hash, 'pending')`,
      ),
      markVoided: db.prepare("UPDATE records SET voided_by = ? WHERE txn_id = ? AND kind = 'sale' AND mode = 'online' AND voided_by IS NULL"),
      pending: db.prepare<[number, number], Row>("SELECT * FROM records WHERE state = 'pending' AND seq > ? ORDER BY seq LIMIT ?"),
      bySeq: db.prepare<[number], Row>('SELECT * FROM records WHERE seq = ?'),
      byTxn: db.prepare<[string], Row>('SELECT * FROM records WHERE txn_id = ?'),
      last: db.prepare<[], Row>("SELECT * FROM records WHERE kind = 'sale' ORDER BY seq DESC LIMIT 1"),
      recent: db.prepare<[number], Row>("SELECT * FROM records WHERE kind = 'sale' ORDER BY seq DESC LIMIT ?"),
      voidOf: db.prepare<[string], Row>("SELECT * FROM records WHERE kind = 'void' AND target = ? ORDER BY seq DESC LIMIT 1"),
      unvoided: db.prepare<[], Row>("SELECT * FROM records WHERE kind = 'sale' AND mode = 'online' AND state = 'pending' AND voided_by IS NULL ORDER BY seq"),
      // Both return the row they took off the queue (nothing for a duplicate), so the counts follow.
      settle: db.prepare<unknown[], LeftQueue>(
        "UPDATE records SET state = 'replied', status = ?, code = ?, taken = ?, guaranteed = ?, reply = ?, settled_at = ? WHERE txn_id = ? AND state = 'pending' RETURNING mode, unit, amount",
      ),
      reject: db.prepare<unknown[], LeftQueue>("UPDATE records SET state = 'rejected', code = ?, settled_at = ? WHERE txn_id = ? AND state = 'pending' RETURNING mode, unit, amount"),
      cardToday: db.prepare<[string, number], { n: number; cents: number | null }>(
        "SELECT count(*) AS n, sum(CASE WHEN unit = 'cent' THEN amount ELSE 0 END) AS cents FROM records WHERE card = ? AND mode = 'offline' AND created_at >= ?",
      ),
      metaGet: db.prepare<[string], { value: unknown }>('SELECT value FROM meta WHERE key = ?'),
      metaSet: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      hotlistGet: db.prepare<[string], { reason: HotlistReason }>('SELECT reason FROM hotlist_tags WHERE tag = ?'),
      hotlistPut: db.prepare('INSERT INTO hotlist_tags (tag, reason) VALUES (?, ?) ON CONFLICT (tag) DO UPDATE SET reason = excluded.reason'),
      hotlistDel: db.prepare('DELETE FROM hotlist_tags WHERE tag = ?'),
      hotlistClear: db.prepare('DELETE FROM hotlist_tags'),
    };
    this.#reloadCounts();
  }

  #upgradeHotlist(): void {
    const get = this.#db.prepare<[string], { value: unknown }>('SELECT value FROM meta WHERE key = ?');
    if (Number(get.get('hotlist_format')?.value ?? 0) === HOTLIST_FORMAT) return;
    this.#db.transaction(() => {
      this.#db.exec('DROP TABLE IF EXISTS hotlist; DELETE FROM hotlist_tags;');
      const set = this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
      set.run('hotlist_version', 0);
      set.run('hotlist_issued_at', 0);
      set.run('hotlist_format', HOTLIST_FORMAT);
    })();
  }

  #reloadCounts(): void {
    const o = this.#s.offlinePending.get()!;
    this.#counts = { pending: this.#s.pendingCount.get()!.n, offlinePending: o.n, offlinePendingCents: o.cents ?? 0 };
  }

  /** Run `fn` as a transaction; on failure the in-memory counts are read again from the table. */
  #tx<T>(fn: () => T): T {
    try {
      return this.#db.transaction(fn)();
    } catch (e) {
      this.#reloadCounts();
      throw e;
    }
  }

  /** A pending record left the queue (replied or rejected). */
  #leftQueue(r: LeftQueue): void {
    this.#counts.pending--;
    if (r.mode === 'offline') {
      this.#counts.offlinePending--;
      if (r.unit === 'cent') this.#counts.offlinePendingCents -= r.amount ?? 0;
    }
  }

  /** One durable transaction; OUTBOX_FULL when `maxPending` records are still unacknowledged (see RecordStore). */
  append(build: (seq: number, prev: string) => RecordDraft, opts: { ignoreLimit?: boolean } = {}): OutboxEntry {
    return this.#tx(() => {
      const n = this.#counts.pending;
      if (!opts.ignoreLimit && n >= this.#maxPending) throw new PasserelleError('OUTBOX_FULL', `${n} records wait to be sent (limit ${this.#maxPending})`);
      const head = this.#s.head.get();
      const seq = (head?.seq ?? 0) + 1;
      const d = build(seq, head?.msg_hash ?? GENESIS_HASH);
      this.#s.insert.run({ ...draftColumns(d), seq, txn_id: d.txnId, created_at: d.createdAt, frame: d.frame, msg_hash: chainHash(d.message) });
      if (d.kind === 'void' && !d.cancellation) this.#s.markVoided.run(d.txnId, d.target);
      this.#counts.pending++;
      if (d.kind === 'sale' && d.mode === 'offline') {
        this.#counts.offlinePending++;
        if (d.unit === 'cent') this.#counts.offlinePendingCents += d.amount;
      }
      return toEntry(this.#s.bySeq.get(seq)!);
    });
  }

  atomically<T>(fn: () => T): T {
    return this.#tx(fn);
  }

  pending(limit: number, afterSeq = 0): OutboxEntry[] {
    return this.#s.pending.all(afterSeq, limit).map(toEntry);
  }

  entry(txnId: string): OutboxEntry | undefined {
    const r = this.#s.byTxn.get(txnId);
    return r && toEntry(r);
  }

  bySeq(seq: number): OutboxEntry | undefined {
    const r = this.#s.bySeq.get(seq);
    return r && toEntry(r);
  }

  lastSale(): SaleEntry | undefined {
    const r = this.#s.last.get();
    return r && toSale(r);
  }

  voidOf(target: string): VoidEntry | undefined {
    const r = this.#s.voidOf.get(target);
    return r && (toEntry(r) as VoidEntry);
  }

  recentSales(limit: number): SaleEntry[] {
    return this.#s.recent.all(Math.min(Math.max(Math.trunc(limit), 1), 50)).map(toSale);
  }

  unvoidedOnline(): SaleEntry[] {
    return this.#s.unvoided.all().map(toSale);
  }

  settle(replies: readonly SettleReply[], at: number): string[] {
    if (replies.length === 0) return [];
    return this.#tx(() => {
      const fresh: string[] = [];
      for (const r of replies) {
        const c = replyColumns(r);
        const left = this.#s.settle.get(c.status, c.code, c.taken, c.guaranteed, r.reply, at, r.txnId);
        if (!left) continue;
        this.#leftQueue(left);
        fresh.push(r.txnId);
      }
      return fresh;
    });
  }

  /** A rejection (2xx code): see RecordStore. */
  reject(txnId: string, code: string, at: number): boolean {
    return this.#tx(() => {
      const left = this.#s.reject.get(code, at, txnId);
      if (left) this.#leftQueue(left);
      return left !== undefined;
    });
  }

  stats(): OutboxStats {
    const c = this.#counts;
    const oldest = c.pending > 0 ? (this.#s.oldestPending.get()?.created_at ?? null) : null;
    return { pending: c.pending, oldestPendingAt: oldest, offlinePending: c.offlinePending, offlinePendingCents: c.offlinePendingCents };
  }

  offlineSinceForCard(card: string, from: number): { count: number; cents: number } {
    const r = this.#s.cardToday.get(card, from)!;
    return { count: r.n, cents: r.cents ?? 0 };
  }

  // --- offline policy, hotlist, gateway time -------------------------------------------------------

  policy(): PolicyState | undefined {
    const v = this.#s.metaGet.get('policy')?.value;
    return typeof v === 'string' ? (JSON.parse(v) as PolicyState) : undefined;
  }

  setPolicy(p: PolicyState): boolean {
    const held = this.policy();
    if (held && held.version >= p.version) return false;
    this.#s.metaSet.run('policy', JSON.stringify(p));
    return true;
  }

  settings(): TerminalSettings | undefined {
    if (this.#settings === null) {
      const v = this.#s.metaGet.get('settings')?.value;
      this.#settings = typeof v === 'string' ? (JSON.parse(v) as TerminalSettings) : undefined;
    }
    return this.#settings;
  }

  setSettings(s: TerminalSettings): boolean {
    const held = this.settings();
    if (held && held.version >= s.version) return false;
    this.#s.metaSet.run('settings', JSON.stringify(s));
    this.#settings = s;
    return true;
  }

  hotlistState(): HotlistState {
    return {
      version: Number(this.#s.metaGet.get('hotlist_version')?.value ?? 0),
      issuedAt: Number(this.#s.metaGet.get('hotlist_issued_at')?.value ?? 0),
    };
  }

  hotlisted(tag: string): HotlistReason | null {
    return this.#s.hotlistGet.get(tag)?.reason ?? null;
  }

  /** One transaction per document (see TrustStore). */
  applyHotlist(doc: HotlistDoc['body']): HotlistResult {
    return this.#db.transaction(() => {
      const held = this.hotlistState();
      if (doc.version < held.version) return 'stale';
      if (doc.version === held.version) {
        if (doc.issuedAt <= held.issuedAt) return 'stale';
        this.#s.metaSet.run('hotlist_issued_at', doc.issuedAt);
        return 'refreshed';
      }
      if (!doc.full && doc.base > held.version) return 'needs-full';
      if (doc.full) this.#s.hotlistClear.run();
      for (const e of doc.entries) {
        if (e.reason === null) this.#s.hotlistDel.run(e.tag);
        else this.#s.hotlistPut.run(e.tag, e.reason);
      }
      this.#s.metaSet.run('hotlist_version', doc.version);
      this.#s.metaSet.run('hotlist_issued_at', doc.issuedAt);
      return 'applied';
    })();
  }

  gatewayTime(): GatewayTime | undefined {
    const v = this.#s.metaGet.get('gateway_time')?.value;
    return typeof v === 'string' ? (JSON.parse(v) as GatewayTime) : undefined;
  }

  /** Remember the latest signed gateway time heard (and this terminal's clock at that moment). */
  setGatewayTime(t: GatewayTime): void {
    this.#s.metaSet.run('gateway_time', JSON.stringify(t));
  }

  /**
   * What the terminal claims in its next connect token (protocol/connect-token.ts): a time strictly later
   * than the last token the broker admitted, even if its clock went back (kept on disk), and its last
   * record's number. Any record appended after this call gets a higher number.
   *
   * Only admitted tokens count: the gateway judges freshness against those alone. A token refused for its
   * time (a clock days ahead) must not hold the next ones back once the clock is set right, or the
   * terminal would stay refused for those days.
   */
  connectClaims(now: number): ConnectClaims {
    const ms = Math.max(now, this.#tokenFloor(now) + 1);
    // Sent from here on: if no answer comes (a timeout, a reset, a power cut), it may have been admitted.
    this.#s.metaSet.run('connect_sent_ms', ms);
    return { ms, head: this.#s.head.get()?.seq ?? 0 };
  }

  connectAdmitted(ms: number): void {
    if (ms > this.#meta('connect_admitted_ms')) this.#s.metaSet.run('connect_admitted_ms', ms);
  }

  connectRefused(ms: number): void {
    if (this.#meta('connect_sent_ms') === ms) this.#s.metaSet.run('connect_sent_ms', 0);
  }

  /**
   * The latest token time the gateway may have admitted: the last admitted, or the last sent that got no
   * refusal (outboxes from before kept only the last made). A time more than an hour ahead of this clock is
   * left out: the gateway admits a token only within its age window of its own clock, so with this clock
   * right such a token was refused, and keeping it would hold the terminal out for as long as the clock
   * had been ahead (days, after a clock set wrong and then corrected).
   */
  #tokenFloor(now: number): number {
    const sent = this.#s.metaGet.get('connect_sent_ms') === undefined ? this.#meta('connect_token_ms') : this.#meta('connect_sent_ms');
    const plausible = (t: number) => (t <= now + TOKEN_AHEAD_MAX_MS ? t : 0);
    return Math.max(plausible(this.#meta('connect_admitted_ms')), plausible(sent));
  }

  #meta(key: string): number {
    return Number(this.#s.metaGet.get(key)?.value ?? 0);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/** The columns only one kind fills: the other kind's stay null. */
function draftColumns(d: RecordDraft): Pick<Row, 'kind' | 'mode' | 'target' | 'card' | 'benefit' | 'unit' | 'amount'> {
  if (d.kind === 'void') return { kind: 'void', mode: null, target: d.target, card: null, benefit: null, unit: null, amount: null };
  return { kind: 'sale', mode: d.mode, target: null, card: d.card, benefit: d.benefit, unit: d.unit, amount: d.amount };
}

/** A void's reply is kept as a sale's would be: status `void`, its result as the code. */
function replyColumns(r: SettleReply): Pick<Row, 'status' | 'code' | 'taken' | 'guaranteed'> {
  if (r.kind === 'void') return { status: 'void', code: r.result, taken: null, guaranteed: null };
  return { status: r.status, code: r.code, taken: r.taken, guaranteed: r.guaranteed };
}

function toEntry(r: Row): OutboxEntry {
  if (r.kind === 'sale') return toSale(r);
  const { seq, txn_id: txnId, created_at: createdAt, frame, state, code, reply } = r;
  return { kind: 'void', seq, txnId, target: r.target!, createdAt, frame, state, code, reply };
}

/**
 * The schema's checks guarantee a sale's mode, card and amount; its benefit and unit are always written
 * with them. A sale is answered by a debit reply (approved or declined): a void's own id is never a sale's.
 */
function toSale(r: Row): SaleEntry {
  const { seq, txn_id: txnId, created_at: createdAt, frame, state, code, reply, taken, guaranteed } = r;
  return {
    kind: 'sale',
    seq,
    txnId,
    mode: r.mode!,
    card: r.card!,
    benefit: r.benefit!,
    unit: r.unit!,
    amount: r.amount!,
    createdAt,
    frame,
    state,
    status: r.status === 'void' ? null : r.status,
    code,
    taken,
    guaranteed,
    reply,
    voidedBy: r.voided_by,
  };
}
