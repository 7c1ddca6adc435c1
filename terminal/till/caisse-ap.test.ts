import { describe, expect, it } from 'vitest';
import type { DebitReplyBody } from '../../protocol/messages.ts';
import { asciiText, outcomeAnswer, readRequest, TillRefusal } from './caisse-ap.ts';
import { parseRecords, TillFormatError } from './records.ts';

const offered = ['SCHOOL_BOOKS', 'LEISURE_BOOKS', 'CINEMA'] as const;
const req = (extra: string) => parseRecords(`CZ0040300CJ012012345678901CA00201CE003978CD0010${extra}`);
const read = (extra: string, defaultBenefit: 'LEISURE_BOOKS' | null = 'LEISURE_BOOKS') => readRequest(req(extra), { offered: [...offered], defaultBenefit: defaultBenefit ?? undefined });
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof TillRefusal) return `${e.af} ${e.code}`;
    if (e instanceof TillFormatError) return `09 ${e.reason}`;
    throw e;
  }
  return 'accepted';
};
const reply = (o: Partial<DebitReplyBody>): DebitReplyBody => ({
  txnId: 't-1',
  terminalId: 'T-1',
  status: 'approved',
  benefit: 'LEISURE_BOOKS',
  unit: 'cent',
  requested: 2000,
  taken: 2000,
  remainingToPay: 0,
  decidedAt: 0,
  mode: 'online',
  ...o,
});

describe('Caisse-AP requests as Pass\'Région sales', () => {
  it('reads a debit in cents, the benefit from ZB or the till link\'s default, entries from ZN', () => {
    expect(read('CB0041250')).toEqual({ kind: 'debit', till: { cj: '012345678901', ca: '01' }, benefit: 'LEISURE_BOOKS', amount: 1250, requestedCents: 1250, immediate: false });
    expect(read('CB0041250ZB012SCHOOL_BOOKSBA0011')).toMatchObject({ benefit: 'SCHOOL_BOOKS', amount: 1250, immediate: true });
    expect(read('CB003850ZB006CINEMAZN0012')).toMatchObject({ benefit: 'CINEMA', amount: 2, requestedCents: 850 });
    expect(readRequest(parseRecords('CZ0040300CJ0011CA00201ZQ0011'), { offered: [...offered], defaultBenefit: undefined })).toEqual({ kind: 'last-result', till: { cj: '1', ca: '01' } });
  });

  it('refuses what it does not take, each with the status a till understands and our code', () => {
    expect(refusal(() => read('CB0041250', null))).toBe('05 BENEFIT_NOT_ALLOWED');
    expect(refusal(() => read('CB0041250ZB005SPORT'))).toBe('05 BENEFIT_NOT_ALLOWED');
    expect(refusal(() => read('CB0041250ZB004NOPE'))).toBe('05 BENEFIT_NOT_ALLOWED');
    expect(refusal(() => readRequest(parseRecords('CZ0040300CJ012012345678901CA00201CE003840CD0010CB0041250'), { offered: [...offered], defaultBenefit: 'LEISURE_BOOKS' }))).toBe('05 AMOUNT_INVALID');
    expect(refusal(() => readRequest(parseRecords('CZ0040300CJ012012345678901CA00201CE003978CD0011CB0041250'), { offered: [...offered], defaultBenefit: 'LEISURE_BOOKS' }))).toBe('05 AMOUNT_INVALID');
    expect(refusal(() => read('CB0041250CC00300C'))).toBe('05 AMOUNT_INVALID');
    expect(refusal(() => read('CB00200'))).toBe('05 AMOUNT_INVALID');
    expect(refusal(() => read('CB0041a50'))).toMatch(/^09 CB/);
    expect(refusal(() => read('CB003850ZB006CINEMA'))).toMatch(/^09 CINEMA is counted in entries/);
    expect(refusal(() => read('CB0041250BA0012'))).toBe('09 BA is 0 or 1');
    expect(refusal(() => readRequest(parseRecords('CZ0040200CJ0011CA00201'), { offered: [...offered], defaultBenefit: undefined }))).toMatch(/^09 protocol version 0200/);
    expect(refusal(() => readRequest(parseRecords('CZ0040300CA00201CB0041250'), { offered: [...offered], defaultBenefit: undefined }))).toMatch(/^09 CJ/);
    expect(refusal(() => readRequest(parseRecords('CZ0040300CJ0011CA00201CD0010CE003978'), { offered: [...offered], defaultBenefit: 'LEISURE_BOOKS' }))).toBe('09 CB missing');
  });

  it('answers with the amount actually taken: a partial debit (R9) says what the till still collects', () => {
    expect(outcomeAnswer({ kind: 'approved', txnId: 't-1', reply: reply({}) }, 2000)).toEqual([['AE', '10'], ['CB', '2000'], ['ZS', 'approved'], ['ZT', 't-1']]);
    expect(outcomeAnswer({ kind: 'approved', txnId: 't-1', reply: reply({ taken: 1500, remainingToPay: 500 }) }, 2000)).toEqual([['AE', '10'], ['CB', '1500'], ['ZR', '500'], ['ZS', 'approved'], ['ZT', 't-1']]);
    expect(outcomeAnswer({ kind: 'approved', txnId: 't-1', reply: reply({ benefit: 'CINEMA', unit: 'entry', requested: 2, taken: 2 }) }, 850)).toEqual([['AE', '10'], ['CB', '850'], ['ZN', '2'], ['ZS', 'approved'], ['ZT', 't-1']]);
    expect(outcomeAnswer({ kind: 'offline', txnId: 't-2', sale: { benefit: 'LEISURE_BOOKS', unit: 'cent', amount: 700 } }, 700)).toEqual([['AE', '10'], ['CB', '700'], ['ZS', 'offline'], ['ZT', 't-2']]);
  });

  it('answers a refusal with AF and our code, in ASCII French', () => {
    expect(outcomeAnswer({ kind: 'declined', txnId: 't-3', reply: reply({ status: 'declined', code: 'BENEFIT_EXHAUSTED', taken: 0, remainingToPay: 2000 }) }, 2000)).toEqual([
      ['AE', '01'],
      ['AF', '04'],
      ['ZS', 'declined'],
      ['ZE', 'BENEFIT_EXHAUSTED'],
      ['ZM', 'Avantage epuise'],
      ['ZT', 't-3'],
    ]);
    expect(outcomeAnswer({ kind: 'cancelled', code: 'SALE_CANCELLED' }, 100).slice(0, 2)).toEqual([['AE', '01'], ['AF', '11']]);
    expect(outcomeAnswer({ kind: 'cancelled', code: 'PIN_ENTRY_TIMEOUT' }, 100).slice(0, 2)).toEqual([['AE', '01'], ['AF', '08']]);
    expect(outcomeAnswer({ kind: 'refused', code: 'OFFLINE_AMOUNT_LIMIT', sale: { benefit: 'LEISURE_BOOKS', unit: 'cent', amount: 100 } }, 100).slice(0, 2)).toEqual([['AE', '01'], ['AF', '04']]);
    expect(asciiText('Reste à payer : 12,50 € — “déjà”…')).toBe('Reste a payer : 12,50 EUR ? ?deja?...');
  });
});
