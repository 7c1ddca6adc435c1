import { describe, expect, it } from 'vitest';
import type { Benefit } from '../protocol/benefits.ts';
import { DEFAULT_OFFLINE_LIMITS } from '../protocol/offline.ts';
import {
  decide,
  GROUP_BENEFITS,
  groupListRefusal,
  groupRefusal,
  MAX_GROUP_SIZE,
  offlineBreach,
  offlineCover,
  pinGate,
  PIN_TRIES,
  replacementFeeWallet,
  type ApprovedList,
  type OfflineEvidence,
  type Snapshot,
} from './rules.ts';

const base: Snapshot = {
  terminalActive: true,
  partnerType: 'bookshop',
  conventionValid: true,
  card: { status: 'active', pinGate: 'open' },
  wallet: { balance: 1500, access: false },
  pin: 'not-needed',
  cardProof: 'ok',
};
const sale = { benefit: 'LEISURE_BOOKS' as const, amount: 500 };

describe('rules', () => {
  it('no card signature, no NFC debit: declined before anything about the card is looked at', () => {
    expect(decide(sale, { ...base, cardProof: 'failed' })).toEqual({ status: 'declined', code: 'CARD_NOT_AUTHENTICATED' });
    const { card: _card, ...unknown } = base;
    expect(decide(sale, { ...unknown, cardProof: 'failed' })).toEqual({ status: 'declined', code: 'CARD_NOT_AUTHENTICATED' });
    expect(decide(sale, { ...base, cardProof: 'failed', terminalActive: false })).toEqual({ status: 'declined', code: 'TERMINAL_INACTIVE' });
    expect(decide(sale, base)).toMatchObject({ status: 'approved', taken: 500 });
  });

  it('R3 the code: not set, locked, tried too often, wrong, in that order; the gate counted in the batch wins over the check made before it', () => {
    const qr = (pin: Snapshot['pin'], gate: 'open' | 'tries-exceeded' | 'locked' = 'open') => decide(sale, { ...base, pin, card: { status: 'active', pinGate: gate } });
    expect(qr('not-set', 'locked')).toMatchObject({ code: 'PIN_NOT_SET' });
    expect(qr('ok', 'locked')).toMatchObject({ code: 'PIN_LOCKED' });
    expect(qr('locked')).toMatchObject({ code: 'PIN_LOCKED' });
    expect(qr('ok', 'tries-exceeded')).toMatchObject({ code: 'PIN_TRIES_EXCEEDED' });
    expect(qr('incorrect', 'tries-exceeded')).toMatchObject({ code: 'PIN_TRIES_EXCEEDED' });
    expect(qr('incorrect')).toMatchObject({ code: 'PIN_INCORRECT' });
    expect(qr('ok')).toMatchObject({ status: 'approved' });
  });

  it('R3 where a code stands: a partner alone never reaches the day limit nor the lock', () => {
    const gate = (total: number, partners: number, today: number, todayHere: number) => pinGate({ total, partners, today, todayHere });
    expect(gate(2, 1, 2, 2)).toBe('open');
    expect(gate(PIN_TRIES.perPartnerDay, 1, 3, 3)).toBe('tries-exceeded');
    // The same three at another partner: open there.
    expect(gate(3, 1, 3, 0)).toBe('open');
    expect(gate(PIN_TRIES.perDay, 2, 6, 0)).toBe('tries-exceeded');
    // Nine over three days at one partner: not locked; from three partners: locked; thirty in all: locked.
    expect(gate(9, 1, 0, 0)).toBe('open');
    expect(gate(PIN_TRIES.lockAfter, PIN_TRIES.lockFromPartners, 0, 0)).toBe('locked');
    expect(gate(PIN_TRIES.lockAlways, 1, 0, 0)).toBe('locked');
  });
});

describe('R4 the replacement fee', () => {
  const rules = { replacementFeeCents: 500, replacementFeeOrder: ['CINEMA', 'LEISURE_BOOKS', 'SHOWS', 'SPORT'] as Benefit[] };
  type Wallet = { readonly balance: number; readonly access: boolean };
  /** The wallets a sale would use now, and the benefits the choice asked for, in order. */
  const usable = (m: Partial<Record<Benefit, Wallet>>) => {
    const asked: Benefit[] = [];
    return { asked, walletFor: (b: Benefit) => (asked.push(b), m[b]) };
  };

  it('R4 the fee comes from the first benefit in the order whose wallet pays it whole, counted in cents; the rest are not asked', () => {
    const shows = { balance: 500, access: false };
    const w = usable({ CINEMA: { balance: 5, access: false }, LEISURE_BOOKS: { balance: 499, access: false }, SHOWS: shows, SPORT: { balance: 6000, access: false } });
    expect(replacementFeeWallet(rules, w.walletFor)).toBe(shows);
    // Cinema is counted in entries: never asked.
    expect(w.asked).toEqual(['LEISURE_BOOKS', 'SHOWS']);
  });

  it('R4 no fee when no wallet can pay it whole, when the only one is an access, or when the fee is 0', () => {
    expect(replacementFeeWallet(rules, usable({ LEISURE_BOOKS: { balance: 499, access: false } }).walletFor)).toBeUndefined();
    expect(replacementFeeWallet(rules, usable({ LEISURE_BOOKS: { balance: 1000, access: true } }).walletFor)).toBeUndefined();
    const free = usable({ LEISURE_BOOKS: { balance: 1000, access: false } });
    expect(replacementFeeWallet({ ...rules, replacementFeeCents: 0 }, free.walletFor)).toBeUndefined();
    expect(free.asked).toEqual([]);
  });
});

describe('R12 group sales', () => {
  const cards = ['C-1', 'C-2'];

  it('R12 shows and cinema only, 1 to MAX_GROUP_SIZE youths each once, a whole positive amount per youth; a group and a list say so in their words', () => {
    expect(GROUP_BENEFITS).toEqual(['SHOWS', 'CINEMA']);
    expect(groupRefusal('group', { benefit: 'SHOWS', cardNumbers: cards, perYouth: 1200 })).toBeNull();
    expect(groupRefusal('list', { benefit: 'CINEMA', cardNumbers: Array.from({ length: MAX_GROUP_SIZE }, (_, i) => `C-${i}`), perYouth: 1 })).toBeNull();
    expect(groupRefusal('group', { benefit: 'FIRST_AID', cardNumbers: cards, perYouth: 1 })).toEqual({ code: 'GROUP_NOT_ALLOWED', message: 'group sales use SHOWS or CINEMA, not FIRST_AID' });
    expect(groupRefusal('list', { benefit: 'FIRST_AID', cardNumbers: cards, perYouth: 1 })).toEqual({ code: 'GROUP_NOT_ALLOWED', message: 'group lists are for SHOWS or CINEMA, not FIRST_AID' });
    expect(groupRefusal('group', { benefit: 'SHOWS', cardNumbers: [], perYouth: 1 })).toEqual({ code: 'DATA_INVALID', message: `a group has 1..${MAX_GROUP_SIZE} youths` });
    expect(groupRefusal('list', { benefit: 'SHOWS', cardNumbers: Array.from({ length: MAX_GROUP_SIZE + 1 }, (_, i) => `C-${i}`), perYouth: 1 })).toMatchObject({ message: `a list has 1..${MAX_GROUP_SIZE} youths` });
    expect(groupRefusal('group', { benefit: 'SHOWS', cardNumbers: ['C-1', 'C-1'], perYouth: 1 })).toEqual({ code: 'DATA_INVALID', message: 'a card appears twice in the group' });
    expect(groupRefusal('group', { benefit: 'SHOWS', cardNumbers: cards, perYouth: 0 })).toEqual({ code: 'DATA_INVALID', message: 'the amount per youth must be a positive integer' });
    expect(groupRefusal('list', { benefit: 'SHOWS', cardNumbers: cards, perYouth: 1.5 })).toEqual({ code: 'DATA_INVALID', message: 'the maximum per youth must be a positive integer' });
  });

  it('R12 only from a list the Region approved for this partner and benefit, still valid, within its amount, each card on it and not yet paid', () => {
    const list: ApprovedList = { partnerId: 'P-VENU', benefit: 'SHOWS', maxPerYouth: 1000, validUntil: 100, unpaid: new Set(cards) };
    const g = { listId: 'GL-1', partnerId: 'P-VENU', benefit: 'SHOWS' as const, amount: 1000, cardNumbers: cards, at: 100 };
    expect(groupListRefusal(g, list)).toBeNull();
    expect(groupListRefusal(g, undefined)).toBe('no approved list GL-1 for partner P-VENU');
    expect(groupListRefusal({ ...g, partnerId: 'P-CINE' }, list)).toBe('no approved list GL-1 for partner P-CINE');
    expect(groupListRefusal({ ...g, benefit: 'CINEMA' }, list)).toBe('list GL-1 is for SHOWS, not CINEMA');
    expect(groupListRefusal({ ...g, at: 101 }, list)).toBe('list GL-1 is no longer valid');
    expect(groupListRefusal({ ...g, amount: 1001 }, list)).toBe('list GL-1 allows at most 1000 per youth');
    expect(groupListRefusal({ ...g, cardNumbers: ['C-1', 'C-3', 'C-4'] }, list)).toBe('2 card(s) not on list GL-1, or already paid under it');
  });
});

describe('the offline guarantee', () => {
  const within: OfflineEvidence = {
    credential: 'nfc',
    policy: DEFAULT_OFFLINE_LIMITS,
    cardProof: 'ok',
    plausible: true,
    hotlisted: false,
    unit: 'cent',
    amount: 1000,
    cardDay: { count: 0, cents: 0 },
    pending: { count: 0, cents: 0 },
  };

  it('a sale within the policy the terminal held is no breach; each breach is judged in its order, the first one found is the one recorded', () => {
    expect(offlineBreach(within)).toBeNull();
    const worst: OfflineEvidence = { ...within, policy: { ...DEFAULT_OFFLINE_LIMITS, enabled: false }, cardProof: 'failed', plausible: false, hotlisted: true, amount: 999_999 };
    expect(offlineBreach({ ...worst, credential: 'qr' })).toBe('qr');
    expect(offlineBreach({ ...worst, policy: undefined })).toBe('policy-unknown');
    expect(offlineBreach(worst)).toBe('policy-disabled');
    expect(offlineBreach({ ...worst, policy: DEFAULT_OFFLINE_LIMITS })).toBe('card-proof');
    expect(offlineBreach({ ...worst, policy: DEFAULT_OFFLINE_LIMITS, cardProof: 'not-needed' })).toBe('time');
    expect(offlineBreach({ ...within, hotlisted: true, amount: 999_999 })).toBe('hotlisted');
    expect(offlineBreach({ ...within, amount: 999_999, cardDay: { count: 99, cents: 0 } })).toBe('amount');
  });

  it('the limits: the per-sale maximum in its unit, the per-card-day and pending limits with this sale counted', () => {
    const l = DEFAULT_OFFLINE_LIMITS;
    expect(offlineBreach({ ...within, amount: l.maxSaleCents })).toBeNull();
    expect(offlineBreach({ ...within, amount: l.maxSaleCents + 1 })).toBe('amount');
    expect(offlineBreach({ ...within, unit: 'entry', amount: l.maxSaleEntries, cardDay: { count: 0, cents: l.perCardDayCents } })).toBeNull();
    expect(offlineBreach({ ...within, unit: 'entry', amount: l.maxSaleEntries + 1 })).toBe('amount');
    expect(offlineBreach({ ...within, cardDay: { count: l.perCardDayCount - 1, cents: 0 } })).toBeNull();
    expect(offlineBreach({ ...within, cardDay: { count: l.perCardDayCount, cents: 0 } })).toBe('card-day');
    expect(offlineBreach({ ...within, cardDay: { count: 1, cents: l.perCardDayCents - within.amount + 1 } })).toBe('card-day');
    expect(offlineBreach({ ...within, pending: { count: l.maxPendingCount, cents: 0 } })).toBe('pending');
    expect(offlineBreach({ ...within, pending: { count: 0, cents: l.maxPendingCents - within.amount + 1 } })).toBe('pending');
  });

  it('what the wallet cannot pay is guaranteed when the cause is the card or its wallet, the partner could sell, and the policy was kept', () => {
    const partial = { status: 'approved', taken: 300, remainingToPay: 700, balanceAfter: 0 } as const;
    expect(offlineCover(1000, partial, true, null)).toEqual({ kind: 'guaranteed', guaranteed: 700, reason: 'PARTIAL', decision: { status: 'approved', taken: 300, remainingToPay: 0, balanceAfter: 0 } });
    expect(offlineCover(800, { status: 'declined', code: 'CARD_UNKNOWN' }, true, null)).toEqual({ kind: 'guaranteed', guaranteed: 800, reason: 'CARD_UNKNOWN', decision: { status: 'approved', taken: 0, remainingToPay: 0 } });
    // Paid in full: nothing to cover.
    const whole = { status: 'approved', taken: 1000, remainingToPay: 0, balanceAfter: 500 } as const;
    expect(offlineCover(1000, whole, true, null)).toEqual({ kind: 'rules', decision: whole });
    // The partner's own standing and the code are never covered, breach or not.
    for (const code of ['CONVENTION_INVALID', 'TERMINAL_INACTIVE', 'PIN_INCORRECT'] as const) {
      expect(offlineCover(100, { status: 'declined', code }, true, null)).toEqual({ kind: 'rules', decision: { status: 'declined', code } });
      expect(offlineCover(100, { status: 'declined', code }, true, 'amount')).toEqual({ kind: 'rules', decision: { status: 'declined', code } });
    }
    expect(offlineCover(800, { status: 'declined', code: 'CARD_UNKNOWN' }, false, null)).toEqual({ kind: 'rules', decision: { status: 'declined', code: 'CARD_UNKNOWN' } });
  });

  it('a breach costs the guarantee: a partial stays partial, a covered decline says OFFLINE_POLICY_BREACH', () => {
    const partial = { status: 'approved', taken: 300, remainingToPay: 2701, balanceAfter: 0 } as const;
    expect(offlineCover(3001, partial, true, 'amount')).toEqual({ kind: 'rules', decision: partial });
    expect(offlineCover(1000, { status: 'declined', code: 'BENEFIT_EXHAUSTED', balanceAfter: 0 }, true, 'hotlisted')).toEqual({
      kind: 'rules',
      decision: { status: 'declined', code: 'OFFLINE_POLICY_BREACH', balanceAfter: 0 },
    });
  });
});
