import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import { parseCredential, verifyCredential } from '../../protocol/card-app.ts';
import { parseQrCredential } from '../../protocol/qr-payload.ts';
import { b64url, naclVerifier, nodeSigner } from '../../protocol/crypto.ts';
import { apiWorld, BARE, CARD, DAY, codeOf, NOW, POOR, sell, testIssuer, UNKNOWN_CARD, type ApiWorld } from '../../tests/helpers/api-world.ts';

const NB = '\u00a0';
let w: ApiWorld;
beforeEach(async () => {
  w = await apiWorld();
});
afterEach(() => w.close());

interface Wallet { benefit: string; balance: number; balanceText: string; loadedText: string; validFrom: string; validTo: string; suspended: boolean; usable: boolean }
interface Card { number: string; dossierId: string; holder: string; status: string; pin: { set: boolean; locked: boolean }; wallets: Wallet[] }

const getCard = async (number = CARD) => (await w.call('GET', `/api/v1/cards/${number}`)).json() as Card;
const wallet = (c: Card, benefit: string) => c.wallets.find((x) => x.benefit === benefit);

describe('reading a card', () => {
  it('shows the masked number, holder, status, code state and wallets in unit and in French', async () => {
    await sell(w.ledger, 'T-BOOK-01', CARD, 'LEISURE_BOOKS', 250, NOW);
    const c = await getCard();
    expect(c).toMatchObject({ number: '1000********0016', dossierId: 'DOS-0016', holder: 'Léa Martin', status: 'active', pin: { set: false, locked: false } });
    expect(wallet(c, 'LEISURE_BOOKS')).toMatchObject({ balance: 1250, balanceText: `12,50${NB}€`, loadedText: `15,00${NB}€`, validFrom: '2022-09-01', validTo: '2023-06-30', usable: true });
    expect(wallet(c, 'CINEMA')).toMatchObject({ balance: 5, balanceText: `5${NB}entrées` });
    expect(wallet(c, 'MUSEUM')).toMatchObject({ balanceText: 'accès libre' });
    expect(wallet(c, 'PRO_EQUIPMENT')).toMatchObject({ validFrom: '2022-06-07', validTo: '2023-05-31' });
    expect(JSON.stringify(c)).not.toContain(CARD);
  });

  it('finds a card without its number (by name, dossier or first and last four digits) and acts on it through its reference', async () => {
    const search = async (q: string) => {
      const res = await w.call('GET', `/api/v1/cards?${q}`);
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).not.toContain(CARD);
      return (res.json() as { cards: { ref: string; number: string; holder: string; dossierId: string; status: string }[] }).cards;
    };
    const [found] = await search(`holder=${encodeURIComponent('lea MARTIN')}`);
    expect(found).toMatchObject({ number: '1000********0016', holder: 'Léa Martin', dossierId: 'DOS-0016', status: 'active', ref: expect.stringMatching(/^C[A-Za-z0-9_-]{22}$/) });
    expect((await search('dossierId=DOS-0016')).map((c) => c.ref)).toEqual([found!.ref]);
    expect((await search('first4=1000&last4=0016')).map((c) => c.ref)).toEqual([found!.ref]);
    expect(await search('holder=nobody')).toEqual([]);
    // The reference opens the card and acts on it like the number.
    expect((await getCard(found!.ref)).holder).toBe('Léa Martin');
    const suspend = await w.call('POST', `/api/v1/cards/${found!.ref}/suspensions`, { body: { benefit: 'SHOWS', campaign: '2022-2023', reason: 'incivilité' } });
    expect(suspend.statusCode, suspend.body).toBe(204);
    expect(wallet(await getCard(), 'SHOWS')?.suspended).toBe(true);
    // No criterion, or a forged reference: refused, nothing revealed.
    expect(codeOf(await w.call('GET', '/api/v1/cards'))).toBe('DATA_INVALID');
    const forged = await w.call('GET', `/api/v1/cards/C${'A'.repeat(22)}`);
    expect([forged.statusCode, codeOf(forged)]).toEqual([404, 'NOT_FOUND']);
  });

  it('an unknown card is 404 NOT_FOUND, without its number', async () => {
    const res = await w.call('GET', `/api/v1/cards/${UNKNOWN_CARD}`);
    expect(res.statusCode).toBe(404);
    expect(codeOf(res)).toBe('NOT_FOUND');
    expect(res.body).not.toContain(UNKNOWN_CARD);
  });

  it('history: newest first, at most `limit` entries, amounts in French', async () => {
    await sell(w.ledger, 'T-BOOK-01', CARD, 'LEISURE_BOOKS', 300, NOW);
    const res = await w.call('GET', `/api/v1/cards/${CARD}/history?limit=2`);
    expect(res.statusCode, res.body).toBe(200);
    const { entries } = res.json() as { entries: { kind: string; amount: number; amountText: string; partnerId: string | null }[] };
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({ kind: 'debit', amount: -300, amountText: `-3,00${NB}€`, partnerId: 'P-BOOK' });
  });
});

describe('the Region acts on a card', () => {
  it('issues a card in a new dossier whose id is not the card number, then loads a benefit once', async () => {
    const number = cardNumberFrom('100000000000077');
    const res = await w.call('POST', '/api/v1/cards', { body: { number, holder: 'Nina Caron' } });
    expect(res.statusCode, res.body).toBe(201);
    const card = res.json() as Card;
    expect(card).toMatchObject({ number: `1000********${number.slice(-4)}`, holder: 'Nina Caron', status: 'active', wallets: [] });
    expect(card.dossierId).toMatch(/^D-[0-9a-f-]{36}$/);
    expect((await w.ledger.card(number))?.dossierId).toBe(card.dossierId);
    const load = await w.call('POST', `/api/v1/cards/${number}/loads`, { body: { benefit: 'SPORT', campaign: '2022-2023', amount: 3000 } });
    expect(load.statusCode, load.body).toBe(201);
    expect(load.json()).toEqual({ card: `1000********${number.slice(-4)}`, benefit: 'SPORT', campaign: '2022-2023', unit: 'cent', amount: 3000, amountText: `30,00${NB}€` });
    const again = await w.call('POST', `/api/v1/cards/${number}/loads`, { body: { benefit: 'SPORT', campaign: '2022-2023', amount: 100 } });
    expect([again.statusCode, codeOf(again)]).toEqual([422, 'DATA_INVALID']);
    const twice = await w.call('POST', '/api/v1/cards', { body: { number, holder: 'Nina Caron' } });
    expect([twice.statusCode, codeOf(twice)]).toEqual([409, 'ALREADY_EXISTS']);
    const luhn = await w.call('POST', '/api/v1/cards', { body: { number: '1000000000000770', holder: 'x' } });
    expect([luhn.statusCode, codeOf(luhn)]).toEqual([422, 'DATA_INVALID']);
  });

  it('R4 opposes a lost card: 5 € fee, masked replacement; a second opposition is 409 CARD_NOT_ACTIVE', async () => {
    const replacement = cardNumberFrom('100000000000011');
    const res = await w.call('POST', `/api/v1/cards/${CARD}/opposition`, { body: { reason: 'lost', replacementNumber: replacement } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ feeCents: 500, feeText: `5,00${NB}€`, feeFrom: { benefit: 'LEISURE_BOOKS', campaign: '2022-2023' }, replacement: `1000********${replacement.slice(-4)}` });
    expect((await getCard()).status).toBe('opposed');
    expect(wallet(await getCard(replacement), 'LEISURE_BOOKS')?.balance).toBe(1000);
    const again = await w.call('POST', `/api/v1/cards/${CARD}/opposition`, { body: { reason: 'stolen' } });
    expect([again.statusCode, codeOf(again)]).toEqual([409, 'CARD_NOT_ACTIVE']);
    const unknown = await w.call('POST', `/api/v1/cards/${UNKNOWN_CARD}/opposition`, { body: { reason: 'stolen' } });
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
  });

  it('R5 suspends one benefit, then lifts it; lifting what is not suspended is 404', async () => {
    const suspend = await w.call('POST', `/api/v1/cards/${CARD}/suspensions`, { body: { benefit: 'CINEMA', campaign: '2022-2023', reason: 'incivilité' } });
    expect(suspend.statusCode, suspend.body).toBe(204);
    expect(wallet(await getCard(), 'CINEMA')).toMatchObject({ suspended: true, usable: false });
    expect(wallet(await getCard(), 'SHOWS')).toMatchObject({ suspended: false });
    const all = await w.call('POST', `/api/v1/cards/${POOR}/suspensions`, { body: { benefit: null, campaign: '2022-2023', reason: 'incivilité grave' } });
    expect(all.statusCode).toBe(204);
    expect((await getCard(POOR)).wallets.every((x) => x.suspended)).toBe(true);
    const lift = await w.call('DELETE', `/api/v1/cards/${CARD}/suspensions?campaign=2022-2023&benefit=CINEMA`);
    expect(lift.statusCode, lift.body).toBe(204);
    expect(wallet(await getCard(), 'CINEMA')).toMatchObject({ suspended: false });
    const again = await w.call('DELETE', `/api/v1/cards/${CARD}/suspensions?campaign=2022-2023&benefit=CINEMA`);
    expect([again.statusCode, codeOf(again)]).toEqual([404, 'NOT_FOUND']);
    expect((await w.call('DELETE', `/api/v1/cards/${POOR}/suspensions?campaign=2022-2023`)).statusCode).toBe(204);
  });

  it('R5 suspends a group of benefits (culture) in one call, and lifts the group in one; benefit and group together are refused', async () => {
    const suspend = await w.call('POST', `/api/v1/cards/${CARD}/suspensions`, { body: { group: 'culture', campaign: '2022-2023', reason: 'incivilité' } });
    expect(suspend.statusCode, suspend.body).toBe(204);
    const card = await getCard();
    expect(card.wallets.filter((x) => x.suspended).map((x) => x.benefit).sort()).toEqual(['CINEMA', 'LEISURE_BOOKS', 'MUSEUM', 'SHOWS']);
    expect(wallet(card, 'PRO_EQUIPMENT')).toMatchObject({ suspended: false });
    const both = await w.call('POST', `/api/v1/cards/${CARD}/suspensions`, { body: { benefit: 'SPORT', group: 'school', campaign: '2022-2023', reason: 'x' } });
    expect([both.statusCode, codeOf(both)]).toEqual([400, 'BAD_SCHEMA']);
    const neither = await w.call('POST', `/api/v1/cards/${CARD}/suspensions`, { body: { campaign: '2022-2023', reason: 'x' } });
    expect([neither.statusCode, codeOf(neither)]).toEqual([400, 'BAD_SCHEMA']);
    const lift = await w.call('DELETE', `/api/v1/cards/${CARD}/suspensions?campaign=2022-2023&group=culture`);
    expect(lift.statusCode, lift.body).toBe(204);
    expect((await getCard()).wallets.some((x) => x.suspended)).toBe(false);
  });

  it('R3 lifts a code lock without ever taking a code', async () => {
    const wrong = (terminalId: string, benefit: 'LEISURE_BOOKS' | 'SHOWS' = 'LEISURE_BOOKS') => debitItem(debitBody({ terminalId, cardNumber: CARD, benefit, amount: 100, createdAt: NOW }), 'incorrect');
    // Three partners, two days: nine wrong codes lock it.
    await w.ledger.commitDebits([wrong('T-BOOK-01'), wrong('T-BOOK-01'), wrong('T-BOOK-01'), wrong('T-BOOK2-01'), wrong('T-BOOK2-01'), wrong('T-BOOK2-01')], NOW);
    expect((await getCard()).pin).toMatchObject({ locked: false, blockedToday: true, wrongSinceRight: 6 });
    await w.ledger.commitDebits([wrong('T-VENU-01', 'SHOWS'), wrong('T-VENU-01', 'SHOWS'), wrong('T-VENU-01', 'SHOWS')], NOW + DAY);
    expect((await getCard()).pin).toMatchObject({ locked: true, wrongSinceRight: 9 });
    expect((await w.call('POST', `/api/v1/cards/${CARD}/pin-unlock`)).statusCode).toBe(204);
    expect((await getCard()).pin).toEqual({ set: false, locked: false, blockedToday: false, wrongSinceRight: 0 });
    const routes = w.app.printRoutes({ commonPrefix: false });
    expect(routes).not.toMatch(/\bpin\b(?!-unlock)/);
  });
});

describe('bulk load of the start-of-year file', () => {
  const header = 'card_number;dossier_id;holder;campaign;SPORT;CINEMA;MUSEUM\n';
  const row = (payload: string, sport: string) => `${cardNumberFrom(payload)};DOS-${payload.slice(-4)};Jeune ${payload.slice(-2)};2022-2023;${sport};5;1\n`;

  it('loads every row of a good file in one go', async () => {
    const res = await w.call('POST', '/api/v1/bulk-loads', { csv: header + row('200000000000001', '3000') + row('200000000000002', '6000') });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toEqual({ cards: 2, loads: 6 });
    expect(await w.ledger.walletBalance(cardNumberFrom('200000000000002'), 'SPORT')).toBe(6000);
  });

  it('refuses a file with bad rows, listing them by line, and loads nothing', async () => {
    const csv = header + row('200000000000001', '3000') + row('200000000000002', '99999') + '1234;D-X;x;2022-2023;1;;\n';
    const res = await w.call('POST', '/api/v1/bulk-loads', { csv });
    expect(res.statusCode).toBe(422);
    const { error } = res.json() as { error: { code: string; lines: { line: number; message: string }[]; lineErrors: number } };
    expect(error.code).toBe('BULK_LOAD_INVALID');
    expect(error.lines.map((l) => l.line)).toEqual([3, 4]);
    expect(error.lineErrors).toBe(2);
    expect(await w.ledger.card(cardNumberFrom('200000000000001'))).toBeUndefined();
  });

  it('a bad header is refused the same way, at line 1', async () => {
    const res = await w.call('POST', '/api/v1/bulk-loads', { csv: 'card_number;holder;CANDY\n' });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: { code: 'BULK_LOAD_INVALID', lines: [{ line: 1 }] } });
  });

  it('a row the ledger refuses (unknown campaign) names its line and loads nothing', async () => {
    const csv = header + row('200000000000001', '3000') + row('200000000000002', '3000').replace('2022-2023', '2031-2032');
    const res = await w.call('POST', '/api/v1/bulk-loads', { csv });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json()).toMatchObject({ error: { code: 'BULK_LOAD_INVALID', lines: [{ line: 3 }] } });
    expect(await w.ledger.card(cardNumberFrom('200000000000001'))).toBeUndefined();
  });

  it('only as text/csv, and not above the configured size', async () => {
    const json = await w.call('POST', '/api/v1/bulk-loads', { body: { rows: [] } });
    expect([json.statusCode, codeOf(json)]).toEqual([415, 'BAD_SCHEMA']);
    const small = await apiWorld({ api: { bulkLoadMaxBytes: 200 } });
    const big = header + Array.from({ length: 10 }, (_, i) => row(`20000000000001${i}`, '3000')).join('');
    const res = await small.call('POST', '/api/v1/bulk-loads', { csv: big });
    expect([res.statusCode, codeOf(res)]).toEqual([413, 'BULK_LOAD_INVALID']);
    // Without a content-length (a chunked upload) the limit holds as the bytes stream in.
    const chunked = await small.app.inject({
      method: 'POST',
      url: '/api/v1/bulk-loads',
      headers: { authorization: `Bearer ${small.tokens.operator}`, 'content-type': 'text/csv', 'transfer-encoding': 'chunked' },
      payload: big,
    });
    expect([chunked.statusCode, codeOf(chunked)]).toEqual([413, 'BULK_LOAD_INVALID']);
    await small.close();
    expect(await w.ledger.card(BARE)).toBeDefined();
  });
});

describe('personalising a card (issuer-signed credential)', () => {
  it('signs the chip key with the issuer key; a terminal holding the issuer key accepts the card', async () => {
    const chip = nodeSigner(new Uint8Array(32).fill(3));
    const res = await w.call('POST', `/api/v1/cards/${CARD}/credential`, { body: { cardPublicKey: b64url(chip.publicKey), expiry: '2027-08-31' } });
    expect(res.statusCode, res.body).toBe(201);
    const out = res.json() as { card: string; expiry: string; issuerKeyIndex: number; credential: string };
    expect(out).toMatchObject({ card: '1000********0016', expiry: '2027-08-31', issuerKeyIndex: 1 });
    expect(res.body).not.toContain(CARD);
    const credential = parseCredential(Buffer.from(out.credential, 'base64url'));
    expect(credential).toMatchObject({ cardNumber: CARD, expiry: '2027-08-31', cardPublicKey: chip.publicKey });
    verifyCredential(credential, new Map([[1, testIssuer.publicKey]]), naclVerifier);
  });

  it('refuses an unknown or opposed card, a past or impossible expiry, a malformed key', async () => {
    const key = b64url(new Uint8Array(32).fill(4));
    const unknown = await w.call('POST', `/api/v1/cards/${UNKNOWN_CARD}/credential`, { body: { cardPublicKey: key, expiry: '2027-08-31' } });
    expect([unknown.statusCode, codeOf(unknown)]).toEqual([404, 'NOT_FOUND']);
    for (const expiry of ['2000-01-01', '2027-02-30']) {
      const bad = await w.call('POST', `/api/v1/cards/${CARD}/credential`, { body: { cardPublicKey: key, expiry } });
      expect([bad.statusCode, codeOf(bad)], expiry).toEqual([422, 'DATA_INVALID']);
    }
    const shortKey = await w.call('POST', `/api/v1/cards/${CARD}/credential`, { body: { cardPublicKey: 'abc', expiry: '2027-08-31' } });
    expect([shortKey.statusCode, codeOf(shortKey)]).toEqual([400, 'BAD_SCHEMA']);
    await w.call('POST', `/api/v1/cards/${CARD}/opposition`, { body: { reason: 'broken' } });
    const opposed = await w.call('POST', `/api/v1/cards/${CARD}/credential`, { body: { cardPublicKey: key, expiry: '2027-08-31' } });
    expect([opposed.statusCode, codeOf(opposed)]).toEqual([409, 'CARD_NOT_ACTIVE']);
  });
});

describe("the mobile app's QR code", () => {
  it('is minted for an active card, signed by the issuer key, valid for the asked time; a terminal reads it', async () => {
    const res = await w.call('POST', `/api/v1/cards/${CARD}/app-qr`, { body: { ttlS: 120 } });
    expect(res.statusCode, res.body).toBe(201);
    const { payload, expiresAt } = res.json() as { payload: string; expiresAt: string };
    expect(Date.parse(expiresAt) - NOW).toBeLessThanOrEqual(120_000);
    expect(parseQrCredential(payload, { issuerPublicKey: testIssuer.publicKey, nowMs: NOW + 60_000 })).toMatchObject({ kind: 'app', cardNumber: CARD });
    expect(() => parseQrCredential(payload, { issuerPublicKey: testIssuer.publicKey, nowMs: NOW + 121_000 })).toThrow(/expired|valid/i);
    const opposed = await w.call('POST', `/api/v1/cards/${UNKNOWN_CARD}/app-qr`, { body: {} });
    expect([opposed.statusCode, codeOf(opposed)]).toEqual([404, 'NOT_FOUND']);
  });
});
