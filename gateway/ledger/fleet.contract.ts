import { describe, expect, it } from 'vitest';
import { codeOf } from '../../tests/helpers/errors.ts';
import { type OpenLedger, seededLedger, NOW, DAY, T } from './fixture.contract.ts';

/** The fleet's contract: terminals' keys and contacts, enrolment codes, the audit log, API tokens. */
export function fleetContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('fleet and audit log', () => {
      it('a replaced key takes over at once and switches the terminal back on; the audit log lists newest first, filtered', async () => {
        await l.setTerminalActive(T.book, false);
        const key = new Uint8Array(32).fill(8);
        await l.replaceTerminalKey(T.book, key);
        expect(await l.terminal(T.book)).toMatchObject({ active: true, publicKey: key });
        expect(await codeOf(async () => await l.replaceTerminalKey('T-NONE-01', key))).toBe('NOT_FOUND');
        await l.addAudit({ at: NOW, actor: 'operator:A', action: 'terminal.registered', subject: T.book, details: { partnerId: 'P-BOOK' } });
        await l.addAudit({ at: NOW + 1, actor: 'operator:A', action: 'terminal.deactivated', subject: T.cinema, details: null });
        await l.addAudit({ at: NOW + 2, actor: 'enrolment-code:AB12', action: 'terminal.key-replaced', subject: T.book, details: null });
        expect((await l.auditLog({ limit: 10 })).map((e) => e.action)).toEqual(['terminal.key-replaced', 'terminal.deactivated', 'terminal.registered']);
        expect((await l.auditLog({ subject: T.book, limit: 10 })).map((e) => e.action)).toEqual(['terminal.key-replaced', 'terminal.registered']);
        expect(await l.auditLog({ action: 'terminal.registered', limit: 10 })).toEqual([expect.objectContaining({ at: NOW, actor: 'operator:A', details: { partnerId: 'P-BOOK' } })]);
        expect(await l.auditLog({ limit: 1 })).toHaveLength(1);
      });

      it('an enrolment code is used once, counts wrong tries, and can be revoked while open', async () => {
        const code = { id: 'AB12', secretHash: 'h', partnerId: 'P-BOOK', terminalId: 'T-BOOK-09', createdAt: NOW, expiresAt: NOW + DAY, maxTries: 3, createdBy: 'operator:A' };
        await l.addEnrolmentCode(code);
        await l.addEnrolmentCode({ ...code, id: 'CD34' });
        expect(await codeOf(async () => await l.addEnrolmentCode(code))).toBe('ALREADY_EXISTS');
        expect(await l.countEnrolmentFailure('AB12')).toBe(1);
        expect(await l.countEnrolmentFailure('AB12')).toBe(2);
        expect(await l.enrolmentCode('AB12')).toMatchObject({ failures: 2, usedAt: null, revokedAt: null });
        expect(await l.useEnrolmentCode('AB12', NOW + 1)).toBe(true);
        // A use that could not complete is undone once, by its own time only.
        expect(await l.releaseEnrolmentCode('AB12', NOW)).toBe(false);
        expect(await l.releaseEnrolmentCode('AB12', NOW + 1)).toBe(true);
        expect(await l.releaseEnrolmentCode('AB12', NOW + 1)).toBe(false);
        expect(await l.useEnrolmentCode('AB12', NOW + 1)).toBe(true);
        expect(await l.useEnrolmentCode('AB12', NOW + 2)).toBe(false);
        expect(await l.revokeEnrolmentCode('AB12', NOW + 3)).toBe(false);
        expect((await l.openEnrolmentCodes()).map((c) => c.id)).toEqual(['CD34']);
        expect(await l.revokeEnrolmentCode('CD34', NOW + 3)).toBe(true);
        expect(await l.useEnrolmentCode('CD34', NOW + 4)).toBe(false);
        expect(await l.openEnrolmentCodes()).toEqual([]);
      });

      it("contacts bound when a terminal's records were made: after the last contact below a record, before the first at or above it", async () => {
        expect(await l.contactBounds(T.book, 5)).toEqual({ after: null, before: null });
        expect(await l.lastConnectTokenMs(T.book)).toBe(0);
        await l.recordContacts([
          { terminalId: T.book, headSeq: 0, at: NOW, tokenMs: NOW - 5 },
          { terminalId: T.book, headSeq: 4, at: NOW + 100, tokenMs: NOW + 90 },
          { terminalId: T.book, headSeq: 4, at: NOW + 50, tokenMs: NOW + 40 },
          { terminalId: T.book, headSeq: 9, at: NOW + 200, tokenMs: NOW + 190 },
          { terminalId: T.cinema, headSeq: 2, at: NOW + 300, tokenMs: NOW + 300 },
        ]);
        // Record 5 came after the contact that declared head 4 (its latest time), before the one that declared 9.
        expect(await l.contactBounds(T.book, 5)).toEqual({ after: NOW + 100, before: NOW + 200 });
        expect(await l.contactBounds(T.book, 1)).toEqual({ after: NOW, before: NOW + 100 });
        expect(await l.contactBounds(T.book, 10)).toEqual({ after: NOW + 200, before: null });
        expect(await l.lastConnectTokenMs(T.book)).toBe(NOW + 190);
        expect(await l.lastConnectTokenMs(T.cinema)).toBe(NOW + 300);
      });

      it('demo tokens are revoked together; other tokens stay', async () => {
        await l.addApiToken({ tokenHash: 'a'.repeat(64), name: 'démo', role: 'operator', partnerId: null, createdAt: NOW, demo: true });
        await l.addApiToken({ tokenHash: 'b'.repeat(64), name: 'Région', role: 'operator', partnerId: null, createdAt: NOW });
        expect(await l.revokeDemoTokens(NOW + 1)).toBe(1);
        expect(await l.revokeDemoTokens(NOW + 2)).toBe(0);
        expect(await l.apiToken('a'.repeat(64))).toBeUndefined();
        expect(await l.apiToken('b'.repeat(64))).toMatchObject({ name: 'Région' });
      });

      it("sums the fleet's latest heartbeats: active devices, those heard, and what they hold unsent", async () => {
        // Seeded: 9 terminals, one of them switched off.
        expect(await l.fleetTotals()).toEqual({ terminals: 8, heard: 0, withPending: 0, pending: 0, offlinePending: 0, offlinePendingCents: 0 });
        const hb = async (terminalId: string, pending: number, offlinePending: number, cents: number) =>
          await l.recordHeartbeat({ terminalId, receivedAt: NOW, sentAt: NOW, startedAt: NOW - DAY, software: '0.1.0', policyVersion: 1, hotlistVersion: 1, settingsVersion: null, pending, oldestPendingAt: pending ? NOW - 1000 : null, offlinePending, offlinePendingCents: cents, devices: { nfc: 'ok', pad: 'ok', qr: 'ok' }, lastSaleAt: null });
        await hb(T.book, 3, 2, 1500);
        await hb(T.cinema, 0, 0, 0);
        await hb(T.bookOff, 7, 7, 9000);
        expect(await l.fleetTotals()).toEqual({ terminals: 8, heard: 2, withPending: 1, pending: 3, offlinePending: 2, offlinePendingCents: 1500 });
      });
    });
  });
}
