/**
 * Calendar dates in the Region's time zone. Validity windows (R6), the partner's "same day" for a
 * cancellation and statement periods are French local dates, whatever the server's own zone is: a sale at
 * 23:30 in Lyon on 31 May belongs to 31 May, not to 1 June in UTC+0 terms.
 */

export const REGION_TIME_ZONE = 'Europe/Paris';

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

const parts = new Intl.DateTimeFormat('en-CA', {
  timeZone: REGION_TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

interface Local {
  readonly y: number;
  readonly m: number;
  readonly d: number;
  readonly h: number;
  readonly min: number;
  readonly s: number;
}

const HOUR_MS = 3_600_000;
/** The zone's offset (local wall clock − UTC, ms) by UTC hour; bounded, cleared when full. */
const offsets = new Map<number, number>();
const OFFSETS_MAX = 100_000;

/**
 * The zone's offset during the UTC hour holding `ms`. Asking Intl costs some microseconds a call, and
 * every debit asks several times (windows, days, the offline checks): the offset is read once an hour of
 * time instead. Exact for Europe/Paris, whose offset changes only on the hour (01:00 UTC, last Sundays of
 * March and October).
 */
function offsetAt(ms: number): number {
  const hour = Math.floor(ms / HOUR_MS);
  let offset = offsets.get(hour);
  if (offset === undefined) {
    const start = hour * HOUR_MS;
    const p: Record<string, number> = {};
    for (const part of parts.formatToParts(new Date(start))) if (part.type !== 'literal') p[part.type] = Number(part.value);
    offset = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!) - start;
    if (offsets.size >= OFFSETS_MAX) offsets.clear();
    offsets.set(hour, offset);
  }
  return offset;
}

function local(ms: number): Local {
  const t = new Date(ms + offsetAt(ms));
  return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), min: t.getUTCMinutes(), s: t.getUTCSeconds() };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** The local date (`YYYY-MM-DD`) of an instant. */
export function regionDate(ms: number): string {
  const l = local(ms);
  return `${pad(l.y, 4)}-${pad(l.m)}-${pad(l.d)}`;
}

/** The local date and time (`YYYY-MM-DD HH:MM:SS`) of an instant, for exports and receipts. */
export function regionDateTime(ms: number): string {
  const l = local(ms);
  return `${regionDate(ms)} ${pad(l.h)}:${pad(l.min)}:${pad(l.s)}`;
}

export function isIsoDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d;
}

/** The instant local midnight starts `date` (`YYYY-MM-DD`). */
export function startOfRegionDay(date: string): number {
  if (!isIsoDate(date)) throw new RangeError(`not a calendar date: ${date}`);
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const utcMidnight = Date.UTC(y, m - 1, d);
  // The zone's offset at that moment, found by reading the wall clock there; a second pass settles the
  // days on which the offset changes (last Sundays of March and October, never at midnight in France).
  let guess = utcMidnight;
  for (let i = 0; i < 2; i++) {
    const l = local(guess);
    const wall = Date.UTC(l.y, l.m - 1, l.d, l.h, l.min, l.s);
    guess = utcMidnight - (wall - guess);
  }
  return guess;
}

/** `date` plus `days` calendar days. */
export function addDays(date: string, days: number): string {
  const t = new Date(`${date}T00:00:00Z`);
  t.setUTCDate(t.getUTCDate() + days);
  return t.toISOString().slice(0, 10);
}

/** `date` plus `months` calendar months, clamped to the end of a shorter month (31 Aug + 6 = 28/29 Feb). */
export function addMonths(date: string, months: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const first = new Date(Date.UTC(y, m - 1 + months, 1));
  const last = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0)).getUTCDate();
  first.setUTCDate(Math.min(d, last));
  return first.toISOString().slice(0, 10);
}

/** The instant after the last moment of `date`: the exclusive end of a window whose last day is `date`. */
export function endOfRegionDay(date: string): number {
  return startOfRegionDay(addDays(date, 1));
}
