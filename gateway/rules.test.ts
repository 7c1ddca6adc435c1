import { describe, expect, it } from 'vitest';
import { decide, pinGate, PIN_TRIES, type Snapshot } from './rules.ts';

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
