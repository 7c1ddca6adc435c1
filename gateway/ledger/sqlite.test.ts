import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ledgerContract } from './contract.ts';
import { SqliteLedger } from './sqlite.ts';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

ledgerContract('sqlite in memory', (rules) => new SqliteLedger({ file: ':memory:', ...(rules ? { rules } : {}) }));
ledgerContract('sqlite file', (rules) => new SqliteLedger({ file: join(dir, `ledger-${++n}.sqlite`), ...(rules ? { rules } : {}) }));

describe('sqlite ledger durability settings', () => {
  it('opens files in WAL mode with synchronous=FULL and keeps data across reopen', () => {
    const file = join(dir, 'reopen.sqlite');
    const a = new SqliteLedger({ file });
    a.addPartner({ id: 'P-1', name: 'x', type: 'cinema', conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
    a.close();
    const b = new SqliteLedger({ file });
    expect(b.pragmas()).toEqual({ journal_mode: 'wal', synchronous: 2 });
    expect(b.counts().partners).toBe(1);
    b.close();
  });
});
