import type { Benefit } from '../../protocol/benefits.ts';

/**
 * Bulk card loading (the Region's start-of-year file): one CSV row per card, with the card's benefits for
 * one campaign as columns. See `cards-csv.ts` for the format.
 */

export interface CardLoadRow {
  /** 1-based line number in the file (the header is line 1), for error messages. */
  readonly line: number;
  /** 16 digits, Luhn-checked. */
  readonly cardNumber: string;
  /** The youth's dossier id (R1: not the card number); a replacement card keeps the dossier. */
  readonly dossierId: string;
  readonly holder: string;
  /** Campaign id, e.g. `2022-2023`. */
  readonly campaign: string;
  /** At least one; amounts in the benefit's unit (cents; entries for cinema; 0 for an access benefit). */
  readonly loads: readonly { readonly benefit: Benefit; readonly amount: number }[];
}

export interface BadRow {
  readonly line: number;
  /** What is wrong, in English (the API, the command line, the logs)… */
  readonly message: string;
  /** …and in French, for the Region's agent at the console. */
  readonly fr: string;
}
