import { describe, expect, it } from 'vitest';
import type { Benefit } from '../../protocol/benefits.ts';
import { requestFingerprint } from '../../protocol/debit.ts';
import { isPasserelleError } from '../../protocol/errors.ts';
import { parseJson, VoidReply, type DebitRequestBody } from '../../protocol/messages.ts';
import { DEFAULT_OFFLINE_LIMITS, GENESIS_HASH } from '../../protocol/offline.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import { codeOf } from '../../tests/helpers/errors.ts';
import type { PinCheck } from '../rules.ts';
import { fallbackRecordHash, type CommitOutcome } from './ledger.ts';
import { type OpenLedger, seededLedger, at, NOW, DAY, KEY, CARD, OPPOSED, BARE, UNKNOWN, T, CONVENTION, replyOf, sell, voidItem, voidBody } from './fixture.contract.ts';

function voidReplyOf(o: CommitOutcome | undefined): VoidReply['body'] {
  if (!o || o.kind !== 'reply' || o.status !== 'void') throw new Error(`expected a void reply, got ${JSON.stringify(o)}`);
  return parseJson(VoidReply, o.reply, 'void reply').body;
}

/** What the ledger records as the chain hash of a record given without its message bytes. */
const hashOf = (b: DebitRequestBody) => fallbackRecordHash(requestFingerprint(b));

/** One terminal's records in order: each names the hash of the one before, as a real outbox does. */
function chainFor(terminalId: string) {
  let seq = 0;
  let prev = GENESIS_HASH;
  return (o: { card: string; benefit: Benefit; amount: number } & Partial<DebitRequestBody>): DebitRequestBody => {
    const body = debitBody({ terminalId, cardNumber: o.card, seq: ++seq, prev, ...o });
    prev = hashOf(body);
    return body;
  };
}

/** The debits' contract: the rules a sale is decided by, repeats, batches, the hash chain and voids. */
export function debitsContract(name: string, open: OpenLedger): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    describe('debits', () => {
      it('approves a debit below the balance and moves exactly that much', async () => {
        const { body, reply } = await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 1250, when: NOW + 42 });
        expect(reply).toMatchObject({ status: 'approved', requested: 1250, taken: 1250, remainingToPay: 0, balanceAfter: 250, decidedAt: NOW + 42 });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(250);
        expect(await l.transfersForTxn(body.txnId)).toEqual([
          expect.objectContaining({ kind: 'debit', amount: 1250, unit: 'cent', creditAccount: 'payable:P-BOOK:cent' }),
        ]);
        expect(await l.audit()).toEqual([]);
      });

      it('R9 partial debit: above the balance takes the whole balance and shows what remains to pay', async () => {
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 2000 })).reply).toMatchObject({
          status: 'approved', requested: 2000, taken: 1500, remainingToPay: 500, balanceAfter: 0,
        });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(0);
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({
          status: 'declined', code: 'BENEFIT_EXHAUSTED', taken: 0, remainingToPay: 100,
        });
        expect(await l.audit()).toEqual([]);
      });

      it('counts cinema in entries, with partial debit too', async () => {
        const { body, reply } = await sell(l, { terminal: T.cinema, card: CARD, benefit: 'CINEMA', amount: 7 });
        expect(reply).toMatchObject({ unit: 'entry', taken: 5, remainingToPay: 2, balanceAfter: 0 });
        expect((await l.transfersForTxn(body.txnId))[0]).toMatchObject({ unit: 'entry', creditAccount: 'payable:P-CINE:entry' });
        expect(await l.audit()).toEqual([]);
      });

      it('museum access: free and unlimited, each visit recorded and counted, no balance moved', async () => {
        for (let i = 0; i < 3; i++) {
          const { body, reply } = await sell(l, { terminal: T.museum, card: CARD, benefit: 'MUSEUM', amount: 2 });
          expect(reply).toMatchObject({ status: 'approved', taken: 2, remainingToPay: 0 });
          expect(reply.balanceAfter).toBeUndefined();
          expect(await l.transfersForTxn(body.txnId)).toEqual([
            expect.objectContaining({ kind: 'debit', debitAccount: 'funding:MUSEUM:2022-2023', creditAccount: 'payable:P-MUSE:entry', amount: 2 }),
          ]);
        }
        expect(await l.walletBalance(CARD, 'MUSEUM')).toBe(0);
        expect((await sell(l, { terminal: T.museum, card: BARE, benefit: 'MUSEUM', amount: 1 })).reply).toMatchObject({ status: 'declined', code: 'NO_SUCH_BENEFIT' });
        expect(await l.audit()).toEqual([]);
      });

      it('R10 refuses a benefit outside the partner type, and moves nothing', async () => {
        const { body, reply } = await sell(l, { terminal: T.cinema, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
        expect(reply).toMatchObject({ status: 'declined', code: 'BENEFIT_NOT_ALLOWED', taken: 0 });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        expect(await l.transfersForTxn(body.txnId)).toEqual([]);
      });

      it('R10 refuses a partner whose convention does not cover the sale date', async () => {
        expect((await sell(l, { terminal: T.old, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({ status: 'declined', code: 'CONVENTION_INVALID' });
        await l.updatePartner('P-OLDB', { conventionFrom: '2022-06-01', conventionTo: '2027-05-31' });
        expect((await sell(l, { terminal: T.old, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply).toMatchObject({ status: 'approved' });
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'DRIVING_LICENCE', amount: 100, when: at('2027-06-01T10:00:00+02:00') })).reply).toMatchObject({
          code: 'BENEFIT_NOT_ALLOWED',
        });
        expect((await sell(l, { terminal: T.auto, card: CARD, benefit: 'DRIVING_LICENCE', amount: 100, when: at('2027-06-01T10:00:00+02:00') })).reply).toMatchObject({
          code: 'CONVENTION_INVALID',
        });
      });

      it('R4 refuses an opposed card, an unknown card, a missing benefit and an inactive terminal', async () => {
        const cases = [
          [debitBody({ terminalId: T.book, cardNumber: OPPOSED, benefit: 'LEISURE_BOOKS', amount: 100 }), 'CARD_BLOCKED'],
          [debitBody({ terminalId: T.book, cardNumber: UNKNOWN, benefit: 'LEISURE_BOOKS', amount: 100 }), 'CARD_UNKNOWN'],
          [debitBody({ terminalId: T.book, cardNumber: BARE, benefit: 'LEISURE_BOOKS', amount: 100 }), 'NO_SUCH_BENEFIT'],
          [debitBody({ terminalId: T.bookOff, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 }), 'TERMINAL_INACTIVE'],
        ] as const;
        const outcomes = await l.commitDebits(cases.map(([b]) => debitItem(b)), NOW);
        cases.forEach(([, code], i) => expect(replyOf(outcomes[i])).toMatchObject({ status: 'declined', code }));
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        expect(await l.audit()).toEqual([]);
      });

      it('R2 an NFC sale needs no code; a QR sale needs the right one', async () => {
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100, pin: 'not-needed' })).reply.status).toBe('approved');
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100, pin: 'ok' })).reply.status).toBe('approved');
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100, pin: 'incorrect' })).reply).toMatchObject({ code: 'PIN_INCORRECT' });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1300);
      });

      it('R3 declines a wrong or unset secret code', async () => {
        const wrong = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
        const unset = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
        const [a, b] = await l.commitDebits([debitItem(wrong, 'incorrect'), debitItem(unset, 'not-set')], NOW);
        expect(replyOf(a)).toMatchObject({ status: 'declined', code: 'PIN_INCORRECT' });
        expect(replyOf(b)).toMatchObject({ status: 'declined', code: 'PIN_NOT_SET' });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
      });

      it('R3 three wrong codes at one partner stop that partner for the day, even within one batch, and the third says so; the others are not', async () => {
        const qr = (pin: PinCheck, terminalId: string = T.book) => debitItem(debitBody({ terminalId, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 }), pin);
        // Two wrong, then a right one: the counts start again.
        await l.commitDebits([qr('incorrect'), qr('incorrect')], NOW);
        expect(replyOf((await l.commitDebits([qr('ok')], NOW))[0]).status).toBe('approved');
        expect((await l.card(CARD))?.pinFailures).toBe(0);
        const outcomes = (await l.commitDebits([qr('incorrect'), qr('incorrect'), qr('incorrect'), qr('ok')], NOW)).map((o) => replyOf(o).code);
        expect(outcomes).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT_BLOCKED', 'PIN_TRIES_EXCEEDED']);
        expect(await l.pinGate(CARD, 'P-BOOK', NOW)).toBe('tries-exceeded');
        // Another partner (another bookshop) is not stopped: the right code pays there, and clears the counts.
        await l.addTerminal({ id: 'T-BOOK2-01', partnerId: 'P-BOOK2', publicKey: KEY });
        expect(await l.pinGate(CARD, 'P-BOOK2', NOW)).toBe('open');
        expect(replyOf((await l.commitDebits([qr('ok', 'T-BOOK2-01')], NOW))[0]).status).toBe('approved');
        expect(await l.pinGate(CARD, 'P-BOOK', NOW)).toBe('open');
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1300);
      });

      it('R3 six wrong codes in a day stop every partner until the next day; nine from three partners lock the code until unlocked; the try that stops or locks says so', async () => {
        await l.addTerminal({ id: 'T-BOOK-03', partnerId: 'P-BOOK2', publicKey: KEY });
        const qr = (pin: PinCheck, terminalId: string) => debitItem(debitBody({ terminalId, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 }), pin);
        const wrong = async (terminalId: string, n: number, at: number) => (await l.commitDebits(Array.from({ length: n }, () => qr('incorrect', terminalId)), at)).map((o) => replyOf(o).code);
        // One partner alone, day after day, cannot make the day limit nor the lock.
        for (let d = 0; d < 3; d++) expect(await wrong(T.book, 3, NOW + d * DAY)).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT_BLOCKED']);
        expect(await l.pinGate(CARD, null, NOW + 3 * DAY)).toBe('open');
        expect(replyOf((await l.commitDebits([qr('ok', T.book)], NOW + 3 * DAY))[0]).status).toBe('approved');
        // Two partners in one day: six, and the code is refused everywhere until the next day.
        expect(await wrong(T.book, 3, NOW)).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT_BLOCKED']);
        expect(await wrong('T-BOOK-03', 3, NOW)).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT_BLOCKED']);
        expect(await l.pinGate(CARD, null, NOW)).toBe('tries-exceeded');
        expect(replyOf((await l.commitDebits([qr('ok', 'T-BOOK-03')], NOW))[0]).code).toBe('PIN_TRIES_EXCEEDED');
        expect(await l.pinGate(CARD, null, NOW + DAY)).toBe('open');
        // A third partner the next day: nine wrong from three partners lock the code.
        await l.addPartner({ id: 'P-BOOK3', name: 'Troisième librairie', type: 'bookshop', ...CONVENTION });
        await l.addTerminal({ id: 'T-BOOK3-01', partnerId: 'P-BOOK3', publicKey: KEY });
        expect(await wrong('T-BOOK3-01', 3, NOW + DAY)).toEqual(['PIN_INCORRECT', 'PIN_INCORRECT', 'PIN_INCORRECT_LOCKED']);
        expect(await l.pinGate(CARD, null, NOW + 2 * DAY)).toBe('locked');
        expect(replyOf((await l.commitDebits([qr('ok', 'T-BOOK-03')], NOW + 2 * DAY))[0]).code).toBe('PIN_LOCKED');
        // The card without a code (NFC) still works: the lock is on the code, not the card.
        expect((await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100 })).reply.status).toBe('approved');
        await l.unlockPin(CARD);
        expect(await l.pinGate(CARD, null, NOW + 2 * DAY)).toBe('open');
        expect(replyOf((await l.commitDebits([qr('ok', 'T-BOOK-03')], NOW + 2 * DAY))[0]).status).toBe('approved');
      });

      it('answers a repeat with the original reply bytes and applies it once', async () => {
        const body = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
        const first = (await l.commitDebits([debitItem(body)], NOW))[0];
        const second = (await l.commitDebits([debitItem(body)], NOW + 99))[0];
        expect(first).toMatchObject({ kind: 'reply', fresh: true });
        expect(second).toMatchObject({ kind: 'reply', fresh: false });
        expect(second?.kind === 'reply' && first?.kind === 'reply' && second.reply.equals(first.reply)).toBe(true);
        expect(await l.transfersForTxn(body.txnId)).toHaveLength(1);
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
      });

      it('applies a request repeated inside one batch once', async () => {
        const body = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
        const [a, b] = await l.commitDebits([debitItem(body), debitItem(body)], NOW);
        expect(a).toMatchObject({ kind: 'reply', fresh: true });
        expect(b).toMatchObject({ kind: 'reply', fresh: false });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
      });

      it('refuses and records a repeat whose content differs, leaving the original intact', async () => {
        const body = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
        await l.commitDebits([debitItem(body)], NOW);
        expect((await l.commitDebits([debitItem({ ...body, amount: 1 })], NOW))[0]).toEqual({ kind: 'conflict' });
        expect(await l.conflictCount(body.txnId)).toBe(1);
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
        expect(replyOf({ kind: 'reply', reply: (await l.request(body.txnId))!.reply, fresh: false, status: 'approved' })).toMatchObject({ requested: 300 });
      });

      it('rolls a whole batch back when one item cannot be applied', async () => {
        const good = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
        const orphan = debitBody({ terminalId: 'T-NOWHERE-01', cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
        const museum = debitBody({ terminalId: T.museum, cardNumber: CARD, benefit: 'MUSEUM', amount: 1 });
        let thrown: unknown;
        try {
          await l.commitDebits([debitItem(good), debitItem(museum), debitItem(orphan)], NOW);
        } catch (e) {
          thrown = e;
        }
        expect(isPasserelleError(thrown, 'LEDGER_FAILED')).toBe(true);
        expect(await l.request(good.txnId)).toBeUndefined();
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        // Nothing from the rolled-back batch survives, not even an id remembered on the side: the next
        // accounts created and the next debit land where they belong.
        await l.load({ cardNumber: BARE, benefit: 'LEISURE_BOOKS', campaign: '2022-2023', amount: 700, at: NOW });
        await l.commitDebits([debitItem(good), debitItem(museum)], NOW);
        expect(await l.transfersForTxn(good.txnId)).toEqual([
          expect.objectContaining({ debitAccount: `wallet:D-${CARD}:LEISURE_BOOKS:2022-2023`, creditAccount: 'payable:P-BOOK:cent' }),
        ]);
        expect(await l.walletBalance(BARE, 'LEISURE_BOOKS')).toBe(700);
        expect(await l.audit()).toEqual([]);
      });
    });

    describe('hash chain and gaps', () => {
      it('chain: a gap shows in terminalSync as missing; filling it advances nextSeq', async () => {
        const next = chainFor(T.book);
        const [r1, r2, r3, r4, r5] = [1, 2, 3, 4, 5].map(() => next({ card: CARD, benefit: 'LEISURE_BOOKS', amount: 10 }));
        expect(await l.terminalSync(T.book)).toEqual({ terminalId: T.book, nextSeq: 1, maxSeq: 0, missing: [], chainBreaks: 0 });
        await l.commitDebits([r1!, r2!, r4!, r5!].map((b) => debitItem(b)), NOW);
        expect(await l.terminalSync(T.book)).toEqual({ terminalId: T.book, nextSeq: 3, maxSeq: 5, missing: [3], chainBreaks: 0 });
        await l.commitDebits([debitItem(r3!)], NOW);
        expect(await l.terminalSync(T.book)).toMatchObject({ nextSeq: 6, maxSeq: 5, missing: [], chainBreaks: 0 });
        // A wide gap is listed lowest first, at most `limit` of it.
        const far = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 10, seq: 12 });
        await l.commitDebits([debitItem(far)], NOW);
        expect(await l.terminalSync(T.book)).toMatchObject({ nextSeq: 6, maxSeq: 12, missing: [6, 7, 8, 9, 10, 11] });
        expect((await l.terminalSync(T.book, 2)).missing).toEqual([6, 7]);
        // Every other terminal is untouched.
        expect(await l.terminalSync(T.cinema)).toMatchObject({ nextSeq: 1, maxSeq: 0, missing: [] });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500 - 60);
      });

      it('chain: a prev that does not match the record before is a chain break, and the record is still decided', async () => {
        const a = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 1 });
        const b = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 2, prev: GENESIS_HASH });
        expect(replyOf((await l.commitDebits([debitItem(a), debitItem(b)], NOW))[1]).status).toBe('approved');
        expect(await l.terminalSync(T.book)).toMatchObject({ nextSeq: 3, chainBreaks: 1 });
        // Given its message hash (as the pipeline does), the next record must name exactly that.
        const msgHash = 'A'.repeat(43);
        const c = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 3, prev: hashOf(b) });
        const e = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 5, prev: 'B'.repeat(43) });
        await l.commitDebits([{ ...debitItem(c), msgHash }, debitItem(e)], NOW);
        expect(await l.terminalSync(T.book)).toMatchObject({ chainBreaks: 1, missing: [4] });
        // A late record checks both neighbours: it names c's hash (fine), but e names another than its own.
        const d = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 4, prev: msgHash });
        await l.commitDebits([debitItem(d)], NOW);
        expect(await l.terminalSync(T.book)).toMatchObject({ nextSeq: 6, missing: [], chainBreaks: 2 });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1000);
        expect(await l.audit()).toEqual([]);
      });

      it('chain: a sequence number reused by another record is refused as seq-conflict and nothing is applied', async () => {
        const a = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100, seq: 1 });
        const b = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 900, seq: 1 });
        const [x, y] = await l.commitDebits([debitItem(a), debitItem(b)], NOW);
        expect(x).toMatchObject({ kind: 'reply', fresh: true, status: 'approved' });
        expect(y).toEqual({ kind: 'seq-conflict' });
        expect(await l.request(b.txnId)).toBeUndefined();
        expect(await l.transfersForTxn(b.txnId)).toEqual([]);
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1400);
        expect(await l.terminalSync(T.book)).toMatchObject({ nextSeq: 2, maxSeq: 1, chainBreaks: 1 });
        // The record holding the number is still answered as a repeat; a void cannot take the number either.
        expect((await l.commitDebits([debitItem(a)], NOW))[0]).toMatchObject({ kind: 'reply', fresh: false });
        expect((await l.commitDebits([voidItem(voidBody(T.book, a.txnId, { seq: 1 }))], NOW))[0]).toEqual({ kind: 'seq-conflict' });
        // Another terminal's sequence is its own.
        expect(replyOf((await l.commitDebits([debitItem(debitBody({ terminalId: T.old, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 900, seq: 1 }))], NOW))[0]).code).toBe('CONVENTION_INVALID');
        expect((await l.terminalSync(T.book)).chainBreaks).toBe(2);
        expect(await l.audit()).toEqual([]);
      });
    });

    describe('voids', () => {
      it('void after an approved sale: undone, the wallet restored, a repeat gets the same bytes', async () => {
        const { body } = await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 500 });
        const v = voidBody(T.book, body.txnId, { reason: 'interrupted' });
        const first = (await l.commitDebits([voidItem(v)], NOW + 1000))[0];
        expect(first).toMatchObject({ kind: 'reply', fresh: true, status: 'void' });
        expect(voidReplyOf(first)).toEqual({ txnId: v.txnId, terminalId: T.book, target: body.txnId, result: 'undone', decidedAt: NOW + 1000 });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        expect((await l.transfersForTxn(body.txnId)).map((t) => t.kind)).toEqual(['debit', 'reversal']);
        expect(await l.request(v.txnId)).toMatchObject({ status: 'void', mode: null });
        const again = (await l.commitDebits([voidItem(v)], NOW + 5000))[0];
        expect(again).toMatchObject({ kind: 'reply', fresh: false, status: 'void' });
        expect(again?.kind === 'reply' && first?.kind === 'reply' && again.reply.equals(first.reply)).toBe(true);
        expect((await l.commitDebits([voidItem({ ...v, reason: 'timeout' })], NOW))[0]).toEqual({ kind: 'conflict' });
        // Undone once: not again by a correction, nor by a second void.
        expect(await codeOf(async () => await l.reverseSale(body.txnId, 'x', NOW + DAY))).toBe('ALREADY_CORRECTED');
        expect(voidReplyOf((await l.commitDebits([voidItem(voidBody(T.book, body.txnId))], NOW))[0]).result).toBe('undone');
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        expect(await l.audit()).toEqual([]);
      });

      it("a cashier's cancellation (reason cancelled): undone the same day, as a partner's cancellation; refused, changing nothing, otherwise", async () => {
        const today = (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 500 })).body;
        const v = voidBody(T.book, today.txnId, { reason: 'cancelled' });
        expect(voidReplyOf((await l.commitDebits([voidItem(v)], NOW + 3_600_000))[0])).toEqual({ txnId: v.txnId, terminalId: T.book, target: today.txnId, result: 'undone', decidedAt: NOW + 3_600_000 });
        expect((await l.transfersForTxn(today.txnId)).map((t) => t.kind)).toEqual(['debit', 'cancellation']);
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        const refused = async (target: string, when: number, by: string = T.book) => voidReplyOf((await l.commitDebits([voidItem(voidBody(by, target, { reason: 'cancelled', createdAt: when }))], when))[0]);
        // Once only; another day; another terminal's sale; a sale the gateway never saw.
        expect(await refused(today.txnId, NOW + 3_700_000)).toMatchObject({ result: 'refused', code: 'ALREADY_CORRECTED' });
        const yesterday = (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 300 })).body;
        expect(await refused(yesterday.txnId, NOW + DAY)).toMatchObject({ result: 'refused', code: 'NOT_SAME_DAY' });
        // Cancelled the same day while the gateway was out of reach, decided the next day: the cashier's day counts.
        const queued = voidBody(T.book, yesterday.txnId, { reason: 'cancelled', createdAt: NOW + 60_000 });
        expect(voidReplyOf((await l.commitDebits([voidItem(queued)], NOW + DAY))[0]).result).toBe('undone');
        const backdated = (await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 100, when: NOW + 2 * DAY })).body;
        // A void claiming a time before its sale, or far ahead of the gateway, is judged by the gateway's own clock.
        expect(voidReplyOf((await l.commitDebits([voidItem(voidBody(T.book, backdated.txnId, { reason: 'cancelled', createdAt: NOW }))], NOW + 3 * DAY))[0])).toMatchObject({ result: 'refused', code: 'NOT_SAME_DAY' });
        expect(await refused(yesterday.txnId, NOW, T.bookOff)).toMatchObject({ result: 'refused', code: 'NOT_YOUR_SALE' });
        expect(await refused('01890000-0000-7000-8000-000000000000', NOW)).toMatchObject({ result: 'refused', code: 'SALE_UNKNOWN' });
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1400);
        expect((await l.transfersForTxn(yesterday.txnId)).map((t) => t.kind)).toEqual(['debit', 'cancellation']);
        expect(await l.audit()).toEqual([]);
      });

      it('void before its target arrives: the target is declined TXN_VOIDED, and its repeats get the same reply', async () => {
        const target = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 500 });
        expect(voidReplyOf((await l.commitDebits([voidItem(voidBody(T.book, target.txnId))], NOW))[0]).result).toBe('prevented');
        const first = (await l.commitDebits([debitItem(target)], NOW + 10))[0];
        expect(replyOf(first)).toMatchObject({ status: 'declined', code: 'TXN_VOIDED', taken: 0, remainingToPay: 500, mode: 'online' });
        const again = (await l.commitDebits([debitItem(target)], NOW + 20))[0];
        expect(again?.kind === 'reply' && first?.kind === 'reply' && !again.fresh && again.reply.equals(first.reply)).toBe(true);
        expect(await l.transfersForTxn(target.txnId)).toEqual([]);
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
        // A declined target: nothing to undo.
        const declined = (await sell(l, { terminal: T.book, card: BARE, benefit: 'LEISURE_BOOKS', amount: 100 })).body;
        expect(voidReplyOf((await l.commitDebits([voidItem(voidBody(T.book, declined.txnId))], NOW))[0]).result).toBe('prevented');
        expect(await l.audit()).toEqual([]);
      });

      it("void of another terminal's sale or of an offline sale: prevented, and nothing changes", async () => {
        const { body } = await sell(l, { terminal: T.book, card: CARD, benefit: 'LEISURE_BOOKS', amount: 500 });
        expect(voidReplyOf((await l.commitDebits([voidItem(voidBody(T.venue, body.txnId))], NOW))[0]).result).toBe('prevented');
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1000);
        // Another terminal's void of a sale not received yet does not stop it either.
        const later = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
        await l.commitDebits([voidItem(voidBody(T.venue, later.txnId))], NOW);
        expect(replyOf((await l.commitDebits([debitItem(later)], NOW))[0]).status).toBe('approved');
        // An offline sale's result was shown ("accepted offline"): a void never takes it back.
        const policy = (await l.setOfflinePolicy(DEFAULT_OFFLINE_LIMITS, NOW - DAY)).version;
        const off = debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 200, mode: 'offline', policy });
        expect(voidReplyOf((await l.commitDebits([voidItem(voidBody(T.book, off.txnId))], NOW))[0]).result).toBe('prevented');
        expect(replyOf((await l.commitDebits([debitItem(off)], NOW))[0])).toMatchObject({ status: 'approved', taken: 200, mode: 'offline' });
        expect(voidReplyOf((await l.commitDebits([voidItem(voidBody(T.book, off.txnId))], NOW))[0]).result).toBe('prevented');
        expect(await l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(700);
        expect(await l.audit()).toEqual([]);
      });
    });
  });
}
