import { PasserelleError } from '../../protocol/errors.ts';

/**
 * Bank identifiers for paying partners: IBAN (ISO 13616) and BIC (ISO 9362). A mistyped IBAN must be
 * caught here, when a partner's account is recorded or a SEPA file is built, not weeks later when the
 * bank bounces the transfer.
 */

/**
 * IBAN length per country, from the SWIFT IBAN registry, for every country of the SEPA schemes
 * (including the recent members Albania, Moldova, Montenegro and North Macedonia). French
 * overseas departments and territories use `FR` IBANs. A country outside this table is refused: the
 * Region only pays partners through SEPA, so an IBAN from elsewhere is a mistake either way.
 */
const IBAN_LENGTHS: ReadonlyMap<string, number> = new Map([
  ['AD', 24], ['AL', 28], ['AT', 20], ['BE', 16], ['BG', 22], ['CH', 21], ['CY', 28], ['CZ', 24],
  ['DE', 22], ['DK', 18], ['EE', 20], ['ES', 24], ['FI', 18], ['FR', 27], ['GB', 22], ['GI', 23],
  ['GR', 27], ['HR', 21], ['HU', 28], ['IE', 22], ['IS', 26], ['IT', 27], ['LI', 21], ['LT', 20],
  ['LU', 20], ['LV', 21], ['MC', 27], ['MD', 24], ['ME', 22], ['MK', 19], ['MT', 31], ['NL', 18],
  ['NO', 15], ['PL', 28], ['PT', 25], ['RO', 24], ['SE', 24], ['SI', 19], ['SK', 24], ['SM', 27],
  ['VA', 22],
]);

const BIC_PATTERN = /^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$/;

/**
 * Why `iban` (expected in canonical form: uppercase, no spaces) is not a valid IBAN, or `null` when it
 * is. Exported so that callers can put the reason in their own error message, next to a field name.
 */
export function ibanProblem(iban: string): string | null {
  if (!/^[A-Z]{2}[0-9]{2}[A-Z0-9]+$/.test(iban)) {
    return 'not of the form CCkk then letters and digits (two-letter country, two check digits), uppercase, without spaces';
  }
  const country = iban.slice(0, 2);
  const expected = IBAN_LENGTHS.get(country);
  if (expected === undefined) return `country ${country} is not in the SEPA area`;
  if (iban.length !== expected) return `${iban.length} characters where a ${country} IBAN has ${expected}`;
  // 00, 01 and 99 are never issued: 99 ≡ 02 and 00 ≡ 97 (mod 97), so mod-97 alone would let them pass.
  const check = iban.slice(2, 4);
  if (check === '00' || check === '01' || check === '99') return `check digits ${check} are never valid`;
  if (ibanMod97(iban) !== 1) return 'check digits do not match (mod-97 check failed)';
  return null;
}

/**
 * ISO 13616 check: move the first four characters to the end, read letters as 10..35, and take the
 * whole number mod 97, one digit at a time so that it never leaves safe integers.
 */
function ibanMod97(iban: string): number {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const char of rearranged) {
    const code = char.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder;
}

/** True for a valid IBAN in canonical form (uppercase, no spaces): `FR7630006000011234567890189`. */
export function isValidIban(iban: string): boolean {
  return ibanProblem(iban) === null;
}

/**
 * The canonical form of an IBAN as people write it (`fr76 3000 6000 …`, spaces or no-break spaces
 * from a PDF), checked. Throws DATA_INVALID saying what is wrong, so a typo is fixed at the source.
 */
export function normalizeIban(iban: string): string {
  const canonical = iban.replace(/\s/g, '').toUpperCase();
  const problem = ibanProblem(canonical);
  if (problem !== null) {
    throw new PasserelleError('DATA_INVALID', `invalid IBAN ${JSON.stringify(iban)}: ${problem}`, { iban });
  }
  return canonical;
}

/**
 * True for a BIC (ISO 9362) as written in SEPA files: 4-letter bank code, 2-letter country, 2-character
 * location, optional 3-character branch; uppercase, no spaces. `BNPAFRPP`, `BNPAFRPPXXX`.
 */
export function isValidBic(bic: string): boolean {
  return BIC_PATTERN.test(bic);
}
