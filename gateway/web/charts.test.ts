import { describe, expect, it } from 'vitest';
import { dailySalesChart, daysOf, niceStep, offlineShareChart } from './charts.ts';

describe('console charts', () => {
  it('draws one stacked bar segment per day and benefit, scaled to a round top, with every day in the table', () => {
    const c = dailySalesChart(
      [
        { day: '2026-12-01', benefit: 'LEISURE_BOOKS', sales: 2, offline: 1, amountCents: 3000 },
        { day: '2026-12-01', benefit: 'SPORT', sales: 1, offline: 0, amountCents: 1000 },
        { day: '2026-12-03', benefit: 'SPORT', sales: 1, offline: 0, amountCents: 6000 },
      ],
      '2026-12-01',
      '2026-12-03',
    );
    expect(c.svg.match(/<rect /g)).toHaveLength(3);
    expect(c.rows).toEqual([
      { day: '2026-12-01', total: 4000, sales: 3, offline: 1 },
      { day: '2026-12-02', total: 0, sales: 0, offline: 0 },
      { day: '2026-12-03', total: 6000, sales: 1, offline: 0 },
    ]);
    expect(c.benefits.map((b) => [b.code, b.cents])).toEqual([['SPORT', 7000], ['LEISURE_BOOKS', 3000]]);
    expect(c.svg).toContain('role="img"');
    expect(c.svg).toContain('100,00\u00a0€ au total');
    // No style attribute: the CSP admits no inline style.
    expect(c.svg).not.toMatch(/style=/);
    // Heights are proportional: the highest day (60 €) is 1.5 times the first (40 €).
    const heights = [...c.svg.matchAll(/height="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(heights[2]! / (heights[0]! + heights[1]!)).toBeCloseTo(1.5, 1);
  });

  it('shows the offline share per day, and escapes what it prints', () => {
    const svg = offlineShareChart([
      { day: '2026-12-01', total: 1, sales: 4, offline: 1 },
      { day: '2026-12-02', total: 0, sales: 0, offline: 0 },
    ]);
    expect(svg.match(/<rect /g)).toHaveLength(1);
    expect(svg).toContain('1 ventes hors ligne sur 4 (25 %)');
  });

  it('steps and days', () => {
    expect([niceStep(0), niceStep(7), niceStep(4000), niceStep(123_456)]).toEqual([1, 2, 1000, 50_000]);
    expect(daysOf('2026-10-24', '2026-10-26')).toEqual(['2026-10-24', '2026-10-25', '2026-10-26']);
  });
});
