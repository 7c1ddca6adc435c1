import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../../protocol/card.ts';
import { isPasserelleError } from '../../protocol/errors.ts';
import { DebitReply } from '../../protocol/messages.ts';
import { parseJson } from '../../protocol/messages.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import { codeOf } from '../../tests/helpers/errors.ts';
import type { CommitOutcome, Ledger } from './ledger.ts';

/**
 * The contract every ledger backend passes. A backend's test file calls `ledgerContract(name, open)`;
 * `open` returns a fresh, empty ledger.
 */

const KEY = new Uint8Array(32).fill(7);
const CARD = cardNumberFrom('100000000000001');
const OPPOSED = cardNumberFrom('100000000000002');
const BARE = cardNumberFrom('100000000000003');
const UNKNOWN = cardNumberFrom('100000000000009');
const T_BOOK = 'T-BOOK-01';
const T_CINEMA = 'T-CINE-01';
const T_OFF = 'T-BOOK-02';

function seed(l: Ledger): void {
  l.addPartner({ id: 'P-BOOK', name: 'Librairie', type: 'bookshop' });
  l.addPartner({ id: 'P-CINE', name: 'Cinéma', type: 'cinema' });
  l.addTerminal({ id: T_BOOK, partnerId: 'P-BOOK', publicKey: KEY });
  l.addTerminal({ id: T_OFF, partnerId: 'P-BOOK', publicKey: KEY, active: false });
  l.addTerminal({ id: T_CINEMA, partnerId: 'P-CINE', publicKey: KEY });
  for (const [number, holder] of [[CARD, 'A'], [OPPOSED, 'B'], [BARE, 'C']] as const) l.issueCard({ number, holder, pinHash: null });
  l.load({ cardNumber: CARD, benefit: 'LEISURE_BOOKS', campaign: '2022-2023', amount: 1500, at: 1 });
  l.load({ cardNumber: CARD, benefit: 'CINEMA', campaign: '2022-2023', amount: 5, at: 1 });
  l.load({ cardNumber: OPPOSED, benefit: 'LEISURE_BOOKS', campaign: '2022-2023', amount: 1500, at: 1 });
  l.setCardStatus(OPPOSED, 'opposed');
}

function replyOf(o: CommitOutcome | undefined): DebitReply['body'] {
  if (!o || o.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(o)}`);
  return parseJson(DebitReply, o.reply, 'reply').body;
}

export function ledgerContract(name: string, open: () => Ledger): void {
  describe(`ledger contract: ${name}`, () => {
    let l: Ledger;
    beforeEach(() => {
      l = open();
      seed(l);
      return () => l.close();
    });

    it('approves a debit below the balance and moves exactly that much', () => {
      const body = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 1250 });
      const r = replyOf(l.commitDebits([debitItem(body)], 42)[0]);
      expect(r).toMatchObject({ status: 'approved', requested: 1250, taken: 1250, remainingToPay: 0, balanceAfter: 250, decidedAt: 42 });
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(250);
      const moves = l.transfersForTxn(body.txnId);
      expect(moves).toHaveLength(1);
      expect(moves[0]).toMatchObject({ kind: 'debit', amount: 1250, unit: 'cent', creditAccount: 'payable:P-BOOK:cent' });
      expect(l.audit()).toEqual([]);
    });

    it('R9 partial debit: above the balance takes the whole balance and shows what remains to pay', () => {
      const body = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 2000 });
      const r = replyOf(l.commitDebits([debitItem(body)], 1)[0]);
      expect(r).toMatchObject({ status: 'approved', requested: 2000, taken: 1500, remainingToPay: 500, balanceAfter: 0 });
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(0);
      const again = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
      expect(replyOf(l.commitDebits([debitItem(again)], 2)[0])).toMatchObject({ status: 'declined', code: 'BENEFIT_EXHAUSTED', taken: 0, remainingToPay: 100 });
      expect(l.audit()).toEqual([]);
    });

    it('counts cinema in entries, with partial debit too', () => {
      const body = debitBody({ terminalId: T_CINEMA, cardNumber: CARD, benefit: 'CINEMA', amount: 7 });
      expect(replyOf(l.commitDebits([debitItem(body)], 1)[0])).toMatchObject({ unit: 'entry', taken: 5, remainingToPay: 2, balanceAfter: 0 });
      expect(l.transfersForTxn(body.txnId)[0]).toMatchObject({ unit: 'entry', creditAccount: 'payable:P-CINE:entry' });
      expect(l.audit()).toEqual([]);
    });

    it('R10 refuses a benefit outside the partner type, and moves nothing', () => {
      const body = debitBody({ terminalId: T_CINEMA, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
      expect(replyOf(l.commitDebits([debitItem(body)], 1)[0])).toMatchObject({ status: 'declined', code: 'BENEFIT_NOT_ALLOWED', taken: 0 });
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
      expect(l.transfersForTxn(body.txnId)).toEqual([]);
    });

    it('R4 refuses an opposed card, an unknown card, a missing benefit and an inactive terminal', () => {
      const cases = [
        [debitBody({ terminalId: T_BOOK, cardNumber: OPPOSED, benefit: 'LEISURE_BOOKS', amount: 100 }), 'CARD_BLOCKED'],
        [debitBody({ terminalId: T_BOOK, cardNumber: UNKNOWN, benefit: 'LEISURE_BOOKS', amount: 100 }), 'CARD_UNKNOWN'],
        [debitBody({ terminalId: T_BOOK, cardNumber: BARE, benefit: 'LEISURE_BOOKS', amount: 100 }), 'NO_SUCH_BENEFIT'],
        [debitBody({ terminalId: T_OFF, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 }), 'TERMINAL_INACTIVE'],
      ] as const;
      const outcomes = l.commitDebits(cases.map(([b]) => debitItem(b)), 1);
      cases.forEach(([, code], i) => expect(replyOf(outcomes[i])).toMatchObject({ status: 'declined', code }));
      expect(l.walletBalance(OPPOSED, 'LEISURE_BOOKS')).toBe(1500);
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
      expect(l.audit()).toEqual([]);
    });

    it('R3 declines a wrong or unset secret code', () => {
      const wrong = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
      const unset = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 100 });
      const [a, b] = l.commitDebits([debitItem(wrong, 'incorrect'), debitItem(unset, 'not-set')], 1);
      expect(replyOf(a)).toMatchObject({ status: 'declined', code: 'PIN_INCORRECT' });
      expect(replyOf(b)).toMatchObject({ status: 'declined', code: 'PIN_NOT_SET' });
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
    });

    it('answers a repeat with the original reply bytes and applies it once', () => {
      const body = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
      const first = l.commitDebits([debitItem(body)], 10)[0];
      const second = l.commitDebits([debitItem(body)], 99)[0];
      expect(first).toMatchObject({ kind: 'reply', fresh: true });
      expect(second).toMatchObject({ kind: 'reply', fresh: false });
      expect(second?.kind === 'reply' && first?.kind === 'reply' && second.reply.equals(first.reply)).toBe(true);
      expect(l.transfersForTxn(body.txnId)).toHaveLength(1);
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
    });

    it('applies a request repeated inside one batch once', () => {
      const body = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
      const [a, b] = l.commitDebits([debitItem(body), debitItem(body)], 10);
      expect(a).toMatchObject({ kind: 'reply', fresh: true });
      expect(b).toMatchObject({ kind: 'reply', fresh: false });
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
    });

    it('refuses and records a repeat whose content differs, leaving the original intact', () => {
      const body = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
      l.commitDebits([debitItem(body)], 10);
      const forged = { ...body, amount: 1 };
      expect(l.commitDebits([debitItem(forged)], 11)[0]).toEqual({ kind: 'conflict' });
      expect(l.conflictCount(body.txnId)).toBe(1);
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1200);
      expect(replyOf({ kind: 'reply', reply: l.request(body.txnId)!.reply, fresh: false, status: 'approved' })).toMatchObject({ requested: 300 });
    });

    it('rolls a whole batch back when one item cannot be applied', () => {
      const good = debitBody({ terminalId: T_BOOK, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
      const orphan = debitBody({ terminalId: 'T-NOWHERE-01', cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 300 });
      let thrown: unknown;
      try {
        l.commitDebits([debitItem(good), debitItem(orphan)], 1);
      } catch (e) {
        thrown = e;
      }
      expect(isPasserelleError(thrown, 'LEDGER_FAILED')).toBe(true);
      expect(l.request(good.txnId)).toBeUndefined();
      expect(l.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(1500);
      // Nothing from the rolled-back batch survives, not even an id remembered on the side: the next
      // accounts created and the next debit land where they belong.
      l.load({ cardNumber: BARE, benefit: 'LEISURE_BOOKS', campaign: '2022-2023', amount: 700, at: 2 });
      l.commitDebits([debitItem(good)], 3);
      expect(l.transfersForTxn(good.txnId)).toEqual([expect.objectContaining({ debitAccount: `wallet:${CARD}:LEISURE_BOOKS:2022-2023`, creditAccount: 'payable:P-BOOK:cent' })]);
      expect(l.walletBalance(BARE, 'LEISURE_BOOKS')).toBe(700);
      expect(l.audit()).toEqual([]);
    });

    it('refuses bad provisioning data with DATA_INVALID', () => {
      const code = codeOf;
      expect(code(() => l.addPartner({ id: 'P-BOOK', name: 'again', type: 'bookshop' }))).toBe('DATA_INVALID');
      expect(code(() => l.addTerminal({ id: 'T-X-01', partnerId: 'P-NONE', publicKey: KEY }))).toBe('DATA_INVALID');
      expect(code(() => l.issueCard({ number: '1234567890123456', holder: 'x', pinHash: null }))).toBe('DATA_INVALID');
      expect(code(() => l.load({ cardNumber: CARD, benefit: 'SPORT', campaign: 'c', amount: 0, at: 1 }))).toBe('DATA_INVALID');
      expect(code(() => l.load({ cardNumber: CARD, benefit: 'SPORT', campaign: 'c', amount: 1.5, at: 1 }))).toBe('DATA_INVALID');
    });

    it('atomically(): all the writes or none', () => {
      const n = cardNumberFrom('100000000000004');
      expect(() =>
        l.atomically(() => {
          l.issueCard({ number: n, holder: 'D', pinHash: null });
          l.load({ cardNumber: n, benefit: 'SPORT', campaign: 'c', amount: 3000, at: 1 });
          l.load({ cardNumber: n, benefit: 'SPORT', campaign: 'c', amount: -1, at: 1 });
        }),
      ).toThrow();
      expect(l.card(n)).toBeUndefined();
      l.atomically(() => {
        l.issueCard({ number: n, holder: 'D', pinHash: null });
        l.load({ cardNumber: n, benefit: 'SPORT', campaign: 'c', amount: 3000, at: 1 });
      });
      expect(l.walletBalance(n, 'SPORT')).toBe(3000);
      expect(l.audit()).toEqual([]);
    });

    it('keeps every invariant over random sequences of debits and repeats', () => {
      const step = fc.record({
        amount: fc.integer({ min: 1, max: 900 }),
        card: fc.constantFrom(CARD, OPPOSED, BARE, UNKNOWN),
        terminal: fc.constantFrom(T_BOOK, T_CINEMA, T_OFF),
        repeat: fc.boolean(),
      });
      fc.assert(
        fc.property(fc.array(fc.array(step, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 }), (batches) => {
          const fresh = open();
          seed(fresh);
          const sent: ReturnType<typeof debitBody>[] = [];
          let expected = 1500;
          for (const batch of batches) {
            const items = batch.map((s) => {
              const prior = s.repeat ? sent[s.amount % Math.max(sent.length, 1)] : undefined;
              const body = prior ?? debitBody({ terminalId: s.terminal, cardNumber: s.card, benefit: 'LEISURE_BOOKS', amount: s.amount });
              if (!prior) sent.push(body);
              return debitItem(body);
            });
            for (const [i, o] of fresh.commitDebits(items, 1).entries()) {
              const b = items[i]!.body;
              if (o.kind === 'reply' && o.fresh && b.credential.cardNumber === CARD && b.terminalId === T_BOOK) expected -= replyOf(o).taken;
            }
          }
          expect(fresh.walletBalance(CARD, 'LEISURE_BOOKS')).toBe(expected);
          expect(expected).toBeGreaterThanOrEqual(0);
          for (const b of sent) expect(fresh.transfersForTxn(b.txnId).length).toBeLessThanOrEqual(1);
          expect(fresh.audit()).toEqual([]);
          fresh.close();
        }),
        { numRuns: 60 },
      );
    });
  });
}
