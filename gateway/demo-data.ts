import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Benefit, PartnerType } from '../protocol/benefits.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { publicKeyFromSeed } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import type { Ledger } from './ledger/ledger.ts';
import { hashPin } from './pin-hash.ts';

/**
 * Demo data: a few partners of different types, their terminals, and cards loaded with the campaign
 * 2022/2023 benefits of `domain.md` (source 003). Fictional names and numbers.
 */

export const DEMO_CAMPAIGN = '2022-2023';

export interface DemoPartner {
  readonly id: string;
  readonly name: string;
  readonly type: PartnerType;
  readonly terminals: readonly string[];
}

export const DEMO_PARTNERS: readonly DemoPartner[] = [
  { id: 'P-LIB-LYON', name: 'Librairie des Canuts (Lyon)', type: 'bookshop', terminals: ['T-LIB-LYON-01', 'T-LIB-LYON-02'] },
  { id: 'P-CIN-VBN', name: 'Cinéma Les Lumières (Villeurbanne)', type: 'cinema', terminals: ['T-CIN-VBN-01'] },
  { id: 'P-JUDO-GRE', name: 'Judo Club des Alpes (Grenoble)', type: 'sports_club', terminals: ['T-JUDO-GRE-01'] },
  { id: 'P-AUTO-STE', name: 'Auto-école du Forez (Saint-Étienne)', type: 'driving_school', terminals: ['T-AUTO-STE-01'] },
  { id: 'P-SPEC-CLF', name: 'Théâtre de la Comédie (Clermont-Ferrand)', type: 'venue', terminals: ['T-SPEC-CLF-01'] },
];

export interface DemoCard {
  readonly number: string;
  readonly holder: string;
  /** The secret code the youth set (R3); null when not set yet. Demo only: real codes never leave the pad. */
  readonly pin: string | null;
  readonly opposed?: boolean;
  readonly benefits: Partial<Record<Benefit, number>>;
}

/** Benefit amounts of campaign 2022/2023 (source 003): cents, or entries for cinema. */
export const DEMO_CARDS: readonly DemoCard[] = [
  {
    // General lycée, first year: leisure books 15 €, sport 30 €, 5 cinema entries, shows 30 €, PSC1 60 €.
    number: cardNumberFrom('825012345678901'),
    holder: 'Léa Martin',
    pin: '1234',
    benefits: { LEISURE_BOOKS: 1500, SPORT: 3000, CINEMA: 5, SHOWS: 3000, FIRST_AID: 6000 },
  },
  {
    // Vocational lycée, final year: workbooks 50 €, equipment 200 €, leisure books 35 €.
    number: cardNumberFrom('825012345678902'),
    holder: 'Hugo Bernard',
    pin: '4321',
    benefits: { SCHOOL_BOOKS: 5000, PRO_EQUIPMENT: 20000, LEISURE_BOOKS: 3500, SPORT: 3000, CINEMA: 5, SHOWS: 3000 },
  },
  {
    // Girl in a combat-sport club (sport 60 €), driving licence aid 500 € (80 h mission).
    number: cardNumberFrom('825012345678903'),
    holder: 'Inès Petit',
    pin: '2580',
    benefits: { SPORT: 6000, DRIVING_LICENCE: 50000, LEISURE_BOOKS: 1500, CINEMA: 5, SHOWS: 3000 },
  },
  {
    // Reported lost: opposed (R4).
    number: cardNumberFrom('825012345678904'),
    holder: 'Tom Robert',
    pin: '1111',
    opposed: true,
    benefits: { LEISURE_BOOKS: 1500, SPORT: 3000, CINEMA: 5, SHOWS: 3000 },
  },
  {
    // Has not set a secret code yet: NFC works, QR does not (R2, R3).
    number: cardNumberFrom('825012345678905'),
    holder: 'Camille Durand',
    pin: null,
    benefits: { LEISURE_BOOKS: 3500, SPORT: 3000, CINEMA: 5, SHOWS: 3000 },
  },
];

export interface DemoTerminalKey {
  readonly terminalId: string;
  readonly partnerId: string;
  /** The terminal's private Ed25519 seed, base64url. A real terminal never lets it leave; simulators need it. */
  readonly seed: string;
}

/**
 * Write the demo data into an empty ledger. Terminal keys are generated here, as a technician's
 * provisioning would on each terminal; the seeds are returned so simulated terminals can use them.
 */
export function seedDemo(ledger: Ledger, at: number, makeSeed: () => Uint8Array = () => randomBytes(32)): DemoTerminalKey[] {
  return ledger.atomically(() => seedDemoRows(ledger, at, makeSeed));
}

function seedDemoRows(ledger: Ledger, at: number, makeSeed: () => Uint8Array): DemoTerminalKey[] {
  const keys: DemoTerminalKey[] = [];
  for (const p of DEMO_PARTNERS) {
    ledger.addPartner({ id: p.id, name: p.name, type: p.type });
    for (const terminalId of p.terminals) {
      const seed = makeSeed();
      ledger.addTerminal({ id: terminalId, partnerId: p.id, publicKey: publicKeyFromSeed(seed) });
      keys.push({ terminalId, partnerId: p.id, seed: Buffer.from(seed).toString('base64url') });
    }
  }
  for (const c of DEMO_CARDS) {
    ledger.issueCard({ number: c.number, holder: c.holder, pinHash: c.pin === null ? null : hashPin(c.pin) });
    for (const [benefit, amount] of Object.entries(c.benefits) as [Benefit, number][]) {
      ledger.load({ cardNumber: c.number, benefit, campaign: DEMO_CAMPAIGN, amount, at });
    }
    if (c.opposed) ledger.setCardStatus(c.number, 'opposed');
  }
  return keys;
}

export function demoCard(holder: string): DemoCard {
  const c = DEMO_CARDS.find((x) => x.holder === holder);
  if (!c) throw new RangeError(`no demo card for ${holder}`);
  return c;
}

/** The demo terminals' keys written at seeding (`demo-terminals.json`); KEY_FILE_INVALID if unreadable. */
export function readDemoTerminals(file: string): DemoTerminalKey[] {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DemoTerminalKey[];
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${(e as Error).message}`);
  }
}
