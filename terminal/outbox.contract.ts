import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Benefit, Unit } from '../protocol/benefits.ts';
import { chainHash, DEFAULT_OFFLINE_LIMITS, GENESIS_HASH } from '../protocol/offline.ts';
import { codeOf } from '../tests/helpers/errors.ts';
import type { Mode, OutboxEntry, OutboxStore, RecordDraft, SaleDraft, SettleReply, VoidDraft } from './outbox-store.ts';

/**
 * The one contract every OutboxStore passes (the SQLite outbox in `outbox.test.ts`): numbering and
 * chaining, the limit of records waiting, transactions, settlement, and what the terminal trusts to sell
 * offline. The outbox does not read what it stores, so the records here are plain JSON, not signed requests.
 */

export interface OutboxHarness {
  /** A new, empty outbox that refuses sales once `maxPending` records wait to be acknowledged. */
  open(maxPending: number): OutboxStore;
  /** The outbox opened last, closed and opened again on what it kept. */
  reopen(): OutboxStore;
  /** Close every outbox this harness opened. */
  close(): void;
}

const T0 = 1_767_000_000_000;
const CARD = '8250000000000019';

/** A sale as the runtime would append it; its message is what the chain hashes. */
export function saleDraft(txnId: string, o: { mode?: Mode; amount?: number; unit?: Unit; benefit?: Benefit; card?: string; at?: number } = {}): (seq: number, prev: string) => SaleDraft {
  return (seq, prev) => {
    const message = Buffer.from(JSON.stringify({ txnId, seq, prev }));
    const unit = o.unit ?? 'cent';
    const benefit = o.benefit ?? (unit === 'cent' ? 'SPORT' : 'CINEMA');
    return { kind: 'sale', txnId, mode: o.mode ?? 'online', card: o.card ?? CARD, benefit, unit, amount: o.amount ?? 500, createdAt: o.at ?? T0 + seq, message, frame: Buffer.concat([Buffer.from('sig:'), message]) };
  };
}

export function voidDraft(txnId: string, target: string): (seq: number, prev: string) => VoidDraft {
  return (seq, prev) => {
    const message = Buffer.from(JSON.stringify({ txnId, seq, prev, target }));
    return { kind: 'void', txnId, target, createdAt: T0 + seq, message, frame: Buffer.concat([Buffer.from('sig:'), message]) };
  };
}

const approved = (txnId: string, taken = 500, guaranteed = 0): SettleReply => ({ kind: 'sale', txnId, status: 'approved', code: null, taken, guaranteed, reply: Buffer.from(`reply:${txnId}`) });
const undone = (txnId: string): SettleReply => ({ kind: 'void', txnId, result: 'undone', reply: Buffer.from(`reply:${txnId}`) });

const ids = (entries: readonly OutboxEntry[]) => entries.map((e) => e.txnId);

export function outboxContract(name: string, makeHarness: () => OutboxHarness): void {
  describe(`OutboxStore contract: ${name}`, () => {
    let h: OutboxHarness;
    let o: OutboxStore;
    beforeEach(() => {
      h = makeHarness();
      o = h.open(3);
    });
    afterEach(() => h.close());

    it('numbers records 1, 2, 3… and chains each to the message before it', () => {
      const seen: [number, string][] = [];
      const spy = (build: (seq: number, prev: string) => RecordDraft) => (seq: number, prev: string) => (seen.push([seq, prev]), build(seq, prev));
      const a = o.append(spy(saleDraft('a')));
      o.append(spy(saleDraft('b')));
      o.append(spy(voidDraft('c', 'a')));
      expect(seen.map(([seq]) => seq)).toEqual([1, 2, 3]);
      expect(seen[0]![1]).toBe(GENESIS_HASH);
      expect(seen[1]![1]).toBe(chainHash(saleDraft('a')(1, GENESIS_HASH).message));
      expect(seen[2]![1]).toBe(chainHash(saleDraft('b')(2, seen[1]![1]).message));
      expect(a).toMatchObject({ seq: 1, txnId: 'a', state: 'pending' });
      expect(o.bySeq(2)?.txnId).toBe('b');
      expect(o.bySeq(9)).toBeUndefined();
    });

    it('a sale keeps what was sold and its exact bytes; a void keeps its target and marks that online sale voided', () => {
      const draft = saleDraft('s1', { mode: 'online', amount: 1234, benefit: 'LEISURE_BOOKS' });
      o.append(draft);
      expect(o.entry('s1')).toEqual({
        kind: 'sale', seq: 1, txnId: 's1', mode: 'online', card: CARD, benefit: 'LEISURE_BOOKS', unit: 'cent', amount: 1234, createdAt: T0 + 1,
        frame: draft(1, GENESIS_HASH).frame, state: 'pending', status: null, code: null, taken: null, guaranteed: null, reply: null, voidedBy: null,
      });
      expect(o.unvoidedOnline().map((e) => e.txnId)).toEqual(['s1']);
      const v = o.append(voidDraft('v1', 's1'));
      expect(v).toEqual({ kind: 'void', seq: 2, txnId: 'v1', target: 's1', createdAt: T0 + 2, frame: v.frame, state: 'pending', code: null, reply: null });
      expect(o.entry('s1')?.voidedBy).toBe('v1');
      expect(o.unvoidedOnline()).toEqual([]);
      expect(o.entry('nope')).toBeUndefined();
    });

    it('only an online sale is voided: a void naming an offline sale leaves it as it was', () => {
      o.append(saleDraft('off', { mode: 'offline' }));
      o.append(voidDraft('v', 'off'));
      expect(o.entry('off')?.voidedBy).toBeNull();
    });

    it('refuses a record beyond the limit with OUTBOX_FULL, keeping nothing of it; a void may go beyond', async () => {
      for (const id of ['a', 'b', 'c']) o.append(saleDraft(id));
      expect(await codeOf(() => o.append(saleDraft('d')))).toBe('OUTBOX_FULL');
      expect(o.entry('d')).toBeUndefined();
      expect(o.stats().pending).toBe(3);
      expect(o.append(voidDraft('v', 'a'), { ignoreLimit: true }).seq).toBe(4);
      expect(o.stats().pending).toBe(4);
    });

    it('atomically: all the writes are kept, or none, and the counts follow what is kept', () => {
      o.atomically(() => {
        o.append(saleDraft('a', { mode: 'offline', amount: 100 }));
        o.append(saleDraft('b', { mode: 'offline', amount: 200 }));
      });
      expect(o.stats()).toMatchObject({ pending: 2, offlinePending: 2, offlinePendingCents: 300 });
      expect(() =>
        o.atomically(() => {
          o.append(saleDraft('c', { mode: 'offline', amount: 400 }));
          o.append(voidDraft('v', 'a'), { ignoreLimit: true });
          throw new Error('power cut');
        }),
      ).toThrow('power cut');
      expect([o.entry('v'), o.entry('c')]).toEqual([undefined, undefined]);
      expect(o.stats()).toMatchObject({ pending: 2, offlinePending: 2, offlinePendingCents: 300 });
      expect(o.append(saleDraft('d')).seq).toBe(3);
    });

    it('pending: the unacknowledged records after a sequence number, in order, at most the limit', () => {
      for (const id of ['a', 'b', 'c']) o.append(saleDraft(id));
      o.settle([approved('b')], T0);
      expect(ids(o.pending(10))).toEqual(['a', 'c']);
      expect(ids(o.pending(1))).toEqual(['a']);
      expect(ids(o.pending(10, 1))).toEqual(['c']);
      expect(ids(o.pending(10, 3))).toEqual([]);
    });

    it('settle records each reply once and returns the ids that were pending', () => {
      o.append(saleDraft('s', { mode: 'offline', amount: 700 }));
      o.append(voidDraft('v', 's'));
      expect(o.settle([approved('s', 600, 100), undone('v'), approved('unknown')], T0)).toEqual(['s', 'v']);
      expect(o.entry('s')).toMatchObject({ state: 'replied', status: 'approved', code: null, taken: 600, guaranteed: 100, reply: Buffer.from('reply:s') });
      expect(o.entry('v')).toMatchObject({ kind: 'void', state: 'replied', code: 'undone', reply: Buffer.from('reply:v') });
      // A duplicate changes nothing, even with other content.
      expect(o.settle([approved('s', 1, 1)], T0)).toEqual([]);
      expect(o.entry('s')).toMatchObject({ taken: 600 });
      expect(o.settle([], T0)).toEqual([]);
      expect(o.stats()).toMatchObject({ pending: 0, offlinePending: 0, offlinePendingCents: 0, oldestPendingAt: null });
    });

    it('a declined sale keeps its code', () => {
      o.append(saleDraft('s'));
      o.settle([{ kind: 'sale', txnId: 's', status: 'declined', code: 'BENEFIT_EXHAUSTED', taken: 0, guaranteed: 0, reply: Buffer.from('r') }], T0);
      expect(o.entry('s')).toMatchObject({ state: 'replied', status: 'declined', code: 'BENEFIT_EXHAUSTED', taken: 0 });
    });

    it('reject is final: the record leaves the queue once, and a reply after it changes nothing', () => {
      o.append(saleDraft('s', { mode: 'offline', amount: 300 }));
      expect(o.reject('s', 'BAD_SIGNATURE', T0)).toBe(true);
      expect(o.reject('s', 'BAD_SIGNATURE', T0)).toBe(false);
      expect(o.reject('unknown', 'BAD_SIGNATURE', T0)).toBe(false);
      expect(o.settle([approved('s')], T0)).toEqual([]);
      expect(o.entry('s')).toMatchObject({ state: 'rejected', code: 'BAD_SIGNATURE', status: null });
      expect(o.stats()).toMatchObject({ pending: 0, offlinePending: 0, offlinePendingCents: 0 });
    });

    it('stats: what waits, since when, and the offline sales among it (cents for money benefits only)', () => {
      expect(o.stats()).toEqual({ pending: 0, oldestPendingAt: null, offlinePending: 0, offlinePendingCents: 0 });
      o.append(saleDraft('on', { mode: 'online', amount: 900 }));
      o.append(saleDraft('cents', { mode: 'offline', amount: 250 }));
      o.append(saleDraft('entries', { mode: 'offline', amount: 2, unit: 'entry' }));
      expect(o.stats()).toEqual({ pending: 3, oldestPendingAt: T0 + 1, offlinePending: 2, offlinePendingCents: 250 });
      o.settle([approved('on')], T0);
      expect(o.stats()).toEqual({ pending: 2, oldestPendingAt: T0 + 2, offlinePending: 2, offlinePendingCents: 250 });
    });

    it("a card's offline sales since a time, settled or not; online sales and other cards do not count", () => {
      const other = '8250000000000027';
      o.append(saleDraft('yesterday', { mode: 'offline', amount: 100, at: T0 - 86_400_000 }));
      o.append(saleDraft('a', { mode: 'offline', amount: 200, at: T0 }));
      o.append(saleDraft('b', { mode: 'offline', amount: 2, unit: 'entry', at: T0 + 5 }));
      o.settle([approved('a'), approved('b')], T0);
      o.append(saleDraft('online', { mode: 'online', at: T0 + 6 }));
      expect(o.offlineSinceForCard(CARD, T0)).toEqual({ count: 2, cents: 200 });
      expect(o.offlineSinceForCard(other, T0)).toEqual({ count: 0, cents: 0 });
      o.append(saleDraft('other', { mode: 'offline', card: other, amount: 50, at: T0 + 7 }));
      expect(o.offlineSinceForCard(other, T0)).toEqual({ count: 1, cents: 50 });
      expect(o.offlineSinceForCard(CARD, T0)).toEqual({ count: 2, cents: 200 });
    });

    it('lastSale: the latest sale whatever its state, never a void', () => {
      expect(o.lastSale()).toBeUndefined();
      o.append(saleDraft('a'));
      o.append(saleDraft('b', { mode: 'offline' }));
      o.append(voidDraft('v', 'a'));
      o.settle([approved('b')], T0);
      expect(o.lastSale()).toMatchObject({ kind: 'sale', txnId: 'b', state: 'replied' });
    });

    it('keeps the newest policy: an older or equal version is ignored', () => {
      expect(o.policy()).toBeUndefined();
      const p = (version: number) => ({ version, issuedAt: T0 + version, limits: { ...DEFAULT_OFFLINE_LIMITS, maxSaleCents: version } });
      expect(o.setPolicy(p(2))).toBe(true);
      expect(o.setPolicy(p(2))).toBe(false);
      expect(o.setPolicy(p(1))).toBe(false);
      expect(o.policy()).toEqual(p(2));
      expect(o.setPolicy(p(3))).toBe(true);
      expect(o.policy()?.limits.maxSaleCents).toBe(3);
    });

    it('lists the latest sales newest first, voids left out, bounded', () => {
      expect(o.recentSales(10)).toEqual([]);
      o.append(saleDraft('a', { mode: 'offline', amount: 100 }));
      o.settle([approved('a')], T0);
      o.append(saleDraft('b', { mode: 'online' }));
      o.append(voidDraft('v', 'b'));
      o.append(saleDraft('c'));
      expect(o.recentSales(10).map((s) => [s.txnId, s.state, s.voidedBy])).toEqual([
        ['c', 'pending', null],
        ['b', 'pending', 'v'],
        ['a', 'replied', null],
      ]);
      expect(o.recentSales(1).map((s) => s.txnId)).toEqual(['c']);
      expect(o.recentSales(1000)).toHaveLength(3);
    });

    it('keeps the newest pushed settings whole: an older or equal version is ignored', () => {
      expect(o.settings()).toBeUndefined();
      const s = (version: number) => ({ terminalId: 'T-TEST-01', version, issuedAt: T0 + version, benefits: ['SPORT' as const], replyTimeoutMs: 1000 + version, resendIntervalMs: 2000, heartbeatS: 60 });
      expect(o.setSettings(s(2))).toBe(true);
      expect(o.setSettings(s(2))).toBe(false);
      expect(o.setSettings(s(1))).toBe(false);
      expect(o.settings()).toEqual(s(2));
      expect(o.setSettings(s(3))).toBe(true);
      expect(o.settings()?.replyTimeoutMs).toBe(1003);
    });

    it('hotlist: a full list replaces, a delta applies on its base or later, an older one is stale, a later start needs the full list', () => {
      const tag = (c: string) => c.repeat(22);
      expect(o.hotlistState()).toEqual({ version: 0, issuedAt: 0 });
      expect(o.applyHotlist({ full: true, base: 0, version: 5, issuedAt: T0, entries: [{ tag: tag('A'), reason: 'opposed' }, { tag: tag('B'), reason: 'soft' }] })).toBe('applied');
      expect([o.hotlisted(tag('A')), o.hotlisted(tag('B')), o.hotlisted(tag('C'))]).toEqual(['opposed', 'soft', null]);
      expect(o.applyHotlist({ full: false, base: 4, version: 6, issuedAt: T0 + 1, entries: [{ tag: tag('A'), reason: null }, { tag: tag('C'), reason: 'opposed' }] })).toBe('applied');
      expect([o.hotlisted(tag('A')), o.hotlisted(tag('B')), o.hotlisted(tag('C'))]).toEqual([null, 'soft', 'opposed']);
      expect(o.applyHotlist({ full: true, base: 0, version: 5, issuedAt: T0 + 9, entries: [] })).toBe('stale');
      expect(o.applyHotlist({ full: false, base: 6, version: 6, issuedAt: T0 + 1, entries: [] })).toBe('stale');
      expect(o.applyHotlist({ full: false, base: 6, version: 6, issuedAt: T0 + 2, entries: [] })).toBe('refreshed');
      expect(o.hotlistState()).toEqual({ version: 6, issuedAt: T0 + 2 });
      expect(o.applyHotlist({ full: false, base: 8, version: 9, issuedAt: T0 + 3, entries: [{ tag: tag('D'), reason: 'opposed' }] })).toBe('needs-full');
      expect(o.hotlisted(tag('D'))).toBeNull();
      expect(o.applyHotlist({ full: true, base: 0, version: 9, issuedAt: T0 + 4, entries: [{ tag: tag('D'), reason: 'opposed' }] })).toBe('applied');
      expect([o.hotlisted(tag('B')), o.hotlisted(tag('C')), o.hotlisted(tag('D'))]).toEqual([null, null, 'opposed']);
    });

    it("keeps the gateway's last signed time with the local clock of that moment", () => {
      expect(o.gatewayTime()).toBeUndefined();
      o.setGatewayTime({ gatewayAt: T0, localAt: T0 - 40 });
      o.setGatewayTime({ gatewayAt: T0 + 10, localAt: T0 - 30 });
      expect(o.gatewayTime()).toEqual({ gatewayAt: T0 + 10, localAt: T0 - 30 });
    });

    it('opened again, it holds what it held: records and their states, counts, policy, hotlist, time and settings', () => {
      o.append(saleDraft('a', { mode: 'offline', amount: 100 }));
      o.append(saleDraft('b', { mode: 'online' }));
      o.append(voidDraft('v', 'b'));
      o.settle([approved('a')], T0);
      o.setPolicy({ version: 1, issuedAt: T0, limits: DEFAULT_OFFLINE_LIMITS });
      o.applyHotlist({ full: true, base: 0, version: 2, issuedAt: T0, entries: [{ tag: 'A'.repeat(22), reason: 'opposed' }] });
      o.setGatewayTime({ gatewayAt: T0, localAt: T0 });
      o.setSettings({ terminalId: 'T-TEST-01', version: 4, issuedAt: T0, benefits: ['SPORT'], replyTimeoutMs: 4000, resendIntervalMs: 2000, heartbeatS: 30 });
      const before = { records: [1, 2, 3].map((s) => o.bySeq(s)), stats: o.stats() };
      const again = h.reopen();
      expect({ records: [1, 2, 3].map((s) => again.bySeq(s)), stats: again.stats() }).toEqual(before);
      expect(again.policy()?.version).toBe(1);
      expect(again.hotlisted('A'.repeat(22))).toBe('opposed');
      expect(again.gatewayTime()).toEqual({ gatewayAt: T0, localAt: T0 });
      expect(again.settings()).toMatchObject({ version: 4, replyTimeoutMs: 4000, heartbeatS: 30 });
      expect(again.append(saleDraft('c')).seq).toBe(4);
    });
  });
}
