import { PasserelleError } from './errors.ts';

/**
 * Money is integer cents, always. These helpers convert between cents and what a French reader sees,
 * without ever going through a float.
 */

/** The largest single sale we accept: 10,000.00 €, far above any benefit, far below 2^53. */
export const MAX_SALE_CENTS = 1_000_000;

const NBSP = '\u00a0';
const NNBSP = '\u202f';

export function isCents(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * `1250` → `12,50 €`; `123456` → `1 234,56 €` (French: comma decimal separator, narrow no-break space
 * between thousands, no-break space before the euro sign, so a display never wraps an amount).
 */
export function formatEuros(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`formatEuros: not an integer number of cents: ${cents}`);
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  const euros = Math.trunc(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, NNBSP);
  const rest = (abs % 100).toString().padStart(2, '0');
  return `${sign}${euros},${rest}${NBSP}€`;
}

/** `3` → `3 entrées`, `1` → `1 entrée`. */
export function formatEntries(count: number): string {
  return `${count}${NBSP}entrée${count > 1 ? 's' : ''}`;
}

/**
 * Parse what a cashier types: `12`, `12,5`, `12,50`, `12.50`, `1 234,56`, `12,50 €`. Rejects anything
 * else (three decimals, signs, letters, empty, above MAX_SALE_CENTS) with AMOUNT_INVALID.
 */
export function parseEuros(text: string): number {
  const cleaned = text.replace(/[\s\u00a0\u202f]/g, '').replace(/€$/, '');
  const m = /^(\d{1,7})(?:[.,](\d{1,2}))?$/.exec(cleaned);
  if (!m) throw new PasserelleError('AMOUNT_INVALID', `not an amount in euros: ${JSON.stringify(text)}`);
  const euros = Number(m[1]);
  const cents = Number((m[2] ?? '0').padEnd(2, '0'));
  const total = euros * 100 + cents;
  if (total <= 0 || total > MAX_SALE_CENTS) {
    throw new PasserelleError('AMOUNT_INVALID', `amount out of range (0 < amount ≤ ${formatEuros(MAX_SALE_CENTS)}): ${text}`);
  }
  return total;
}
