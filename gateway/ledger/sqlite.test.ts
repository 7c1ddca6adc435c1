import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { requestFingerprint } from '../../protocol/debit.ts';
import { thrown } from '../../tests/helpers/errors.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import { defaultWindows } from '../campaigns.ts';
import { ledgerContract } from './ledger.contract.ts';
import { fallbackRecordHash } from './ledger.ts';
import { SqliteLedger } from './sqlite.ts';
import { SCHEMA_VERSION } from './sqlite-schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

ledgerContract('sqlite in memory', (rules) => new SqliteLedger({ file: ':memory:', ...(rules ? { rules } : {}) }));
ledgerContract('sqlite file', (rules) => new SqliteLedger({ file: join(dir, `ledger-${++n}.sqlite`), ...(rules ? { rules } : {}) }));

const NOW = Date.parse('2022-10-03T10:00:00+02:00');
const CARD = cardNumberFrom('100000000000001');

async function seeded(file: string): Promise<SqliteLedger> {
  const l = new SqliteLedger({ file });
  await l.addCampaign({ id: '2022-2023', windows: defaultWindows('2022-2023') });
  await l.addPartner({ id: 'P-1', name: 'x', type: 'bookshop', conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
  await l.addTerminal({ id: 'T-1', partnerId: 'P-1', publicKey: new Uint8Array(32) });
  await l.issueCard({ number: CARD, holder: 'A', pinHash: null, at: NOW - 30 * 86_400_000 });
  await l.load({ cardNumber: CARD, benefit: 'LEISURE_BOOKS', campaign: '2022-2023', amount: 1500, at: NOW - 30 * 86_400_000 });
  return l;
}

describe('sqlite ledger durability settings', () => {
  it('opens files in WAL mode with synchronous=FULL and keeps data across reopen', async () => {
    const file = join(dir, 'reopen.sqlite');
    const a = new SqliteLedger({ file });
    await a.addPartner({ id: 'P-1', name: 'x', type: 'cinema', conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
    await a.close();
    const b = new SqliteLedger({ file });
    expect(b.pragmas()).toEqual({ journal_mode: 'wal', synchronous: 2 });
    expect((await b.counts()).partners).toBe(1);
    await b.close();
  });

  it('refuses a schema version 2 file (demo data only) with a clear DATA_INVALID', async () => {
    const file = join(dir, 'v2.sqlite');
    const db = new Database(file);
    db.pragma('user_version = 2');
    db.close();
    const e = await thrown(() => new SqliteLedger({ file }));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.message).toMatch(/version 2 .*delete the data directory/);
  });

  it('upgrades a version 3 ledger in place through every later version, keeping its data, in one transaction', async () => {
    const file = join(dir, 'v3.sqlite');
    const db = new Database(file);
    db.exec(readFileSync(new URL('../../tests/fixtures/ledger-schema-v3.sql', import.meta.url), 'utf8'));
    db.prepare("INSERT INTO api_tokens (token_hash, name, role, created_at) VALUES ('ab', 'Région', 'operator', 1)").run();
    // An offline sale settled under version 3: its table is rebuilt with the record's sequence number.
    db.exec(`INSERT INTO partners (id, name, type, convention_from, convention_to) VALUES ('P-1', 'x', 'bookshop', '2022-06-01', '2027-05-31');
      INSERT INTO terminals (id, partner_id, public_key) VALUES ('T-1', 'P-1', zeroblob(32));
      INSERT INTO requests (txn_id, terminal_id, seq, fingerprint, status, mode, reply, decided_at, msg_hash, prev) VALUES ('t-1', 'T-1', 7, 'f', 'declined', 'offline', x'7b7d', 5, 'h', 'p');
      INSERT INTO offline_sales (txn_id, terminal_id, card_number, benefit, unit, amount, guaranteed, breach, sale_at, recorded_at) VALUES ('t-1', 'T-1', '${CARD}', 'LEISURE_BOOKS', 'cent', 100, 0, 'amount', 4, 5);
      INSERT INTO accounts (id, code, kind, unit, debits, credits) VALUES (1, 'funding:x', 'funding', 'cent', 250, 0), (2, 'fees:cent', 'fees', 'cent', 0, 250);
      INSERT INTO transfers (id, txn_id, kind, debit_account, credit_account, amount, unit, at) VALUES (9, NULL, 'fee', 1, 2, 250, 'cent', 6);
      INSERT INTO dossiers (id, holder) VALUES ('DOS-1', 'Zoé Faure');
      INSERT INTO cards (number, dossier_id, issued_at) VALUES ('${CARD}', 'DOS-1', 1);`);
    db.pragma('user_version = 3');
    db.close();
    const l = new SqliteLedger({ file });
    expect(await l.apiToken('ab')).toMatchObject({ name: 'Région', role: 'operator' });
    expect(await l.offlineReport()).toMatchObject({ offlineSales: 1, breaches: 1, flaggedTerminals: [{ terminalId: 'T-1', breaches: 1, kinds: { amount: 1 } }] });
    // What version 4 added works on the upgraded file.
    expect(await l.revokeDemoTokens(2)).toBe(0);
    await l.addAudit({ at: 3, actor: 'test', action: 'x', subject: 'y', details: null });
    // Version 5 indexed the names already there for the card search.
    expect((await l.searchCards({ holder: 'zoe faure' }, 5)).map((c) => c.number)).toEqual([CARD]);
    expect(await l.auditLog({ limit: 5 })).toHaveLength(1);
    await l.close();
    const after = new Database(file);
    expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(after.prepare('SELECT seq FROM offline_sales').get()).toEqual({ seq: 7 });
    // Version 5 rebuilt the journal for the 'restore' kind: every transfer kept with its id.
    expect(after.prepare('SELECT id, kind, amount FROM transfers').all()).toEqual([{ id: 9, kind: 'fee', amount: 250 }]);
    expect(after.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'transfers' ORDER BY name").all().map((r) => (r as { name: string }).name)).toEqual([
      'expiry_by_wallet',
      'restore_by_wallet',
      'transfer_txn',
    ]);
    after.close();
  });

  it("keeps each terminal's sequence state across reopen, and none from a rolled-back batch", async () => {
    const file = join(dir, 'sync.sqlite');
    const a = await seeded(file);
    const b1 = debitBody({ terminalId: 'T-1', cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 1 });
    await a.commitDebits([debitItem(b1)], NOW);
    // A batch that fails after its first record: nothing of it stays, not even in the cached sequence state.
    const b2 = debitBody({ terminalId: 'T-1', cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 2, prev: fallbackRecordHash(requestFingerprint(b1)) });
    const orphan = debitBody({ terminalId: 'T-NOWHERE-1', cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 1 });
    expect((await thrown(async () => await a.commitDebits([debitItem(b2), debitItem(orphan)], NOW))).code).toBe('LEDGER_FAILED');
    expect(await a.terminalSync('T-1')).toMatchObject({ nextSeq: 2, maxSeq: 1, chainBreaks: 0 });
    await a.close();
    const b = new SqliteLedger({ file });
    // In order after the reopen: the head hash came back from the file, so no chain break.
    await b.commitDebits([debitItem(b2)], NOW);
    expect(await b.terminalSync('T-1')).toEqual({ terminalId: 'T-1', nextSeq: 3, maxSeq: 2, missing: [], chainBreaks: 0 });
    expect(await b.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1300);
    expect(await b.audit()).toEqual([]);
    await b.close();
  });

  it('keeps no sequence state from a batch inside an outer transaction that rolls back', async () => {
    const l = await seeded(':memory:');
    const b1 = debitBody({ terminalId: 'T-1', cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 1 });
    await expect(
      l.atomically(async () => {
        await l.commitDebits([debitItem(b1)], NOW);
        throw new Error('outer failure');
      }),
    ).rejects.toThrow('outer failure');
    expect(await l.terminalSync('T-1')).toMatchObject({ nextSeq: 1, maxSeq: 0 });
    await l.commitDebits([debitItem(b1)], NOW);
    expect(await l.terminalSync('T-1')).toMatchObject({ nextSeq: 2, maxSeq: 1, chainBreaks: 0 });
    await l.close();
  });

  it('runs a read that waited for one transaction outside the next one too: nothing uncommitted is read or cached', async () => {
    const l = await seeded(':memory:');
    await l.setTerminalActive('T-1', false);
    let release!: () => void;
    const first = l.atomically(async () => {
      await new Promise<void>((r) => (release = r));
    });
    await Promise.resolve();
    // Queued in this order: a lookup (a broker connect), then an operator's switch-on that fails.
    const read = l.terminal('T-1');
    const second = l.atomically(async () => {
      await l.setTerminalActive('T-1', true);
      throw new Error('undone');
    });
    release();
    await first;
    await expect(second).rejects.toThrow('undone');
    expect((await read)?.active).toBe(false);
    expect((await l.terminal('T-1'))?.active).toBe(false);
    await l.close();
  });

  it('holds other callers while an atomically() is open, so its rollback cannot undo their committed sales', async () => {
    const l = await seeded(':memory:');
    const sale = debitBody({ terminalId: 'T-1', cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 1 });
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    let finish!: () => void;
    const held = new Promise<void>((r) => (finish = r));
    const outer = l.atomically(async () => {
      await l.issueCard({ number: cardNumberFrom('100000000000019'), holder: 'X', pinHash: null });
      inside();
      await held;
      throw new Error('outer failure');
    });
    await entered;
    // A terminal's sale arrives while the transaction waits: it waits too, then commits on its own.
    const committed = l.commitDebits([debitItem(sale)], NOW);
    let settled = false;
    void committed.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    finish();
    await expect(outer).rejects.toThrow('outer failure');
    expect((await committed)[0]).toMatchObject({ kind: 'reply', status: 'approved' });
    expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1400);
    expect(await l.card(cardNumberFrom('100000000000019'))).toBeUndefined();
    expect(await l.audit()).toEqual([]);
    await l.close();
  });
});
