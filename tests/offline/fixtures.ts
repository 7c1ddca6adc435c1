import { cardNumberFrom } from '../../protocol/card.ts';
import type { Ledger } from '../../gateway/ledger/ledger.ts';
import { registerTestChips } from '../helpers/chips.ts';

/** Offline limits loose enough for a long random run on one terminal. */
export const CRASH_OFFLINE_LIMITS = {
  limits: { maxSaleCents: 3000, perCardDayCount: 100, perCardDayCents: 1_000_000, maxPendingCount: 50_000, maxPendingCents: 100_000_000 },
  hotlistRefreshS: 1,
  gapGraceMs: 300,
};

/**
 * One terminal makes thousands of records in a couple of minutes here, far beyond a real till's pace:
 * its quota of new records is raised to match (gateway config `limits.terminalRecords`).
 */
export const CRASH_LIMITS = { terminalRecords: { points: 1_000_000, durationS: 60 } };

/** The driving school's terminal debits the driving-licence aid: up to 1,000 € per wallet. */
export const CRASH_TERMINAL = 'T-AUTO-STE-01';
export const CRASH_BENEFIT = 'DRIVING_LICENCE' as const;

/** Cards with 1,000 € of driving-licence aid each, enough for a thousand random sales of 1–30 €. */
export async function addCrashCards(ledger: Ledger, n: number, at: number): Promise<string[]> {
  const campaign = (await ledger.campaigns())[0]!.id;
  const cards: string[] = [];
  await ledger.atomically(async () => {
    for (let i = 0; i < n; i++) {
      const number = cardNumberFrom(`82509${String(i).padStart(10, '0')}`);
      await ledger.issueCard({ number, holder: `Jeune ${i}`, pinHash: null, at });
      await ledger.load({ cardNumber: number, benefit: CRASH_BENEFIT, campaign, amount: 100_000, at });
      cards.push(number);
    }
  });
  // Personalised with the test chips, which the terminals' card bureau hands out too.
  await registerTestChips(ledger, cards, at);
  return cards;
}
