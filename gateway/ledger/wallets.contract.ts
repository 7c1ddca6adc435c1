import { describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { isPasserelleError } from '../../protocol/errors.ts';
import { codeOf, thrown } from '../../tests/helpers/errors.ts';
import { defaultWindows } from '../campaigns.ts';
import { sweepExpired } from '../expiry.ts';
import { type OpenLedger, seededLedger, at, NOW, DAY, CARD, BARE, T, seed, sell } from './fixture.contract.ts';

/** The wallets' contract: validity windows (R6), expiry (R7), revalidation (R8), loads and bulk loads. */
export function walletsContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('campaigns and windows', () => {
      it('R6 school books are usable from 7 June to 31 May, local time', async () => {
        const sb = async (when: number) => (await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 100, when })).reply;
        expect(await sb(at('2022-06-06T23:30:00+02:00'))).toMatchObject({ code: 'BENEFIT_NOT_YET_VALID' });
        expect((await sb(at('2022-06-07T00:30:00+02:00'))).status).toBe('approved');
        expect((await sb(at('2023-05-31T23:30:00+02:00'))).status).toBe('approved');
        expect(await sb(at('2023-06-01T00:30:00+02:00'))).toMatchObject({ code: 'BENEFIT_EXPIRED' });
      });

      it('R6 culture, sport and health are usable from 1 September to 30 June', async () => {
        const lb = async (when: number) => (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100, when })).reply;
        expect(await lb(at('2022-08-31T23:59:00+02:00'))).toMatchObject({ code: 'BENEFIT_NOT_YET_VALID' });
        expect((await lb(at('2022-09-01T00:01:00+02:00'))).status).toBe('approved');
        expect((await lb(at('2023-06-30T23:59:00+02:00'))).status).toBe('approved');
        expect(await lb(at('2023-07-01T00:01:00+02:00'))).toMatchObject({ code: 'BENEFIT_EXPIRED' });
        expect((await sell(l, { terminal: T.aid, card: CARD, benefit: 'FIRST_AID', amount: 6000, when: at('2023-07-01T09:00:00+02:00') })).reply).toMatchObject({ code: 'BENEFIT_EXPIRED' });
      });

      it('R6 the driving-licence aid lasts 24 months from its loading, past the campaign and the convention of the youth', async () => {
        // Loaded on 1 September 2022: usable until 31 August 2024 included.
        const dl = async (when: number) => (await sell(l, { terminal: T.auto, card: CARD, benefit: 'DRIVING_LICENCE', amount: 10000, when })).reply;
        expect(await dl(at('2024-05-10T10:00:00+02:00'))).toMatchObject({ status: 'approved', balanceAfter: 40000 });
        expect(await dl(at('2024-08-31T23:00:00+02:00'))).toMatchObject({ status: 'approved', balanceAfter: 30000 });
        expect(await dl(at('2024-09-01T08:00:00+02:00'))).toMatchObject({ code: 'BENEFIT_EXPIRED' });
      });

      it('R7 expiry returns unspent value to the Region, never carried over or moved to another benefit', async () => {
        await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 400 });
        const end = at('2023-07-01T00:00:00+02:00');
        // School books and equipment ended on 31 May; culture, sport and health on 30 June.
        expect(await l.expire(end - 1)).toEqual({ wallets: 2, returned: { cent: 5000 + 20000, entry: 0 }, done: true });
        const r = await l.expire(end);
        expect(r.returned.cent).toBe(1100 + 3000 + 6000 + 300 + 300 + 1000);
        expect(r.returned.entry).toBe(5);
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(0);
        expect(await l.walletBalance(CARD, 'DRIVING_LICENCE')).toBe(50000);
        expect(await l.expire(end + DAY)).toEqual({ wallets: 0, returned: { cent: 0, entry: 0 }, done: true });
        // The next campaign starts from what is loaded into it, nothing more.
        await l.load({ cardNumber: CARD, benefit: 'LEISURE_BOOKS', campaign: '2023-2024', amount: 1500, at: at('2023-08-20T10:00:00+02:00') });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS', at('2023-09-02T10:00:00+02:00'))).toBe(1500);
        expect(await l.audit()).toEqual([]);
      });

      it('R7 a sweep in short steps returns the same as one sweep, and a stopped one is finished by the next', async () => {
        const end = at('2023-07-01T00:00:00+02:00');
        const whole = await open();
        await seed(whole);
        const once = await whole.expire(end);
        await whole.close();
        expect(await l.expire(end, 3)).toMatchObject({ wallets: 3, done: false });
        const rest = await sweepExpired(l, end, { walletsPerStep: 2 });
        expect(rest.wallets + 3).toBe(once.wallets);
        expect(rest.steps).toBeGreaterThan(1);
        expect(await l.expire(end)).toMatchObject({ wallets: 0, done: true });
        expect(await l.audit()).toEqual([]);
      });

      it('R8 revalidation loads the new campaign at once', async () => {
        const june = at('2023-06-10T10:00:00+02:00');
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 100, when: june })).reply).toMatchObject({ code: 'BENEFIT_EXPIRED' });
        await l.load({ cardNumber: CARD, benefit: 'SCHOOL_BOOKS', campaign: '2023-2024', amount: 5000, at: june });
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 100, when: june + 1000 })).reply).toMatchObject({ status: 'approved', balanceAfter: 4900 });
      });

      it('refuses a reload during the year, except the second instalment of professional equipment', async () => {
        expect(await codeOf(async () => await l.load({ cardNumber: CARD, benefit: 'LEISURE_BOOKS', campaign: '2022-2023', amount: 100, at: NOW }))).toBe('DATA_INVALID');
        // The second instalment comes while the window is open; after it, the wallet takes nothing more.
        expect(await codeOf(async () => await l.load({ cardNumber: CARD, benefit: 'PRO_EQUIPMENT', campaign: '2022-2023', amount: 1000, at: at('2023-06-02T10:00:00+02:00') }))).toBe('DATA_INVALID');
        await l.load({ cardNumber: CARD, benefit: 'PRO_EQUIPMENT', campaign: '2022-2023', amount: 30000, at: NOW });
        expect(await l.walletBalance(CARD, 'PRO_EQUIPMENT')).toBe(50000);
        expect(await codeOf(async () => await l.load({ cardNumber: CARD, benefit: 'PRO_EQUIPMENT', campaign: '2022-2023', amount: 1, at: NOW }))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.load({ cardNumber: BARE, benefit: 'SPORT', campaign: '2022-2023', amount: 6001, at: NOW }))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.load({ cardNumber: BARE, benefit: 'MUSEUM', campaign: '2022-2023', amount: 1, at: NOW }))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.load({ cardNumber: BARE, benefit: 'SPORT', campaign: '2031-2032', amount: 100, at: NOW }))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.load({ cardNumber: BARE, benefit: 'SPORT', campaign: '2022-2023', amount: 100, at: at('2023-07-02T10:00:00+02:00') }))).toBe('DATA_INVALID');
        expect(await l.audit()).toEqual([]);
      });

      it('refuses malformed campaigns', async () => {
        expect(await codeOf(async () => await l.addCampaign({ id: '2024-2026', windows: defaultWindows('2023-2024') }))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.addCampaign({ id: '2024-2025', windows: defaultWindows('2024-2025').slice(1) }))).toBe('DATA_INVALID');
        // An existing campaign is said so, never with the storage's own words (issue 12, item 4).
        expect(await thrown(async () => await l.addCampaign({ id: '2022-2023', windows: defaultWindows('2022-2023') }))).toMatchObject({ code: 'ALREADY_EXISTS', message: 'campaign 2022-2023 already exists' });
      });
    });

    describe('bulk load', () => {
      it('loads new cards and their benefits, all or none, naming the bad line', async () => {
        const row = (line: number, n: string, amount: number) => ({
          line,
          cardNumber: cardNumberFrom(n),
          dossierId: `DOS-${n}`,
          holder: `Jeune ${line}`,
          campaign: '2022-2023',
          loads: [{ benefit: 'SPORT' as const, amount }, { benefit: 'MUSEUM' as const, amount: 0 }],
        });
        let thrown: unknown;
        try {
          await l.bulkLoad([row(2, '200000000000001', 3000), row(3, '200000000000002', 99999)], NOW);
        } catch (e) {
          thrown = e;
        }
        expect(isPasserelleError(thrown, 'BULK_LOAD_INVALID') && thrown.message).toMatch(/^line 3: /);
        expect(await l.card(cardNumberFrom('200000000000001'))).toBeUndefined();
        expect(await l.bulkLoad([row(2, '200000000000001', 3000), row(3, '200000000000002', 6000)], NOW)).toEqual({ cards: 2, loads: 4 });
        expect(await l.walletBalance(cardNumberFrom('200000000000002'), 'SPORT')).toBe(6000);
        // R8: the next campaign's file loads the same dossiers at once.
        const next = { ...row(2, '200000000000001', 3000), campaign: '2023-2024' };
        await l.bulkLoad([next], at('2023-09-01T08:00:00+02:00'));
        expect((await l.wallets(next.cardNumber, at('2023-09-02T08:00:00+02:00'))).filter((w) => w.usable).map((w) => w.campaign)).toEqual(['2023-2024', '2023-2024']);
        // The loaded youths are found by name, each once (the rolled-back load and the reload index nothing twice).
        expect((await l.searchCards({ holder: 'jeune' }, 10)).map((c) => c.number)).toEqual([cardNumberFrom('200000000000001'), cardNumberFrom('200000000000002')]);
        expect(await l.audit()).toEqual([]);
      });
    });
  });
}
