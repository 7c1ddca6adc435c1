import { describe, expect, it } from 'vitest';
import { codeOf } from '../../tests/helpers/errors.ts';
import type { Ledger } from './ledger.ts';
import { type OpenLedger, seededLedger, NOW, DAY, CARD, OPPOSED, BARE, POOR, approve } from './fixture.contract.ts';

/** The group sales' contract (R12). */
export function groupSalesContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('group sales', () => {
      it('R12 a school pays an outing with the shows benefit, each youth debited on its own (R9 included)', async () => {
        const cardNumbers = [CARD, POOR, OPPOSED, BARE];
        const g = { groupId: 'G-0001', listId: await approve(l, 'P-VENU', 'SHOWS', cardNumbers), partnerId: 'P-VENU', benefit: 'SHOWS' as const, amount: 1200, cardNumbers, reference: 'Lycée du Parc, sortie théâtre', at: NOW };
        const r = await l.groupSale(g);
        expect(r.fresh).toBe(true);
        expect(r.lines.map((x) => [x.status, x.code ?? null, x.taken, x.remainingToPay])).toEqual([
          ['approved', null, 1200, 0],
          ['approved', null, 300, 900],
          ['declined', 'CARD_BLOCKED', 0, 1200],
          ['declined', 'NO_SUCH_BENEFIT', 0, 1200],
        ]);
        expect(await l.transfersForTxn(r.lines[0]!.txnId)).toHaveLength(1);
        expect(await l.walletBalance(CARD, 'SHOWS')).toBe(1800);
        // The same group again is answered from the record, nothing debited twice; other content is refused.
        expect(await l.groupSale(g)).toEqual({ ...r, fresh: false });
        expect(await l.walletBalance(CARD, 'SHOWS')).toBe(1800);
        expect(await codeOf(async () => await l.groupSale({ ...g, amount: 1 }))).toBe('GROUP_CONFLICT');
        expect(await l.audit()).toEqual([]);
      });

      it('R12 never for first aid (PSC1), and only by a partner of the benefit\'s type', async () => {
        expect(await codeOf(async () => await l.groupSale({ groupId: 'G-2', listId: 'GL-NONE', partnerId: 'P-AIDE', benefit: 'FIRST_AID', amount: 6000, cardNumbers: [CARD], reference: 'x', at: NOW }))).toBe('GROUP_NOT_ALLOWED');
        expect(await codeOf(async () => await approve(l, 'P-AIDE', 'FIRST_AID', [CARD]))).toBe('GROUP_NOT_ALLOWED');
        const r = await l.groupSale({ groupId: 'G-3', listId: await approve(l, 'P-BOOK', 'CINEMA', [CARD]), partnerId: 'P-BOOK', benefit: 'CINEMA', amount: 1, cardNumbers: [CARD], reference: 'x', at: NOW });
        expect(r.lines[0]).toMatchObject({ status: 'declined', code: 'BENEFIT_NOT_ALLOWED' });
        expect((await l.groupSale({ groupId: 'G-4', listId: await approve(l, 'P-CINE', 'CINEMA', [CARD, POOR]), partnerId: 'P-CINE', benefit: 'CINEMA', amount: 1, cardNumbers: [CARD, POOR], reference: 'x', at: NOW })).lines[0]).toMatchObject({ status: 'approved', taken: 1 });
        expect(await codeOf(async () => await l.groupSale({ groupId: 'G-5', listId: await approve(l, 'P-VENU', 'SHOWS', [CARD]), partnerId: 'P-VENU', benefit: 'SHOWS', amount: 1, cardNumbers: [CARD, CARD], reference: 'x', at: NOW }))).toBe('DATA_INVALID');
      });

      it('R12 only cards on a list the Region approved for this partner and benefit, each paid once under it, within its amount and dates', async () => {
        const list = await approve(l, 'P-VENU', 'SHOWS', [CARD, POOR], 1000);
        const g = (groupId: string, o: Partial<Parameters<Ledger['groupSale']>[0]> = {}) => ({ groupId, listId: list, partnerId: 'P-VENU', benefit: 'SHOWS' as const, amount: 500, cardNumbers: [CARD], reference: 'x', at: NOW, ...o });
        const before = await l.walletBalance(CARD, 'SHOWS');
        for (const bad of [
          g('G-A', { cardNumbers: [CARD, BARE] }),
          g('G-B', { partnerId: 'P-CINE', benefit: 'CINEMA' }),
          g('G-C', { amount: 1001 }),
          g('G-D', { at: NOW + 400 * DAY }),
          g('G-E', { listId: 'GL-UNKNOWN000' }),
        ]) expect(await codeOf(async () => await l.groupSale(bad))).toBe('GROUP_NOT_APPROVED');
        expect(await l.walletBalance(CARD, 'SHOWS')).toBe(before);
        expect((await l.groupSale(g('G-F'))).lines[0]).toMatchObject({ status: 'approved', taken: 500 });
        // Paid once under the list: a second group for the same card is refused; the other card is still open.
        expect(await codeOf(async () => await l.groupSale(g('G-G')))).toBe('GROUP_NOT_APPROVED');
        expect((await l.groupSale(g('G-H', { cardNumbers: [POOR] }))).lines[0]).toMatchObject({ status: 'approved' });
        expect(await l.groupList(list)).toMatchObject({ cardNumbers: [CARD, POOR].sort(), paid: [CARD, POOR].sort() });
      });
    });
  });
}
