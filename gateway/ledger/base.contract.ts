import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { benefitUnit } from '../../protocol/benefits.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { isPasserelleError } from '../../protocol/errors.ts';
import { DEFAULT_OFFLINE_LIMITS } from '../../protocol/offline.ts';
import { debitBody, debitItem } from '../../tests/helpers/debits.ts';
import { type OpenLedger, seededLedger, at, NOW, DAY, CARD, OPPOSED, BARE, POOR, UNKNOWN, T, seed, approve, voidItem, voidBody } from './fixture.contract.ts';

/** The base contract: transactions, and every invariant of the journal over random sequences of everything. */
/**
 * `propertyRuns`: how many random sequences the invariant property tries (80 by default; a backend whose
 * every fresh ledger is a new database may ask for fewer).
 */
export function baseContract(name: string, open: OpenLedger, o: { readonly propertyRuns?: number } = {}): void {
  describe(`ledger contract: ${name}`, () => {
    const l = seededLedger(open);

    it('atomically(): all the writes or none', async () => {
      const n = cardNumberFrom('100000000000004');
      await expect(
        l.atomically(async () => {
          await l.issueCard({ number: n, holder: 'D', pinHash: null });
          await l.load({ cardNumber: n, benefit: 'SPORT', campaign: '2022-2023', amount: 3000, at: NOW });
          await l.load({ cardNumber: n, benefit: 'SHOWS', campaign: '2022-2023', amount: -1, at: NOW });
        }),
      ).rejects.toThrow();
      expect(await l.card(n)).toBeUndefined();
      await l.atomically(async () => {
        await l.issueCard({ number: n, holder: 'D', pinHash: null });
        await l.load({ cardNumber: n, benefit: 'SPORT', campaign: '2022-2023', amount: 3000, at: NOW });
      });
      expect(await l.walletBalance(n, 'SPORT')).toBe(3000);
      expect(await l.audit()).toEqual([]);
    });

    it('keeps every invariant over random sequences of loads, debits, offline sales (late ones across expiry too), voids, corrections, oppositions, suspensions and expiries', async () => {
      const cards = [CARD, POOR, BARE, OPPOSED, UNKNOWN] as const;
      const benefits = ['LEISURE_BOOKS', 'SHOWS', 'CINEMA', 'MUSEUM', 'SPORT'] as const;
      const terminalFor = { LEISURE_BOOKS: T.book, SHOWS: T.venue, CINEMA: T.cinema, MUSEUM: T.museum, SPORT: T.book } as const;
      /** The end of the culture and sport windows of campaign 2022/2023 (R6). */
      const WINDOWS_END = at('2023-07-01T00:00:00+02:00');
      const op = fc.oneof(
        fc.record({ op: fc.constant('debit' as const), card: fc.constantFrom(...cards), benefit: fc.constantFrom(...benefits), amount: fc.integer({ min: 1, max: 900 }), repeat: fc.boolean() }),
        fc.record({ op: fc.constant('load' as const), card: fc.constantFrom(...cards), benefit: fc.constantFrom(...benefits), amount: fc.integer({ min: 1, max: 3000 }) }),
        fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }),
        fc.record({ op: fc.constant('reverse' as const), pick: fc.nat() }),
        fc.record({ op: fc.constant('oppose' as const), card: fc.constantFrom(...cards), reason: fc.constantFrom('lost' as const, 'school_change' as const) }),
        fc.record({ op: fc.constant('suspend' as const), card: fc.constantFrom(...cards), benefit: fc.constantFrom(null, ...benefits) }),
        fc.record({ op: fc.constant('tick' as const), days: fc.integer({ min: 0, max: 120 }) }),
        fc.record({ op: fc.constant('expire' as const) }),
        fc.record({ op: fc.constant('group' as const), amount: fc.integer({ min: 1, max: 2000 }) }),
        fc.record({ op: fc.constant('offline' as const), card: fc.constantFrom(...cards), benefit: fc.constantFrom(...benefits), amount: fc.integer({ min: 1, max: 3500 }), staleHotlist: fc.boolean(), hoursBack: fc.integer({ min: 0, max: 72 }) }),
        fc.record({ op: fc.constant('void' as const), pick: fc.nat(), otherTerminal: fc.boolean(), ahead: fc.boolean() }),
        fc.record({ op: fc.constant('lift' as const), card: fc.constantFrom(...cards) }),
        // An offline sale made in the last hours of the culture and sport windows, received days after the
        // sweep that followed their end (time jumps there if it is not there yet).
        fc.record({ op: fc.constant('late' as const), card: fc.constantFrom(CARD, CARD, POOR, ...cards), benefit: fc.constantFrom(...benefits), amount: fc.integer({ min: 1, max: 3000 }), hoursBefore: fc.integer({ min: 1, max: 30 }), daysAfter: fc.integer({ min: 1, max: 10 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
          const led = await open();
          await seed(led);
          const policy = (await led.setOfflinePolicy(DEFAULT_OFFLINE_LIMITS, NOW)).version;
          let now = NOW;
          /** Online sales voided by their own terminal: never to keep their debit. */
          const voided: string[] = [];
          let replacement = 300;
          let group = 0;
          const sold: string[] = [];
          const sent: ReturnType<typeof debitBody>[] = [];
          const tryIt = async (fn: () => unknown) => {
            try {
              await fn();
            } catch (e) {
              if (!isPasserelleError(e)) throw e;
            }
          };
          for (const o of ops) {
            switch (o.op) {
              case 'debit': {
                const prior = o.repeat && sent.length > 0 ? sent[o.amount % sent.length] : undefined;
                const body = prior ?? debitBody({ terminalId: terminalFor[o.benefit], cardNumber: o.card, benefit: o.benefit, amount: o.amount, createdAt: now });
                if (!prior) sent.push(body);
                const out = (await led.commitDebits([debitItem(body)], now))[0];
                if (out?.kind === 'reply' && out.fresh && out.status === 'approved') sold.push(body.txnId);
                break;
              }
              case 'load':
                await tryIt(async () => await led.load({ cardNumber: o.card, benefit: o.benefit, campaign: '2022-2023', amount: o.benefit === 'MUSEUM' ? 0 : Math.min(o.amount, 3000), at: now }));
                break;
              case 'cancel':
                if (sold.length > 0) await tryIt(async () => await led.cancelSale(sold[o.pick % sold.length]!, 'P-BOOK', now));
                break;
              case 'reverse':
                if (sold.length > 0) await tryIt(async () => await led.reverseSale(sold[o.pick % sold.length]!, 'contrôle', now));
                break;
              case 'oppose':
                await tryIt(async () => await led.oppose({ cardNumber: o.card, reason: o.reason, at: now, replacement: { number: cardNumberFrom(`3000000000${String(replacement++).padStart(5, '0')}`) } }));
                break;
              case 'suspend':
                await tryIt(async () => await led.suspend({ cardNumber: o.card, benefit: o.benefit, campaign: '2022-2023', reason: 'test', at: now }));
                break;
              case 'tick':
                now += o.days * DAY;
                break;
              case 'expire':
                await led.expire(now);
                break;
              case 'group':
                await tryIt(async () => await led.groupSale({ groupId: `G-${++group}`, listId: await approve(led, 'P-VENU', 'SHOWS', [CARD, POOR]), partnerId: 'P-VENU', benefit: 'SHOWS', amount: o.amount, cardNumbers: [CARD, POOR], reference: 'sortie', at: now }));
                break;
              case 'late':
              case 'offline': {
                if (o.op === 'late' && now < WINDOWS_END) {
                  await led.expire(WINDOWS_END + 3_600_000);
                  now = WINDOWS_END + o.daysAfter * DAY;
                }
                const amount = benefitUnit(o.benefit) === 'entry' ? 1 + (o.amount % 3) : o.amount;
                const body = debitBody({
                  terminalId: terminalFor[o.benefit],
                  cardNumber: o.card,
                  benefit: o.benefit,
                  amount,
                  createdAt: o.op === 'late' ? WINDOWS_END - o.hoursBefore * 3_600_000 : now - o.hoursBack * 3_600_000,
                  mode: 'offline',
                  policy,
                  hotlist: o.op === 'late' || o.staleHotlist ? 0 : await led.hotlistVersion(),
                });
                sent.push(body);
                const out = (await led.commitDebits([debitItem(body)], now))[0];
                if (out?.kind === 'reply' && out.fresh && out.status === 'approved') sold.push(body.txnId);
                break;
              }
              case 'void': {
                // Ahead: the void comes before its target, which a later repeat may send.
                const target = o.ahead || sent.length === 0
                  ? debitBody({ terminalId: T.book, cardNumber: CARD, benefit: 'LEISURE_BOOKS', amount: 1 + (o.pick % 900), createdAt: now })
                  : sent[o.pick % sent.length]!;
                if (o.ahead || sent.length === 0) sent.push(target);
                const by = o.otherTerminal ? (target.terminalId === T.venue ? T.book : T.venue) : target.terminalId;
                await led.commitDebits([voidItem(voidBody(by, target.txnId, { createdAt: now }))], now);
                if (by === target.terminalId && target.mode === 'online') voided.push(target.txnId);
                break;
              }
              case 'lift':
                await led.liftSoftBlock(o.card, now);
                break;
            }
          }
          expect(await led.audit()).toEqual([]);
          for (const b of sent) {
            const kinds = (await led.transfersForTxn(b.txnId)).map((t) => t.kind);
            expect(kinds.filter((k) => k === 'debit').length).toBeLessThanOrEqual(1);
            expect(kinds.filter((k) => k === 'guarantee').length).toBeLessThanOrEqual(1);
            // Only an offline sale is ever guaranteed, or brings back what the sweep took.
            if (b.mode === 'online') expect(kinds).not.toContain('guarantee');
            if (b.mode === 'online') expect(kinds).not.toContain('restore');
            // A sale brings back expired value only to pay itself, and then is not guaranteed for that part.
            const restored = (await led.transfersForTxn(b.txnId)).find((t) => t.kind === 'restore');
            if (restored) expect((await led.transfersForTxn(b.txnId)).find((t) => t.kind === 'debit')?.amount).toBeGreaterThanOrEqual(restored.amount);
          }
          for (const id of voided) {
            const kinds = (await led.transfersForTxn(id)).map((t) => t.kind);
            expect(!kinds.includes('debit') || kinds.includes('reversal') || kinds.includes('cancellation')).toBe(true);
          }
          for (const w of [...(await led.wallets(CARD, now)), ...(await led.wallets(POOR, now))]) {
            expect(w.balance).toBeGreaterThanOrEqual(0);
            expect(w.balance).toBeLessThanOrEqual(w.loaded);
          }
          await led.close();
        }),
        { numRuns: o.propertyRuns ?? 80 },
      );
    }, 120_000);
  });
}
