import Database from 'better-sqlite3';
import { join } from 'node:path';
import { silentLogger } from '../common/log.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../gateway/broker.ts';
import { NodeVerifier } from '../protocol/crypto.ts';
import { parseTerminalTopic, REQUEST_FILTER, replyTopic } from '../protocol/topics.ts';

/**
 * The bare pipeline: the least a signed, durable debit can cost on this machine, measured in the same run
 * as ours so that their ratio means something on a shared machine whose speed swings from week to week.
 *
 * The same shapes as the real path and nothing more: a direct frame (protocol/frame.ts, `encodeDirect`:
 * `S1.<signature>.<message>`) whose message is a fixed binary body instead of JSON, signed by the terminal with node:crypto → the same embedded broker (aedes behind our
 * guard, TCP_NODELAY, its bounded bus) → one node:crypto verification on the thread pool → SQLite group
 * commit (WAL, synchronous=FULL, everything that arrived in one turn of the event loop: a select, a
 * conditional update and a journal insert per debit) → an unsigned binary reply at QoS 0. No rules, no
 * JSON, no card proof, no reply signature, no idempotency beyond the journal's unique key.
 *
 * Body (BARE_BODY_BYTES): txn id (16 bytes) | card index (u32 BE) | amount in cents (u32 BE).
 * Reply: txn id (16 bytes) | status (1 byte: 1 approved, 0 declined) | balance after (u32 BE).
 */

export const BARE_BODY_BYTES = 24;
export const BARE_REPLY_BYTES = 21;
/** `S1.`, the signature in base64url (86 characters), `.`: the direct frame's header. */
const HEADER_BYTES = 3 + 86 + 1;

export interface BareGateway {
  readonly url: string;
  /** Debits committed and answered (approved or declined), and group commits. */
  readonly stats: { answered: number; batches: number };
  /** Audit: the sum of balances and journal equals what was loaded, every journal row once. */
  audit(): string[];
  close(): Promise<void>;
}

export async function startBareGateway(o: { dir: string; cards: number; cents: number; terminals: ReadonlyMap<string, Uint8Array> }): Promise<BareGateway> {
  const db = new Database(join(o.dir, 'bare.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('cache_size = -65536');
  db.exec(`
    CREATE TABLE wallets (card INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
    CREATE TABLE journal (id INTEGER PRIMARY KEY, txn BLOB NOT NULL UNIQUE, card INTEGER NOT NULL, amount INTEGER NOT NULL, at INTEGER NOT NULL);
  `);
  const insertWallet = db.prepare('INSERT INTO wallets (card, balance) VALUES (?, ?)');
  db.transaction(() => {
    for (let i = 0; i < o.cards; i++) insertWallet.run(i, o.cents);
  })();
  const select = db.prepare<[number], { balance: number }>('SELECT balance FROM wallets WHERE card = ?');
  const debit = db.prepare('UPDATE wallets SET balance = balance - ? WHERE card = ? AND balance >= ?');
  const journal = db.prepare('INSERT INTO journal (txn, card, amount, at) VALUES (?, ?, ?, ?)');

  const { host, connectTokenMaxAgeS: _age, publicUrl: _url, tls: _tls, port: _port, ...limits } = loadGatewayConfig(undefined, { log: { level: 'silent' } }).mqtt;
  const broker: EmbeddedBroker = await startEmbeddedBroker({ host, port: 0, limits, log: silentLogger, authenticate: async (id) => (o.terminals.has(id) ? 'ok' : 'not-authorized') });
  const verifier = new NodeVerifier();
  const stats = { answered: 0, batches: 0 };
  type Pending = { readonly terminalId: string; readonly body: Buffer };
  let batch: Pending[] = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const items = batch;
    batch = [];
    const replies: [string, Buffer][] = [];
    const at = Date.now();
    db.transaction(() => {
      for (const { terminalId, body } of items) {
        const card = body.readUInt32BE(16);
        const amount = body.readUInt32BE(20);
        const before = select.get(card)?.balance ?? 0;
        const ok = before >= amount && debit.run(amount, card, amount).changes === 1;
        if (ok) journal.run(body.subarray(0, 16), card, amount, at);
        const reply = Buffer.alloc(BARE_REPLY_BYTES);
        body.copy(reply, 0, 0, 16);
        reply[16] = ok ? 1 : 0;
        reply.writeUInt32BE(ok ? before - amount : before, 17);
        replies.push([replyTopic(terminalId), reply]);
      }
    })();
    stats.batches++;
    stats.answered += replies.length;
    for (const [topic, payload] of replies) broker.link.publish(topic, payload);
  };

  await broker.link.subscribe(REQUEST_FILTER, (topic, payload) => {
    const t = parseTerminalTopic(topic);
    const key = t && o.terminals.get(t.terminalId);
    if (!t || !key) return;
    if (payload.length !== HEADER_BYTES + BARE_BODY_BYTES || payload.toString('latin1', 0, 3) !== 'S1.') return;
    const signature = Buffer.from(payload.toString('latin1', 3, HEADER_BYTES - 1), 'base64url');
    const body = payload.subarray(HEADER_BYTES);
    void verifier.verifyAsync(body, signature, key).then((ok) => {
      if (!ok) return;
      batch.push({ terminalId: t.terminalId, body });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  });

  return {
    url: `mqtt://${host}:${broker.port}`,
    stats,
    audit() {
      const problems: string[] = [];
      const left = (db.prepare('SELECT COALESCE(SUM(balance), 0) AS s FROM wallets').get() as { s: number }).s;
      const spent = (db.prepare('SELECT COALESCE(SUM(amount), 0) AS s FROM journal').get() as { s: number }).s;
      if (left + spent !== o.cards * o.cents) problems.push(`bare pipeline: balances ${left} + journal ${spent} ≠ loaded ${o.cards * o.cents}`);
      return problems;
    },
    async close() {
      await broker.close();
      db.close();
    },
  };
}
