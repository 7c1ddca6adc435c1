import { describe, expect, it } from 'vitest';
import { codeOf } from '../../tests/helpers/errors.ts';
import { type OpenLedger, seededLedger, at, NOW, DAY, CARD, T, sell } from './fixture.contract.ts';

/** The corrections' contract: a partner's cancellation, the Region's reversal. */
export function correctionsContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('corrections', () => {
      it('a partner cancels its own sale the same day; the value returns to the wallet once', async () => {
        const { body } = await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 1200 });
        expect(await codeOf(async () => await l.cancelSale(body.txnId, 'P-BOOK2', NOW + 1000))).toBe('NOT_YOUR_SALE');
        expect(await codeOf(async () => await l.cancelSale(body.txnId, 'P-BOOK', NOW + DAY))).toBe('NOT_SAME_DAY');
        expect(await l.cancelSale(body.txnId, 'P-BOOK', NOW + 3600_000)).toEqual({ txnId: body.txnId, amount: 1200, unit: 'cent', to: 'wallet' });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        expect(await codeOf(async () => await l.cancelSale(body.txnId, 'P-BOOK', NOW + 3600_000))).toBe('ALREADY_CORRECTED');
        expect(await codeOf(async () => await l.reverseSale(body.txnId, 'double', NOW + DAY))).toBe('ALREADY_CORRECTED');
        expect(await codeOf(async () => await l.cancelSale('0190a000-0000-7000-8000-000000000000', 'P-BOOK', NOW))).toBe('SALE_UNKNOWN');
        expect(await l.audit()).toEqual([]);
      });

      it('the Region reverses a sale later; after the window ended the value goes back to the Region', async () => {
        const a = (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 500 })).body;
        const b = (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 300 })).body;
        expect(await l.reverseSale(a.txnId, 'livre non fourni', NOW + 10 * DAY)).toMatchObject({ to: 'wallet', amount: 500 });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
        expect(await l.reverseSale(b.txnId, 'erreur de caisse', at('2023-07-15T10:00:00+02:00'))).toMatchObject({ to: 'region', amount: 300 });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
        const m = (await sell(l, { terminal: T.museum, card: CARD, benefit: 'MUSEUM', amount: 3 })).body;
        expect(await l.reverseSale(m.txnId, 'visite annulée', NOW + DAY)).toMatchObject({ to: 'region', amount: 3, unit: 'entry' });
        expect(await l.audit()).toEqual([]);
      });
    });
  });
}
