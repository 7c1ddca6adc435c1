import { describe, expect, it } from 'vitest';
import { cardNumberFrom, encodeCardQr, isValidCardNumber, maskCardNumber, parseQrPayload } from './card.ts';
import { codeOf } from '../tests/helpers/errors.ts';
import { formatEntries, formatEuros, parseEuros } from './money.ts';

const nb = (s: string) => s.replace(/ /g, '\u00a0');

describe('French euros', () => {
  it('formats integer cents without floats', () => {
    expect(formatEuros(1250)).toBe(nb('12,50 €'));
    expect(formatEuros(5)).toBe(nb('0,05 €'));
    expect(formatEuros(0)).toBe(nb('0,00 €'));
    expect(formatEuros(123456)).toBe('1\u202f234,56\u00a0€');
    expect(formatEuros(-500)).toBe(nb('-5,00 €'));
    expect(() => formatEuros(1.5)).toThrow(RangeError);
    expect(formatEntries(1)).toBe(nb('1 entrée'));
    expect(formatEntries(3)).toBe(nb('3 entrées'));
  });

  it('parses what a cashier types', async () => {
    expect(parseEuros('12')).toBe(1200);
    expect(parseEuros('12,5')).toBe(1250);
    expect(parseEuros('12,50 €')).toBe(1250);
    expect(parseEuros('12.05')).toBe(1205);
    expect(parseEuros('1 234,56')).toBe(123456);
    expect(parseEuros('0,01')).toBe(1);
    for (const bad of ['', '0', '12,505', '-3', 'abc', '1e3', '12,', '100000,01', '0x10']) {
      expect(await codeOf(() => parseEuros(bad)), bad).toBe('AMOUNT_INVALID');
    }
  });

  it('sums of many cents stay exact', () => {
    let total = 0;
    for (let i = 0; i < 1000; i++) total += parseEuros('0,10');
    expect(total).toBe(10000);
    expect(formatEuros(total)).toBe(nb('100,00 €'));
  });
});

describe('card numbers and card QR codes', () => {
  it('checks the Luhn digit and masks numbers for logs', () => {
    const n = cardNumberFrom('825012345678901');
    expect(isValidCardNumber(n)).toBe(true);
    expect(isValidCardNumber(n.slice(0, 15) + String((Number(n[15]) + 1) % 10))).toBe(false);
    expect(isValidCardNumber('82501234567890')).toBe(false);
    expect(maskCardNumber(n)).toBe(`8250********${n.slice(-4)}`);
  });

  it('parses the card QR and refuses anything else with QR_PAYLOAD_INVALID', async () => {
    const n = cardNumberFrom('825012345678901');
    expect(parseQrPayload(encodeCardQr(n))).toEqual({ kind: 'card', cardNumber: n });
    for (const bad of ['', 'https://example.com', 'PR1:C:1234', `PR1:C:${n}0`, `PR1:X:${n}`, 'PR1:C:' + 'x'.repeat(300)]) {
      expect(await codeOf(() => parseQrPayload(bad)), bad).toBe('QR_PAYLOAD_INVALID');
    }
  });
});
