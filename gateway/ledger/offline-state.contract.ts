import { beforeEach, describe, expect, it } from 'vitest';
import type { Benefit } from '../../protocol/benefits.ts';
import type { DebitRequestBody } from '../../protocol/messages.ts';
import { DEFAULT_OFFLINE_LIMITS } from '../../protocol/offline.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import { codeOf } from '../../tests/helpers/errors.ts';
import type { PinCheck } from '../rules.ts';
import { type OpenLedger, seededLedger, at, NOW, DAY, KEY, CARD, OPPOSED, BARE, POOR, UNKNOWN, NEW_CARD, T, replyOf, sell } from './fixture.contract.ts';

/** The offline contract (docs/offline.md): offline sales and the Region's guarantee, the hotlist, the policy versions. */
export function offlineContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('offline sales', () => {
      let policy: number;
      beforeEach(async () => {
        policy = (await l.setOfflinePolicy(DEFAULT_OFFLINE_LIMITS, NOW - DAY)).version;
      });
      /** A sale accepted offline at `createdAt`, settled at `when`, with the hotlist the terminal held. */
      const offline = async (o: { terminal: string; card: string; benefit: Benefit; amount: number; createdAt?: number; when?: number; hotlist?: number; policy?: number; credential?: DebitRequestBody['credential']; pin?: PinCheck }) => {
        const body = debitBody({
          terminalId: o.terminal,
          cardNumber: o.card,
          benefit: o.benefit,
          amount: o.amount,
          createdAt: o.createdAt ?? NOW,
          mode: 'offline',
          hotlist: o.hotlist ?? await l.hotlistVersion(),
          policy: o.policy ?? policy,
          ...(o.credential ? { credential: o.credential } : {}),
        });
        return { body, reply: replyOf((await l.commitDebits([debitItem(body, o.pin ?? 'not-needed')], o.when ?? NOW + 3_600_000))[0]) };
      };

      it('offline: a sale the wallet pays in full is settled like an online one, in offline mode', async () => {
        const { body, reply } = await offline({ terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 1000 });
        expect(reply).toMatchObject({ status: 'approved', mode: 'offline', taken: 1000, remainingToPay: 0, balanceAfter: 500 });
        expect(reply.guaranteed).toBeUndefined();
        expect((await l.transfersForTxn(body.txnId)).map((t) => t.kind)).toEqual(['debit']);
        expect(await l.request(body.txnId)).toMatchObject({ status: 'approved', mode: 'offline' });
        expect(await l.offlineReport()).toMatchObject({ offlineSales: 1, breaches: 0, guaranteedCents: 0, softBlockedCards: 0, losses: [] });
        // An online reply says so too.
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply.mode).toBe('online');
        expect(await l.audit()).toEqual([]);
      });

      it('offline: a partial sale within the policy is guaranteed: the partner is paid in full, the loss recorded, the card soft-blocked', async () => {
        const v0 = await l.hotlistVersion();
        const { body, reply } = await offline({ terminal: T.book, card: POOR, benefit: 'LEISURE_BOOKS', amount: 1000 });
        expect(reply).toMatchObject({ status: 'approved', mode: 'offline', requested: 1000, taken: 300, guaranteed: 700, remainingToPay: 0, balanceAfter: 0 });
        expect(await l.transfersForTxn(body.txnId)).toEqual([
          expect.objectContaining({ kind: 'debit', debitAccount: `wallet:D-${POOR}:LEISURE_BOOKS:2022-2023`, creditAccount: 'payable:P-BOOK:cent', amount: 300 }),
          expect.objectContaining({ kind: 'guarantee', debitAccount: 'offline-guarantee:cent', creditAccount: 'payable:P-BOOK:cent', amount: 700 }),
        ]);
        expect(await l.walletBalance(POOR, 'LEISURE_BOOKS')).toBe(0);
        expect(await l.hotlistVersion()).toBe(v0 + 1);
        expect(await l.hotlist(v0)).toEqual({ version: v0 + 1, entries: [{ card: POOR, reason: 'soft' }] });
        const report = await l.offlineReport();
        expect(report).toMatchObject({ offlineSales: 1, breaches: 0, guaranteedCents: 700, guaranteedEntries: 0, softBlockedCards: 1 });
        expect(report.losses).toEqual([
          { txnId: body.txnId, cardNumber: POOR, partnerId: 'P-BOOK', terminalId: T.book, benefit: 'LEISURE_BOOKS', unit: 'cent', amount: 700, amountCents: 700, reason: 'PARTIAL', saleAt: NOW, recordedAt: NOW + 3_600_000 },
        ]);
        // The partner is owed the whole price: one line of 1000.
        const st = await l.closeStatement('P-BOOK', '2022-10-01', '2022-10-31', at('2022-11-02T09:00:00+01:00'));
        expect(st.lines.map((x) => [x.txnId, x.quantity, x.amountCents])).toEqual([[body.txnId, 1000, 1000]]);
        expect(await l.audit()).toEqual([]);
      });

      it('offline: an unknown card or a card without the benefit is guaranteed whole; entries at the partner price', async () => {
        const unknown = await offline({ terminal: T.book, card: UNKNOWN, benefit: 'LEISURE_BOOKS', amount: 800 });
        expect(unknown.reply).toMatchObject({ status: 'approved', taken: 0, guaranteed: 800, remainingToPay: 0 });
        expect((await l.transfersForTxn(unknown.body.txnId)).map((t) => t.kind)).toEqual(['guarantee']);
        const cinema = await offline({ terminal: T.cinema, card: BARE, benefit: 'CINEMA', amount: 2 });
        expect(cinema.reply).toMatchObject({ status: 'approved', unit: 'entry', taken: 0, guaranteed: 2 });
        expect(await l.transfersForTxn(cinema.body.txnId)).toEqual([expect.objectContaining({ kind: 'guarantee', debitAccount: 'offline-guarantee:entry', amount: 2, unit: 'entry' })]);
        expect(await l.offlineReport()).toMatchObject({ guaranteedCents: 800 + 2 * 550, guaranteedEntries: 2, softBlockedCards: 2 });
        expect((await l.offlineReport()).losses.map((x) => x.reason)).toEqual(['NO_SUCH_BENEFIT', 'CARD_UNKNOWN']);
        expect((await l.hotlist(0)).entries).toEqual(expect.arrayContaining([{ card: UNKNOWN, reason: 'soft' }, { card: BARE, reason: 'soft' }]));
        expect((await l.closeStatement('P-CINE', '2022-10-01', '2022-10-31', at('2022-11-02T09:00:00+01:00'))).totalCents).toBe(1100);
        expect(await l.audit()).toEqual([]);
      });

      it("offline: a card opposed before the sale is guaranteed when the terminal's hotlist was older", async () => {
        const held = await l.hotlistVersion();
        await l.oppose({ cardNumber: CARD, reason: 'stolen', at: NOW - 3_600_000, replacement: { number: NEW_CARD } });
        expect(await l.hotlistVersion()).toBe(held + 1);
        const { body, reply } = await offline({ terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 1000, hotlist: held });
        expect(reply).toMatchObject({ status: 'approved', taken: 0, guaranteed: 1000, remainingToPay: 0 });
        expect((await l.transfersForTxn(body.txnId)).map((t) => t.kind)).toEqual(['guarantee']);
        expect((await l.offlineReport()).losses[0]).toMatchObject({ reason: 'CARD_BLOCKED', amount: 1000 });
        // Already on the list as opposed: the soft block adds nothing terminals see.
        expect(await l.hotlistVersion()).toBe(held + 1);
        expect((await l.hotlist(0)).entries).toContainEqual({ card: CARD, reason: 'opposed' });
        expect(await l.walletBalance(NEW_CARD, 'LEISURE_BOOKS')).toBe(1000);
        expect(await l.audit()).toEqual([]);
      });

      it('offline: a card on the hotlist the terminal held is a breach, settled by the rules alone (OFFLINE_POLICY_BREACH)', async () => {
        const { body, reply } = await offline({ terminal: T.book, card: OPPOSED, benefit: 'LEISURE_BOOKS', amount: 1000 });
        expect(reply).toMatchObject({ status: 'declined', code: 'OFFLINE_POLICY_BREACH', mode: 'offline', taken: 0, remainingToPay: 1000 });
        expect(reply.guaranteed).toBeUndefined();
        expect(await l.transfersForTxn(body.txnId)).toEqual([]);
        expect(await l.offlineReport()).toMatchObject({ offlineSales: 1, breaches: 1, guaranteedCents: 0, softBlockedCards: 0 });
        // A partner's own standing is never covered, and keeps the rules' code.
        expect((await offline({ terminal: T.cinema, card: UNKNOWN, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({ status: 'declined', code: 'CARD_UNKNOWN' });
        expect((await offline({ terminal: T.old, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({ status: 'declined', code: 'CONVENTION_INVALID' });
        expect(await l.offlineReport()).toMatchObject({ offlineSales: 3, breaches: 1, guaranteedCents: 0 });
        expect(await l.audit()).toEqual([]);
      });

      it('offline: over the per-sale maximum, or under an unknown or disabled policy, is a breach; a partial stays partial', async () => {
        const over = await offline({ terminal: T.book, card: POOR, benefit: 'LEISURE_BOOKS', amount: 3001 });
        expect(over.reply).toMatchObject({ status: 'approved', taken: 300, remainingToPay: 2701 });
        expect(over.reply.guaranteed).toBeUndefined();
        expect((await l.transfersForTxn(over.body.txnId)).map((t) => t.kind)).toEqual(['debit']);
        expect((await offline({ terminal: T.cinema, card: CARD, benefit: 'CINEMA', amount: 3 })).reply).toMatchObject({ status: 'approved', taken: 3 });
        expect((await offline({ terminal: T.book, card: BARE, benefit: 'LEISURE_BOOKS', amount: 100, policy: 99 })).reply).toMatchObject({ code: 'OFFLINE_POLICY_BREACH' });
        const off = (await l.setOfflinePolicy({ ...DEFAULT_OFFLINE_LIMITS, enabled: false }, NOW)).version;
        expect((await offline({ terminal: T.book, card: BARE, benefit: 'LEISURE_BOOKS', amount: 100, policy: off })).reply).toMatchObject({ code: 'OFFLINE_POLICY_BREACH' });
        // The version the terminal held still counts, not the latest.
        expect((await offline({ terminal: T.book, card: BARE, benefit: 'LEISURE_BOOKS', amount: 100, policy })).reply).toMatchObject({ status: 'approved', guaranteed: 100 });
        expect(await l.offlineReport()).toMatchObject({ offlineSales: 5, breaches: 4, guaranteedCents: 100, softBlockedCards: 1 });
        expect((await l.hotlist(0)).entries.map((e) => e.card)).not.toContain(POOR);
        expect(await l.audit()).toEqual([]);
      });

      it("offline: past the policy's count of sales pending since the last contact, a sale is a breach, whatever order the batch holds them in", async () => {
        const tight = (await l.setOfflinePolicy({ ...DEFAULT_OFFLINE_LIMITS, perCardDayCount: 100, maxPendingCount: 2 }, NOW - DAY)).version;
        const hotlist = await l.hotlistVersion();
        // BARE holds no leisure-book benefit: within the policy the Region guarantees the sale whole, past it the rules decline it.
        const body = (seq: number) => debitBody({ terminalId: T.book, cardNumber: BARE, benefit: 'LEISURE_BOOKS', amount: 100, createdAt: NOW, mode: 'offline', hotlist, policy: tight, seq });
        const [b1, b2, b3, b4] = [1, 2, 3, 4].map(body) as [DebitRequestBody, DebitRequestBody, DebitRequestBody, DebitRequestBody];
        // One batch, out of order: seq 2 and 1 each had nothing pending before them; 3 had both.
        const first = (await l.commitDebits([b2, b1, b3].map((b) => debitItem(b)), NOW + 3_600_000)).map(replyOf);
        expect(first.map((r) => r.guaranteed)).toEqual([100, 100, undefined]);
        expect(first[2]).toMatchObject({ status: 'declined', taken: 0 });
        // The next batch counts afresh: 1, 2 and 3 were pending before 4.
        expect(replyOf((await l.commitDebits([debitItem(b4)], NOW + 3_600_000))[0])).toMatchObject({ status: 'declined', taken: 0 });
        expect(await l.offlineReport()).toMatchObject({ offlineSales: 4, breaches: 2, guaranteedCents: 200 });
        expect(await l.audit()).toEqual([]);
      });

      it('offline: a QR credential is never guaranteed', async () => {
        const { body, reply } = await offline({ terminal: T.book, card: POOR, benefit: 'LEISURE_BOOKS', amount: 1000, credential: { kind: 'qr', cardNumber: POOR, pinBlock: 'abc' }, pin: 'ok' });
        expect(reply).toMatchObject({ status: 'approved', taken: 300, remainingToPay: 700 });
        expect(reply.guaranteed).toBeUndefined();
        expect((await l.transfersForTxn(body.txnId)).map((t) => t.kind)).toEqual(['debit']);
        expect((await offline({ terminal: T.book, card: BARE, benefit: 'LEISURE_BOOKS', amount: 100, credential: { kind: 'qr', cardNumber: BARE, pinBlock: 'abc' }, pin: 'ok' })).reply).toMatchObject({
          status: 'declined',
          code: 'OFFLINE_POLICY_BREACH',
        });
        expect(await l.offlineReport()).toMatchObject({ breaches: 2, guaranteedCents: 0 });
      });

      it("offline: the rules as of the sale's time decide the window, the suspensions and the opposition", async () => {
        const held = await l.hotlistVersion();
        // Made on the last day of the leisure-books window, received two days after it closed.
        const june30 = at('2023-06-30T18:00:00+02:00');
        expect((await offline({ terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100, createdAt: june30, when: june30 + 2 * DAY })).reply).toMatchObject({ status: 'approved', taken: 100, balanceAfter: 1400 });
        // Made before it was valid: the wallet cannot pay; within the policy, the Region does.
        const early = await offline({ terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 100, createdAt: at('2022-06-06T12:00:00+02:00') });
        expect(early.reply).toMatchObject({ status: 'approved', taken: 0, guaranteed: 100 });
        expect((await l.offlineReport()).losses[0]?.reason).toBe('BENEFIT_NOT_YET_VALID');
        // A suspension made after the sale does not reach back; one in force then counts, even if lifted since
        // (the terminal's hotlist predates the soft block of the sale above and the suspension).
        await l.suspend({ cardNumber: CARD, benefit: 'SHOWS', campaign: '2022-2023', reason: 'incivilité', at: NOW + 60_000 });
        expect((await offline({ terminal: T.venue, card: CARD, benefit: 'SHOWS', amount: 500, hotlist: held })).reply).toMatchObject({ status: 'approved', taken: 500 });
        await l.liftSuspension(CARD, 'SHOWS', '2022-2023', NOW + 120_000);
        expect((await offline({ terminal: T.venue, card: CARD, benefit: 'SHOWS', amount: 500, createdAt: NOW + 90_000, hotlist: held })).reply).toMatchObject({ taken: 0, guaranteed: 500 });
        // Opposed after the sale: the card was good when it was used.
        await l.oppose({ cardNumber: POOR, reason: 'lost', at: NOW + 60_000 });
        expect((await offline({ terminal: T.venue, card: POOR, benefit: 'SHOWS', amount: 100, hotlist: held })).reply).toMatchObject({ status: 'approved', taken: 100 });
        // A sale dated after its arrival (beyond the clock skew the policy allows) did not happen then: it is
        // judged as made when it arrived, and the terminal that dated it so gets no guarantee.
        const breaches = (await l.offlineReport()).breaches;
        const future = await offline({ terminal: T.book, card: BARE, benefit: 'LEISURE_BOOKS', amount: 100, createdAt: NOW + 30 * DAY, when: NOW + DAY });
        expect(future.reply).toMatchObject({ status: 'declined', code: 'OFFLINE_POLICY_BREACH' });
        expect((await l.offlineReport()).breaches).toBe(breaches + 1);
        expect(await l.audit()).toEqual([]);
      });

      it('R7 an offline sale made on the last day of its window and received after the expiry sweep is paid by the wallet as it stood: no loss, no soft block', async () => {
        // 50 € of school books; 10 € spent in May; 20 € sold offline on 31 May (the window's last day).
        await sell(l, { terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 1000, when: at('2023-05-10T10:00:00+02:00') });
        const held = await l.hotlistVersion();
        const lastDay = at('2023-05-31T17:30:00+02:00');
        // The sweep of 1 June returns the 40 € left to the Region before the terminal's queue arrives.
        const swept = await l.expire(at('2023-06-01T01:00:00+02:00'));
        expect(swept.returned.cent).toBe(4000 + 20000);
        expect(await l.walletBalance(CARD, 'SCHOOL_BOOKS', lastDay)).toBe(0);
        const arrival = at('2023-06-02T09:00:00+02:00');
        const late = await offline({ terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 2000, createdAt: lastDay, when: arrival, hotlist: held });
        expect(late.reply).toMatchObject({ status: 'approved', mode: 'offline', taken: 2000, remainingToPay: 0, balanceAfter: 0 });
        expect(late.reply.guaranteed).toBeUndefined();
        // The value comes back from the Region's funding account to the wallet, which pays the partner.
        expect(await l.transfersForTxn(late.body.txnId)).toEqual([
          expect.objectContaining({ kind: 'restore', debitAccount: 'funding:SCHOOL_BOOKS:2022-2023', creditAccount: `wallet:D-${CARD}:SCHOOL_BOOKS:2022-2023`, amount: 2000 }),
          expect.objectContaining({ kind: 'debit', debitAccount: `wallet:D-${CARD}:SCHOOL_BOOKS:2022-2023`, creditAccount: 'payable:P-BOOK:cent', amount: 2000 }),
        ]);
        expect(await l.offlineReport()).toMatchObject({ offlineSales: 1, breaches: 0, guaranteedCents: 0, softBlockedCards: 0, losses: [] });
        expect(await l.hotlistVersion()).toBe(held);
        // A second late sale takes what is left of the 40 €; past that, the rest is a real shortfall.
        const second = await offline({ terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 2500, createdAt: lastDay + 60_000, when: arrival, hotlist: held });
        expect(second.reply).toMatchObject({ status: 'approved', taken: 2000, guaranteed: 500, remainingToPay: 0 });
        expect(await l.offlineReport()).toMatchObject({ guaranteedCents: 500, softBlockedCards: 1 });
        expect((await l.offlineReport()).losses[0]).toMatchObject({ txnId: second.body.txnId, reason: 'PARTIAL', amount: 500 });
        // The wallet is empty again, and nothing more than the sweep took came back.
        expect(await l.walletBalance(CARD, 'SCHOOL_BOOKS', lastDay)).toBe(0);
        expect(await l.audit()).toEqual([]);
      });

      it("offline: the card's history dates a late offline sale when it was made, and says when it arrived", async () => {
        const made = at('2022-10-01T16:00:00+02:00');
        const arrived = at('2022-10-04T09:00:00+02:00');
        await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 200, when: at('2022-10-02T10:00:00+02:00') });
        const late = await offline({ terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 300, createdAt: made, when: arrived });
        expect(late.reply.status).toBe('approved');
        const h = await l.history(CARD, 2);
        // Newest first by when things happened: the online sale of the 2nd, then the offline one of the 1st.
        expect(h.map((e) => [e.kind, e.amount])).toEqual([['debit', -200], ['debit', -300]]);
        expect(h[1]).toMatchObject({ at: made, recordedAt: arrived, txnId: late.body.txnId, partnerId: 'P-BOOK' });
        expect(h[0]!.at).toBe(h[0]!.recordedAt);
      });

      it('R7 a late offline sale that broke the policy gets nothing back from the sweep', async () => {
        const lastDay = at('2023-05-31T17:30:00+02:00');
        await l.expire(at('2023-06-01T01:00:00+02:00'));
        // Over the per-sale maximum: the rules alone, and the wallet as it is (expired, empty).
        const over = await offline({ terminal: T.book, card: CARD, benefit: 'SCHOOL_BOOKS', amount: 3500, createdAt: lastDay, when: at('2023-06-02T09:00:00+02:00') });
        expect(over.reply).toMatchObject({ status: 'declined', code: 'OFFLINE_POLICY_BREACH' });
        expect(await l.transfersForTxn(over.body.txnId)).toEqual([]);
        expect(await l.audit()).toEqual([]);
      });

      it('offline: the same card at two terminals: the first is paid in full, the second guaranteed for the rest, then the card is blocked offline', async () => {
        await l.addTerminal({ id: 'T-BOOK-03', partnerId: 'P-BOOK2', publicKey: KEY });
        const held = await l.hotlistVersion();
        const a = await offline({ terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 1000, hotlist: held });
        const b = await offline({ terminal: 'T-BOOK-03', card: CARD, benefit: 'LEISURE_BOOKS', amount: 1000, hotlist: held, createdAt: NOW + 60_000 });
        expect(a.reply).toMatchObject({ status: 'approved', taken: 1000, remainingToPay: 0 });
        expect(a.reply.guaranteed).toBeUndefined();
        expect(b.reply).toMatchObject({ status: 'approved', taken: 500, guaranteed: 500, remainingToPay: 0 });
        // The wallet paid exactly its balance; the Region the rest.
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(0);
        const wallet = [...(await l.transfersForTxn(a.body.txnId)), ...(await l.transfersForTxn(b.body.txnId))].filter((t) => t.kind === 'debit').reduce((s, t) => s + t.amount, 0);
        expect(wallet).toBe(1500);
        expect((await l.hotlist(held)).entries).toEqual([{ card: CARD, reason: 'soft' }]);
        const report = await l.offlineReport();
        expect(report).toMatchObject({ offlineSales: 2, guaranteedCents: 500, softBlockedCards: 1, breaches: 0 });
        expect(report.policy).toMatchObject({ version: policy, limits: DEFAULT_OFFLINE_LIMITS });
        // min(60 €, 30 € × 3) per card and day, at each of the 9 active terminals (8 seeded + this one).
        expect(report.boundPerCardDayCents).toBe(6000 * 9);
        // A terminal that already held the soft block sold anyway: a breach, not covered.
        const c = await offline({ terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 500 });
        expect(c.reply).toMatchObject({ status: 'declined', code: 'OFFLINE_POLICY_BREACH' });
        const statementOf = async (p: string) => (await l.closeStatement(p, '2022-10-01', '2022-10-31', at('2022-11-02T09:00:00+01:00'))).totalCents;
        expect([await statementOf('P-BOOK'), await statementOf('P-BOOK2')]).toEqual([1000, 1000]);
        expect(await l.audit()).toEqual([]);
      });

      it('corrections of a guaranteed offline sale are refused (SALE_GUARANTEED); a fully paid offline sale can be corrected', async () => {
        const g = (await offline({ terminal: T.book, card: POOR, benefit: 'LEISURE_BOOKS', amount: 1000 })).body;
        expect(await codeOf(async () => await l.cancelSale(g.txnId, 'P-BOOK', NOW + 7_200_000))).toBe('SALE_GUARANTEED');
        expect(await codeOf(async () => await l.reverseSale(g.txnId, 'contrôle', NOW + DAY))).toBe('SALE_GUARANTEED');
        const whole = (await offline({ terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 1000 })).body;
        expect(await l.cancelSale(whole.txnId, 'P-BOOK', NOW + 7_200_000)).toMatchObject({ amount: 1000, to: 'wallet' });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        expect(await l.audit()).toEqual([]);
      });
    });

    describe('hotlist and offline policy', () => {
      it('hotlist: the whole list at base 0, deltas after a base with removals, one version per change', async () => {
        // Seeded: OPPOSED was opposed.
        expect(await l.hotlistVersion()).toBe(1);
        expect(await l.hotlist(0)).toEqual({ version: 1, entries: [{ card: OPPOSED, reason: 'opposed' }] });
        expect(await l.hotlist(1)).toEqual({ version: 1, entries: [] });
        // Any suspension refuses the whole card offline.
        await l.suspend({ cardNumber: CARD, benefit: 'CINEMA', campaign: '2022-2023', reason: 'x', at: NOW });
        expect(await l.hotlist(1)).toEqual({ version: 2, entries: [{ card: CARD, reason: 'suspended' }] });
        await l.suspend({ cardNumber: CARD, benefit: null, campaign: '2022-2023', reason: 'y', at: NOW });
        expect(await l.hotlistVersion()).toBe(2);
        // Opposition with a replacement: the old card listed, the new one not.
        await l.oppose({ cardNumber: POOR, reason: 'lost', at: NOW, replacement: { number: NEW_CARD } });
        expect(await l.hotlist(2)).toEqual({ version: 3, entries: [{ card: POOR, reason: 'opposed' }] });
        // Lifting the last suspension takes the card off the list: the delta says so, the full list leaves it out.
        await l.liftSuspension(CARD, 'CINEMA', '2022-2023', NOW);
        expect(await l.hotlistVersion()).toBe(3);
        await l.liftSuspension(CARD, null, '2022-2023', NOW);
        expect(await l.hotlist(3)).toEqual({ version: 4, entries: [{ card: CARD, reason: null }] });
        expect(await l.hotlist(1)).toEqual({ version: 4, entries: [{ card: POOR, reason: 'opposed' }, { card: CARD, reason: null }] });
        expect((await l.hotlist(0)).entries).toEqual([{ card: OPPOSED, reason: 'opposed' }, { card: POOR, reason: 'opposed' }]);
        // Two soft blocks in one batch: one version.
        const policy = (await l.setOfflinePolicy(DEFAULT_OFFLINE_LIMITS, NOW)).version;
        const soft = (card: string) => debitItem(debitBody({ terminalId: T.book, cardNumber: card, benefit: 'LEISURE_BOOKS', amount: 100, mode: 'offline', policy, hotlist: 4, createdAt: NOW }));
        await l.commitDebits([soft(BARE), soft(UNKNOWN)], NOW);
        expect(await l.hotlist(4)).toEqual({ version: 5, entries: [{ card: BARE, reason: 'soft' }, { card: UNKNOWN, reason: 'soft' }] });
        // A stronger reason wins while it holds; the soft block comes back after it.
        await l.suspend({ cardNumber: BARE, benefit: null, campaign: '2022-2023', reason: 'z', at: NOW });
        expect((await l.hotlist(5)).entries).toEqual([{ card: BARE, reason: 'suspended' }]);
        await l.liftSuspension(BARE, null, '2022-2023', NOW);
        expect(await l.hotlist(6)).toEqual({ version: 7, entries: [{ card: BARE, reason: 'soft' }] });
        expect(await l.liftSoftBlock(BARE, NOW)).toBe(true);
        expect(await l.liftSoftBlock(BARE, NOW)).toBe(false);
        expect(await l.liftSoftBlock(CARD, NOW)).toBe(false);
        expect(await l.hotlist(7)).toEqual({ version: 8, entries: [{ card: BARE, reason: null }] });
        expect((await l.offlineReport()).softBlockedCards).toBe(1);
        // Lifted: the card sells offline under the guarantee again, with the current hotlist.
        const again = debitBody({ terminalId: T.book, cardNumber: BARE, benefit: 'LEISURE_BOOKS', amount: 100, mode: 'offline', policy, hotlist: 8, createdAt: NOW });
        expect(replyOf((await l.commitDebits([debitItem(again)], NOW))[0])).toMatchObject({ status: 'approved', guaranteed: 100 });
        expect(await l.audit()).toEqual([]);
      });

      it('offline policy: a new version only when the limits change, every version kept', async () => {
        expect((await l.offlineReport()).policy).toBeNull();
        expect((await l.offlineReport()).boundPerCardDayCents).toBe(0);
        const v1 = await l.setOfflinePolicy(DEFAULT_OFFLINE_LIMITS, NOW);
        expect(v1).toEqual({ version: 1, issuedAt: NOW, limits: DEFAULT_OFFLINE_LIMITS });
        // The same limits (in another key order) keep version 1 and its issue time.
        const reordered = Object.fromEntries(Object.entries(DEFAULT_OFFLINE_LIMITS).reverse()) as typeof DEFAULT_OFFLINE_LIMITS;
        expect(await l.setOfflinePolicy(reordered, NOW + DAY)).toEqual(v1);
        const v2 = await l.setOfflinePolicy({ ...DEFAULT_OFFLINE_LIMITS, maxSaleCents: 2000 }, NOW + DAY);
        expect(v2).toMatchObject({ version: 2, issuedAt: NOW + DAY });
        expect(await l.offlinePolicy(1)).toEqual(DEFAULT_OFFLINE_LIMITS);
        expect((await l.offlinePolicy(2))?.maxSaleCents).toBe(2000);
        expect(await l.offlinePolicy(3)).toBeUndefined();
        expect(await l.offlinePolicy(0)).toBeUndefined();
        expect((await l.offlineReport()).policy?.version).toBe(2);
        expect(await codeOf(async () => await l.setOfflinePolicy({ ...DEFAULT_OFFLINE_LIMITS, maxSaleCents: -1 }, NOW))).toBe('DATA_INVALID');
        // Back to the first limits: a new version (versions only go forward).
        expect((await l.setOfflinePolicy(DEFAULT_OFFLINE_LIMITS, NOW + 2 * DAY)).version).toBe(3);
      });
    });
  });
}
