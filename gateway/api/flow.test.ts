import { generateKeyPairSync } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { buildHttpApp } from '../http.ts';
import { SqliteLedger } from '../ledger/sqlite.ts';
import { checkPain001 } from '../../tests/helpers/sepa-xsd.ts';
import { healthy, NOW, testCardRefs, testFleet } from '../../tests/helpers/api-world.ts';
import { createApiToken } from './tokens.ts';
import { nodeSigner } from '../../protocol/crypto.ts';

const testIssuer = nodeSigner(new Uint8Array(32).fill(9));

/**
 * One whole reimbursement cycle through the API, as the Region, a technician and a partner would run it:
 * campaign → partner → terminal → load file (a bad one first) → group outing → same-day cancel → statement
 * → CSV → SEPA file (checked against the official schema) → statement paid. Every response body and every
 * log line is kept, and none may hold a whole card number, a PIN hash or a token.
 */

const CARDS = ['300000000000001', '300000000000002', '300000000000003'].map(cardNumberFrom);
const SECRETS = /pinHash|pin_hash|token_hash|tokenHash|psr_/;
const WHOLE_CARD = /(?<![0-9])[0-9]{16}(?![0-9])/;

const logLines: string[] = [];
const ledger = new SqliteLedger({ file: ':memory:' });
const clock = { now: NOW };
const app = buildHttpApp({ issuer: testIssuer, cardRefs: testCardRefs, fleet: testFleet(), health: async () => healthy, log: createLogger({ level: 'info', destination: { write: (line: string) => void logLines.push(line) } }), ledger, now: () => clock.now });
afterAll(async () => {
  await app.close();
  await ledger.close();
});

const bodies: string[] = [];
async function call(token: string | null, method: 'GET' | 'POST', url: string, o: { body?: unknown; csv?: string } = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  if (o.csv !== undefined) headers['content-type'] = 'text/csv';
  const payload = o.csv ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  const res = await app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  bodies.push(res.body);
  return res;
}

function loadFile(rows: readonly string[]): string {
  return ['card_number,dossier_id,holder,campaign,SHOWS,CINEMA', ...rows].join('\r\n') + '\r\n';
}

describe('a reimbursement cycle through the API', () => {
  it('runs end to end and never shows a card number, a PIN hash or a token', async () => {
    const operator = await createApiToken(ledger, { name: 'Région', role: 'operator' }, NOW);
    const technician = await createApiToken(ledger, { name: 'Installateur', role: 'technician' }, NOW);

    expect((await call(operator, 'POST', '/api/v1/campaigns', { body: { id: '2022-2023' } })).statusCode).toBe(201);
    const partner = { id: 'P-SPEC-CLF', name: 'Théâtre de la Comédie (Clermont-Ferrand)', type: 'venue', conventionFrom: '2022-06-01', conventionTo: '2027-05-31', iban: 'FR7630002030000005678900548', bic: 'CRLYFRPPXXX' };
    expect((await call(operator, 'POST', '/api/v1/partners', { body: partner })).statusCode).toBe(201);
    const publicKey = String(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x);
    // The Region makes an enrolment code; the technician's terminal presents it with the key it made.
    const code = await call(operator, 'POST', '/api/v1/enrolment-codes', { body: { partnerId: partner.id, terminalId: 'T-SPEC-CLF-01' } });
    expect(code.statusCode).toBe(201);
    const enrolled = await call(null, 'POST', '/api/v1/enrolments', { body: { code: (code.json() as { code: string }).code, publicKey } });
    expect(enrolled.json()).toMatchObject({ terminalId: 'T-SPEC-CLF-01', benefits: ['SHOWS'] });
    expect((await call(technician, 'GET', '/api/v1/terminals/T-SPEC-CLF-01')).json()).toMatchObject({ active: true, publicKey });
    const theatre = await createApiToken(ledger, { name: 'Théâtre', role: 'partner', partnerId: partner.id }, NOW);

    // A file with two bad rows: refused by line number, nothing loaded.
    const rows = CARDS.map((n, i) => `${n},DOS-${i + 1},Jeune ${i + 1},2022-2023,3000,5`);
    const mistyped = CARDS[1]!.slice(0, 15) + String((Number(CARDS[1]!.slice(15)) + 1) % 10);
    const bad = await call(operator, 'POST', '/api/v1/bulk-loads', { csv: loadFile([rows[0]!, `${mistyped},DOS-2,Jeune 2,2022-2023,3000,5`, `${CARDS[2]},DOS-3,Jeune 3,2022-2023,30€,5`]) });
    expect(bad.statusCode).toBe(422);
    expect((bad.json() as { error: { lines: { line: number }[] } }).error.lines.map((l) => l.line)).toEqual([3, 4]);
    expect((await call(operator, 'GET', `/api/v1/cards/${CARDS[0]}`)).statusCode).toBe(404);
    const good = await call(operator, 'POST', '/api/v1/bulk-loads', { csv: loadFile(rows) });
    expect(good.json()).toEqual({ cards: 3, loads: 6 });

    // R12: the school's list approved by the Region, the outing paid by the theatre; the second youth's
    // line is cancelled the same day.
    const list = await call(operator, 'POST', '/api/v1/group-lists', { body: { partnerId: partner.id, benefit: 'SHOWS', reference: 'Lycée Blaise-Pascal, Le Misanthrope', cardNumbers: CARDS, maxPerYouth: 1500, validUntil: '2022-10-31' } });
    expect(list.statusCode).toBe(201);
    const listId = (list.json() as { listId: string }).listId;
    const group = await call(theatre, 'POST', '/api/v1/group-sales', { body: { groupId: 'G-CLF-0001', listId, benefit: 'SHOWS', amountPerYouth: 1200, cardNumbers: CARDS, reference: 'Lycée Blaise-Pascal, Le Misanthrope' } });
    expect(group.statusCode).toBe(201);
    const lines = (group.json() as { lines: { txnId: string; status: string }[] }).lines;
    expect(lines.map((l) => l.status)).toEqual(['approved', 'approved', 'approved']);
    clock.now = NOW + 2 * 3600_000;
    expect((await call(theatre, 'POST', `/api/v1/sales/${encodeURIComponent(lines[1]!.txnId)}/cancel`)).statusCode).toBe(200);
    const card2 = (await call(operator, 'GET', `/api/v1/cards/${CARDS[1]}`)).json() as { wallets: { benefit: string; balance: number }[] };
    expect(card2.wallets.find((x) => x.benefit === 'SHOWS')?.balance).toBe(3000);

    // R11: October's statement, its CSV, then the SEPA file that pays it.
    clock.now = Date.parse('2022-11-02T09:00:00+01:00');
    const closed = await call(operator, 'POST', '/api/v1/statements', { body: { partnerId: partner.id, periodFrom: '2022-10-01', periodTo: '2022-10-31' } });
    expect(closed.statusCode).toBe(201);
    const statement = closed.json() as { id: string; totalCents: number; lines: unknown[] };
    expect(statement).toMatchObject({ totalCents: 2400 });
    expect(statement.lines).toHaveLength(4);
    const csv = await call(theatre, 'GET', `/api/v1/statements/${statement.id}/csv`);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.body.split('\r\n').filter((l) => l !== '')).toHaveLength(5);
    const sepa = await call(operator, 'POST', '/api/v1/sepa-exports', { body: { statementIds: [statement.id], executionDate: '2022-11-04' } });
    expect(sepa.statusCode).toBe(200);
    checkPain001(sepa.body);
    expect(sepa.body).toContain('<InstdAmt Ccy="EUR">24.00</InstdAmt>');
    expect(sepa.body).toContain('<Nm>Theatre de la Comedie (Clermont-Ferrand)</Nm>');
    expect((await call(theatre, 'GET', `/api/v1/statements/${statement.id}`)).json()).toMatchObject({ status: 'paid' });
    expect(await ledger.audit()).toEqual([]);

    for (const body of bodies) {
      expect(body).not.toMatch(WHOLE_CARD);
      expect(body).not.toMatch(SECRETS);
      for (const n of CARDS) expect(body).not.toContain(n);
    }
    const logs = logLines.join('');
    expect(logs).toContain('/api/v1/cards/3000********');
    for (const n of CARDS) expect(logs).not.toContain(n);
    expect(logs).not.toMatch(SECRETS);
  });
});
