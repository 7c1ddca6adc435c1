import { describe, expect, it } from 'vitest';
import { GENESIS_HASH } from '../../protocol/offline.ts';
import { codeOf } from '../../tests/helpers/errors.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import type { NewWebUser } from './accounts.ts';
import { fallbackRecordHash } from './debits.ts';
import { DEFAULT_OFFLINE_LIMITS } from '../../protocol/offline.ts';
import { type OpenLedger, seededLedger, at, NOW, DAY, CARD, T, sell } from './fixture.contract.ts';

const user = (o: Partial<NewWebUser> = {}): NewWebUser => ({
  id: 'U-1',
  email: 'Gerante@Librairie.example',
  name: 'Claire Dubois',
  role: 'manager',
  partnerId: 'P-BOOK',
  inviteHash: 'invite-hash-1',
  inviteExpiresAt: NOW + DAY,
  createdAt: NOW,
  invitedBy: 'operator:test',
  ...o,
});

/** The web space's accounts, convention signatures and the partners' sales list. */
export function accountsContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('web accounts', () => {
      it('an invited user sets a password once, before the invitation expires; e-mails are unique in any case', async () => {
        await l.addWebUser(user());
        expect(await codeOf(async () => await l.addWebUser(user({ id: 'U-2', email: 'gerante@librairie.EXAMPLE', inviteHash: 'h2' })))).toBe('ALREADY_EXISTS');
        expect(await codeOf(async () => await l.addWebUser(user({ id: 'U-3', email: 'x@y.example', partnerId: 'P-NOPE', inviteHash: 'h3' })))).toBe('DATA_INVALID');
        // A partner role needs a partner, a Region role must not have one.
        expect(await codeOf(async () => await l.addWebUser(user({ id: 'U-4', email: 'a@b.example', partnerId: null, inviteHash: 'h4' })))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.addWebUser(user({ id: 'U-5', email: 'c@d.example', role: 'operator', inviteHash: 'h5' })))).toBe('DATA_INVALID');
        const u = (await l.webUserByEmail('GERANTE@librairie.example'))!;
        expect(u).toMatchObject({ id: 'U-1', email: 'gerante@librairie.example', passwordHash: null, partnerId: 'P-BOOK', role: 'manager' });
        expect((await l.webUserByInvite('invite-hash-1'))?.id).toBe('U-1');
        expect(await l.acceptInvitation('U-1', 'invite-hash-1', 'pw-hash', NOW + DAY)).toBe(false);
        expect(await l.acceptInvitation('U-1', 'wrong', 'pw-hash', NOW)).toBe(false);
        expect(await l.acceptInvitation('U-1', 'invite-hash-1', 'pw-hash', NOW + 1000)).toBe(true);
        expect(await l.acceptInvitation('U-1', 'invite-hash-1', 'other', NOW + 2000)).toBe(false);
        expect(await l.webUserByInvite('invite-hash-1')).toBeUndefined();
        expect(await l.webUser('U-1')).toMatchObject({ passwordHash: 'pw-hash', inviteExpiresAt: null });
        await l.addWebUser(user({ id: 'U-6', email: 'agent@region.example', role: 'operator', partnerId: null, inviteHash: 'h6' }));
        expect((await l.webUsers('P-BOOK')).map((x) => x.id)).toEqual(['U-1']);
        expect((await l.webUsers(null)).map((x) => x.id)).toEqual(['U-6']);
      });

      it('wrong passwords lock the account after the limit, for the lock time; a right one resets the count', async () => {
        await l.addWebUser(user());
        expect(await l.recordLoginFailure('U-1', NOW, 3, 60_000)).toMatchObject({ failedLogins: 1, lockedUntil: null });
        await l.recordLoginSuccess('U-1');
        expect((await l.webUser('U-1'))?.failedLogins).toBe(0);
        await l.recordLoginFailure('U-1', NOW, 3, 60_000);
        await l.recordLoginFailure('U-1', NOW, 3, 60_000);
        expect(await l.recordLoginFailure('U-1', NOW + 5, 3, 60_000)).toMatchObject({ failedLogins: 0, lockedUntil: NOW + 60_005 });
        const epoch = (await l.webUser('U-1'))!.sessionEpoch;
        await l.endSessions('U-1');
        expect((await l.webUser('U-1'))!.sessionEpoch).toBe(epoch + 1);
        expect(await l.disableWebUser('U-1', NOW + 10)).toBe(true);
        expect(await l.disableWebUser('U-1', NOW + 20)).toBe(false);
        expect(await l.webUser('U-1')).toMatchObject({ disabledAt: NOW + 10, sessionEpoch: epoch + 2, inviteExpiresAt: null });
        expect(await l.acceptInvitation('U-1', 'invite-hash-1', 'pw', NOW)).toBe(false);
      });

      it('a new password ends the other sessions; a renewed invitation sets a new one once, the old one valid meanwhile', async () => {
        await l.addWebUser(user());
        await l.acceptInvitation('U-1', 'invite-hash-1', 'pw-1', NOW);
        const epoch = (await l.webUser('U-1'))!.sessionEpoch;
        await l.setWebPassword('U-1', 'pw-2');
        expect(await l.webUser('U-1')).toMatchObject({ passwordHash: 'pw-2', sessionEpoch: epoch + 1 });
        expect(await l.renewInvitation('U-1', 'invite-hash-2', NOW + DAY)).toBe(true);
        expect(await l.webUser('U-1')).toMatchObject({ passwordHash: 'pw-2', inviteExpiresAt: NOW + DAY });
        expect(await l.acceptInvitation('U-1', 'invite-hash-2', 'pw-3', NOW + 1)).toBe(true);
        expect(await l.webUser('U-1')).toMatchObject({ passwordHash: 'pw-3', inviteExpiresAt: null });
        await l.disableWebUser('U-1', NOW + 2);
        expect(await l.renewInvitation('U-1', 'invite-hash-3', NOW + DAY)).toBe(false);
        expect(await l.renewInvitation('U-NOPE', 'invite-hash-4', NOW + DAY)).toBe(false);
      });

      it('a partner signs a document once: a second signature returns the first', async () => {
        await l.addWebUser(user());
        const sha = 'a'.repeat(64);
        const first = await l.signConvention({ partnerId: 'P-BOOK', documentId: 'convention-2022-2027', documentSha256: sha, userId: 'U-1', signerName: 'Claire Dubois', signedAt: NOW });
        const again = await l.signConvention({ partnerId: 'P-BOOK', documentId: 'convention-2022-2027', documentSha256: sha, userId: 'U-1', signerName: 'Autre', signedAt: NOW + 1 });
        expect(again).toEqual(first);
        expect((await l.conventionSignature('P-BOOK', 'convention-2022-2027'))?.signerName).toBe('Claire Dubois');
        expect(await l.conventionSignature('P-BOOK2', 'convention-2022-2027')).toBeUndefined();
        expect(await codeOf(async () => await l.signConvention({ ...first, partnerId: 'P-BOOK2', documentSha256: 'short' }))).toBe('DATA_INVALID');
      });
    });

    describe('terminal requests and proofs', () => {
      it('a request is decided once: approved with a terminal id and its code, or refused with a reason', async () => {
        await l.addWebUser(user());
        await l.addTerminalRequest({ id: 'R-1', partnerId: 'P-BOOK', requestedBy: 'U-1', site: 'Caisse 2', note: 'rentrée', createdAt: NOW });
        await l.addTerminalRequest({ id: 'R-2', partnerId: 'P-BOOK', requestedBy: 'U-1', site: 'Stand', note: '', createdAt: NOW + 1 });
        expect(await codeOf(async () => await l.addTerminalRequest({ id: 'R-3', partnerId: 'P-NOPE', requestedBy: 'U-1', site: 'x', note: '', createdAt: NOW }))).toBe('DATA_INVALID');
        expect((await l.terminalRequests({ partnerId: 'P-BOOK' })).map((r) => r.id)).toEqual(['R-2', 'R-1']);
        expect(await l.decideTerminalRequest('R-1', { status: 'approved', terminalId: 'T-BOOK-03', codeId: 'ABCD' }, 'U-9', NOW + 10)).toBe(true);
        expect(await l.decideTerminalRequest('R-1', { status: 'refused', refusal: 'non' }, 'U-9', NOW + 11)).toBe(false);
        expect(await l.decideTerminalRequest('R-2', { status: 'refused', refusal: 'Un terminal suffit' }, 'U-9', NOW + 12)).toBe(true);
        expect(await l.terminalRequest('R-1')).toMatchObject({ status: 'approved', terminalId: 'T-BOOK-03', codeId: 'ABCD', decidedBy: 'U-9', decidedAt: NOW + 10, refusal: null });
        expect(await l.terminalRequest('R-2')).toMatchObject({ status: 'refused', refusal: 'Un terminal suffit', terminalId: null });
        expect(await l.terminalRequests({ status: 'open' })).toEqual([]);
        expect(await l.terminalRequests({ partnerId: 'P-BOOK2' })).toEqual([]);
      });

      it("lists a partner's yearly proofs", async () => {
        expect(await l.partnerProofs('P-EQUI')).toEqual([]);
        await l.recordProof('P-EQUI', '2022-2023', NOW);
        expect(await l.partnerProofs('P-EQUI')).toEqual(['2022-2023']);
      });
    });

    describe("a partner's sales list", () => {
      it('lists its own sales newest first with their state, filtered by time, benefit, terminal and state', async () => {
        const a = (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 500, when: NOW })).body;
        const b = (await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 1200, when: NOW + 1000 })).body;
        await sell(l, { terminal: T.cinema, card: CARD, benefit: 'CINEMA', amount: 1, when: NOW + 2000 });
        await l.cancelSale(a.txnId, 'P-BOOK', NOW + 3000);
        const all = await l.partnerSales({ partnerId: 'P-BOOK', limit: 10 });
        expect(all.map((s) => [s.txnId, s.state, s.amountCents])).toEqual([
          [b.txnId, 'valid', 1200],
          [a.txnId, 'cancelled', 500],
        ]);
        expect(all[1]).toMatchObject({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', unit: 'cent', quantity: 500, correctedAt: NOW + 3000, statementId: null });
        expect((await l.partnerSales({ partnerId: 'P-BOOK', state: 'cancelled', limit: 10 })).map((s) => s.txnId)).toEqual([a.txnId]);
        expect((await l.partnerSales({ partnerId: 'P-BOOK', state: 'valid', limit: 10 })).map((s) => s.txnId)).toEqual([b.txnId]);
        expect((await l.partnerSales({ partnerId: 'P-BOOK', benefit: 'SCHOOL_BOOKS', limit: 10 })).map((s) => s.txnId)).toEqual([b.txnId]);
        expect((await l.partnerSales({ partnerId: 'P-BOOK', from: NOW + 1, to: NOW + 1001, limit: 10 })).map((s) => s.txnId)).toEqual([b.txnId]);
        expect(await l.partnerSales({ partnerId: 'P-BOOK', terminalId: T.bookOff, limit: 10 })).toEqual([]);
        expect(await l.partnerSales({ partnerId: 'P-BOOK', limit: 1 })).toHaveLength(1);
        expect((await l.partnerSales({ partnerId: 'P-CINE', limit: 10 })).map((s) => [s.unit, s.quantity, s.amountCents])).toEqual([['entry', 1, 550]]);
        expect(await l.saleOf(a.txnId)).toEqual(all[1]);
        expect(await l.saleOf('0190a000-0000-7000-8000-000000000000')).toBeUndefined();
      });

      it('counts sales per Paris day and benefit, online and offline, for the charts', async () => {
        await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100, when: NOW });
        await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 200, when: NOW + 1000 });
        await sell(l, { terminal: T.cinema, card: CARD, benefit: 'CINEMA', amount: 1, when: NOW + 2000 });
        // 23:30 in Paris on the 3rd is the 3rd; 00:30 on the 4th is the next day.
        await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 300, when: at('2022-10-04T00:30:00+02:00') });
        const policy = (await l.setOfflinePolicy(DEFAULT_OFFLINE_LIMITS, NOW - DAY)).version;
        const off = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 50, mode: 'offline', policy, createdAt: at('2022-10-03T23:30:00+02:00') });
        await l.commitDebits([debitItem(off)], at('2022-10-04T08:00:00+02:00'));
        expect(await l.dailySales('2022-10-02', '2022-10-05')).toEqual([
          { day: '2022-10-03', benefit: 'CINEMA', sales: 1, offline: 0, amountCents: 550 },
          { day: '2022-10-03', benefit: 'LEISURE_BOOKS', sales: 3, offline: 1, amountCents: 350 },
          { day: '2022-10-04', benefit: 'LEISURE_BOOKS', sales: 1, offline: 0, amountCents: 300 },
        ]);
        expect(await codeOf(async () => await l.dailySales('2022-10-05', '2022-10-02'))).toBe('DATA_INVALID');
        expect(await codeOf(async () => await l.dailySales('2022-01-01', '2023-12-31'))).toBe('DATA_INVALID');
      });

      it("gives where a terminal's record chain continues", async () => {
        expect(await l.chainHead(T.book)).toEqual({ nextSeq: 1, headHash: GENESIS_HASH });
        const item = debitItem(debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 1, prev: GENESIS_HASH }));
        await l.commitDebits([item], NOW);
        expect(await l.chainHead(T.book)).toEqual({ nextSeq: 2, headHash: fallbackRecordHash(item.fingerprint) });
      });
    });
  });
}
