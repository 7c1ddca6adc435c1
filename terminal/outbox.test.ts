import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { Outbox } from './outbox.ts';
import { outboxContract, type OutboxHarness } from './outbox.contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-outbox-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;

/** Each harness its own file; `reopen` closes the outbox and opens the same file again. */
function sqliteHarness(): OutboxHarness {
  const file = join(dir, `contract-${++files}.sqlite`);
  const opened: Outbox[] = [];
  let maxPending = 0;
  const open = () => {
    const o = new Outbox({ file, maxPending });
    opened.push(o);
    return o;
  };
  return {
    open: (max) => {
      maxPending = max;
      return open();
    },
    reopen: () => {
      opened.at(-1)?.close();
      return open();
    },
    close: () => {
      for (const o of opened) o.close();
    },
  };
}

outboxContract('SQLite', sqliteHarness);

describe('outbox', () => {
  it('an outbox from before the tagged hotlist forgets its list of card numbers, so the whole list is fetched again', () => {
    const file = join(dir, 'old.sqlite');
    const db = new Database(file);
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
      CREATE TABLE hotlist (card TEXT PRIMARY KEY, reason TEXT NOT NULL) STRICT;
      INSERT INTO hotlist VALUES ('8250123456789049', 'opposed');
      INSERT INTO meta VALUES ('hotlist_version', 7), ('hotlist_issued_at', 1700000000000);`);
    db.close();
    const o = new Outbox({ file, maxPending: 10 });
    expect(o.hotlistState()).toEqual({ version: 0, issuedAt: 0 });
    expect(o.hotlisted('8250123456789049')).toBeNull();
    o.applyHotlist({ full: true, base: 0, version: 8, issuedAt: 1_700_000_001_000, entries: [{ tag: 'A'.repeat(22), reason: 'opposed' }] });
    o.close();
    // Reopened: the tagged list stays.
    const again = new Outbox({ file, maxPending: 10 });
    expect(again.hotlistState().version).toBe(8);
    expect(again.hotlisted('A'.repeat(22))).toBe('opposed');
    again.close();
    const raw = new Database(file);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'hotlist'").get()).toBeUndefined();
    raw.close();
  });

  it('connect claims: a time later than the last admitted token, even with the clock set back, and the outbox head', () => {
    const o = new Outbox({ file: join(dir, 'claims.sqlite'), maxPending: 10 });
    expect(o.connectClaims(1000)).toEqual({ ms: 1000, head: 0 });
    o.connectAdmitted(1000);
    expect(o.connectClaims(1000)).toEqual({ ms: 1001, head: 0 });
    o.connectAdmitted(1001);
    expect(o.connectClaims(500)).toEqual({ ms: 1002, head: 0 });
    o.close();
    // Reopened: the token of 1002 got no answer before the close, so it may have been admitted.
    const reopened = new Outbox({ file: join(dir, 'claims.sqlite'), maxPending: 10 });
    expect(reopened.connectClaims(900).ms).toBe(1003);
    reopened.close();
  });

  it('connect claims: a token refused for its time (a clock days ahead) does not hold back the next ones once the clock is set', () => {
    const o = new Outbox({ file: join(dir, 'ahead.sqlite'), maxPending: 10 });
    o.connectAdmitted(1000);
    const ahead = 1000 + 3 * 86_400_000;
    expect(o.connectClaims(ahead).ms).toBe(ahead);
    o.connectRefused(ahead); // CONNACK 4: never admitted
    expect(o.connectClaims(2000).ms).toBe(2000);
    o.connectAdmitted(500); // an older admission never lowers the bound
    o.connectRefused(2000);
    expect(o.connectClaims(1500).ms).toBe(1500);
    o.close();
  });

  it('connect claims: a token sent and never answered may have been admitted, so the next one claims a later time', () => {
    const o = new Outbox({ file: join(dir, 'unanswered.sqlite'), maxPending: 10 });
    o.connectAdmitted(1000);
    expect(o.connectClaims(5000).ms).toBe(5000); // the CONNACK is lost: admitted or not, nobody knows
    // The clock went back meanwhile: the next token still claims later than the unanswered one.
    expect(o.connectClaims(4000).ms).toBe(5001);
    o.close();
  });

  it('connect claims: an outbox from before holding a token time days ahead (a clock set wrong) does not keep the terminal out', () => {
    const file = join(dir, 'legacy-ahead.sqlite');
    new Outbox({ file, maxPending: 10 }).close();
    const now = Date.parse('2026-12-07T10:00:00Z');
    const raw = new Database(file);
    raw.prepare("INSERT INTO meta (key, value) VALUES ('connect_token_ms', ?)").run(now + 3 * 86_400_000);
    raw.close();
    const o = new Outbox({ file, maxPending: 10 });
    expect(o.connectClaims(now).ms).toBe(now);
    // A legacy time within the hour still bounds the next token.
    o.close();
    const raw2 = new Database(file);
    raw2.prepare("DELETE FROM meta WHERE key = 'connect_sent_ms'").run();
    raw2.prepare("UPDATE meta SET value = ? WHERE key = 'connect_token_ms'").run(now + 60_000);
    raw2.close();
    const again = new Outbox({ file, maxPending: 10 });
    expect(again.connectClaims(now).ms).toBe(now + 60_001);
    again.close();
  });
});
