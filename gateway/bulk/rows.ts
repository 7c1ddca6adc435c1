import { maskCardNumber, isValidCardNumber } from '../../protocol/card.ts';
import { benefitUnit, type Benefit } from '../../protocol/benefits.ts';
import type { BadRow, CardLoadRow } from './types.ts';

/**
 * The data rows of the card load file (`cards-csv.ts` describes the format): where each column is, as the
 * header says, and the checks of one row's cells, with the problems reported by line.
 */

const HOLDER_MAX_CHARS = 120;
// Compiled once: every row goes through these.
const CARD_DIGITS = /^[0-9]{16}$/;
const DOSSIER_ID = /^[A-Za-z0-9-]{1,40}$/;
const CAMPAIGN = /^([0-9]{4})-([0-9]{4})$/;
const DIGITS = /^[0-9]+$/;
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export interface BenefitColumn {
  readonly index: number;
  readonly benefit: Benefit;
  readonly access: boolean;
  readonly max: number;
}

/** Where each column is, worked out once from the header so that rows are read by index. */
export interface Layout {
  readonly width: number;
  readonly card: number;
  readonly dossier: number;
  readonly holder: number;
  readonly campaign: number;
  readonly benefits: readonly BenefitColumn[];
}

export class ErrorSink {
  readonly errors: BadRow[] = [];
  count = 0;

  constructor(private readonly max: number) {}

  add(line: number, message: string, fr: string): void {
    this.count++;
    if (this.errors.length < this.max) this.errors.push({ line, message, fr });
  }
}

// ---------------------------------------------------------------------------------------------------------
// One data row.

/** A benefit cell that loads nothing: empty, or `0` for an access. */
const NOT_LOADED = -1;

export class RowChecker {
  // Both maps hold one entry per card in the file: some 370,000 short strings, which is acceptable.
  private readonly cardLines = new Map<string, number>();
  private readonly dossierCards = new Map<string, string>();
  // Nearly every row carries the same campaign: checking it once is enough.
  private lastCampaign = '';

  constructor(
    private readonly layout: Layout,
    private readonly sink: ErrorSink,
  ) {}

  /** The row to load, or undefined after reporting each of its problems. */
  check(fields: readonly string[], line: number): CardLoadRow | undefined {
    const errorsBefore = this.sink.count;
    if (fields.length !== this.layout.width) {
      this.sink.add(line, `expected ${this.layout.width} fields as in the header, found ${fields.length}`, `${fields.length} champs au lieu de ${this.layout.width} comme dans l’en-tête`);
      return undefined;
    }
    const { card, dossier, holder: holderAt, campaign: campaignAt } = this.layout;
    const cardNumber = this.cardNumber(fields[card] ?? '', line);
    const dossierId = this.dossierId(fields[dossier] ?? '', line);
    this.checkUnique(cardNumber, dossierId, line);
    const holder = this.holder(fields[holderAt] ?? '', line);
    const campaign = this.campaign(fields[campaignAt] ?? '', line);
    const loads = this.loads(fields, line);
    if (this.sink.count !== errorsBefore || cardNumber === undefined || dossierId === undefined) return undefined;
    if (holder === undefined || campaign === undefined || loads === undefined) return undefined;
    return { line, cardNumber, dossierId, holder, campaign, loads };
  }

  private cardNumber(value: string, line: number): string | undefined {
    if (!CARD_DIGITS.test(value)) return this.problem(line, 'card_number must be 16 digits', 'card_number : le numéro de carte compte 16 chiffres');
    if (!isValidCardNumber(value)) return this.problem(line, `card_number ${maskCardNumber(value)}: wrong check digit (mistyped number?)`, `card_number ${maskCardNumber(value)} : chiffre de contrôle faux (numéro mal recopié ?)`);
    return value;
  }

  private dossierId(value: string, line: number): string | undefined {
    if (DOSSIER_ID.test(value)) return value;
    return this.problem(line, `dossier_id ${quoted(value)} must be 1 to 40 letters, digits or hyphens`, `dossier_id ${quoted(value)} : 1 à 40 lettres, chiffres ou tirets`);
  }

  private holder(value: string, line: number): string | undefined {
    const holder = value.trim();
    if (holder === '') return this.problem(line, 'holder is empty', 'holder : le nom du jeune est vide');
    if (CONTROL_CHARS.test(value)) return this.problem(line, 'holder contains a control character (a line break, a tab…)', 'holder : le nom contient un caractère de contrôle (saut de ligne, tabulation…)');
    if (holder.includes('\uFFFD')) return this.problem(line, 'holder is not valid UTF-8 (was the file saved as Windows-1252?)', 'holder : le nom n’est pas en UTF-8 (fichier enregistré en Windows-1252 ?)');
    // Counted in code points, as a person reads them; the cheap UTF-16 length settles almost every name.
    if (holder.length > HOLDER_MAX_CHARS && [...holder].length > HOLDER_MAX_CHARS) {
      return this.problem(line, `holder is longer than ${HOLDER_MAX_CHARS} characters`, `holder : le nom dépasse ${HOLDER_MAX_CHARS} caractères`);
    }
    return holder;
  }

  private campaign(value: string, line: number): string | undefined {
    if (value === this.lastCampaign) return value;
    const years = CAMPAIGN.exec(value);
    if (years === null || Number(years[2]) !== Number(years[1]) + 1) {
      return this.problem(line, `campaign ${quoted(value)} must be two consecutive years, like 2022-2023`, `campaign ${quoted(value)} : deux années qui se suivent, comme 2022-2023`);
    }
    this.lastCampaign = value;
    return value;
  }

  private loads(fields: readonly string[], line: number): CardLoadRow['loads'] | undefined {
    const loads: { benefit: Benefit; amount: number }[] = [];
    let valid = true;
    for (const column of this.layout.benefits) {
      const amount = readCell(column, fields[column.index] ?? '');
      if (typeof amount !== 'number') {
        this.sink.add(line, `${column.benefit}: ${amount.en}`, `${column.benefit} : ${amount.fr}`);
        valid = false;
      } else if (amount !== NOT_LOADED) {
        loads.push({ benefit: column.benefit, amount });
      }
    }
    if (valid && loads.length === 0) this.sink.add(line, 'no benefit loaded: every benefit cell is empty (or 0 for an access)', 'aucun avantage chargé : toutes les cases d’avantage sont vides (ou à 0 pour un accès)');
    return valid && loads.length > 0 ? loads : undefined;
  }

  /** Registers the card and the dossier even when the row has other problems, so repeats are still caught. */
  private checkUnique(cardNumber: string | undefined, dossierId: string | undefined, line: number): void {
    if (cardNumber === undefined) return;
    const firstLine = this.cardLines.get(cardNumber);
    if (firstLine !== undefined) this.sink.add(line, `card_number ${maskCardNumber(cardNumber)} is already on line ${firstLine}`, `card_number ${maskCardNumber(cardNumber)} : déjà à la ligne ${firstLine}`);
    else this.cardLines.set(cardNumber, line);
    if (dossierId === undefined) return;
    const other = this.dossierCards.get(dossierId);
    if (other === undefined) this.dossierCards.set(dossierId, cardNumber);
    else if (other !== cardNumber) {
      this.sink.add(line, `dossier_id ${quoted(dossierId)} already has card ${maskCardNumber(other)} on line ${this.cardLines.get(other)}`, `dossier_id ${quoted(dossierId)} : a déjà la carte ${maskCardNumber(other)} à la ligne ${this.cardLines.get(other)}`);
    }
  }

  private problem(line: number, message: string, fr: string): undefined {
    this.sink.add(line, message, fr);
    return undefined;
  }
}

/** The amount a benefit cell loads, `NOT_LOADED`, or what is wrong with it (in English and in French). */
function readCell(column: BenefitColumn, cell: string): number | { en: string; fr: string } {
  if (cell === '') return NOT_LOADED;
  if (column.access) {
    if (cell === '1') return 0;
    if (cell === '0') return NOT_LOADED;
    return { en: `${quoted(cell)} must be 1 (access granted), 0 or empty (not granted)`, fr: `${quoted(cell)} : 1 (accès accordé), 0 ou vide (pas d’accès)` };
  }
  if (!DIGITS.test(cell)) return { en: `${quoted(cell)} is not a whole number (digits only: no sign, decimal point or spaces)`, fr: `${quoted(cell)} n’est pas un nombre entier (des chiffres seulement : ni signe, ni virgule, ni espace)` };
  const amount = Number(cell);
  if (amount === 0) return { en: 'must be at least 1 (leave the cell empty to load nothing)', fr: 'au moins 1 (laissez la case vide pour ne rien charger)' };
  if (amount > column.max) return { en: `${quoted(cell)} is over the most one load may give (${column.max} ${unitName(column.benefit)})`, fr: `${quoted(cell)} dépasse le plus qu’un chargement peut donner (${column.max} ${benefitUnit(column.benefit) === 'cent' ? 'centimes' : 'entrées'})` };
  return amount;
}

function unitName(benefit: Benefit): string {
  return benefitUnit(benefit) === 'cent' ? 'cents' : 'entries';
}

/** A cell echoed in a message, cut short so a runaway field cannot bloat the report. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

