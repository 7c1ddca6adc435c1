import { BENEFIT_CODES, type Benefit } from '../protocol/benefits.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { addMonths, endOfRegionDay, isIsoDate, regionDate, startOfRegionDay } from '../common/paris-time.ts';

/**
 * Campaigns and validity windows (R6–R8). A campaign is a school year, `2022-2023`. Each benefit of a
 * campaign is usable in a window of local dates; the driving-licence aid instead lasts a number of months
 * from the day it is loaded, whatever the campaign (source 003: "24 mois pour l'utiliser").
 *
 * A wallet records its own window when it is loaded, so the rules only compare the sale time with two
 * instants, and a later change to a campaign's windows never silently changes a wallet already handed out.
 */

export const CAMPAIGN_PATTERN = '^[0-9]{4}-[0-9]{4}$';

export type BenefitWindow =
  /** Usable from the first local day to the last, both included. */
  | { readonly benefit: Benefit; readonly from: string; readonly to: string }
  /** Usable for `months` from the day of loading (the day before the same date `months` later is the last). */
  | { readonly benefit: Benefit; readonly months: number };

export interface CampaignDef {
  readonly id: string;
  readonly windows: readonly BenefitWindow[];
}

/** Benefits on the school-books calendar (source 003): 7 June – 31 May. */
const SCHOOL_CALENDAR: readonly Benefit[] = ['SCHOOL_BOOKS', 'PRO_EQUIPMENT'];
/** The driving-licence aid lasts 24 months from its loading, even after the youth leaves the scheme. */
export const DRIVING_LICENCE_MONTHS = 24;

export function checkCampaignId(id: string): readonly [number, number] {
  const m = /^(\d{4})-(\d{4})$/.exec(id);
  const y = m ? Number(m[1]) : NaN;
  if (!m || Number(m[2]) !== y + 1) throw new PasserelleError('DATA_INVALID', `campaign id must be two consecutive years like 2022-2023, got ${JSON.stringify(id)}`);
  return [y, y + 1];
}

/**
 * The 2022/2023 windows of source 003, carried to campaign `id`: school books and professional equipment
 * 7 June Y – 31 May Y+1; culture, sport and health 1 September Y – 30 June Y+1; driving licence 24 months
 * from loading.
 */
export function defaultWindows(id: string): BenefitWindow[] {
  const [y, next] = checkCampaignId(id);
  return BENEFIT_CODES.map((benefit): BenefitWindow => {
    if (benefit === 'DRIVING_LICENCE') return { benefit, months: DRIVING_LICENCE_MONTHS };
    if (SCHOOL_CALENDAR.includes(benefit)) return { benefit, from: `${y}-06-07`, to: `${next}-05-31` };
    return { benefit, from: `${y}-09-01`, to: `${next}-06-30` };
  });
}

/** Check a campaign definition: every benefit has exactly one window, each well formed. */
export function checkCampaign(def: CampaignDef): CampaignDef {
  checkCampaignId(def.id);
  const seen = new Set<Benefit>();
  for (const w of def.windows) {
    if (seen.has(w.benefit)) throw new PasserelleError('DATA_INVALID', `campaign ${def.id}: two windows for ${w.benefit}`);
    seen.add(w.benefit);
    if ('months' in w) {
      if (!Number.isInteger(w.months) || w.months < 1 || w.months > 120) throw new PasserelleError('DATA_INVALID', `campaign ${def.id}: ${w.benefit} months must be 1..120`);
    } else if (!isIsoDate(w.from) || !isIsoDate(w.to) || w.from > w.to) {
      throw new PasserelleError('DATA_INVALID', `campaign ${def.id}: ${w.benefit} window must be two dates, from ≤ to`);
    }
  }
  return def;
}

/** The instants a wallet loaded at `loadedAt` is usable in: `[validFrom, validUntil)`. */
export function walletValidity(w: BenefitWindow, loadedAt: number): { readonly validFrom: number; readonly validUntil: number } {
  if ('months' in w) {
    return { validFrom: loadedAt, validUntil: startOfRegionDay(addMonths(regionDate(loadedAt), w.months)) };
  }
  return { validFrom: startOfRegionDay(w.from), validUntil: endOfRegionDay(w.to) };
}

/**
 * The campaign a load made on this date belongs to by default: from 1 June, next school year's (its
 * school-books window opens on 7 June); before, the current one.
 */
export function campaignAt(ms: number): string {
  const date = regionDate(ms);
  const y = Number(date.slice(0, 4));
  return date.slice(5) >= '06-01' ? `${y}-${y + 1}` : `${y - 1}-${y}`;
}

/** The school year a date falls in (`2022-2023` from 1 September 2022 to 31 August 2023): equipment proofs are yearly. */
export function schoolYearOf(date: string): string {
  const y = Number(date.slice(0, 4));
  return date.slice(5) >= '09-01' ? `${y}-${y + 1}` : `${y - 1}-${y}`;
}
