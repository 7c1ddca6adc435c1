import { describe, expect, it } from 'vitest';
import { addDays, addMonths, endOfRegionDay, isIsoDate, regionDate, regionDateTime, startOfRegionDay } from './paris-time.ts';

describe('region time (Europe/Paris)', () => {
  it('finds local midnight in winter (UTC+1) and summer (UTC+2)', () => {
    expect(new Date(startOfRegionDay('2023-01-15')).toISOString()).toBe('2023-01-14T23:00:00.000Z');
    expect(new Date(startOfRegionDay('2023-05-31')).toISOString()).toBe('2023-05-30T22:00:00.000Z');
  });

  it('handles the days the clocks change', () => {
    expect(new Date(startOfRegionDay('2023-03-26')).toISOString()).toBe('2023-03-25T23:00:00.000Z');
    expect(new Date(startOfRegionDay('2023-03-27')).toISOString()).toBe('2023-03-26T22:00:00.000Z');
    expect(new Date(startOfRegionDay('2022-10-30')).toISOString()).toBe('2022-10-29T22:00:00.000Z');
    expect(endOfRegionDay('2022-10-30') - startOfRegionDay('2022-10-30')).toBe(25 * 3600_000);
  });

  it('gives the local date of an instant, not the UTC one', () => {
    // 31 May 2023, 23:30 in Lyon is 21:30 UTC.
    expect(regionDate(Date.parse('2023-05-31T21:30:00Z'))).toBe('2023-05-31');
    expect(regionDate(Date.parse('2023-05-31T22:30:00Z'))).toBe('2023-06-01');
    expect(regionDateTime(Date.parse('2023-05-31T21:30:05Z'))).toBe('2023-05-31 23:30:05');
  });

  it('round-trips every day of two years', () => {
    for (let d = '2022-01-01'; d < '2024-01-01'; d = addDays(d, 1)) {
      expect(regionDate(startOfRegionDay(d))).toBe(d);
      expect(regionDate(endOfRegionDay(d) - 1)).toBe(d);
    }
  });

  it('adds months, clamping to shorter months', () => {
    expect(addMonths('2022-09-15', 24)).toBe('2024-09-15');
    expect(addMonths('2023-08-31', 6)).toBe('2024-02-29');
    expect(addMonths('2023-12-31', 2)).toBe('2024-02-29');
  });

  it('checks calendar dates', () => {
    expect(isIsoDate('2023-02-29')).toBe(false);
    expect(isIsoDate('2024-02-29')).toBe(true);
    expect(isIsoDate('2024-2-9')).toBe(false);
    expect(() => startOfRegionDay('2023-13-01')).toThrow(RangeError);
  });
});

describe('the offset read once an hour (issue 14)', () => {
  it('gives the same local date and time as Intl for every 7 minutes 31 seconds of 2026, both DST changes included', () => {
    const intl = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Paris', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    const from = Date.UTC(2026, 0, 1);
    const to = Date.UTC(2027, 0, 1);
    let checked = 0;
    for (let t = from; t < to; t += 451_000) {
      expect(regionDateTime(t)).toBe(intl.format(new Date(t)));
      checked++;
    }
    expect(checked).toBeGreaterThan(69_000);
    // Around the changes themselves: 29 March 2026 and 25 October 2026, at 01:00 UTC.
    for (const change of [Date.UTC(2026, 2, 29, 1), Date.UTC(2026, 9, 25, 1)]) {
      for (let t = change - 2000; t <= change + 2000; t += 500) expect(regionDateTime(t)).toBe(intl.format(new Date(t)));
    }
  });
});
