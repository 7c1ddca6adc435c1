import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { writeCardsCsv } from '../../bench/make-cards-csv.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { isPasserelleError } from '../../protocol/errors.ts';
import { parseCardsCsv, type ParseOptions, type ParseResult } from './cards-csv.ts';
import type { CardLoadRow } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'passerelle-cards-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEADER = ['card_number', 'dossier_id', 'holder', 'campaign', 'LEISURE_BOOKS', 'CINEMA', 'MUSEUM', 'SPORT'];

function card(i: number): string {
  return cardNumberFrom(String(825_000_000_000_000 + i));
}

/** The same card with its check digit changed: 16 digits, but a wrong Luhn digit. */
function mistyped(i: number): string {
  const good = card(i);
  return good.slice(0, 15) + String((Number(good[15]) + 1) % 10);
}

type Cells = Partial<Record<string, string>>;

/** The fields of a valid row for card `i`, in `HEADER` order, with some cells replaced. */
function row(i: number, over: Cells = {}): string[] {
  const base: Record<string, string> = { card_number: card(i), dossier_id: `D-${i}`, holder: `Holder ${i}`, campaign: '2022-2023', LEISURE_BOOKS: '1500', CINEMA: '5', MUSEUM: '1', SPORT: '' };
  return HEADER.map((name) => over[name] ?? base[name]!);
}

interface Layout {
  readonly sep?: ',' | ';';
  readonly eol?: '\n' | '\r\n';
}

function csv(rows: readonly (readonly string[])[], { sep = ',', eol = '\n' }: Layout = {}): string {
  const field = (v: string) => (v.includes(sep) || /["\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  return rows.map((r) => r.map(field).join(sep) + eol).join('');
}

interface Parsed {
  readonly result: ParseResult;
  readonly rows: CardLoadRow[];
  readonly batches: number[];
}

/** Parses `text` fed in chunks of `chunkBytes`, so that boundaries fall inside BOMs, quotes and lines. */
async function parseText(text: string | Buffer, opts: ParseOptions = {}, chunkBytes = 7): Promise<Parsed> {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkBytes) chunks.push(bytes.subarray(i, i + chunkBytes));
  const rows: CardLoadRow[] = [];
  const batches: number[] = [];
  const result = await parseCardsCsv(
    Readable.from(chunks),
    (batch) => {
      batches.push(batch.length);
      rows.push(...batch);
    },
    opts,
  );
  return { result, rows, batches };
}

async function headerError(text: string): Promise<{ code: string; message: string }> {
  try {
    await parseText(text);
  } catch (e) {
    if (isPasserelleError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  return { code: 'none', message: '' };
}

describe('card load file: valid files', () => {
  it('reads every row with its loads, an access as amount 0, empty and 0 cells as not loaded', async () => {
    const text = csv([HEADER, row(1), row(2, { MUSEUM: '0', SPORT: '6000', LEISURE_BOOKS: '' }), row(3, { holder: '  Léa Martin  ', MUSEUM: '' })]);
    const { result, rows } = await parseText(text);
    expect(result).toEqual({ rows: 3, errors: [], errorCount: 0 });
    expect(rows).toEqual([
      { line: 2, cardNumber: card(1), dossierId: 'D-1', holder: 'Holder 1', campaign: '2022-2023', loads: [{ benefit: 'LEISURE_BOOKS', amount: 1500 }, { benefit: 'CINEMA', amount: 5 }, { benefit: 'MUSEUM', amount: 0 }] },
      { line: 3, cardNumber: card(2), dossierId: 'D-2', holder: 'Holder 2', campaign: '2022-2023', loads: [{ benefit: 'CINEMA', amount: 5 }, { benefit: 'SPORT', amount: 6000 }] },
      { line: 4, cardNumber: card(3), dossierId: 'D-3', holder: 'Léa Martin', campaign: '2022-2023', loads: [{ benefit: 'LEISURE_BOOKS', amount: 1500 }, { benefit: 'CINEMA', amount: 5 }] },
    ]);
  });

  it('takes `;` as the separator from the header, with a comma inside an unquoted holder', async () => {
    const text = csv([HEADER, row(1, { holder: 'Dupont, Marie' }), row(2, { holder: 'Le Gall; Anne' })], { sep: ';' });
    expect(text).toContain(';Dupont, Marie;');
    const { result, rows } = await parseText(text);
    expect(result.errorCount).toBe(0);
    expect(rows.map((r) => r.holder)).toEqual(['Dupont, Marie', 'Le Gall; Anne']);
  });

  it('reads a quoted holder holding the separator and doubled quotes', async () => {
    const text = csv([HEADER, row(1, { holder: 'Martin, Léa "Lili"' })]);
    expect(text).toContain(',"Martin, Léa ""Lili""",');
    const { result, rows } = await parseText(text);
    expect(result.errorCount).toBe(0);
    expect(rows[0]?.holder).toBe('Martin, Léa "Lili"');
  });

  it('keeps a stray quote in an unquoted field as a character, as spreadsheets do', async () => {
    const text = `${HEADER.join(',')}\n${card(1)},D-1,Jean "Jojo" Dupont,2022-2023,1500,,,\n`;
    const { result, rows } = await parseText(text);
    expect(result.errorCount).toBe(0);
    expect(rows[0]?.holder).toBe('Jean "Jojo" Dupont');
  });

  it('ignores a leading BOM, even split across chunks or before a blank line, and reads CRLF lines', async () => {
    const text = '\uFEFF\r\n' + csv([HEADER, row(1), row(2)], { sep: ';', eol: '\r\n' });
    for (const chunkBytes of [1, 2, 5, 1 << 16]) {
      const { result, rows } = await parseText(text, {}, chunkBytes);
      expect(result.errorCount, `chunks of ${chunkBytes}`).toBe(0);
      expect(rows.map((r) => [r.line, r.cardNumber, r.holder])).toEqual([
        [3, card(1), 'Holder 1'],
        [4, card(2), 'Holder 2'],
      ]);
    }
  });

  it('skips blank lines but counts them in line numbers', async () => {
    const text = `\n${HEADER.join(',')}\n\n${row(1).join(',')}\r\n   \n\n${row(2, { campaign: '2022' }).join(',')}\n\n`;
    const { result, rows } = await parseText(text);
    expect(rows.map((r) => r.line)).toEqual([4]);
    expect(result.rows).toBe(2);
    expect(result.errors.map((e) => e.line)).toEqual([7]);
  });

  it('accepts a header with no data rows', async () => {
    expect((await parseText(csv([HEADER]))).result).toEqual({ rows: 0, errors: [], errorCount: 0 });
  });

  it('reads a file by path and reports the bytes read', async () => {
    const path = join(dir, 'small.csv');
    writeFileSync(path, csv([HEADER, row(1), row(2)]));
    const progress: number[] = [];
    const rows: CardLoadRow[] = [];
    const result = await parseCardsCsv(path, (b) => rows.push(...b), { onProgress: (n) => progress.push(n) });
    expect(result.errorCount).toBe(0);
    expect(rows).toHaveLength(2);
    expect(progress.at(-1)).toBe(statSync(path).size);
  });
});

describe('card load file: inputs and options', () => {
  it('accepts a stream of strings, as a caller that set an encoding would pass', async () => {
    const rows: CardLoadRow[] = [];
    const result = await parseCardsCsv(Readable.from([csv([HEADER]), csv([row(1, { holder: 'Zoé' })])]), (b) => rows.push(...b));
    expect(result.errorCount).toBe(0);
    expect(rows[0]?.holder).toBe('Zoé');
  });

  it('stops at a row over 64 KiB, the sign of a quote never closed', async () => {
    const text = `${csv([HEADER, row(1)])}${card(2)},D-2,"${'x'.repeat(70_000)},2022-2023,1500,,,\n${csv([row(3)])}`;
    const { result } = await parseText(text, {}, 4096);
    expect(result.errors).toMatchObject([{ line: 3, message: expect.stringContaining('a row longer than 64 KiB') }]);
  });

  it('refuses meaningless options', async () => {
    await expect(parseText(csv([HEADER]), { batchRows: 0 })).rejects.toThrow(RangeError);
    await expect(parseText(csv([HEADER]), { maxErrors: -1 })).rejects.toThrow(RangeError);
  });

  it('lets an exception from onBatch through', async () => {
    const failing = parseCardsCsv(Readable.from([csv([HEADER, row(1)])]), () => {
      throw new Error('database full');
    });
    await expect(failing).rejects.toThrow('database full');
  });
});

describe('card load file: header problems throw DATA_INVALID at once', () => {
  it('names an unknown column', async () => {
    const e = await headerError(csv([[...HEADER, 'CINEMAS'], [...row(1), '5']]));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.message).toContain('unknown column(s) "CINEMAS"');
  });

  it('names a missing required column', async () => {
    const e = await headerError(csv([HEADER.filter((c) => c !== 'dossier_id')]));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.message).toContain('missing required column(s) "dossier_id"');
  });

  it('names a duplicated column', async () => {
    const e = await headerError(csv([[...HEADER, 'CINEMA']]));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.message).toContain('duplicated column(s) "CINEMA"');
  });

  it('refuses a header without any benefit column', async () => {
    const e = await headerError(csv([HEADER.slice(0, 4)]));
    expect(e.code).toBe('DATA_INVALID');
    expect(e.message).toContain('no benefit column');
  });

  it('refuses an empty file: no bytes, a BOM only, blank lines only', async () => {
    for (const text of ['', '\uFEFF', '\r\n\n\n']) {
      const e = await headerError(text);
      expect(e.code, JSON.stringify(text)).toBe('DATA_INVALID');
      expect(e.message).toContain('empty');
    }
  });
});

/** One bad row of each kind, with what its error message must say. */
const BAD_ROWS: readonly { readonly name: string; readonly fields: (i: number) => string[]; readonly says: string }[] = [
  { name: 'card number too short', fields: (i) => row(i, { card_number: card(i).slice(1) }), says: 'card_number must be 16 digits' },
  { name: 'card number with a letter', fields: (i) => row(i, { card_number: `A${card(i).slice(1)}` }), says: 'card_number must be 16 digits' },
  { name: 'wrong check digit', fields: (i) => row(i, { card_number: mistyped(i) }), says: 'wrong check digit' },
  { name: 'dossier with a space', fields: (i) => row(i, { dossier_id: 'D 1' }), says: 'dossier_id "D 1" must be' },
  { name: 'dossier too long', fields: (i) => row(i, { dossier_id: 'D'.repeat(41) }), says: 'dossier_id' },
  { name: 'dossier empty', fields: (i) => row(i, { dossier_id: '' }), says: 'dossier_id' },
  { name: 'holder blank', fields: (i) => row(i, { holder: '   ' }), says: 'holder is empty' },
  { name: 'holder too long', fields: (i) => row(i, { holder: 'é'.repeat(121) }), says: 'longer than 120' },
  { name: 'holder with a tab', fields: (i) => row(i, { holder: 'Léa\tMartin' }), says: 'control character' },
  { name: 'holder not UTF-8', fields: (i) => row(i, { holder: 'L\uFFFDa' }), says: 'not valid UTF-8' },
  { name: 'campaign one year', fields: (i) => row(i, { campaign: '2022' }), says: 'campaign "2022"' },
  { name: 'campaign years apart', fields: (i) => row(i, { campaign: '2022-2024' }), says: 'consecutive years' },
  { name: 'amount with decimals', fields: (i) => row(i, { LEISURE_BOOKS: '15.00' }), says: 'LEISURE_BOOKS: "15.00" is not a whole number' },
  { name: 'amount with a French decimal comma', fields: (i) => row(i, { LEISURE_BOOKS: '15,00' }), says: 'LEISURE_BOOKS: "15,00"' },
  { name: 'amount with a sign', fields: (i) => row(i, { SPORT: '+3000' }), says: 'SPORT: "+3000" is not a whole number' },
  { name: 'negative amount', fields: (i) => row(i, { SPORT: '-3000' }), says: 'SPORT: "-3000"' },
  { name: 'amount with a space', fields: (i) => row(i, { SPORT: ' 3000' }), says: 'SPORT: " 3000"' },
  { name: 'amount zero', fields: (i) => row(i, { SPORT: '0' }), says: 'SPORT: must be at least 1' },
  { name: 'amount over the maximum', fields: (i) => row(i, { CINEMA: '6' }), says: 'CINEMA: "6" is over the most one load may give (5 entries)' },
  { name: 'access cell neither 0 nor 1', fields: (i) => row(i, { MUSEUM: 'oui' }), says: 'MUSEUM: "oui" must be 1' },
  { name: 'no benefit loaded', fields: (i) => row(i, { LEISURE_BOOKS: '', CINEMA: '', MUSEUM: '0', SPORT: '' }), says: 'no benefit loaded' },
  { name: 'too few fields', fields: (i) => row(i).slice(0, -1), says: 'expected 8 fields as in the header, found 7' },
  { name: 'too many fields', fields: (i) => [...row(i), ''], says: 'expected 8 fields as in the header, found 9' },
];

describe('card load file: bad rows are reported at their line', () => {
  it.each(BAD_ROWS)('$name', async ({ fields, says }) => {
    const { result, rows } = await parseText(csv([HEADER, row(1), fields(2), row(3)]));
    expect(result.errors).toMatchObject([{ line: 3, message: expect.stringContaining(says) }]);
    expect(result.errorCount).toBe(1);
    expect(result.rows).toBe(3);
    expect(rows.map((r) => r.line)).toEqual([2, 4]);
  });

  it('reports a card number seen twice on the second line, naming the first, and masks it', async () => {
    const { result } = await parseText(csv([HEADER, row(1), row(2), row(1, { dossier_id: 'D-9' })]));
    const masked = `${card(1).slice(0, 4)}********${card(1).slice(12)}`;
    expect(result.errors).toMatchObject([{ line: 4, message: `card_number ${masked} is already on line 2` }]);
  });

  it('reports a dossier given two different cards', async () => {
    const { result } = await parseText(csv([HEADER, row(1), row(2, { dossier_id: 'D-1' })]));
    expect(result.errors).toMatchObject([{ line: 3, message: expect.stringMatching(/^dossier_id "D-1" already has card 8250\*{8}\d{4} on line 2$/) }]);
  });

  it('reports each problem of a row separately', async () => {
    const { result } = await parseText(csv([HEADER, row(1, { card_number: mistyped(1), campaign: '22-23', CINEMA: '9' })]));
    expect(result.errors.map((e) => e.line)).toEqual([2, 2, 2]);
  });

  it('reports a row at the line where it starts when an earlier quoted field spans lines (LF and CRLF)', async () => {
    for (const eol of ['\n', '\r\n'] as const) {
      const text = csv([HEADER, row(1, { holder: `Anne${eol}Marie` }), row(2, { campaign: 'x' }), row(3, { holder: `a${eol}b${eol}c` }), row(4, { SPORT: '1.5' })], { eol });
      const { result } = await parseText(text);
      expect(result.errors, JSON.stringify(eol)).toMatchObject([
        { line: 2, message: expect.stringContaining('control character') },
        { line: 4, message: expect.stringContaining('campaign') },
        { line: 5, message: expect.stringContaining('control character') },
        { line: 8, message: expect.stringContaining('SPORT') },
      ]);
    }
  });

  it('reports a quote never closed at the line its row starts, and stops there', async () => {
    const text = `${csv([HEADER, row(1), row(2, { holder: 'a\nb' })])}${card(3)},D-3,"Unclosed,2022-2023,1500,,,\n${csv([row(4), row(5)])}`;
    const { result, rows } = await parseText(text);
    expect(rows.map((r) => r.line)).toEqual([2]);
    expect(result.errors).toMatchObject([
      { line: 3, message: expect.stringContaining('control character') },
      { line: 5, message: 'a quoted field is never closed; parsing stopped here, the rest of the file was not checked' },
    ]);
    expect(result.rows).toBe(3);
  });

  it('keeps the first maxErrors errors but counts them all', async () => {
    const bad = Array.from({ length: 10 }, (_, i) => row(i + 1, { campaign: 'nope' }));
    const { result } = await parseText(csv([HEADER, ...bad]), { maxErrors: 3 });
    expect(result.errors.map((e) => e.line)).toEqual([2, 3, 4]);
    expect(result.errorCount).toBe(10);
    expect(result.rows).toBe(10);
  });
});

describe('card load file: batches', () => {
  it('hands valid rows over in batches of batchRows, the last one smaller', async () => {
    const rows = Array.from({ length: 13 }, (_, i) => (i === 6 ? row(i, { CINEMA: 'x' }) : row(i)));
    const { batches, rows: delivered } = await parseText(csv([HEADER, ...rows]), { batchRows: 5 });
    expect(batches).toEqual([5, 5, 2]);
    expect(delivered.map((r) => r.line)).toEqual([2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]);
  });

  it('uses batches of 5000 by default', async () => {
    const rows = Array.from({ length: 12_000 }, (_, i) => row(i));
    const { batches } = await parseText(csv([HEADER, ...rows]), {}, 1 << 16);
    expect(batches).toEqual([5000, 5000, 2000]);
  });
});

describe('card load file: generated files', () => {
  it('parses 2,000 cards from writeCardsCsv with no error', async () => {
    const path = join(dir, 'generated.csv');
    const { bytes } = await writeCardsCsv(path, 2000, 7);
    expect(statSync(path).size).toBe(bytes);
    const rows: CardLoadRow[] = [];
    const result = await parseCardsCsv(path, (b) => rows.push(...b));
    expect(result).toEqual({ rows: 2000, errors: [], errorCount: 0 });
    expect(new Set(rows.map((r) => r.cardNumber)).size).toBe(2000);
    expect(rows.some((r) => r.holder.includes(','))).toBe(true);
    expect(rows.some((r) => r.loads.some((l) => l.benefit === 'DRIVING_LICENCE'))).toBe(true);
  });

  it('writes the same file for the same seed', async () => {
    const a = join(dir, 'a.csv');
    const b = join(dir, 'b.csv');
    await writeCardsCsv(a, 300, 42);
    await writeCardsCsv(b, 300, 42);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Property: whatever the mix, every mutated row is reported at its line and every valid row delivered once.

/** Mutations that each make a row invalid; some add lines inside a quoted field, moving later rows down. */
const MUTATIONS: readonly ((i: number) => string[])[] = [
  ...BAD_ROWS.map((b) => b.fields),
  (i) => row(i, { holder: 'Anne\nMarie' }),
  (i) => row(i, { holder: 'a\r\nb\nc' }),
  (i) => row(i, { CINEMA: '5\n' }),
  // Repeats of the anchor row's card and dossier (line 2, always valid).
  (i) => row(0, { dossier_id: `D-${i}` }),
  (i) => row(i, { dossier_id: 'D-0' }),
];

const HOLDERS = ['Léa Martin', 'Dupont, Marie', 'Le Gall; Anne', 'Jean "Jojo" Dupont', "N'Diaye", 'Zoé'];

interface Entry {
  readonly mutation: number | null;
  readonly holder: number;
  readonly blankLinesBefore: number;
}

const entryArb: fc.Arbitrary<Entry> = fc.record({
  mutation: fc.option(fc.nat({ max: MUTATIONS.length - 1 }), { freq: 3 }),
  holder: fc.nat({ max: HOLDERS.length - 1 }),
  blankLinesBefore: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 2 }) }),
});

describe('card load file: property', () => {
  it('reports every mutated row at its line and delivers every valid row exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(entryArb, { maxLength: 40 }),
        fc.constantFrom<',' | ';'>(',', ';'),
        fc.constantFrom<'\n' | '\r\n'>('\n', '\r\n'),
        fc.integer({ min: 1, max: 200 }),
        async (entries, sep, eol, chunkBytes) => {
          let text = csv([HEADER, row(0)], { sep, eol });
          let line = 3;
          const badLines = new Set<number>();
          const goodLines = [2];
          entries.forEach((entry, k) => {
            text += eol.repeat(entry.blankLinesBefore);
            line += entry.blankLinesBefore;
            const i = k + 1;
            const fields = entry.mutation === null ? row(i, { holder: HOLDERS[entry.holder]! }) : MUTATIONS[entry.mutation]!(i);
            if (entry.mutation === null) goodLines.push(line);
            else badLines.add(line);
            const rowText = csv([fields], { sep, eol });
            text += rowText;
            line += rowText.split('\n').length - 1;
          });
          const { result, rows } = await parseText(text, { maxErrors: 1000, batchRows: 7 }, chunkBytes);
          expect(new Set(result.errors.map((e) => e.line))).toEqual(badLines);
          expect(result.errorCount).toBe(result.errors.length);
          expect(rows.map((r) => r.line)).toEqual(goodLines);
          expect(result.rows).toBe(entries.length + 1);
        },
      ),
      { numRuns: 150 },
    );
  });
});
