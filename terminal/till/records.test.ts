import { describe, expect, it } from 'vitest';
import { encodeRecords, MAX_MESSAGE_BYTES, parseRecords, TillFormatError, wholeRecordsEnd } from './records.ts';

const reason = (text: string) => {
  try {
    parseRecords(text);
  } catch (e) {
    if (e instanceof TillFormatError) return e.reason;
    throw e;
  }
  return 'parsed';
};

describe('Caisse-AP records', () => {
  it('reads a message as a till writes it, and writes one with the version first', () => {
    const text = 'CZ0040300CJ012012345678901CA00201CE003978BA0010CD0010CB0041250';
    expect(Object.fromEntries(parseRecords(text))).toEqual({ CZ: '0300', CJ: '012345678901', CA: '01', CE: '978', BA: '0', CD: '0', CB: '1250' });
    expect(encodeRecords([['AE', '10'], ['CZ', '0300'], ['CB', '1250']])).toBe('CZ0040300AE00210CB0041250');
    expect(parseRecords(encodeRecords(parseRecords(text)))).toEqual(parseRecords(text));
  });

  it('refuses, naming why, every message that is not exactly a run of valid records', () => {
    expect(reason('')).toBe('empty message');
    expect(reason('CJ0011CZ0040300')).toMatch(/CZ does not come first/);
    expect(reason('CZ0040300CJ0011CJ0012')).toBe('tag CJ twice');
    expect(reason('CZ0040300cj0011')).toMatch(/^tag "cj"/);
    expect(reason('CZ0040300CJ0x11')).toMatch(/^length "0x1" of CJ/);
    expect(reason('CZ0040300CJ000')).toBe('empty value of CJ');
    expect(reason('CZ0040300CJ0051')).toBe('value of CJ cut short');
    expect(reason('CZ0040300CJ')).toMatch(/cut short at byte 9/);
    expect(reason('CZ0040300CJ003é12')).toBe('not printable ASCII');
    expect(reason('CZ0040300' + ['ZZ', 'ZY', 'ZX', 'ZW', 'ZV'].map((t) => `${t}999${'x'.repeat(999)}`).join(''))).toBe(`longer than ${MAX_MESSAGE_BYTES} bytes`);
  });

  it('tells how far a stream holds whole records (a message split across reads)', () => {
    expect(wholeRecordsEnd('')).toBe(0);
    expect(wholeRecordsEnd('CZ0040300')).toBe(9);
    expect(wholeRecordsEnd('CZ0040300CB00')).toBe(9);
    expect(wholeRecordsEnd('CZ0040300CB0041')).toBe(9);
    expect(wholeRecordsEnd('CZ0040300CB0041250')).toBe(18);
  });

  it('never writes a record it could not read back', () => {
    expect(() => encodeRecords([['ZM', '']])).toThrow(RangeError);
    expect(() => encodeRecords([['ZM', 'é']])).toThrow(RangeError);
    expect(() => encodeRecords([['Z', 'x']])).toThrow(RangeError);
    expect(() => encodeRecords([['ZM', 'x'.repeat(1000)]])).toThrow(RangeError);
  });
});
