import { describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { codeOf } from '../../tests/helpers/errors.ts';
import type { Ledger } from './ledger.ts';
import { type OpenLedger, seededLedger, NOW, CARD, POOR, NEW_CARD, T, seed, sell } from './fixture.contract.ts';

/** The cards' contract: opposition and replacement (R1, R4), search, suspension (R5). */
export function cardsContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('card lifecycle', () => {
      it('R4 opposition for loss takes the 5 € fee from the first benefit that can pay it', async () => {
        const r = await l.oppose({ cardNumber: CARD, reason: 'lost', at: NOW, replacement: { number: NEW_CARD } });
        expect(r).toEqual({ feeCents: 500, feeFrom: { benefit: 'LEISURE_BOOKS', campaign: '2022-2023' }, replacement: NEW_CARD });
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({ code: 'CARD_BLOCKED' });
        // R1/R4: the replacement card carries the remaining balances of the youth's dossier.
        expect((await sell(l, { terminal: T.book, card: NEW_CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({ status: 'approved', balanceAfter: 900 });
        expect(await l.walletBalance(NEW_CARD, 'SHOWS')).toBe(3000);
        expect(await codeOf(async () => await l.oppose({ cardNumber: CARD, reason: 'stolen', at: NOW }))).toBe('CARD_NOT_ACTIVE');
        expect(await l.audit()).toEqual([]);
      });

      it('R1 the card number is not the dossier: wallets follow the youth from card to card', async () => {
        await l.oppose({ cardNumber: CARD, reason: 'broken', at: NOW, replacement: { number: NEW_CARD } });
        const card = await l.card(NEW_CARD);
        expect(card).toMatchObject({ dossierId: `D-${CARD}`, holder: 'A', status: 'active' });
        expect(card?.dossierId).not.toBe(NEW_CARD);
        expect((await l.wallets(NEW_CARD, NOW)).map((w) => [w.benefit, w.balance])).toEqual((await l.wallets(CARD, NOW)).map((w) => [w.benefit, w.balance]));
        // A second active card for the same dossier is impossible: the old one must be opposed first.
        expect(await codeOf(async () => await l.issueCard({ number: cardNumberFrom('100000000000029'), dossierId: `D-${CARD}`, holder: 'A', pinHash: null }))).toBe('CARD_ACTIVE_EXISTS');
      });

      it('finds a card without its number: by the holder\'s name in any case and accents, a word\'s start, the dossier, or the first and last four digits', async () => {
        await l.issueCard({ number: cardNumberFrom('100000000000045'), dossierId: 'DOS-2022-0042', holder: 'Léo Martin-Dubois', pinHash: null, at: NOW });
        await l.issueCard({ number: cardNumberFrom('100000000000052'), dossierId: 'DOS-2022-0043', holder: 'Léa Martin', pinHash: null, at: NOW });
        const numbers = async (q: Parameters<Ledger['searchCards']>[0], limit = 10) => (await l.searchCards(q, limit)).map((c) => c.number);
        expect(await numbers({ holder: 'leo martin' })).toEqual([cardNumberFrom('100000000000045')]);
        expect(await numbers({ holder: 'MART' })).toEqual([cardNumberFrom('100000000000052'), cardNumberFrom('100000000000045')]);
        expect(await numbers({ holder: 'dubois, léo' })).toEqual([cardNumberFrom('100000000000045')]);
        expect(await numbers({ holder: 'Martin', dossierId: 'DOS-2022-0043' })).toEqual([cardNumberFrom('100000000000052')]);
        expect(await numbers({ holder: 'Martin' }, 1)).toHaveLength(1);
        const léa = cardNumberFrom('100000000000052');
        expect(await numbers({ first4: léa.slice(0, 4), last4: léa.slice(-4) })).toEqual([léa]);
        expect(await numbers({ last4: léa.slice(-4) })).toEqual([léa]);
        // An opposed card is found too, after the active one of its dossier.
        await l.oppose({ cardNumber: léa, reason: 'lost', at: NOW, replacement: { number: cardNumberFrom('100000000000060') } });
        expect((await l.searchCards({ dossierId: 'DOS-2022-0043' }, 10)).map((c) => [c.number, c.status])).toEqual([
          [cardNumberFrom('100000000000060'), 'active'],
          [léa, 'opposed'],
        ]);
        // Query syntax is taken as words, never as a query: nothing found, nothing broken.
        expect(await numbers({ holder: '"NEAR(a b)" OR *' })).toEqual([]);
        expect(await codeOf(async () => await l.searchCards({ holder: ' - ' }, 10))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.searchCards({}, 10))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.searchCards({ last4: '12' }, 10))).toBe('DATA_INVALID');
      });

      it('R4 the fee order is configurable, and no fee is taken when no benefit can pay it whole', async () => {
        const custom = await open({ replacementFeeCents: 500, replacementFeeOrder: ['SHOWS', 'LEISURE_BOOKS'] });
        await seed(custom);
        expect((await custom.oppose({ cardNumber: CARD, reason: 'broken', at: NOW })).feeFrom).toEqual({ benefit: 'SHOWS', campaign: '2022-2023' });
        expect(await custom.walletBalance(CARD, 'SHOWS')).toBe(2500);
        expect(await custom.oppose({ cardNumber: POOR, reason: 'stolen', at: NOW })).toEqual({ feeCents: 0, feeFrom: null, replacement: null });
        expect(await custom.walletBalance(POOR, 'SHOWS')).toBe(300);
        expect(await custom.audit()).toEqual([]);
        await custom.close();
      });

      it('R4 a change of school opposes the card and issues a new one for free', async () => {
        expect(await l.oppose({ cardNumber: CARD, reason: 'school_change', at: NOW, replacement: { number: NEW_CARD } })).toEqual({ feeCents: 0, feeFrom: null, replacement: NEW_CARD });
        expect(await l.walletBalance(NEW_CARD, 'LEISURE_BOOKS')).toBe(1500);
        expect(await l.card(NEW_CARD)).toMatchObject({ status: 'active', dossierId: `D-${CARD}` });
      });

      it('R5 the Region suspends part or all of a youth\'s benefits for the campaign, and can lift it', async () => {
        await l.suspend({ cardNumber: CARD, benefit: 'CINEMA', campaign: '2022-2023', reason: 'incivilité', at: NOW });
        expect((await sell(l, { terminal: T.cinema, card: CARD, benefit: 'CINEMA', amount: 1 })).reply).toMatchObject({ code: 'BENEFIT_SUSPENDED' });
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply.status).toBe('approved');
        await l.suspend({ cardNumber: CARD, benefit: null, campaign: '2022-2023', reason: 'incivilité grave', at: NOW });
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({ code: 'BENEFIT_SUSPENDED' });
        expect((await sell(l, { terminal: T.museum, card: CARD, benefit: 'MUSEUM', amount: 1 })).reply).toMatchObject({ code: 'BENEFIT_SUSPENDED' });
        expect((await l.wallets(CARD, NOW)).every((w) => w.suspended === (w.campaign === '2022-2023'))).toBe(true);
        await l.liftSuspension(CARD, null, '2022-2023', NOW);
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply.status).toBe('approved');
        expect((await sell(l, { terminal: T.cinema, card: CARD, benefit: 'CINEMA', amount: 1 })).reply).toMatchObject({ code: 'BENEFIT_SUSPENDED' });
        expect(await codeOf(async () => await l.liftSuspension(CARD, null, '2022-2023', NOW))).toBe('NOT_FOUND');
      });

      it('R5 the Region suspends a part in one act (several benefits, such as the culture group) and lifts it in one', async () => {
        const v0 = await l.hotlistVersion();
        await l.suspend({ cardNumber: CARD, benefit: ['SHOWS', 'CINEMA', 'LEISURE_BOOKS', 'MUSEUM'], campaign: '2022-2023', reason: 'incivilité', at: NOW });
        for (const [terminal, benefit, amount] of [[T.venue, 'SHOWS', 100], [T.cinema, 'CINEMA', 1], [T.book, 'LEISURE_BOOKS', 100], [T.museum, 'MUSEUM', 1]] as const) {
          expect((await sell(l, { terminal, card: CARD, benefit, amount })).reply, benefit).toMatchObject({ code: 'BENEFIT_SUSPENDED' });
        }
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 100 })).reply.status).toBe('approved');
        expect((await l.wallets(CARD, NOW)).filter((w) => w.suspended).map((w) => w.benefit).sort()).toEqual(['CINEMA', 'LEISURE_BOOKS', 'MUSEUM', 'SHOWS']);
        // One act, one new hotlist version (the card is refused offline while any suspension holds).
        expect(await l.hotlistVersion()).toBe(v0 + 1);
        await l.liftSuspension(CARD, ['SHOWS', 'CINEMA', 'LEISURE_BOOKS', 'MUSEUM'], '2022-2023', NOW + 1);
        expect((await l.wallets(CARD, NOW)).some((w) => w.suspended)).toBe(false);
        expect((await sell(l, { terminal: T.venue, card: CARD, benefit: 'SHOWS', amount: 100 })).reply.status).toBe('approved');
        expect((await l.hotlist(v0 + 1)).entries).toEqual([{ card: CARD, reason: null }]);
        expect(await codeOf(async () => await l.suspend({ cardNumber: CARD, benefit: [], campaign: '2022-2023', reason: 'x', at: NOW }))).toBe('DATA_INVALID');
        expect(await l.audit()).toEqual([]);
      });
    });
  });
}
