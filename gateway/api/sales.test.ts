import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { MAX_GROUP_SIZE } from '../rules.ts';
import { apiWorld, BARE, CARD, codeOf, DAY, NOW, POOR, sell, UNKNOWN_CARD, type ApiWorld } from '../../tests/helpers/api-world.ts';

const NB = '\u00a0';
let w: ApiWorld;
beforeEach(async () => {
  w = await apiWorld();
});
afterEach(() => w.close());

const partner = () => ({ token: w.tokens.partner });

describe('corrections', () => {
  it('a partner cancels its own sale the same day; the value goes back to the wallet once', async () => {
    const txn = await sell(w.ledger, 'T-BOOK-01', CARD, 'LEISURE_BOOKS', 1200, NOW);
    w.clock.now = NOW + 3600_000;
    const res = await w.call('POST', `/api/v1/sales/${txn}/cancel`, partner());
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ txnId: txn, unit: 'cent', amount: 1200, amountText: `12,00${NB}€`, to: 'wallet' });
    expect(await w.ledger.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
    const again = await w.call('POST', `/api/v1/sales/${txn}/cancel`, partner());
    expect([again.statusCode, codeOf(again)]).toEqual([409, 'ALREADY_CORRECTED']);
    const reverse = await w.call('POST', `/api/v1/sales/${txn}/reverse`, { body: { reason: 'double' } });
    expect([reverse.statusCode, codeOf(reverse)]).toEqual([409, 'ALREADY_CORRECTED']);
  });

  it("another partner's sale is 403 NOT_YOUR_SALE; the next day is 409 NOT_SAME_DAY; an unknown sale 404 SALE_UNKNOWN", async () => {
    const txn = await sell(w.ledger, 'T-BOOK2-01', CARD, 'LEISURE_BOOKS', 100, NOW);
    const other = await w.call('POST', `/api/v1/sales/${txn}/cancel`, partner());
    expect([other.statusCode, codeOf(other)]).toEqual([403, 'NOT_YOUR_SALE']);
    expect((other.json() as { error: { fr: string } }).error.fr).toBe("Cette vente n'a pas été faite par votre établissement");
    const own = await sell(w.ledger, 'T-BOOK-01', CARD, 'LEISURE_BOOKS', 100, NOW);
    w.clock.now = NOW + DAY;
    const late = await w.call('POST', `/api/v1/sales/${own}/cancel`, partner());
    expect([late.statusCode, codeOf(late)]).toEqual([409, 'NOT_SAME_DAY']);
    const unknown = await w.call('POST', '/api/v1/sales/0190a000-0000-7000-8000-000000000000/cancel', partner());
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'SALE_UNKNOWN']);
  });

  it('the Region reverses a sale later, with a reason', async () => {
    const txn = await sell(w.ledger, 'T-BOOK-01', CARD, 'LEISURE_BOOKS', 500, NOW);
    w.clock.now = NOW + 10 * DAY;
    const res = await w.call('POST', `/api/v1/sales/${txn}/reverse`, { body: { reason: 'livre non fourni' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ txnId: txn, amount: 500, to: 'wallet' });
    const noReason = await w.call('POST', `/api/v1/sales/${txn}/reverse`, { body: { reason: '' } });
    expect([noReason.statusCode, codeOf(noReason)]).toEqual([400, 'BAD_SCHEMA']);
  });
});

describe('group sales (R12)', () => {
  let listId = '';
  const group = () => ({ groupId: 'G-0001', listId, benefit: 'SHOWS', amountPerYouth: 1200, cardNumbers: [CARD, POOR, BARE], reference: 'Lycée du Parc, sortie théâtre' });
  /** The Region approves the school's list for the theatre's outing (every test has a fresh world). */
  beforeEach(async () => {
    const res = await w.call('POST', '/api/v1/group-lists', { body: { partnerId: 'P-VENU', benefit: 'SHOWS', reference: 'Lycée du Parc, sortie théâtre', cardNumbers: [CARD, POOR, BARE], maxPerYouth: 3000, validUntil: '2022-12-31' } });
    expect(res.statusCode, res.body).toBe(201);
    listId = (res.json() as { listId: string }).listId;
  });

  it('the Region approves the school’s list for the partner’s outing; the partner reads it, masked, and no other partner can', async () => {
    expect(listId).toMatch(/^GL-/);
    const own = await w.call('GET', `/api/v1/group-lists/${listId}`, { token: w.tokens.venue });
    expect(own.json()).toMatchObject({ partnerId: 'P-VENU', cards: [{ card: expect.stringMatching(/^1000\*{8}/), paid: false }, expect.anything(), expect.anything()] });
    expect(own.body).not.toMatch(/(?<![0-9])[0-9]{16}(?![0-9])/);
    expect(codeOf(await w.call('GET', `/api/v1/group-lists/${listId}`, { token: w.tokens.partner }))).toBe('FORBIDDEN');
    expect(codeOf(await w.call('POST', '/api/v1/group-lists', { token: w.tokens.venue, body: { partnerId: 'P-VENU', benefit: 'SHOWS', reference: 'x', cardNumbers: [CARD], maxPerYouth: 1, validUntil: '2022-12-31' } }))).toBe('FORBIDDEN');
  });

  it('R12 one limit on a group, the same for the schema and the ledger: the largest list passes the schema, one more is refused by it', async () => {
    const numbers = (n: number) => Array.from({ length: n }, (_, i) => cardNumberFrom(`5000000000${String(i).padStart(5, '0')}`));
    const list = (n: number) => w.call('POST', '/api/v1/group-lists', { body: { partnerId: 'P-VENU', benefit: 'SHOWS', reference: 'Tout le lycée', cardNumbers: numbers(n), maxPerYouth: 1000, validUntil: '2022-12-31' } });
    expect((await list(MAX_GROUP_SIZE)).statusCode).toBe(201);
    const over = await list(MAX_GROUP_SIZE + 1);
    expect([over.statusCode, codeOf(over)]).toEqual([400, 'BAD_SCHEMA']);
    expect(over.json()).toMatchObject({ error: { path: '/body/cardNumbers' } });
  });

  it("a partner's group: one line per youth, masked, partial debit included; a repeat is answered from the record", async () => {
    const res = await w.call('POST', '/api/v1/group-sales', { token: w.tokens.venue, body: group() });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json() as { fresh: boolean; lines: { card: string; txnId: string; status: string; code?: string; taken: number; remainingToPay: number }[] };
    expect(body.fresh).toBe(true);
    expect(body.lines.map((l) => [l.card, l.status, l.code ?? null, l.taken, l.remainingToPay])).toEqual([
      [`1000********${CARD.slice(-4)}`, 'approved', null, 1200, 0],
      [`1000********${POOR.slice(-4)}`, 'approved', null, 300, 900],
      [`1000********${BARE.slice(-4)}`, 'declined', 'NO_SUCH_BENEFIT', 0, 1200],
    ]);
    expect(res.body).not.toMatch(/(?<![0-9])[0-9]{16}(?![0-9])/);
    const repeat = await w.call('POST', '/api/v1/group-sales', { token: w.tokens.venue, body: group() });
    expect(repeat.statusCode).toBe(200);
    expect(repeat.json()).toEqual({ ...body, fresh: false });
    expect(await w.ledger.walletBalance(CARD, 'SHOWS')).toBe(1800);
    const conflict = await w.call('POST', '/api/v1/group-sales', { token: w.tokens.venue, body: { ...group(), amountPerYouth: 1 } });
    expect([conflict.statusCode, codeOf(conflict)]).toEqual([409, 'GROUP_CONFLICT']);
  });

  it('cards the list does not hold, or that it already paid, refuse the whole group (422 GROUP_NOT_APPROVED)', async () => {
    expect((await w.call('POST', '/api/v1/group-sales', { token: w.tokens.venue, body: group() })).statusCode).toBe(201);
    const again = await w.call('POST', '/api/v1/group-sales', { token: w.tokens.venue, body: { ...group(), groupId: 'G-0002', cardNumbers: [CARD] } });
    expect([again.statusCode, codeOf(again)]).toEqual([422, 'GROUP_NOT_APPROVED']);
    // BARE was declined (no shows benefit), so it is still open on the list; UNKNOWN_CARD never was on it.
    const outside = await w.call('POST', '/api/v1/group-sales', { token: w.tokens.venue, body: { ...group(), groupId: 'G-0003', cardNumbers: [BARE, UNKNOWN_CARD] } });
    expect([outside.statusCode, codeOf(outside)]).toEqual([422, 'GROUP_NOT_APPROVED']);
  });

  it('the operator names the partner; never first aid (422 GROUP_NOT_ALLOWED)', async () => {
    const aid = await w.call('POST', '/api/v1/group-sales', { body: { ...group(), groupId: 'G-2', partnerId: 'P-AIDE', benefit: 'FIRST_AID' } });
    expect([aid.statusCode, codeOf(aid)]).toEqual([422, 'GROUP_NOT_ALLOWED']);
    const twice = await w.call('POST', '/api/v1/group-sales', { body: { ...group(), groupId: 'G-3', partnerId: 'P-VENU', cardNumbers: [CARD, CARD] } });
    expect([twice.statusCode, codeOf(twice)]).toEqual([422, 'DATA_INVALID']);
    const list = await w.call('POST', '/api/v1/group-lists', { body: { partnerId: 'P-VENU', benefit: 'SHOWS', reference: 'y', cardNumbers: [BARE], maxPerYouth: 100, validUntil: '2022-12-31' } });
    const res = await w.call('POST', '/api/v1/group-sales', { body: { ...group(), groupId: 'G-4', listId: (list.json() as { listId: string }).listId, partnerId: 'P-VENU', amountPerYouth: 100, cardNumbers: [BARE] } });
    expect(res.statusCode, res.body).toBe(201);
  });

  it('a partner may name itself, but no other partner', async () => {
    const other = await w.call('POST', '/api/v1/group-sales', { token: w.tokens.venue, body: { ...group(), groupId: 'G-9', partnerId: 'P-CINE' } });
    expect([other.statusCode, codeOf(other)]).toEqual([403, 'FORBIDDEN']);
  });
});
