import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import type { ApiRole } from '../ledger/ledger.ts';
import { apiWorld, CARD, codeOf, NOW, sell, type ApiWorld, type Method } from '../../tests/helpers/api-world.ts';

/**
 * Who may call what, for every route of the app. The route list comes from the app itself (an onRoute
 * hook), so a route added without a line in this table fails the first test, and one added without an
 * access rule does not even start (see the last test).
 */

const OP: readonly ApiRole[] = ['operator'];
/** Routes whose credential is in the request itself (an enrolment code), not a token. */
const PUBLIC = 'public';
const ALLOWED: Readonly<Record<string, readonly ApiRole[] | typeof PUBLIC>> = {
  'GET /api/v1/campaigns': OP,
  'POST /api/v1/campaigns': OP,
  'POST /api/v1/expiry-runs': OP,
  'POST /api/v1/bulk-loads': OP,
  'POST /api/v1/cards': OP,
  'GET /api/v1/cards': OP,
  'GET /api/v1/cards/:cardNumber': OP,
  'GET /api/v1/cards/:cardNumber/history': OP,
  'POST /api/v1/cards/:cardNumber/opposition': OP,
  'POST /api/v1/cards/:cardNumber/suspensions': OP,
  'DELETE /api/v1/cards/:cardNumber/suspensions': OP,
  'POST /api/v1/cards/:cardNumber/pin-unlock': OP,
  'POST /api/v1/cards/:cardNumber/loads': OP,
  'POST /api/v1/cards/:cardNumber/credential': OP,
  'POST /api/v1/cards/:cardNumber/app-qr': OP,
  'POST /api/v1/partners': OP,
  'GET /api/v1/partners': ['operator', 'technician'],
  'GET /api/v1/partners/:partnerId/terminals': ['operator', 'technician', 'partner'],
  'GET /api/v1/fleet': ['operator', 'technician', 'partner'],
  'GET /api/v1/terminals/:terminalId/settings': ['operator', 'technician', 'partner'],
  'PUT /api/v1/terminals/:terminalId/settings': OP,
  'GET /api/v1/tokens': OP,
  'POST /api/v1/tokens': OP,
  'DELETE /api/v1/tokens/:tokenId': OP,
  'GET /api/v1/partners/:partnerId': ['operator', 'technician'],
  'PATCH /api/v1/partners/:partnerId': OP,
  'POST /api/v1/partners/:partnerId/proofs': OP,
  'POST /api/v1/terminals': OP,
  'GET /api/v1/terminals/:terminalId': ['operator', 'technician', 'partner'],
  'POST /api/v1/terminals/:terminalId/activate': OP,
  'POST /api/v1/terminals/:terminalId/deactivate': ['operator', 'technician'],
  'POST /api/v1/enrolment-codes': OP,
  'GET /api/v1/enrolment-codes': OP,
  'DELETE /api/v1/enrolment-codes/:codeId': OP,
  'POST /api/v1/enrolments': PUBLIC,
  'GET /api/v1/audit': OP,
  'POST /api/v1/sales/:txnId/cancel': ['partner'],
  'POST /api/v1/sales/:txnId/reverse': OP,
  'POST /api/v1/group-sales': ['operator', 'partner'],
  'POST /api/v1/group-lists': OP,
  'GET /api/v1/group-lists/:listId': ['operator', 'partner'],
  'POST /api/v1/statements': OP,
  'POST /api/v1/statement-runs': OP,
  'GET /api/v1/statements': ['operator', 'partner'],
  'GET /api/v1/statements/csv': ['operator', 'partner'],
  'GET /api/v1/statements/:statementId': ['operator', 'partner'],
  'GET /api/v1/statements/:statementId/csv': ['operator', 'partner'],
  'POST /api/v1/sepa-exports': OP,
  'GET /api/v1/sepa-exports/:fileId': OP,
  'GET /api/v1/offline/report': OP,
  'DELETE /api/v1/offline/soft-blocks/:cardNumber': OP,
  'GET /api/v1/terminals/:terminalId/sync': ['operator', 'technician', 'partner'],
};

/** Parameters that are the partner token's own data, so an allowed call is never refused for scope. */
const PARAMS: Readonly<Record<string, string>> = {
  cardNumber: CARD,
  partnerId: 'P-BOOK',
  terminalId: 'T-BOOK-01',
  txnId: '0190a000-0000-7000-8000-000000000000',
  statementId: 'ST-NONE',
  tokenId: '0123456789abcdef',
  fileId: 'PSR-20221102T093000-1a2b3c4d',
  codeId: 'AAAA',
  listId: 'GL-0000000000AB',
};

const concrete = (url: string) => url.replace(/:(\w+)/g, (_m, name: string) => PARAMS[name] ?? name);

let w: ApiWorld;
const routes: { method: string; url: string }[] = [];
const collect = (app: FastifyInstance) =>
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url });
  });

beforeAll(async () => {
  w = await apiWorld({ beforeReady: collect });
});
afterAll(() => w.close());

const apiRoutes = () => routes.filter((r) => r.url.startsWith('/api/'));
const tokenRoutes = () => apiRoutes().filter((r) => ALLOWED[`${r.method} ${r.url}`] !== PUBLIC);
const send = (method: string, url: string, token: string | null) => w.call(method as Method, concrete(url), { token });

function expectNotRefusedForRole(res: LightMyRequestResponse, what: string): void {
  expect(res.statusCode, `${what}: ${res.body}`).not.toBe(401);
  if (res.statusCode === 403) expect(codeOf(res), `${what}: ${res.body}`).not.toBe('FORBIDDEN');
}

describe('access rules of every route', () => {
  it('every API route of the app is in the table, and every line of the table is a route', () => {
    const keys = apiRoutes().map((r) => `${r.method} ${r.url}`);
    expect(keys.length).toBeGreaterThan(20);
    expect(new Set(keys)).toEqual(new Set(Object.keys(ALLOWED)));
  });

  it('no token, a malformed token or an unknown token: 401 UNAUTHENTICATED with a Bearer challenge', async () => {
    for (const { method, url } of tokenRoutes()) {
      for (const token of [null, 'not-a-token', `psr_${'x'.repeat(43)}`]) {
        const res = await send(method, url, token);
        expect(res.statusCode, `${method} ${url} with ${String(token)}`).toBe(401);
        expect(codeOf(res)).toBe('UNAUTHENTICATED');
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
    }
  });

  it('each role: 403 FORBIDDEN on the routes it may not call, never on those it may', async () => {
    const tokens: Record<ApiRole, string> = { operator: w.tokens.operator, technician: w.tokens.technician, partner: w.tokens.partner };
    for (const { method, url } of tokenRoutes()) {
      const allowed = ALLOWED[`${method} ${url}`] ?? [];
      for (const role of ['operator', 'technician', 'partner'] as const) {
        const res = await send(method, url, tokens[role]);
        if (allowed.includes(role)) expectNotRefusedForRole(res, `${role} ${method} ${url}`);
        else {
          expect(res.statusCode, `${role} ${method} ${url}`).toBe(403);
          expect(codeOf(res)).toBe('FORBIDDEN');
        }
      }
    }
  });

  it('a public API route takes no token, and a token does not change what it does', async () => {
    const open = apiRoutes().filter((r) => ALLOWED[`${r.method} ${r.url}`] === PUBLIC);
    expect(open.map((r) => r.url)).toEqual(['/api/v1/enrolments']);
    for (const { method, url } of open) {
      for (const token of [null, w.tokens.technician]) {
        const res = await send(method, url, token);
        expect(res.statusCode, `${method} ${url}`).not.toBe(401);
        expect(res.statusCode, `${method} ${url}`).not.toBe(403);
      }
    }
  });

  it('the health probe and the docs stay public', async () => {
    const open = routes.filter((r) => !r.url.startsWith('/api/') && r.method === 'GET' && !r.url.includes('*') && !r.url.includes(':'));
    expect(open.map((r) => r.url)).toEqual(expect.arrayContaining(['/healthz', '/docs', '/docs/json']));
    for (const { url } of open) expect((await send('GET', url, null)).statusCode, url).toBeLessThan(400);
  });

  it("a partner token sees only its own partner's data", async () => {
    const venue = { token: w.tokens.venue };
    expect(codeOf(await w.call('GET', '/api/v1/terminals/T-BOOK-01', venue))).toBe('FORBIDDEN');
    expect(codeOf(await w.call('GET', '/api/v1/statements?partnerId=P-BOOK', venue))).toBe('FORBIDDEN');
    expect(codeOf(await w.call('GET', '/api/v1/statements/csv?partnerId=P-BOOK', venue))).toBe('FORBIDDEN');
    const group = { groupId: 'G-1', listId: 'GL-0000000000AB', partnerId: 'P-BOOK', benefit: 'SHOWS', amountPerYouth: 100, cardNumbers: [CARD], reference: 'x' };
    expect(codeOf(await w.call('POST', '/api/v1/group-sales', { ...venue, body: group }))).toBe('FORBIDDEN');
    // A card of its own and the terminal switched on again: the routes above may have opposed the shared
    // card and deactivated the terminal.
    await w.ledger.setTerminalActive('T-BOOK-01', true);
    const card = cardNumberFrom('100000000000771');
    await w.ledger.issueCard({ number: card, holder: 'Zoé', pinHash: null, at: NOW - 2 * 86_400_000 });
    await w.ledger.load({ cardNumber: card, benefit: 'LEISURE_BOOKS', campaign: '2022-2023', amount: 1500, at: NOW - 2 * 86_400_000 });
    await sell(w.ledger, 'T-BOOK-01', card, 'LEISURE_BOOKS', 100, NOW - 86_400_000);
    const statement = await w.ledger.closeStatement('P-BOOK', '2022-09-01', '2022-10-02', w.clock.now);
    expect(codeOf(await w.call('GET', `/api/v1/statements/${statement.id}`, venue))).toBe('FORBIDDEN');
    expect(codeOf(await w.call('GET', `/api/v1/statements/${statement.id}/csv`, venue))).toBe('FORBIDDEN');
    expect((await w.call('GET', `/api/v1/statements/${statement.id}`, { token: w.tokens.partner })).statusCode).toBe(200);
  });

  it('a route under /api/v1 declared without an access rule stops the app from starting, whoever registers it', async () => {
    const unruled = (app: FastifyInstance) => {
      app.register(async (scope) => {
        scope.get('/oops', async () => ({}));
      }, { prefix: '/api/v1' });
    };
    await expect(apiWorld({ beforeReady: unruled })).rejects.toThrow(/GET \/api\/v1\/oops declares no access rule/);
  });
});
