import { describe, expect, it } from 'vitest';
import { cardNumberFrom } from '../protocol/card.ts';
import { CARD_REF_PATTERN, cardRefs } from './card-refs.ts';

describe('card references', () => {
  const a = cardRefs(new Uint8Array(32).fill(1));
  const card = cardNumberFrom('825012345678901');

  it('stand for one card, stable for one key, unreadable with another, and never show the number', () => {
    const ref = a.ref(card);
    expect(ref).toMatch(new RegExp(CARD_REF_PATTERN));
    expect(ref).not.toContain(card.slice(-4));
    expect(a.ref(card)).toBe(ref);
    expect(cardRefs(new Uint8Array(32).fill(1)).cardNumber(ref)).toBe(card);
    expect(a.ref(cardNumberFrom('825012345678902'))).not.toBe(ref);
    const b = cardRefs(new Uint8Array(32).fill(2));
    expect(b.ref(card)).not.toBe(ref);
    expect(b.cardNumber(ref)).toBeUndefined();
  });

  it('anything else is no reference: a wrong length, other characters, a changed character', () => {
    const ref = a.ref(card);
    for (const bad of ['', 'C', ref.slice(0, -1), `${ref}A`, `D${ref.slice(1)}`, `C${'!'.repeat(22)}`, `${ref.slice(0, 5)}${ref[5] === 'A' ? 'B' : 'A'}${ref.slice(6)}`]) {
      expect(a.cardNumber(bad), bad).toBeUndefined();
    }
    expect(() => a.ref('1234')).toThrow();
  });
});
