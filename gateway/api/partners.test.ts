import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultWindows } from '../campaigns.ts';
import { apiWorld, CARD, codeOf, KEY_B64, NOW, sell, type ApiWorld } from '../../tests/helpers/api-world.ts';

let w: ApiWorld;
beforeEach(async () => {
  w = await apiWorld();
});
afterEach(() => w.close());

const newPartner = { id: 'P-CIN-VBN', name: 'Cinéma Les Lumières (Villeurbanne)', type: 'cinema', conventionFrom: '2022-06-01', conventionTo: '2027-05-31', entryPriceCents: 550 };

/** A real Ed25519 public key in base64url, as a terminal's provisioning produces it. */
function terminalKey(): string {
  const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  return String(jwk.x);
}

describe('partners', () => {
  it('the operator creates a partner with bank details, normalised and checked', async () => {
    const res = await w.call('POST', '/api/v1/partners', { body: { ...newPartner, iban: 'fr76 3000 3020 0000 0234 5670 218', bic: 'sogefrppxxx' } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ ...newPartner, iban: 'FR7630003020000002345670218', bic: 'SOGEFRPPXXX' });
    const again = await w.call('POST', '/api/v1/partners', { body: newPartner });
    expect([again.statusCode, codeOf(again)]).toEqual([409, 'ALREADY_EXISTS']);
  });

  it('refuses a mistyped IBAN or BIC and inverted convention dates with 422 DATA_INVALID', async () => {
    for (const body of [
      { ...newPartner, iban: 'FR7630003020000002345670219' },
      { ...newPartner, bic: 'SOGE-FR-PP' },
      { ...newPartner, conventionFrom: '2027-06-01' },
    ]) {
      const res = await w.call('POST', '/api/v1/partners', { body });
      expect([res.statusCode, codeOf(res)], JSON.stringify(body)).toEqual([422, 'DATA_INVALID']);
    }
    expect(await w.ledger.partner('P-CIN-VBN')).toBeUndefined();
  });

  it('patches the convention, the entry price and the bank details; 404 for an unknown partner', async () => {
    const res = await w.call('PATCH', '/api/v1/partners/P-CINE', { body: { conventionTo: '2028-05-31', entryPriceCents: 600, iban: 'FR7630003020000002345670218', bic: 'SOGEFRPPXXX' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ id: 'P-CINE', conventionTo: '2028-05-31', entryPriceCents: 600, iban: 'FR7630003020000002345670218' });
    const cleared = await w.call('PATCH', '/api/v1/partners/P-CINE', { body: { iban: null, bic: null } });
    expect(cleared.json()).toMatchObject({ iban: null, bic: null });
    const unknown = await w.call('PATCH', '/api/v1/partners/P-NONE', { body: { entryPriceCents: 1 } });
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
  });

  it('a technician reads the basics only: no entry price, no bank details', async () => {
    const op = (await w.call('GET', '/api/v1/partners/P-BOOK')).json() as Record<string, unknown>;
    const tech = (await w.call('GET', '/api/v1/partners/P-BOOK', { token: w.tokens.technician })).json() as Record<string, unknown>;
    expect(op).toHaveProperty('iban');
    expect(tech).toEqual({ id: 'P-BOOK', name: 'Librairie des Canuts', type: 'bookshop', conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
  });

  it("R11 records an equipment shop's yearly proof for the campaign its statement names, releasing it; a wrong year says what is still awaited", async () => {
    await w.ledger.addCampaign({ id: '2021-2022', windows: defaultWindows('2021-2022') });
    await sell(w.ledger, 'T-EQUI-01', CARD, 'PRO_EQUIPMENT', 5000, NOW);
    w.clock.now = Date.parse('2022-11-02T09:00:00+01:00');
    const held = await w.ledger.closeStatement('P-EQUI', '2022-10-01', '2022-10-31', w.clock.now);
    expect(held.status).toBe('held');
    const view = await w.call('GET', `/api/v1/statements/${held.id}`);
    expect(view.json()).toMatchObject({ status: 'held', proofMissing: ['2022-2023'] });
    const wrong = await w.call('POST', '/api/v1/partners/P-EQUI/proofs', { body: { schoolYear: '2021-2022' } });
    expect(wrong.statusCode, wrong.body).toBe(201);
    expect(wrong.json()).toEqual({ partnerId: 'P-EQUI', schoolYear: '2021-2022', released: 0, stillHeld: [{ statementId: held.id, proofMissing: ['2022-2023'] }] });
    const res = await w.call('POST', '/api/v1/partners/P-EQUI/proofs', { body: { schoolYear: '2022-2023' } });
    expect(res.json()).toEqual({ partnerId: 'P-EQUI', schoolYear: '2022-2023', released: 1, stillHeld: [] });
    expect(await w.ledger.statement(held.id)).toMatchObject({ status: 'ready', proofMissing: [] });
    const unknown = await w.call('POST', '/api/v1/partners/P-EQUI/proofs', { body: { schoolYear: '2031-2032' } });
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
    const bookshop = await w.call('POST', '/api/v1/partners/P-BOOK/proofs', { body: { schoolYear: '2022-2023' } });
    expect([bookshop.statusCode, codeOf(bookshop)]).toEqual([422, 'DATA_INVALID']);
  });
});

describe('terminals', () => {
  it('the Region registers a terminal with its Ed25519 key; a technician may switch it off, not on, and never register one', async () => {
    const publicKey = terminalKey();
    const refused = await w.call('POST', '/api/v1/terminals', { token: w.tokens.technician, body: { id: 'T-CINE-02', partnerId: 'P-CINE', publicKey } });
    expect([refused.statusCode, codeOf(refused)]).toEqual([403, 'FORBIDDEN']);
    const res = await w.call('POST', '/api/v1/terminals', { body: { id: 'T-CINE-02', partnerId: 'P-CINE', publicKey, active: false } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ id: 'T-CINE-02', partnerId: 'P-CINE', publicKey, active: false });
    expect(Buffer.from((await w.ledger.terminal('T-CINE-02'))!.publicKey).toString('base64url')).toBe(publicKey);
    expect(codeOf(await w.call('POST', '/api/v1/terminals/T-CINE-02/activate', { token: w.tokens.technician }))).toBe('FORBIDDEN');
    const on = await w.call('POST', '/api/v1/terminals/T-CINE-02/activate');
    expect(on.json()).toMatchObject({ active: true });
    const off = await w.call('POST', '/api/v1/terminals/T-CINE-02/deactivate', { token: w.tokens.technician });
    expect(off.json()).toMatchObject({ active: false });
    const unknown = await w.call('POST', '/api/v1/terminals/T-NONE-01/activate');
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
    const actions = (await w.ledger.auditLog({ subject: 'T-CINE-02', limit: 10 })).map((e) => `${e.action} by ${e.actor}`);
    expect(actions).toEqual(['terminal.deactivated by technician:Installateur', 'terminal.activated by operator:Région', 'terminal.registered by operator:Région']);
  });

  it('refuses a key that is not 32 bytes of base64url, an unknown partner, a taken id', async () => {
    const short = await w.call('POST', '/api/v1/terminals', { body: { id: 'T-CINE-03', partnerId: 'P-CINE', publicKey: KEY_B64.slice(1) } });
    expect([short.statusCode, codeOf(short)]).toEqual([400, 'BAD_SCHEMA']);
    const orphan = await w.call('POST', '/api/v1/terminals', { body: { id: 'T-CINE-03', partnerId: 'P-NONE', publicKey: terminalKey() } });
    expect([orphan.statusCode, codeOf(orphan)]).toEqual([422, 'DATA_INVALID']);
    const taken = await w.call('POST', '/api/v1/terminals', { body: { id: 'T-BOOK-01', partnerId: 'P-BOOK', publicKey: terminalKey() } });
    expect([taken.statusCode, codeOf(taken)]).toEqual([409, 'ALREADY_EXISTS']);
  });

  it('a partner reads its own terminals', async () => {
    const res = await w.call('GET', '/api/v1/terminals/T-BOOK-01', { token: w.tokens.partner });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ id: 'T-BOOK-01', partnerId: 'P-BOOK', publicKey: KEY_B64, active: true });
  });
});

describe('partner and terminal lists', () => {
  it('lists partners (no money for a technician) and a partner lists only its own terminals', async () => {
    const all = await w.call('GET', '/api/v1/partners');
    expect((all.json() as { id: string }[]).map((p) => p.id)).toContain('P-BOOK');
    const tech = await w.call('GET', '/api/v1/partners', { token: w.tokens.technician });
    expect(tech.body).not.toMatch(/iban|entryPriceCents/);
    const own = await w.call('GET', '/api/v1/partners/P-BOOK/terminals', { token: w.tokens.partner });
    expect(own.statusCode).toBe(200);
    expect((own.json() as { id: string }[]).map((t) => t.id)).toContain('T-BOOK-01');
    const other = await w.call('GET', '/api/v1/partners/P-VENU/terminals', { token: w.tokens.partner });
    expect([other.statusCode, codeOf(other)]).toEqual([403, 'FORBIDDEN']);
  });
});
