import { describe, expect, it } from 'vitest';
import { codeOf, thrown } from '../../tests/helpers/errors.ts';
import { defaultWindows } from '../campaigns.ts';
import { type OpenLedger, seededLedger, at, NOW, CARD, T, sell } from './fixture.contract.ts';

/** The statements' contract (R11): periods, proofs, SEPA files. */
export function statementsContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('statements', () => {
      it('R11 a statement holds the period\'s sales in sale order, corrections as negative lines, late sales as adjustments', async () => {
        const oct = (d: number, h = 10) => at(`2022-10-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:00:00+02:00`);
        const s1 = (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 700, when: oct(5) })).body;
        const s2 = (await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 2500, when: oct(4, 15), createdAt: oct(4, 15) })).body;
        // Made offline on 30 September, received on 6 October: belongs to this statement as an adjustment.
        const late = (await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 100, when: oct(6), createdAt: at('2022-09-30T17:00:00+02:00') })).body;
        await l.cancelSale(s1.txnId, 'P-BOOK', oct(5, 18));
        await sell(l, { terminal: T.cinema, card: CARD, benefit: 'CINEMA', amount: 2, when: oct(7) });
        expect(await codeOf(async () => await l.closeStatement('P-BOOK', '2022-10-01', '2022-10-31', oct(20)))).toBe('PERIOD_INVALID');
        const st = await l.closeStatement('P-BOOK', '2022-10-01', '2022-10-31', at('2022-11-02T09:00:00+01:00'));
        expect(st).toMatchObject({ partnerId: 'P-BOOK', status: 'ready', totalCents: 2600 });
        expect(st.lines.map((x) => [x.txnId, x.kind, x.amountCents, x.adjustment])).toEqual([
          [late.txnId, 'sale', 100, true],
          [s2.txnId, 'sale', 2500, false],
          [s1.txnId, 'sale', 700, false],
          [s1.txnId, 'cancellation', -700, false],
        ]);
        expect(st.lines.every((x) => !x.cardMasked.includes(CARD.slice(4, 12)))).toBe(true);
        // A sale recorded after the close lands on the next statement, as an adjustment when it is older.
        const later = (await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 50, when: at('2022-11-03T10:00:00+01:00'), createdAt: oct(31) })).body;
        const nov = await l.closeStatement('P-BOOK', '2022-11-01', '2022-11-30', at('2022-12-01T09:00:00+01:00'));
        expect(nov.lines).toEqual([expect.objectContaining({ txnId: later.txnId, adjustment: true, amountCents: 50 })]);
        expect(await codeOf(async () => await l.closeStatement('P-BOOK', '2022-10-15', '2022-11-15', at('2022-12-01T09:00:00+01:00')))).toBe('PERIOD_INVALID');
        // Cinema: entries reimbursed at the convention's price.
        expect(await l.closeStatement('P-CINE', '2022-10-01', '2022-10-31', at('2022-11-02T09:00:00+01:00'))).toMatchObject({ totalCents: 1100, lines: [expect.objectContaining({ quantity: 2, unit: 'entry', amountCents: 1100 })] });
        await l.markPaid([st.id], at('2022-11-03T09:00:00+01:00'), { id: 'PSR-1', xml: '<Document/>' });
        expect(await l.statement(st.id)).toMatchObject({ status: 'paid', paidAt: at('2022-11-03T09:00:00+01:00'), paidBy: 'PSR-1' });
        expect(await l.sepaFile('PSR-1')).toMatchObject({ xml: '<Document/>', statementIds: [st.id] });
        // Paid once: a second file for the same statement is refused and not kept.
        expect(await codeOf(async () => await l.markPaid([st.id], NOW, { id: 'PSR-2', xml: '<Document/>' }))).toBe('DATA_INVALID');
        expect(await l.sepaFile('PSR-2')).toBeUndefined();
        expect(await l.audit()).toEqual([]);
      });

      it('R11 an equipment shop is held until its yearly proof is recorded for the campaign its sales took from', async () => {
        // June 2022: the 2022/2023 equipment wallet is open from 7 June (R6), though the school year is 2021/2022.
        await sell(l, { terminal: T.equip, card: CARD, benefit: 'PRO_EQUIPMENT', amount: 8000, when: at('2022-06-20T10:00:00+02:00') });
        const june = await l.closeStatement('P-EQUI', '2022-06-01', '2022-06-30', at('2022-07-02T09:00:00+02:00'));
        expect(june).toMatchObject({ status: 'held', proofMissing: ['2022-2023'], totalCents: 8000 });
        expect(await codeOf(async () => await l.markPaid([june.id], NOW, { id: 'PSR-3', xml: '<Document/>' }))).toBe('DATA_INVALID');
        await l.addCampaign({ id: '2021-2022', windows: defaultWindows('2021-2022') });
        // The school year of the dates is not the one asked for: nothing released, and the answer says why.
        expect(await l.recordProof('P-EQUI', '2021-2022', NOW)).toEqual({ released: 0, stillHeld: [{ statementId: june.id, proofMissing: ['2022-2023'] }] });
        expect(await l.recordProof('P-EQUI', '2022-2023', NOW)).toEqual({ released: 1, stillHeld: [] });
        expect(await l.statement(june.id)).toMatchObject({ status: 'ready', totalCents: 8000, proofMissing: [] });
        // Later statements of the same campaign are not held.
        await sell(l, { terminal: T.equip, card: CARD, benefit: 'PRO_EQUIPMENT', amount: 1000, when: at('2022-11-10T10:00:00+01:00') });
        expect((await l.closeStatement('P-EQUI', '2022-11-01', '2022-11-30', at('2022-12-01T09:00:00+01:00'))).status).toBe('ready');
        // A statement over the turn of the campaigns waits for both years' proofs.
        await l.load({ cardNumber: CARD, benefit: 'PRO_EQUIPMENT', campaign: '2023-2024', amount: 5000, at: at('2023-06-08T09:00:00+02:00') });
        await sell(l, { terminal: T.equip, card: CARD, benefit: 'PRO_EQUIPMENT', amount: 500, when: at('2023-05-30T10:00:00+02:00') });
        await sell(l, { terminal: T.equip, card: CARD, benefit: 'PRO_EQUIPMENT', amount: 700, when: at('2023-06-12T10:00:00+02:00') });
        const turn = await l.closeStatement('P-EQUI', '2023-05-01', '2023-06-30', at('2023-07-03T09:00:00+02:00'));
        expect(turn).toMatchObject({ status: 'held', proofMissing: ['2023-2024'], totalCents: 1200 });
        expect(await l.recordProof('P-EQUI', '2023-2024', NOW)).toEqual({ released: 1, stillHeld: [] });
        // Only equipment shops send a proof; only for a campaign that exists.
        expect(await codeOf(async () => await l.recordProof('P-BOOK', '2022-2023', NOW))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.recordProof('P-EQUI', '2031-2032', NOW))).toBe('NOT_FOUND');
      });

      it('R11 no empty statement: a partner with nothing to state gets NOTHING_TO_STATE, saying why', async () => {
        expect(await thrown(async () => await l.closeStatement('P-CINE', '2022-10-01', '2022-10-31', at('2022-11-02T09:00:00+01:00')))).toMatchObject({
          code: 'NOTHING_TO_STATE',
          message: 'no statement for P-CINE: nothing recorded up to 2022-10-31 is left to state',
        });
        await l.addPartner({ id: 'P-LATE', name: 'Librairie nouvelle', type: 'bookshop', conventionFrom: '2022-11-15', conventionTo: '2027-05-31' });
        expect((await thrown(async () => await l.closeStatement('P-LATE', '2022-10-01', '2022-10-31', at('2022-11-02T09:00:00+01:00')))).message).toBe(
          'no statement for P-LATE: its convention starts on 2022-11-15, after the period',
        );
        expect(await l.statements({})).toEqual([]);
      });
    });
  });
}
