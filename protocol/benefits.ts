/**
 * Benefits (avantages) and partner types, from `domain.md` (campaign 2022/2023, source 003).
 * Each benefit is its own wallet; nothing moves between benefits.
 */

export const BENEFITS = {
  SCHOOL_BOOKS: { unit: 'cent', fr: 'Manuels scolaires', maxLoad: 10000 },
  PRO_EQUIPMENT: { unit: 'cent', fr: 'Équipement professionnel', maxLoad: 50000 },
  SPORT: { unit: 'cent', fr: 'Licence sportive', maxLoad: 6000 },
  CINEMA: { unit: 'entry', fr: 'Cinéma', maxLoad: 5 },
  SHOWS: { unit: 'cent', fr: 'Spectacles', maxLoad: 3000 },
  LEISURE_BOOKS: { unit: 'cent', fr: 'Livres loisirs', maxLoad: 3500 },
  // An access, not an amount: free, unlimited entry; each visit is still recorded and counted.
  MUSEUM: { unit: 'entry', fr: 'Musées et expositions', maxLoad: 0 },
  FIRST_AID: { unit: 'cent', fr: 'Premiers secours (PSC1)', maxLoad: 6000 },
  DRIVING_LICENCE: { unit: 'cent', fr: 'Permis de conduire', maxLoad: 100000 },
  BAFA: { unit: 'cent', fr: 'BAFA / BAFD', maxLoad: 20000 },
} as const satisfies Record<string, { unit: Unit; fr: string; maxLoad: number }>;

/**
 * How the Region and the source documents group the benefits (003: "manuels scolaires et aide à
 * l'équipement professionnel" against "culture, sport et santé"; "Droits et devoirs"): R5 suspends all or
 * part of a youth's benefits, and a part is usually one of these.
 */
export const BENEFIT_GROUPS = {
  school: { fr: 'Scolaire', benefits: ['SCHOOL_BOOKS', 'PRO_EQUIPMENT'] },
  culture: { fr: 'Culture', benefits: ['SHOWS', 'CINEMA', 'LEISURE_BOOKS', 'MUSEUM'] },
  sport: { fr: 'Sport', benefits: ['SPORT'] },
  health: { fr: 'Santé', benefits: ['FIRST_AID'] },
  citizenship: { fr: 'Droits et devoirs', benefits: ['DRIVING_LICENCE', 'BAFA'] },
} as const satisfies Record<string, { fr: string; benefits: readonly Benefit[] }>;

export type BenefitGroup = keyof typeof BENEFIT_GROUPS;
export const BENEFIT_GROUP_CODES = Object.keys(BENEFIT_GROUPS) as BenefitGroup[];

/** The youth pays 1 € at the counter for each cinema entry taken from the benefit (source 003). */
export const CINEMA_COUNTER_CENTS = 100;

/** A wallet counts either money in cents or a number of entries (cinema, museums). */
export type Unit = 'cent' | 'entry';
export type Benefit = keyof typeof BENEFITS;
export const BENEFIT_CODES = Object.keys(BENEFITS) as Benefit[];

export function isBenefit(value: string): value is Benefit {
  return Object.hasOwn(BENEFITS, value);
}

export function benefitUnit(benefit: Benefit): Unit {
  return BENEFITS[benefit].unit;
}

/**
 * The most one load may put in a wallet, in the benefit's unit: the highest value `domain.md` gives
 * (source 003), so a mistyped amount in a load file is refused instead of handed out.
 */
export function maxLoad(benefit: Benefit): number {
  return BENEFITS[benefit].maxLoad;
}

/** An access benefit (museums) has no balance: loading it grants free, unlimited entry for its window. */
export function isAccessBenefit(benefit: Benefit): boolean {
  return BENEFITS[benefit].maxLoad === 0;
}

/**
 * R10: a partner debits only the benefit(s) of its partnership type (source 000). A bookshop partners
 * for both kinds of books; a parents' association only for school books.
 */
export const PARTNER_TYPES = {
  bookshop: { fr: 'Librairie', benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'] },
  parents_association: { fr: "Association de parents d'élèves", benefits: ['SCHOOL_BOOKS'] },
  equipment_shop: { fr: "Magasin d'équipement professionnel", benefits: ['PRO_EQUIPMENT'] },
  sports_club: { fr: 'Club sportif', benefits: ['SPORT'] },
  cinema: { fr: 'Cinéma', benefits: ['CINEMA'] },
  venue: { fr: 'Salle de spectacle, festival', benefits: ['SHOWS'] },
  museum: { fr: 'Musée', benefits: ['MUSEUM'] },
  training_body: { fr: 'Organisme de formation agréé', benefits: ['FIRST_AID', 'BAFA'] },
  driving_school: { fr: 'Auto-école', benefits: ['DRIVING_LICENCE'] },
} as const satisfies Record<string, { fr: string; benefits: readonly Benefit[] }>;

export type PartnerType = keyof typeof PARTNER_TYPES;
export const PARTNER_TYPE_CODES = Object.keys(PARTNER_TYPES) as PartnerType[];

export function isPartnerType(value: string): value is PartnerType {
  return Object.hasOwn(PARTNER_TYPES, value);
}

export function partnerMayDebit(type: PartnerType, benefit: Benefit): boolean {
  return (PARTNER_TYPES[type].benefits as readonly Benefit[]).includes(benefit);
}
