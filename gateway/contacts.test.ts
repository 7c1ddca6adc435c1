import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { TerminalContacts } from './contacts.ts';
import { SqliteLedger } from './ledger/sqlite.ts';

const NOW = Date.parse('2026-12-04T10:00:00+01:00');
const ledgers: SqliteLedger[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) await l.close();
});

function contacts(maxAgeMs = 900_000) {
  const ledger = new SqliteLedger({ file: ':memory:' });
  ledgers.push(ledger);
  return { ledger, c: new TerminalContacts({ ledger, maxAgeMs, log: silentLogger }) };
}

describe('terminal contacts', () => {
  it('admits a token once: an equal or earlier time is a replay, a time too far from the clock is stale', async () => {
    const { c } = contacts();
    expect(await c.admit('T-1', { ms: NOW, head: 3 }, NOW)).toBe('ok');
    expect(await c.admit('T-1', { ms: NOW, head: 3 }, NOW + 1)).toBe('replayed');
    expect(await c.admit('T-1', { ms: NOW - 1, head: 3 }, NOW + 1)).toBe('replayed');
    expect(await c.admit('T-1', { ms: NOW + 1, head: 3 }, NOW + 2)).toBe('ok');
    expect(await c.admit('T-2', { ms: NOW - 900_001, head: 0 }, NOW)).toBe('stale');
    expect(await c.admit('T-2', { ms: NOW + 900_001, head: 0 }, NOW)).toBe('stale');
    // Another terminal's tokens are its own.
    expect(await c.admit('T-2', { ms: NOW, head: 0 }, NOW)).toBe('ok');
  });

  it('admits one of two connects that show the same token at once, and never moves the last time back', async () => {
    const { c } = contacts();
    // Nothing known of T-1 yet: both wait for the ledger's record, then only one passes.
    expect((await Promise.all([c.admit('T-1', { ms: NOW, head: 1 }, NOW), c.admit('T-1', { ms: NOW, head: 1 }, NOW)])).sort()).toEqual(['ok', 'replayed']);
    // A later token and an earlier one at once, checked in arrival order: older than one admitted is a replay.
    const [later, earlier] = await Promise.all([c.admit('T-2', { ms: NOW + 200, head: 0 }, NOW), c.admit('T-2', { ms: NOW + 100, head: 0 }, NOW)]);
    expect(later).toBe('ok');
    expect(earlier).toBe('replayed');
    expect(await c.admit('T-2', { ms: NOW + 150, head: 0 }, NOW)).toBe('replayed');
  });

  it('writes contacts in batches, and a new process knows the last token time from the ledger', async () => {
    const { ledger, c } = contacts();
    await c.admit('T-1', { ms: NOW, head: 4 }, NOW + 10);
    expect(await ledger.lastConnectTokenMs('T-1')).toBe(0);
    await c.flush();
    expect(await ledger.lastConnectTokenMs('T-1')).toBe(NOW);
    expect(await ledger.contactBounds('T-1', 5)).toEqual({ after: NOW + 10, before: null });
    const restarted = new TerminalContacts({ ledger, maxAgeMs: 900_000, log: silentLogger });
    expect(await restarted.admit('T-1', { ms: NOW, head: 4 }, NOW + 20)).toBe('replayed');
  });
});
