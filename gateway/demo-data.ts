import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Benefit, PartnerType } from '../protocol/benefits.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { fromB64url, publicKeyFromSeed } from '../protocol/crypto.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { readKeyFileText, terminalKeyList } from '../common/key-file.ts';
import type { Ledger } from './ledger/ledger.ts';
import { campaignAt, defaultWindows, type BenefitWindow, type CampaignDef } from './campaigns.ts';
import { addDays, regionDate } from '../common/paris-time.ts';
import { hashPin } from './pin-hash.ts';

/**
 * Demo data: a few partners of different types, their terminals, and cards loaded with the campaign
 * 2022/2023 benefits of `domain.md` (source 003). Fictional names and numbers.
 */

/**
 * The demo runs on the current campaign, with the windows of source 003 carried to this year. Demo only:
 * a window that does not cover today (the summer gap between two campaigns) is widened to today, so the
 * scripted sales work in any month.
 */
export function demoCampaign(at: number): CampaignDef {
  const id = campaignAt(at);
  const today = regionDate(at);
  const windows = defaultWindows(id).map((w): BenefitWindow =>
    'months' in w ? w : { benefit: w.benefit, from: w.from < today ? w.from : today, to: w.to > today ? w.to : addDays(today, 30) },
  );
  return { id, windows };
}

/** Conventions 2022/2027 (source 003), extended in the demo if it runs later than that. */
function demoConvention(at: number): { conventionFrom: string; conventionTo: string } {
  const lastDay = addDays(regionDate(at), 365);
  return { conventionFrom: '2022-06-01', conventionTo: lastDay > '2027-05-31' ? lastDay : '2027-05-31' };
}

/** Fictional convention price the Region pays a cinema per entry. */
export const DEMO_CINEMA_ENTRY_CENTS = 550;

export interface DemoPartner {
  readonly id: string;
  readonly name: string;
  readonly type: PartnerType;
  readonly terminals: readonly string[];
  /** Fictional bank details, valid by their check digits, for the SEPA export. */
  readonly iban: string;
  readonly bic: string;
}

export const DEMO_PARTNERS: readonly DemoPartner[] = [
  { id: 'P-LIB-LYON', name: 'Librairie des Canuts (Lyon)', type: 'bookshop', terminals: ['T-LIB-LYON-01', 'T-LIB-LYON-02'], iban: 'FR7630004010000001234560120', bic: 'BNPAFRPPXXX' },
  { id: 'P-CIN-VBN', name: 'Cinéma Les Lumières (Villeurbanne)', type: 'cinema', terminals: ['T-CIN-VBN-01'], iban: 'FR7630003020000002345670218', bic: 'SOGEFRPPXXX' },
  { id: 'P-JUDO-GRE', name: 'Judo Club des Alpes (Grenoble)', type: 'sports_club', terminals: ['T-JUDO-GRE-01'], iban: 'FR7610278073000003456780348', bic: 'CMCIFR2AXXX' },
  { id: 'P-AUTO-STE', name: 'Auto-école du Forez (Saint-Étienne)', type: 'driving_school', terminals: ['T-AUTO-STE-01'], iban: 'FR7611315000010004567890442', bic: 'CEPAFRPP131' },
  { id: 'P-SPEC-CLF', name: 'Théâtre de la Comédie (Clermont-Ferrand)', type: 'venue', terminals: ['T-SPEC-CLF-01'], iban: 'FR7630002030000005678900548', bic: 'CRLYFRPPXXX' },
  { id: 'P-MUS-LYON', name: 'Musée des Confluences (Lyon)', type: 'museum', terminals: ['T-MUS-LYON-01'], iban: 'FR7630004010000006789010689', bic: 'BNPAFRPPXXX' },
  // Sells professional equipment; its reimbursements wait for its yearly sticker and logo proof (source 003).
  { id: 'P-EQUIP-VAL', name: 'Outillage Pro Valence', type: 'equipment_shop', terminals: ['T-EQUIP-VAL-01'], iban: 'FR7630003020000007890120766', bic: 'SOGEFRPPXXX' },
];

export interface DemoCard {
  readonly number: string;
  readonly holder: string;
  /** The secret code the youth set (R3); null when not set yet. Demo only: real codes never leave the pad. */
  readonly pin: string | null;
  readonly opposed?: boolean;
  readonly benefits: Partial<Record<Benefit, number>>;
}

/** Benefit amounts of campaign 2022/2023 (source 003): cents, entries for cinema, 0 for the museum access. */
export const DEMO_CARDS: readonly DemoCard[] = [
  {
    // General lycée, first year: leisure books 15 €, sport 30 €, 5 cinema entries, shows 30 €, PSC1 60 €.
    number: cardNumberFrom('825012345678901'),
    holder: 'Léa Martin',
    pin: '1234',
    benefits: { LEISURE_BOOKS: 1500, SPORT: 3000, CINEMA: 5, SHOWS: 3000, FIRST_AID: 6000, MUSEUM: 0 },
  },
  {
    // Vocational lycée, final year: workbooks 50 €, equipment 200 €, leisure books 35 €.
    number: cardNumberFrom('825012345678902'),
    holder: 'Hugo Bernard',
    pin: '4321',
    benefits: { SCHOOL_BOOKS: 5000, PRO_EQUIPMENT: 20000, LEISURE_BOOKS: 3500, SPORT: 3000, CINEMA: 5, SHOWS: 3000, MUSEUM: 0 },
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
export async function seedDemo(ledger: Ledger, at: number, makeSeed: () => Uint8Array = () => randomBytes(32)): Promise<DemoTerminalKey[]> {
  return await ledger.atomically(async () => await seedDemoRows(ledger, at, makeSeed));
}

async function seedDemoRows(ledger: Ledger, at: number, makeSeed: () => Uint8Array): Promise<DemoTerminalKey[]> {
  const keys: DemoTerminalKey[] = [];
  const campaign = demoCampaign(at);
  await ledger.addCampaign(campaign);
  for (const p of DEMO_PARTNERS) {
    const entryPriceCents = p.type === 'cinema' ? DEMO_CINEMA_ENTRY_CENTS : 0;
    await ledger.addPartner({ id: p.id, name: p.name, type: p.type, ...demoConvention(at), entryPriceCents, iban: p.iban, bic: p.bic });
    for (const terminalId of p.terminals) {
      const seed = makeSeed();
      await ledger.addTerminal({ id: terminalId, partnerId: p.id, publicKey: publicKeyFromSeed(seed) });
      keys.push({ terminalId, partnerId: p.id, seed: Buffer.from(seed).toString('base64url') });
    }
  }
  for (const [i, c] of DEMO_CARDS.entries()) {
    // R1: the dossier number is not the card number.
    const dossierId = `PR-${campaign.id.slice(0, 4)}-${String(i + 1).padStart(6, '0')}`;
    await ledger.issueCard({ number: c.number, dossierId, holder: c.holder, pinHash: c.pin === null ? null : hashPin(c.pin), at });
    for (const [benefit, amount] of Object.entries(c.benefits) as [Benefit, number][]) {
      await ledger.load({ cardNumber: c.number, benefit, campaign: campaign.id, amount, at });
    }
    if (c.opposed) await ledger.oppose({ cardNumber: c.number, reason: 'lost', at });
  }
  return keys;
}

/** A demo card's chip: its private seed (base64url) stays with the simulators, its public key goes to the ledger. */
export interface DemoChip {
  readonly cardNumber: string;
  readonly seed: string;
}

/**
 * Personalise the demo cards' chips, as the card bureau would: a key pair per card, the public key
 * recorded in the ledger (the gateway checks every NFC sale's card signature with it). The seeds are
 * returned for the simulated cards (`demo-cards.json`); a real chip never gives its private key out.
 */
export async function seedDemoChips(ledger: Ledger, at: number, makeSeed: () => Uint8Array = () => randomBytes(32)): Promise<DemoChip[]> {
  return await ledger.atomically(async () => {
    const chips: DemoChip[] = [];
    for (const c of DEMO_CARDS) {
      const seed = makeSeed();
      await ledger.setCardKey(c.number, publicKeyFromSeed(seed), '2099-12-31', at);
      chips.push({ cardNumber: c.number, seed: Buffer.from(seed).toString('base64url') });
    }
    return chips;
  });
}

/** A card bureau's lookup of the demo chips: the seed of a demo card's chip, undefined for any other card. */
export function chipSeedOf(chips: readonly DemoChip[]): (cardNumber: string) => Uint8Array | undefined {
  const byNumber = new Map(chips.map((c) => [c.cardNumber, c.seed]));
  return (cardNumber) => {
    const seed = byNumber.get(cardNumber);
    return seed === undefined ? undefined : fromB64url(seed, 32, `chip seed of a demo card`);
  };
}

/** The demo chips written at seeding (`demo-cards.json`); KEY_FILE_INVALID if unreadable. */
export function readDemoChips(file: string): DemoChip[] {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as DemoChip[];
  } catch (e) {
    throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${(e as Error).message}`);
  }
}

export function demoCard(holder: string): DemoCard {
  const c = DEMO_CARDS.find((x) => x.holder === holder);
  if (!c) throw new RangeError(`no demo card for ${holder}`);
  return c;
}

/** The demo terminals' keys written at seeding (`demo-terminals.json`); KEY_FILE_INVALID if unreadable. */
export function readDemoTerminals(file: string): DemoTerminalKey[] {
  const keys = terminalKeyList(readKeyFileText(file), file);
  for (const k of keys) {
    if (typeof (k as Partial<DemoTerminalKey>).partnerId !== 'string') throw new PasserelleError('KEY_FILE_INVALID', `${file}: ${k.terminalId} names no partnerId`);
  }
  return keys as DemoTerminalKey[];
}
