import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf } from '../../tests/helpers/errors.ts';
import { SqliteLedger } from '../ledger/sqlite.ts';
import { createApiToken, hashToken, lookupApiToken } from './tokens.ts';
import { apiWorld, codeOf as codeOfResponse, type ApiWorld } from '../../tests/helpers/api-world.ts';

const ledgers: SqliteLedger[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) await l.close();
});

async function ledger(): Promise<SqliteLedger> {
  const l = new SqliteLedger({ file: ':memory:' });
  await l.addPartner({ id: 'P-BOOK', name: 'Librairie', type: 'bookshop', conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
  ledgers.push(l);
  return l;
}

describe('API tokens', () => {
  it('are psr_ then 32 random bytes in base64url, shown once, stored only as their SHA-256', async () => {
    const l = await ledger();
    const a = await createApiToken(l, { name: 'Région', role: 'operator' }, 1000);
    const b = await createApiToken(l, { name: 'Région 2', role: 'operator' }, 1000);
    expect(a).toMatch(/^psr_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.slice(4), 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(hashToken(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(await l.apiToken(hashToken(a))).toEqual({ name: 'Région', role: 'operator', partnerId: null, createdAt: 1000 });
    // The ledger knows the token only by its hash.
    expect(await l.apiToken(a)).toBeUndefined();
  });

  it('a partner token is tied to an existing partner; the other roles to none', async () => {
    const l = await ledger();
    const t = await createApiToken(l, { name: 'Librairie', role: 'partner', partnerId: 'P-BOOK' }, 1);
    expect(await lookupApiToken(l, t)).toMatchObject({ role: 'partner', partnerId: 'P-BOOK' });
    expect(await codeOf(async () => await createApiToken(l, { name: 'x', role: 'partner' }, 1))).toBe('DATA_INVALID');
    expect(await codeOf(async () => await createApiToken(l, { name: 'x', role: 'technician', partnerId: 'P-BOOK' }, 1))).toBe('DATA_INVALID');
    expect(await codeOf(async () => await createApiToken(l, { name: 'x', role: 'partner', partnerId: 'P-NONE' }, 1))).toBe('NOT_FOUND');
    expect(await codeOf(async () => await createApiToken(l, { name: ' ', role: 'operator' }, 1))).toBe('DATA_INVALID');
  });

  it('lookup refuses anything not shaped like a token before hashing, and unknown tokens', async () => {
    const l = await ledger();
    const t = await createApiToken(l, { name: 'Région', role: 'operator' }, 1);
    expect(await lookupApiToken(l, t)).toBeDefined();
    expect(await lookupApiToken(l, `${t}x`)).toBeUndefined();
    expect(await lookupApiToken(l, t.slice(4))).toBeUndefined();
    expect(await lookupApiToken(l, `psr_${'A'.repeat(43)}`)).toBeUndefined();
    expect(await lookupApiToken(l, '')).toBeUndefined();
  });
});

describe('token routes', () => {
  let w: ApiWorld;
  beforeEach(async () => {
    w = await apiWorld();
  });
  afterEach(() => w.close());

  it('the operator issues a partner token, lists tokens without their secrets, and revokes one', async () => {
    const made = await w.call('POST', '/api/v1/tokens', { body: { name: 'Caisse 2', role: 'partner', partnerId: 'P-BOOK' } });
    expect(made.statusCode, made.body).toBe(201);
    const { id, token } = made.json() as { id: string; token: string };
    expect(token).toMatch(/^psr_/);
    expect((await w.call('GET', '/api/v1/statements', { token })).statusCode).toBe(200);
    const list = await w.call('GET', '/api/v1/tokens');
    expect(list.body).not.toContain(token);
    expect(list.json()).toContainEqual(expect.objectContaining({ id, name: 'Caisse 2', role: 'partner', partnerId: 'P-BOOK' }));
    expect((await w.call('DELETE', `/api/v1/tokens/${id}`)).statusCode).toBe(204);
    const refused = await w.call('GET', '/api/v1/statements', { token });
    expect([refused.statusCode, codeOfResponse(refused)]).toEqual([401, 'UNAUTHENTICATED']);
    const again = await w.call('DELETE', `/api/v1/tokens/${id}`);
    expect([again.statusCode, codeOfResponse(again)]).toEqual([404, 'NOT_FOUND']);
  });

  it('refuses a partner token without its partner, or for an unknown partner', async () => {
    const none = await w.call('POST', '/api/v1/tokens', { body: { name: 'x', role: 'partner' } });
    expect([none.statusCode, codeOfResponse(none)]).toEqual([422, 'DATA_INVALID']);
    const unknown = await w.call('POST', '/api/v1/tokens', { body: { name: 'x', role: 'partner', partnerId: 'P-NOPE' } });
    expect([unknown.statusCode, codeOfResponse(unknown)]).toEqual([404, 'NOT_FOUND']);
  });
});
