import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CODES, type Code } from '../../protocol/codes.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import { httpStatusOf } from '../../protocol/codes.ts';
import { errorReply } from './errors.ts';
import { apiWorld, CARD, codeOf, type ApiWorld } from '../../tests/helpers/api-world.ts';

/** The status of every code of the table, and the envelope for every kind of failure. */

const EXPECTED: Readonly<Partial<Record<Code, number>>> = {
  BAD_SCHEMA: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_YOUR_SALE: 403,
  NOT_FOUND: 404,
  SALE_UNKNOWN: 404,
  ALREADY_CORRECTED: 409,
  GROUP_CONFLICT: 409,
  CARD_NOT_ACTIVE: 409,
  NOT_SAME_DAY: 409,
  ALREADY_EXISTS: 409,
  CARD_ACTIVE_EXISTS: 409,
  NOTHING_TO_STATE: 422,
  DATA_INVALID: 422,
  BULK_LOAD_INVALID: 422,
  PERIOD_INVALID: 422,
  GROUP_NOT_ALLOWED: 422,
  CARD_NUMBER_INVALID: 422,
  AMOUNT_INVALID: 422,
  LEDGER_FAILED: 503,
  GATEWAY_BUSY: 503,
  RATE_LIMITED: 429,
};

const ALL_CODES = Object.keys(CODES) as Code[];

let w: ApiWorld;
beforeAll(async () => {
  w = await apiWorld({
    beforeReady: (app) => {
      // Test-only routes outside /api/v1: public, so they reach the error handler straight away.
      app.register(async (scope) => {
        scope.get<{ Params: { code: string } }>('/throw/:code', async (req) => {
          throw new PasserelleError(req.params.code as Code, `thrown ${req.params.code}`);
        });
        scope.get('/crash', async () => {
          throw new Error('SQLITE_CORRUPT: database disk image is malformed at /var/lib/passerelle/ledger.sqlite');
        });
      });
    },
  });
});
afterAll(() => w.close());

describe('error codes → HTTP statuses', () => {
  it('the admin codes have the documented statuses', () => {
    for (const [code, status] of Object.entries(EXPECTED)) expect(httpStatusOf(code as Code), code).toBe(status);
  });

  it('every code of the table has a status: declines 422, rejects 400, the rest 4xx/5xx as named', () => {
    for (const code of ALL_CODES) {
      const status = httpStatusOf(code);
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      if (EXPECTED[code] === undefined && CODES[code].category === 'decline') expect(status, code).toBe(422);
      if (EXPECTED[code] === undefined && CODES[code].category === 'reject') expect(status, code).toBe(400);
    }
  });

  it('every code thrown by a route comes back in the envelope with its status, number and French text', async () => {
    for (const code of ALL_CODES) {
      const res = await w.call('GET', `/throw/${code}`, { token: null });
      expect(res.statusCode, code).toBe(httpStatusOf(code));
      expect(res.json(), code).toEqual({ error: { code, num: CODES[code].num, message: `thrown ${code}`, fr: CODES[code].fr } });
    }
  });

  it('an unexpected error is a 500 that names the request id and nothing of the error', async () => {
    const res = await w.call('GET', '/crash', { token: null });
    expect(res.statusCode).toBe(500);
    const body = res.json() as { error: { code: string; requestId: string; message: string } };
    expect(body.error).toMatchObject({ code: 'INTERNAL_ERROR', requestId: expect.any(String) });
    expect(res.body).not.toMatch(/SQLITE|malformed|\/var\/lib/);
  });

  it('a bulk load refused by the ledger names its line', () => {
    const e = new PasserelleError('BULK_LOAD_INVALID', 'line 7: no campaign 2031-2032: create it first', { line: 7 });
    expect(errorReply(e, 'req-1')).toEqual({
      status: 422,
      body: { error: expect.objectContaining({ code: 'BULK_LOAD_INVALID', lines: [{ line: 7, message: e.message }], lineErrors: 1 }) },
    });
  });
});

describe('schema refusals: 400 BAD_SCHEMA naming the failing path', () => {
  const cases: [string, 'GET' | 'POST' | 'PATCH', string, unknown, string][] = [
    ['a malformed card number in the URL', 'GET', '/api/v1/cards/12345', undefined, '/params/cardNumber'],
    ['a missing field', 'POST', '/api/v1/cards', { number: CARD }, '/body/holder'],
    ['an unknown field (no PIN over the admin API)', 'POST', '/api/v1/cards', { number: CARD, holder: 'x', pin: '1234' }, '/body/pin'],
    ['a bad item in an array', 'POST', '/api/v1/group-sales', { groupId: 'G-1', listId: 'GL-0000000000AB', partnerId: 'P-VENU', benefit: 'SHOWS', amountPerYouth: 1, cardNumbers: [CARD, '12'], reference: 'x' }, '/body/cardNumbers/1'],
    ['an unknown benefit', 'POST', `/api/v1/cards/${CARD}/loads`, { benefit: 'CANDY', campaign: '2022-2023', amount: 1 }, '/body/benefit'],
    ['a query out of range', 'GET', `/api/v1/cards/${CARD}/history?limit=501`, undefined, '/querystring/limit'],
    ['a bad date', 'POST', '/api/v1/statements', { partnerId: 'P-BOOK', periodFrom: '1/10/2022', periodTo: '2022-10-31' }, '/body/periodFrom'],
    ['a negative amount', 'PATCH', '/api/v1/partners/P-CINE', { entryPriceCents: -1 }, '/body/entryPriceCents'],
    ['an operator group sale without its partner', 'POST', '/api/v1/group-sales', { groupId: 'G-1', listId: 'GL-0000000000AB', benefit: 'SHOWS', amountPerYouth: 1, cardNumbers: [CARD], reference: 'x' }, '/body/partnerId'],
  ];
  for (const [what, method, url, body, path] of cases) {
    it(what, async () => {
      const res = await w.call(method, url, body === undefined ? {} : { body });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ error: { code: 'BAD_SCHEMA', num: 203, path } });
    });
  }

  it('malformed JSON and an unsupported media type are BAD_SCHEMA too, with their own status', async () => {
    const empty = await w.call('POST', '/api/v1/campaigns', { headers: { 'content-type': 'application/json' } });
    expect(empty.statusCode).toBe(400);
    expect(codeOf(empty)).toBe('BAD_SCHEMA');
    const broken = await w.app.inject({ method: 'POST', url: '/api/v1/campaigns', headers: { authorization: `Bearer ${w.tokens.operator}`, 'content-type': 'application/json' }, payload: '{"id":' });
    expect(broken.statusCode).toBe(400);
    expect(codeOf(broken)).toBe('BAD_SCHEMA');
    const xml = await w.app.inject({ method: 'POST', url: '/api/v1/campaigns', headers: { authorization: `Bearer ${w.tokens.operator}`, 'content-type': 'application/xml' }, payload: '<a/>' });
    expect(xml.statusCode).toBe(415);
    expect(codeOf(xml)).toBe('BAD_SCHEMA');
  });

  it('an id already recorded is 409 ALREADY_EXISTS in plain words, never the storage engine\'s message', async () => {
    const existing = (await w.ledger.campaigns())[0]!.id;
    const res = await w.call('POST', '/api/v1/campaigns', { body: { id: existing } });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json()).toMatchObject({ error: { code: 'ALREADY_EXISTS', num: 521, message: `campaign ${existing} already exists`, fr: expect.stringContaining('Existe déjà') } });
    expect(res.body).not.toMatch(/constraint|UNIQUE|campaigns\.id/i);
  });

  it('an unknown route, even one holding a card number, is a 404 that does not echo the number', async () => {
    const res = await w.call('GET', `/api/v1/cards/${CARD}/nope`);
    expect(res.statusCode).toBe(404);
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(res.body).not.toContain(CARD);
  });
});
