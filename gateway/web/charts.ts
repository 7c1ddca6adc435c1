import { BENEFITS, BENEFIT_CODES, type Benefit } from '../../protocol/benefits.ts';
import { formatEuros } from '../../protocol/money.ts';
import { addDays } from '../../common/paris-time.ts';
import type { DailySales } from '../ledger/ledger.ts';

/**
 * The console's charts, drawn by the server as inline SVG: no script, no chart library, nothing the CSP
 * must admit (presentation attributes only, never a `style`). Each chart is an image with a title and a
 * description for screen readers, and the page shows the same figures as a table beside it.
 */

/** One colour per benefit, each at least 3:1 against white (WCAG non-text contrast). */
const COLOURS: Readonly<Record<Benefit, string>> = {
  SCHOOL_BOOKS: '#1f5f99',
  PRO_EQUIPMENT: '#7a4b00',
  SPORT: '#1d7a3a',
  CINEMA: '#a3195b',
  SHOWS: '#6a3d9a',
  LEISURE_BOOKS: '#c2410c',
  MUSEUM: '#4b5563',
  FIRST_AID: '#b91c1c',
  DRIVING_LICENCE: '#0f766e',
  BAFA: '#854d0e',
};

const W = 720;
const H = 240;
const LEFT = 64;
const BOTTOM = 28;
const TOP = 12;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A date under every seventh day, and under the last one (a weekly date too close to it is left out). */
function labelled(i: number, n: number): boolean {
  return i === n - 1 || (i % 7 === 0 && i < n - 3);
}

/** Every day of the range, in order (days without sales included). */
export function daysOf(fromDay: string, toDay: string): string[] {
  const days: string[] = [];
  for (let d = fromDay; d <= toDay; d = addDays(d, 1)) days.push(d);
  return days;
}

/** A round step for the value axis: 1, 2 or 5 times a power of ten, about 4 lines up to `max`. */
export function niceStep(max: number): number {
  if (max <= 0) return 1;
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
}

export interface DailyChart {
  readonly svg: string;
  /** The same figures for the table beside the chart: per day, the amount per benefit and the total. */
  readonly rows: readonly { readonly day: string; readonly total: number; readonly sales: number; readonly offline: number }[];
  readonly benefits: readonly { readonly code: Benefit; readonly fr: string; readonly colour: string; readonly cents: number }[];
}

/** Stacked bars: the amount the Region owes per day, one colour per benefit. */
export function dailySalesChart(data: readonly DailySales[], fromDay: string, toDay: string): DailyChart {
  const days = daysOf(fromDay, toDay);
  const byDay = new Map<string, Map<Benefit, DailySales>>();
  for (const d of data) {
    let m = byDay.get(d.day);
    if (!m) byDay.set(d.day, (m = new Map()));
    m.set(d.benefit, d);
  }
  const totals = days.map((day) => [...(byDay.get(day)?.values() ?? [])].reduce((t, d) => t + d.amountCents, 0));
  const max = Math.max(0, ...totals);
  const step = niceStep(max);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const plotH = H - TOP - BOTTOM;
  const slot = (W - LEFT - 8) / days.length;
  const barW = Math.max(2, slot * 0.7);
  const y = (cents: number) => TOP + plotH - (cents / top) * plotH;
  const parts: string[] = [];
  for (let v = 0; v <= top; v += step) {
    parts.push(`<line x1="${LEFT}" x2="${W - 4}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#c9ced6" stroke-width="1"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#1a1a1a">${esc(formatEuros(v).replace(/,00\s€$/, '\u00a0€'))}</text>`);
  }
  days.forEach((day, i) => {
    const x = LEFT + 4 + i * slot;
    let base = 0;
    for (const b of BENEFIT_CODES) {
      const d = byDay.get(day)?.get(b);
      if (!d || d.amountCents === 0) continue;
      const y0 = y(base);
      const y1 = y(base + d.amountCents);
      parts.push(`<rect x="${x.toFixed(1)}" y="${y1.toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, y0 - y1).toFixed(1)}" fill="${COLOURS[b]}"><title>${esc(`${day} · ${BENEFITS[b].fr} : ${formatEuros(d.amountCents)}`)}</title></rect>`);
      base += d.amountCents;
    }
    if (labelled(i, days.length)) {
      parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${H - 8}" text-anchor="middle" font-size="11" fill="#1a1a1a">${esc(`${day.slice(8, 10)}/${day.slice(5, 7)}`)}</text>`);
    }
  });
  const grand = totals.reduce((t, v) => t + v, 0);
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-labelledby="ventes-titre ventes-desc">` +
    `<title id="ventes-titre">Ventes par jour et par avantage</title>` +
    `<desc id="ventes-desc">${esc(`Du ${fromDay} au ${toDay} : ${formatEuros(grand)} au total ; le plus fort jour, ${formatEuros(max)}. Le tableau qui suit donne chaque jour.`)}</desc>` +
    parts.join('') +
    `</svg>`;
  const rows = days.map((day, i) => {
    const ds = [...(byDay.get(day)?.values() ?? [])];
    return { day, total: totals[i]!, sales: ds.reduce((t, d) => t + d.sales, 0), offline: ds.reduce((t, d) => t + d.offline, 0) };
  });
  const benefits = BENEFIT_CODES.map((code) => ({ code, fr: BENEFITS[code].fr, colour: COLOURS[code], cents: data.filter((d) => d.benefit === code).reduce((t, d) => t + d.amountCents, 0) })).filter((b) => b.cents > 0);
  return { svg, rows, benefits };
}

/** Bars of the share of sales made offline per day, 0 to 100 %. */
export function offlineShareChart(rows: DailyChart['rows']): string {
  const plotH = H - TOP - BOTTOM;
  const slot = (W - LEFT - 8) / Math.max(1, rows.length);
  const barW = Math.max(2, slot * 0.7);
  const y = (pct: number) => TOP + plotH - (pct / 100) * plotH;
  const parts: string[] = [];
  for (const v of [0, 25, 50, 75, 100]) {
    parts.push(`<line x1="${LEFT}" x2="${W - 4}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#c9ced6" stroke-width="1"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#1a1a1a">${v} %</text>`);
  }
  let sales = 0;
  let offline = 0;
  rows.forEach((r, i) => {
    const x = LEFT + 4 + i * slot;
    sales += r.sales;
    offline += r.offline;
    if (r.sales > 0) {
      const pct = (100 * r.offline) / r.sales;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(pct).toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, y(0) - y(pct)).toFixed(1)}" fill="#7a4b00"><title>${esc(`${r.day} : ${r.offline} sur ${r.sales} ventes hors ligne`)}</title></rect>`);
    }
    if (labelled(i, rows.length)) {
      parts.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${H - 8}" text-anchor="middle" font-size="11" fill="#1a1a1a">${esc(`${r.day.slice(8, 10)}/${r.day.slice(5, 7)}`)}</text>`);
    }
  });
  const share = sales === 0 ? 0 : Math.round((100 * offline) / sales);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-labelledby="horsligne-titre horsligne-desc">` +
    `<title id="horsligne-titre">Part des ventes faites hors ligne, par jour</title>` +
    `<desc id="horsligne-desc">${esc(`${offline} ventes hors ligne sur ${sales} (${share} %) sur la période.`)}</desc>` +
    parts.join('') +
    `</svg>`
  );
}
