import { describe, expect, it } from 'vitest';
import { codeOf, thrown } from '../../tests/helpers/errors.ts';
import { type OpenLedger, seededLedger, NOW, KEY, CARD, T, CONVENTION } from './fixture.contract.ts';

/** The registry's contract: what provisioning refuses, and how it says so. */
export function registryContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    it('refuses bad provisioning data with DATA_INVALID, and an id already recorded with ALREADY_EXISTS, in words a person reads', async () => {
      expect(await thrown(async () => await l.addPartner({ id: 'P-BOOK', name: 'again', type: 'bookshop', ...CONVENTION }))).toMatchObject({ code: 'ALREADY_EXISTS', message: 'partner P-BOOK already exists' });
      expect(await thrown(async () => await l.addTerminal({ id: T.book, partnerId: 'P-BOOK', publicKey: KEY }))).toMatchObject({ code: 'ALREADY_EXISTS', message: `terminal ${T.book} already exists` });
      expect((await thrown(async () => await l.addTerminal({ id: 'T-X-01', partnerId: 'P-NONE', publicKey: KEY }))).message).toBe('terminal T-X-01 names a partner, dossier or card that does not exist');
      expect(await codeOf(async () => await l.addPartner({ id: 'P-X', name: 'x', type: 'bookshop', conventionFrom: '2027-01-01', conventionTo: '2022-01-01' }))).toBe('DATA_INVALID');
      expect(await codeOf(async () => await l.addTerminal({ id: 'T-X-01', partnerId: 'P-NONE', publicKey: KEY }))).toBe('DATA_INVALID');
      expect(await codeOf(async () => await l.issueCard({ number: '1234567890123456', holder: 'x', pinHash: null }))).toBe('DATA_INVALID');
      expect(await codeOf(async () => await l.load({ cardNumber: CARD, benefit: 'SPORT', campaign: '2022-2023', amount: 0, at: NOW }))).toBe('DATA_INVALID');
      expect(await codeOf(async () => await l.load({ cardNumber: CARD, benefit: 'SPORT', campaign: '2022-2023', amount: 1.5, at: NOW }))).toBe('DATA_INVALID');
    });
  });
}
