import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkPain001 } from '../../tests/helpers/sepa-xsd.ts';
import { apiWorld, CARD, codeOf, NOW, sell, type ApiWorld } from '../../tests/helpers/api-world.ts';

const NOV_2 = Date.parse('2022-11-02T09:00:00+01:00');
const october = { periodFrom: '2022-10-01', periodTo: '2022-10-31' };

let w: ApiWorld;
beforeEach(async () => {
  w = await apiWorld();
  await sell(w.ledger, 'T-BOOK-01', CARD, 'LEISURE_BOOKS', 700, NOW);
  await sell(w.ledger, 'T-CINE-01', CARD, 'CINEMA', 2, NOW);
  w.clock.now = NOV_2;
});
afterEach(() => w.close());

interface StatementBody { id: string; status: string; totalCents: number; totalText: string; lines: { card: string; amountCents: number }[] }

async function close(partnerId: string): Promise<StatementBody> {
  const res = await w.call('POST', '/api/v1/statements', { body: { partnerId, ...october } });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as StatementBody;
}

describe('statements', () => {
  it('the operator closes a period; lines carry masked cards; a period not over or overlapping is 422 PERIOD_INVALID', async () => {
    const st = await close('P-BOOK');
    expect(st).toMatchObject({ status: 'ready', totalCents: 700, totalText: '7,00\u00a0€', lines: [{ amountCents: 700 }] });
    expect(st.lines[0]?.card).not.toContain(CARD);
    const overlap = await w.call('POST', '/api/v1/statements', { body: { partnerId: 'P-BOOK', periodFrom: '2022-10-15', periodTo: '2022-10-31' } });
    expect([overlap.statusCode, codeOf(overlap)]).toEqual([422, 'PERIOD_INVALID']);
    const open = await w.call('POST', '/api/v1/statements', { body: { partnerId: 'P-CINE', periodFrom: '2022-11-01', periodTo: '2022-11-30' } });
    expect([open.statusCode, codeOf(open)]).toEqual([422, 'PERIOD_INVALID']);
    const unknown = await w.call('POST', '/api/v1/statements', { body: { partnerId: 'P-NONE', ...october } });
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
  });

  it('one statement as JSON and as a CSV download, for the operator and for its partner', async () => {
    const st = await close('P-BOOK');
    for (const token of [w.tokens.operator, w.tokens.partner]) {
      expect((await w.call('GET', `/api/v1/statements/${st.id}`, { token })).json()).toMatchObject({ id: st.id, totalCents: 700 });
      const csv = await w.call('GET', `/api/v1/statements/${st.id}/csv`, { token });
      expect(csv.statusCode).toBe(200);
      expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(csv.headers['content-disposition']).toBe(`attachment; filename="${st.id}.csv"`);
      expect(csv.body.startsWith('\uFEFFreleve;partenaire_id;')).toBe(true);
      expect(csv.body).toContain(`${st.id};P-BOOK;Librairie des Canuts;2022-10-01;2022-10-31;prêt;`);
      expect(csv.body).not.toContain(CARD);
    }
    const unknown = await w.call('GET', '/api/v1/statements/ST-NONE');
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
  });

  it('lists statements: the operator all of them or by filter, a partner only its own; the CSV of a filter', async () => {
    const book = await close('P-BOOK');
    const cine = await close('P-CINE');
    const ids = async (url: string, token = w.tokens.operator) => ((await w.call('GET', url, { token })).json() as { statements: { id: string }[] }).statements.map((s) => s.id);
    expect(await ids('/api/v1/statements')).toEqual([book.id, cine.id]);
    expect(await ids('/api/v1/statements?partnerId=P-CINE')).toEqual([cine.id]);
    expect(await ids('/api/v1/statements?status=paid')).toEqual([]);
    expect(await ids('/api/v1/statements', w.tokens.partner)).toEqual([book.id]);
    const csv = await w.call('GET', '/api/v1/statements/csv', { token: w.tokens.partner });
    expect(csv.statusCode).toBe(200);
    expect(csv.body).toContain(book.id);
    expect(csv.body).not.toContain(cine.id);
  });
});

describe('statement runs', () => {
  it('R11 closes the period for every partner with something to state, skipping one already stated and those with nothing (no empty statement, held or not); a period not over refuses the run', async () => {
    await close('P-BOOK');
    // Its convention starts after the period: nothing to state, and said so.
    await w.ledger.addPartner({ id: 'P-NEW', name: 'Nouvelle librairie', type: 'bookshop', conventionFrom: '2022-11-15', conventionTo: '2027-05-31' });
    const res = await w.call('POST', '/api/v1/statement-runs', { body: october });
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json() as { statements: { partnerId: string; totalCents: number }[]; skipped: { partnerId: string; code: string; reason: string }[] };
    expect(body.statements.map((x) => x.partnerId)).toEqual(['P-CINE']);
    expect(body.statements[0]?.totalCents).toBeGreaterThan(0);
    const skipped = Object.fromEntries(body.skipped.map((x) => [x.partnerId, x.code]));
    expect(skipped).toEqual({ 'P-AIDE': 'NOTHING_TO_STATE', 'P-BOOK': 'PERIOD_INVALID', 'P-BOOK2': 'NOTHING_TO_STATE', 'P-EQUI': 'NOTHING_TO_STATE', 'P-NEW': 'NOTHING_TO_STATE', 'P-VENU': 'NOTHING_TO_STATE' });
    expect(body.skipped.find((x) => x.partnerId === 'P-NEW')?.reason).toBe('no statement for P-NEW: its convention starts on 2022-11-15, after the period');
    // The equipment shop got no empty statement left "held".
    expect(await w.ledger.statements({ partnerId: 'P-EQUI' })).toEqual([]);
    const alone = await w.call('POST', '/api/v1/statements', { body: { partnerId: 'P-VENU', ...october } });
    expect([alone.statusCode, codeOf(alone)]).toEqual([422, 'NOTHING_TO_STATE']);
    const early = await w.call('POST', '/api/v1/statement-runs', { body: { periodFrom: '2022-11-01', periodTo: '2022-11-30' } });
    expect([early.statusCode, codeOf(early)]).toEqual([422, 'PERIOD_INVALID']);
    expect((await w.ledger.statements({})).filter((x) => x.periodFrom === '2022-11-01')).toEqual([]);
  });
});

describe('SEPA export', () => {
  const exportOf = (body: unknown) => w.call('POST', '/api/v1/sepa-exports', { body });

  it('pays ready statements: a valid pain.001.001.03 file, and the statements are paid', async () => {
    const st = await close('P-BOOK');
    const res = await exportOf({ statementIds: [st.id], executionDate: '2022-11-04' });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="PSR-20221102T080000-[0-9a-f]{8}\.xml"$/);
    checkPain001(res.body);
    expect(res.body).toContain('<InstdAmt Ccy="EUR">7.00</InstdAmt>');
    expect(res.body).toContain('<IBAN>FR7630001007941234567890185</IBAN>');
    expect((await w.ledger.statement(st.id))?.status).toBe('paid');
    const twice = await exportOf({ statementIds: [st.id], executionDate: '2022-11-04' });
    expect([twice.statusCode, codeOf(twice)]).toEqual([422, 'DATA_INVALID']);
    // The file is kept: a lost download is fetched again, byte for byte.
    const fileId = /filename="(PSR-[^"]+)\.xml"/.exec(String(res.headers['content-disposition']))![1]!;
    const again = await w.call('GET', `/api/v1/sepa-exports/${fileId}`);
    expect(again.statusCode).toBe(200);
    expect(again.body).toBe(res.body);
    expect((await w.ledger.sepaFile(fileId))?.statementIds).toEqual([st.id]);
  });

  it('a partner without bank details is 422 naming it, and nothing is paid', async () => {
    const book = await close('P-BOOK');
    const cine = await close('P-CINE');
    const res = await exportOf({ statementIds: [book.id, cine.id], executionDate: '2022-11-04' });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: { code: 'DATA_INVALID', partnerId: 'P-CINE', message: expect.stringContaining('P-CINE') } });
    expect((await w.ledger.statement(book.id))?.status).toBe('ready');
  });

  it('a bank detail only the SEPA schema refuses names the partner too; a past execution date refuses the file', async () => {
    const book = await close('P-BOOK');
    // ISO 9362 allows a location code starting with 0 (a test BIC); the pain.001 schema does not.
    await w.ledger.updatePartner('P-BOOK', { bic: 'BNPAFR0PXXX' });
    const res = await exportOf({ statementIds: [book.id], executionDate: '2022-11-04' });
    expect(res.json()).toMatchObject({ error: { code: 'DATA_INVALID', partnerId: 'P-BOOK' } });
    await w.ledger.updatePartner('P-BOOK', { bic: 'BNPAFRPPXXX' });
    const past = await exportOf({ statementIds: [book.id], executionDate: '2022-10-01' });
    expect([past.statusCode, codeOf(past)]).toEqual([422, 'DATA_INVALID']);
    expect((await w.ledger.statement(book.id))?.status).toBe('ready');
  });

  it('held statements are not paid; without ids, every ready statement owed something is', async () => {
    await sell(w.ledger, 'T-EQUI-01', CARD, 'PRO_EQUIPMENT', 8000, NOW);
    const held = await close('P-EQUI');
    const book = await close('P-BOOK');
    const refused = await exportOf({ statementIds: [held.id], executionDate: '2022-11-04' });
    expect([refused.statusCode, codeOf(refused)]).toEqual([422, 'DATA_INVALID']);
    const res = await exportOf({ executionDate: '2022-11-04' });
    expect(res.statusCode, res.body).toBe(200);
    checkPain001(res.body);
    expect((await w.ledger.statement(book.id))?.status).toBe('paid');
    expect((await w.ledger.statement(held.id))?.status).toBe('held');
  });
});
