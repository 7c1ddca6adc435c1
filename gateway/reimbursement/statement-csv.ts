import { regionDateTime } from '../../common/paris-time.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import type { Unit } from '../../protocol/benefits.ts';
import type { Statement, StatementLine, StatementLineKind, StatementStatus } from './types.ts';

/**
 * Reimbursement statements as a CSV for the Region's accountants, who open it in a French Excel:
 * UTF-8 with a byte order mark (without it Excel reads the file as Windows-1252 and mangles accents),
 * `;` between fields (the comma is the French decimal separator), CRLF line ends, RFC 4180 quoting.
 *
 * One row per statement line, repeating the statement's columns, so that a pivot table or a plain sum
 * of `montant_centimes` gives each statement's total. A statement without lines therefore contributes
 * no row at all: a placeholder row would be a line that does not exist and would break those sums. The
 * header row is always written, even for no statement, so an empty export is still a readable file.
 */

export const STATEMENT_CSV_COLUMNS = [
  'releve', 'partenaire_id', 'partenaire', 'periode_debut', 'periode_fin', 'statut', 'ligne', 'transaction',
  'type', 'corrige', 'date_vente', 'date_enregistrement', 'terminal', 'carte', 'avantage', 'unite',
  'quantite', 'montant_centimes', 'montant_eur', 'regularisation',
] as const;

const BOM = '\uFEFF';
const CRLF = '\r\n';

const KIND_FR: Readonly<Record<StatementLineKind, string>> = { sale: 'vente', cancellation: 'annulation', reversal: 'contre-passation' };
const STATUS_FR: Readonly<Record<StatementStatus, string>> = { ready: 'prêt', held: 'suspendu', paid: 'payé' };
const UNIT_FR: Readonly<Record<Unit, string>> = { cent: 'centime', entry: 'entrée' };

/**
 * A cell is text, or a number already formatted. Only text is guarded against formula injection: a
 * number such as `-3,00` must reach the spreadsheet as a number, not as the string `'-3,00`.
 */
export type Cell = string | { readonly number: string };

/**
 * A spreadsheet runs a cell starting with `=`, `+`, `-` or `@` as a formula (and some read a leading tab
 * or carriage return the same way), so a partner name like `=HYPERLINK(…)` could act on an accountant's
 * machine. A leading apostrophe makes Excel and LibreOffice show such a cell as plain text.
 */
function guardFormula(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

/** RFC 4180: quote a field holding the separator, a quote or a line break, and double its quotes. */
function quote(field: string): string {
  return /[;"\r\n]/.test(field) ? `"${field.replace(/"/g, '""')}"` : field;
}

function renderCell(cell: Cell): string {
  return quote(typeof cell === 'string' ? guardFormula(cell) : cell.number);
}

/** `1250` → `12,50`, `-300` → `-3,00`: by string from integer cents, never through a float. */
export function frenchEuros(cents: number): string {
  const digits = Math.abs(cents).toString().padStart(3, '0');
  return `${cents < 0 ? '-' : ''}${digits.slice(0, -2)},${digits.slice(-2)}`;
}

function fail(statement: Statement, problem: string): never {
  throw new PasserelleError('DATA_INVALID', `statement ${statement.id}: ${problem}`, { statement: statement.id });
}

/** The ledger's numbers are integers; anything else would print as a float and add up wrong in Excel. */
function checkLine(statement: Statement, line: StatementLine): void {
  const numbers = { id: line.id, quantity: line.quantity, amountCents: line.amountCents, saleAt: line.saleAt, recordedAt: line.recordedAt };
  for (const [name, value] of Object.entries(numbers)) {
    if (!Number.isSafeInteger(value)) fail(statement, `line ${line.id}: ${name} is not an integer: ${value}`);
  }
}

/** The CSV must add up to what the SEPA file pays; a statement whose lines disagree is refused. */
function checkTotal(statement: Statement): void {
  const sum = statement.lines.reduce((total, line) => total + BigInt(line.amountCents), 0n);
  if (!Number.isSafeInteger(statement.totalCents) || sum !== BigInt(statement.totalCents)) {
    fail(statement, `totalCents ${statement.totalCents} is not the sum of its lines (${sum})`);
  }
}

function lineRow(statement: Statement, line: StatementLine): Cell[] {
  return [
    statement.id, statement.partnerId, statement.partnerName, statement.periodFrom, statement.periodTo,
    STATUS_FR[statement.status], { number: String(line.id) }, line.txnId, KIND_FR[line.kind], line.corrects ?? '',
    regionDateTime(line.saleAt), regionDateTime(line.recordedAt), line.terminalId ?? '', line.cardMasked,
    line.benefit, UNIT_FR[line.unit], { number: String(line.quantity) }, { number: String(line.amountCents) },
    { number: frenchEuros(line.amountCents) }, line.adjustment ? 'oui' : 'non',
  ];
}

function statementRows(statement: Statement): Cell[][] {
  statement.lines.forEach((line) => checkLine(statement, line));
  checkTotal(statement);
  return statement.lines.map((line) => lineRow(statement, line));
}

/**
 * The CSV of `statements`, one row per line, in the order given. Throws DATA_INVALID, naming the
 * statement, when a line's numbers are not integers or the lines do not add up to the total.
 */
export function statementCsv(statements: readonly Statement[]): string {
  return csvDocument(STATEMENT_CSV_COLUMNS, statements.flatMap(statementRows));
}

/** Any table in the same form (BOM, `;`, CRLF, quoting, formulas guarded): the header, then the rows. */
export function csvDocument(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return BOM + [header, ...rows].map((row) => row.map(renderCell).join(';') + CRLF).join('');
}
