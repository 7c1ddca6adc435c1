import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { parse, type CsvError, type Info, type Parser } from 'csv-parse';
import { BENEFIT_CODES, isAccessBenefit, isBenefit, maxLoad, type Benefit } from '../../protocol/benefits.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import type { BadRow, CardLoadRow } from './types.ts';
import { ErrorSink, RowChecker, type BenefitColumn, type Layout } from './rows.ts';

/**
 * The card load file: the Region's start-of-year CSV, one row per card, and a streaming parser for it.
 *
 * Encoding and syntax
 *  - UTF-8. A leading byte order mark (as Excel writes) is ignored. A holder name holding U+FFFD, the mark
 *    a decoder leaves for bytes that are not UTF-8, is refused: the file was most likely saved as Windows-1252.
 *  - RFC 4180: fields containing the separator, a quote or a line break are quoted with `"`, and a quote
 *    inside a quoted field is doubled. Lines end with LF or CRLF; line numbers count LF characters, so a
 *    quoted field spanning two lines moves every later row down one line, as a text editor shows it.
 *    A stray quote that does not open a field (`Jean "Jojo"`, or text after a closing quote) is kept as an
 *    ordinary character, as spreadsheets read it; the cell checks below then decide whether the value is
 *    acceptable (a holder name may hold quotes, an amount may not).
 *  - The separator is `,` or `;` (French spreadsheets write `;`), taken from the header line: whichever of
 *    the two it holds more of, `,` on a tie.
 *  - Blank lines are skipped (they still count in line numbers).
 *
 * Columns
 *  - A header row is required. Names are matched exactly after trimming surrounding spaces, in any order.
 *  - Required: `card_number`, `dossier_id`, `holder`, `campaign`.
 *  - Then one column per benefit loaded, named by its code in `protocol/benefits.ts` (`LEISURE_BOOKS`,
 *    `CINEMA`, `MUSEUM`…); at least one. An unknown or a duplicated column name, a missing required column
 *    or an empty file throws `DATA_INVALID` at once, naming the columns: nothing in the file can be trusted.
 *
 * Cells (each problem is reported with the 1-based line where its row starts; the header is line 1)
 *  - `card_number`: 16 digits, the last a valid Luhn check digit. A card may appear on one row only.
 *  - `dossier_id`: 1 to 40 of `A-Z a-z 0-9 -`. One dossier may not have two different cards in one file.
 *  - `holder`: not blank, at most 120 characters, no control characters; surrounding spaces are dropped.
 *  - `campaign`: `YYYY-YYYY`, the second year the first plus one (`2022-2023`).
 *  - A balance benefit cell (cents, or entries for `CINEMA`): empty for "not loaded", or a whole number
 *    from 1 to the benefit's `maxLoad`, digits only: no sign, decimal point, spaces or thousands separator,
 *    so that `15,00` or `1 500` is refused instead of being guessed at.
 *  - An access benefit cell (`MUSEUM`): `1` grants the access (a load of amount 0); `0` or empty does not.
 *  - Every row loads at least one benefit. Every row has exactly as many fields as the header.
 *
 * Card numbers in messages are masked, like everywhere else in logs; holder names are never echoed.
 *
 * The parser only reports: it hands valid rows over in batches and returns every problem found, and the
 * caller decides (it loads nothing from a file with errors). A quote that is never closed (or a row over
 * 64 KiB, which is what an unclosed quote produces) leaves the rest of the file unreadable: it is reported
 * like the other problems, at the line where its row starts, and parsing stops there.
 */

export interface ParseOptions {
  /** Keep at most this many errors (default 100); later ones are still counted in `errorCount`. */
  readonly maxErrors?: number;
  /** Rows per `onBatch` call (default 5000); the last batch may be smaller. */
  readonly batchRows?: number;
  /** Called as the file is read, with the number of bytes read so far (for a progress bar). */
  readonly onProgress?: (bytesRead: number) => void;
}

export interface ParseResult {
  /** Data rows read, valid or not (the header and blank lines are not rows). */
  readonly rows: number;
  /** The first `maxErrors` problems, in file order. */
  readonly errors: readonly BadRow[];
  /** Every problem found, including those beyond `maxErrors`. */
  readonly errorCount: number;
}

export const REQUIRED_COLUMNS = ['card_number', 'dossier_id', 'holder', 'campaign'] as const;

const DEFAULT_MAX_ERRORS = 100;
const DEFAULT_BATCH_ROWS = 5000;
// A real row is a few hundred bytes; the limit only stops an unclosed quote from swallowing the file into memory.
const MAX_RECORD_BYTES = 64 * 1024;
// The header line is looked for in the first bytes only, so a file without line breaks cannot fill memory.
const SNIFF_LIMIT_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const LF = 0x0a;
const CR = 0x0d;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Streams the file, validates every row, hands valid rows to `onBatch` in batches. */
export async function parseCardsCsv(
  input: NodeJS.ReadableStream | string,
  onBatch: (rows: readonly CardLoadRow[]) => void,
  opts: ParseOptions = {},
): Promise<ParseResult> {
  // First, so that bad options throw before a file is opened.
  const reader = new CardsCsvReader(onBatch, opts);
  const source = typeof input === 'string' ? createReadStream(input, { highWaterMark: READ_CHUNK_BYTES }) : input;
  const chunks = byteChunks(source, opts.onProgress)[Symbol.asyncIterator]();
  const head = await readHead(chunks);
  const parser: Parser = parse({
    delimiter: head.delimiter,
    // Fixed rather than guessed from the first line, so a file mixing LF and CRLF still splits right.
    record_delimiter: ['\r\n', '\n'],
    relax_column_count: true,
    relax_quotes: true,
    // Blank lines come through as records so that `CardsCsvReader` can count every line itself.
    skip_empty_lines: false,
    skip_records_with_error: true,
    on_skip: (err): undefined => reader.skipped(err, parser.info),
    max_record_size: MAX_RECORD_BYTES,
  });
  await pipeline(reader.feed(head.bytes, chunks), parser, (records: AsyncIterable<string[]>) => reader.consume(records));
  return reader.finish();
}

/** The input as Buffers (a caller's stream may have an encoding set), reporting progress as it goes. */
async function* byteChunks(source: NodeJS.ReadableStream, onProgress?: (bytesRead: number) => void): AsyncGenerator<Buffer> {
  let bytesRead = 0;
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    bytesRead += bytes.length;
    onProgress?.(bytesRead);
    yield bytes;
  }
}

// ---------------------------------------------------------------------------------------------------------
// The head of the file: BOM and separator, decided before csv-parse is created since it needs the separator.

interface Head {
  /** The bytes read so far, without the BOM. */
  readonly bytes: Buffer;
  readonly delimiter: ',' | ';';
}

async function readHead(chunks: AsyncIterator<Buffer>): Promise<Head> {
  let read: Buffer = Buffer.alloc(0);
  let ended = false;
  while (read.length < SNIFF_LIMIT_BYTES && headerLineEnd(withoutBom(read)) === -1) {
    const next = await chunks.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    read = read.length === 0 ? next.value : Buffer.concat([read, next.value]);
  }
  const bytes = withoutBom(read);
  const start = firstNonBlank(bytes);
  if (ended && start === bytes.length) throw new PasserelleError('DATA_INVALID', 'card load file is empty: a header row is required');
  const end = headerLineEnd(bytes);
  return { bytes, delimiter: detectDelimiter(bytes.subarray(start, end === -1 ? bytes.length : end)) };
}

function withoutBom(bytes: Buffer): Buffer {
  return bytes.subarray(0, 3).equals(UTF8_BOM) ? bytes.subarray(3) : bytes;
}

/** The offset of the line feed ending the first non-blank line, or -1 if it has not been read yet. */
function headerLineEnd(bytes: Buffer): number {
  return bytes.indexOf(LF, firstNonBlank(bytes));
}

function firstNonBlank(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length && (bytes[i] === LF || bytes[i] === CR)) i++;
  return i;
}

function detectDelimiter(headerLine: Buffer): ',' | ';' {
  let commas = 0;
  let semicolons = 0;
  for (const byte of headerLine) {
    if (byte === 0x2c) commas++;
    else if (byte === 0x3b) semicolons++;
  }
  return semicolons > commas ? ';' : ',';
}

// ---------------------------------------------------------------------------------------------------------
// The header row.


function readHeader(fields: readonly string[]): Layout {
  const names = fields.map((f) => f.trim());
  const index = new Map<string, number>();
  const duplicated = new Set<string>();
  for (const [i, name] of names.entries()) {
    if (index.has(name)) duplicated.add(name);
    else index.set(name, i);
  }
  const required: readonly string[] = REQUIRED_COLUMNS;
  const missing = REQUIRED_COLUMNS.filter((n) => !index.has(n));
  const unknown = [...index.keys()].filter((n) => !required.includes(n) && !isBenefit(n));
  const benefits = names.flatMap((name, i) => (isBenefit(name) ? [benefitColumn(name, i)] : []));
  checkHeader({ missing, unknown, duplicated: [...duplicated], noBenefit: benefits.length === 0 });
  const at = (name: (typeof REQUIRED_COLUMNS)[number]) => index.get(name) ?? -1;
  return { width: names.length, card: at('card_number'), dossier: at('dossier_id'), holder: at('holder'), campaign: at('campaign'), benefits };
}

interface HeaderProblems {
  readonly missing: readonly string[];
  readonly unknown: readonly string[];
  readonly duplicated: readonly string[];
  readonly noBenefit: boolean;
}

/** Throws one error naming every problem in the header, so the operator fixes the file in one go. */
function checkHeader(p: HeaderProblems): void {
  const list = (columns: readonly string[]) => columns.map((c) => JSON.stringify(c)).join(', ');
  const problems = [
    p.missing.length > 0 ? `missing required column(s) ${list(p.missing)}` : '',
    p.unknown.length > 0 ? `unknown column(s) ${list(p.unknown)} (benefit columns are named by code: ${BENEFIT_CODES.join(', ')})` : '',
    p.duplicated.length > 0 ? `duplicated column(s) ${list(p.duplicated)}` : '',
    p.noBenefit ? 'no benefit column' : '',
  ].filter((s) => s !== '');
  if (problems.length === 0) return;
  const { missing, unknown, duplicated } = p;
  throw new PasserelleError('DATA_INVALID', `card load file header: ${problems.join('; ')}`, { missing, unknown, duplicated });
}

function benefitColumn(benefit: Benefit, index: number): BenefitColumn {
  return { index, benefit, access: isAccessBenefit(benefit), max: maxLoad(benefit) };
}

// ---------------------------------------------------------------------------------------------------------
// Reading the whole file: csv-parse records in, batches and errors out.

/** Line feeds inside quoted fields: the record started that many lines above the one it ends on. */
function lineFeedsIn(fields: readonly string[]): number {
  let count = 0;
  for (const field of fields) {
    for (let i = field.indexOf('\n'); i !== -1; i = field.indexOf('\n', i + 1)) count++;
  }
  return count;
}

function isBlank(fields: readonly string[]): boolean {
  return fields.length === 1 && fields[0]!.trim() === '';
}


/** The record csv-parse gave up on: a quote never closed, or a row too long. Nothing after it can be read. */
interface BrokenRecord {
  /** Records csv-parse had emitted before it (the header included); any it emits later are garbage. */
  readonly after: number;
  readonly message: { readonly en: string; readonly fr: string };
}

/**
 * Follows the file record by record. Line numbers are counted here rather than taken from csv-parse: its
 * `info.lines` gives the line where a record ends (not where it starts) and counts the CR and the LF of a
 * quoted CRLF as two lines, and asking for `info` on every record costs more than the parsing itself. A
 * record takes one line plus one per line feed inside its quoted fields; blank lines are one-field records.
 */
class CardsCsvReader {
  private readonly sink: ErrorSink;
  private readonly batchRows: number;
  private checker: RowChecker | undefined;
  private batch: CardLoadRow[] = [];
  private rows = 0;
  private nextLine = 1;
  // Records csv-parse has emitted so far, blank ones and the header included, as in its `info.records`.
  private records = 0;
  private broken: BrokenRecord | undefined;

  constructor(
    private readonly onBatch: (rows: readonly CardLoadRow[]) => void,
    opts: ParseOptions,
  ) {
    this.sink = new ErrorSink(positiveInteger(opts.maxErrors ?? DEFAULT_MAX_ERRORS, 'maxErrors', 0));
    this.batchRows = positiveInteger(opts.batchRows ?? DEFAULT_BATCH_ROWS, 'batchRows', 1);
  }

  /** The bytes for csv-parse; stops reading once a record is broken, since nothing after it can be read. */
  async *feed(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
    try {
      yield head;
      while (this.broken === undefined) {
        const next = await rest.next();
        if (next.done === true) return;
        yield next.value;
      }
    } finally {
      // Closes the caller's stream (or our file) when reading stops early, on success or failure.
      await rest.return?.();
    }
  }

  async consume(records: AsyncIterable<string[]>): Promise<void> {
    for await (const record of records) {
      this.records++;
      // Not `break`: leaving the loop would destroy csv-parse and fail the pipeline; the feed has stopped anyway.
      if (this.broken !== undefined && this.records > this.broken.after) continue;
      const line = this.nextLine;
      this.nextLine += 1 + lineFeedsIn(record);
      if (isBlank(record)) continue;
      if (this.checker === undefined) this.checker = new RowChecker(readHeader(record), this.sink);
      else this.row(record, line);
    }
  }

  /**
   * csv-parse's `on_skip`. It runs inside the parser, ahead of `consume`, so the problem is only noted here;
   * `finish` reports it, after every record before it, keeping the errors in file order.
   */
  skipped(err: CsvError | undefined, at: Info): undefined {
    if (this.broken === undefined && err !== undefined) this.broken = { after: at.records, message: brokenRecordProblem(err) };
    return undefined;
  }

  finish(): ParseResult {
    this.reportBroken();
    if (this.checker === undefined) throw new PasserelleError('DATA_INVALID', 'card load file is empty: a header row is required');
    if (this.batch.length > 0) this.onBatch(this.batch);
    this.batch = [];
    return { rows: this.rows, errors: this.sink.errors, errorCount: this.sink.count };
  }

  private row(fields: readonly string[], line: number): void {
    this.rows++;
    const row = this.checker?.check(fields, line);
    if (row === undefined) return;
    this.batch.push(row);
    if (this.batch.length < this.batchRows) return;
    const full = this.batch;
    this.batch = [];
    this.onBatch(full);
  }

  private reportBroken(): void {
    if (this.broken === undefined) return;
    // Every record before the broken one has been counted by now, so it starts on the next line.
    const line = this.nextLine;
    if (this.checker === undefined) throw new PasserelleError('DATA_INVALID', `card load file header (line ${line}): ${this.broken.message.en}`);
    this.rows++;
    this.sink.add(line, this.broken.message.en, this.broken.message.fr);
  }
}

function positiveInteger(value: number, name: string, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`parseCardsCsv: ${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

function brokenRecordProblem(err: CsvError): { en: string; fr: string } {
  const [what, quoi] =
    err.code === 'CSV_QUOTE_NOT_CLOSED'
      ? ['a quoted field is never closed', 'un guillemet ouvert n’est jamais fermé']
      : err.code === 'CSV_MAX_RECORD_SIZE'
        ? [`a row longer than ${MAX_RECORD_BYTES / 1024} KiB (a quote never closed?)`, `une ligne de plus de ${MAX_RECORD_BYTES / 1024} Kio (un guillemet jamais fermé ?)`]
        : [`unreadable CSV (${err.message})`, `CSV illisible (${err.message})`];
  return { en: `${what}; parsing stopped here, the rest of the file was not checked`, fr: `${quoi} ; la lecture s’arrête ici, le reste du fichier n’a pas été vérifié` };
}
