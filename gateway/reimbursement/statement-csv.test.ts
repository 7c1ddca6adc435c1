import { parse } from 'csv-parse/sync';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../tests/helpers/errors.ts';
import { STATEMENT_CSV_COLUMNS, statementCsv } from './statement-csv.ts';
import type { Statement, StatementLine } from './types.ts';

const HEADER =
  'releve;partenaire_id;partenaire;periode_debut;periode_fin;statut;ligne;transaction;type;corrige;date_vente;' +
  'date_enregistrement;terminal;carte;avantage;unite;quantite;montant_centimes;montant_eur;regularisation';

const CARD = '8250 •••• •••• 8901';

function line(overrides: Partial<StatementLine> = {}): StatementLine {
  return {
    id: 101,
    txnId: 'T-0001',
    kind: 'sale',
    corrects: null,
    saleAt: Date.UTC(2022, 9, 3, 12, 5, 9), // 14:05:09 in Paris (summer time, UTC+2)
    recordedAt: Date.UTC(2022, 9, 3, 12, 5, 10),
    terminalId: 'T-LYON-01',
    cardMasked: CARD,
    benefit: 'SCHOOL_BOOKS',
    unit: 'cent',
    quantity: 1250,
    amountCents: 1250,
    adjustment: false,
    ...overrides,
  };
}

function statement(lines: readonly StatementLine[], overrides: Partial<Statement> = {}): Statement {
  return {
    id: 'S-P-LIB-LYON-2022-10',
    partnerId: 'P-LIB-LYON',
    partnerName: 'Librairie Passages',
    periodFrom: '2022-10-01',
    periodTo: '2022-10-31',
    createdAt: Date.UTC(2022, 10, 1, 6, 0, 0),
    status: 'ready',
    proofMissing: [],
    paidAt: null,
    paidBy: null,
    totalCents: lines.reduce((sum, l) => sum + l.amountCents, 0),
    lines,
    ...overrides,
  };
}

const bookshop = statement([
  line(),
  line({
    id: 102, txnId: 'T-0000', kind: 'reversal', corrects: 'T-0000', benefit: 'LEISURE_BOOKS', quantity: -300, amountCents: -300,
    saleAt: Date.UTC(2022, 8, 28, 22, 15, 0), recordedAt: Date.UTC(2022, 9, 4, 8, 0, 0), terminalId: null, adjustment: true,
  }),
  line({
    id: 103, txnId: 'T-0002', benefit: 'LEISURE_BOOKS', quantity: 1999, amountCents: 1999,
    saleAt: Date.UTC(2022, 9, 30, 23, 30, 0), recordedAt: Date.UTC(2022, 9, 30, 23, 30, 1), // winter time from 30 October
  }),
]);

const cinema = statement(
  [line({ id: 7, txnId: 'T-0100', benefit: 'CINEMA', unit: 'entry', quantity: 1, amountCents: 650, terminalId: 'T-CINE-02' }),
    line({ id: 8, txnId: 'T-0101', kind: 'cancellation', corrects: 'T-0100', benefit: 'CINEMA', unit: 'entry', quantity: -1, amountCents: -650, terminalId: 'T-CINE-02' })],
  { id: 'S-P-CINE-2022-10', partnerId: 'P-CINE', partnerName: 'Cinéma Les Lumières', status: 'paid' },
);

/** Parse back the way a careful consumer would: `;`, RFC 4180 quotes, BOM stripped. */
function parseCsv(csv: string): string[][] {
  return parse(csv, { delimiter: ';', bom: true, record_delimiter: '\r\n' });
}

describe('statementCsv', () => {
  it('writes a small export exactly', () => {
    const expected = [
      HEADER,
      'S-P-LIB-LYON-2022-10;P-LIB-LYON;Librairie Passages;2022-10-01;2022-10-31;prêt;101;T-0001;vente;;2022-10-03 14:05:09;2022-10-03 14:05:10;T-LYON-01;8250 •••• •••• 8901;SCHOOL_BOOKS;centime;1250;1250;12,50;non',
      'S-P-LIB-LYON-2022-10;P-LIB-LYON;Librairie Passages;2022-10-01;2022-10-31;prêt;102;T-0000;contre-passation;T-0000;2022-09-29 00:15:00;2022-10-04 10:00:00;;8250 •••• •••• 8901;LEISURE_BOOKS;centime;-300;-300;-3,00;oui',
      'S-P-LIB-LYON-2022-10;P-LIB-LYON;Librairie Passages;2022-10-01;2022-10-31;prêt;103;T-0002;vente;;2022-10-31 00:30:00;2022-10-31 00:30:01;T-LYON-01;8250 •••• •••• 8901;LEISURE_BOOKS;centime;1999;1999;19,99;non',
      'S-P-CINE-2022-10;P-CINE;Cinéma Les Lumières;2022-10-01;2022-10-31;payé;7;T-0100;vente;;2022-10-03 14:05:09;2022-10-03 14:05:10;T-CINE-02;8250 •••• •••• 8901;CINEMA;entrée;1;650;6,50;non',
      'S-P-CINE-2022-10;P-CINE;Cinéma Les Lumières;2022-10-01;2022-10-31;payé;8;T-0101;annulation;T-0100;2022-10-03 14:05:09;2022-10-03 14:05:10;T-CINE-02;8250 •••• •••• 8901;CINEMA;entrée;-1;-650;-6,50;non',
    ];
    expect(statementCsv([bookshop, cinema])).toBe('\uFEFF' + expected.map((row) => `${row}\r\n`).join(''));
  });

  it('starts with one BOM, ends every record with CRLF and names its columns in French', () => {
    const csv = statementCsv([bookshop]);
    expect(csv.startsWith('\uFEFF')).toBe(true);
    expect(csv.indexOf('\uFEFF', 1)).toBe(-1);
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(csv.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    expect(STATEMENT_CSV_COLUMNS.join(';')).toBe(HEADER);
    expect(Buffer.from(csv, 'utf8').subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
  });

  it('formats amounts in French from integer cents, negative ones too', () => {
    const amounts = [1, 5, 10, 99, 100, 1250, -1, -5, -300, -1999, 123456789, -9007199254740991];
    const lines = amounts.map((amountCents, i) => line({ id: i + 1, amountCents, quantity: amountCents }));
    const rows = parseCsv(statementCsv([statement(lines)]));
    expect(rows.slice(1).map((row) => row[18])).toEqual([
      '0,01', '0,05', '0,10', '0,99', '1,00', '12,50', '-0,01', '-0,05', '-3,00', '-19,99', '1234567,89', '-90071992547409,91',
    ]);
  });

  it('puts DST changes in Paris local time', () => {
    const lines = [
      line({ id: 1, saleAt: Date.UTC(2023, 2, 26, 0, 59, 59), recordedAt: Date.UTC(2023, 2, 26, 1, 0, 0) }), // spring forward
      line({ id: 2, saleAt: Date.UTC(2022, 11, 31, 23, 0, 0), recordedAt: Date.UTC(2022, 0, 1, 0, 0, 0) }), // new year in Paris
    ];
    const rows = parseCsv(statementCsv([statement(lines)]));
    expect(rows.slice(1).map((row) => [row[10], row[11]])).toEqual([
      ['2023-03-26 01:59:59', '2023-03-26 03:00:00'],
      ['2023-01-01 00:00:00', '2022-01-01 01:00:00'],
    ]);
  });

  it('quotes fields with a separator, a quote or a line break, and doubles the quotes', () => {
    const partnerName = 'Passages; "Rive gauche"\r\nLyon 2e';
    const csv = statementCsv([statement([line()], { partnerName, partnerId: 'P"1', id: 'S\n1' })]);
    expect(csv).toContain(';"Passages; ""Rive gauche""\r\nLyon 2e";');
    expect(csv).toContain('\r\n"S\n1";"P""1";');
    expect(parseCsv(csv)[1]?.slice(0, 3)).toEqual(['S\n1', 'P"1', partnerName]);
    // A lone carriage return ends a row for some readers, so it is quoted as well.
    expect(statementCsv([statement([line({ terminalId: 'T\r1' })])])).toContain(';"T\r1";');
    expect(statementCsv([statement([line({ terminalId: "T'1, 2" })])])).toContain(";T'1, 2;");
  });

  it('defuses formulas in text fields but not in numbers', () => {
    const lines = [line({ amountCents: -300, quantity: -300, txnId: '-1+1', terminalId: '@SUM(A1)', cardMasked: '+33 6', corrects: '\tcmd' })];
    const csv = statementCsv([statement(lines, { partnerName: '=HYPERLINK("http://evil.example","clic")' })]);
    const row = parseCsv(csv)[1] ?? [];
    expect(row[2]).toBe(`'=HYPERLINK("http://evil.example","clic")`);
    expect(row[7]).toBe("'-1+1");
    expect(row[9]).toBe("'\tcmd");
    expect(row[12]).toBe("'@SUM(A1)");
    expect(row[13]).toBe("'+33 6");
    expect(row.slice(16, 19)).toEqual(['-300', '-300', '-3,00']);
    expect(csv).toContain(`;"'=HYPERLINK(""http://evil.example"",""clic"")";`);
    expect(csv).toContain(';-300;-300;-3,00;');
  });

  it('writes only the header for no statement, and no row for a statement without lines', () => {
    expect(statementCsv([])).toBe(`\uFEFF${HEADER}\r\n`);
    const empty = statement([], { id: 'S-EMPTY' });
    expect(statementCsv([empty])).toBe(`\uFEFF${HEADER}\r\n`);
    const rows = parseCsv(statementCsv([bookshop, empty, cinema]));
    expect(rows).toHaveLength(1 + 3 + 2);
    expect(rows.map((row) => row[0])).not.toContain('S-EMPTY');
  });

  it('refuses statements whose numbers the accountants could not trust', async () => {
    const cases: ReadonlyArray<readonly [string, Statement]> = [
      ['total not the sum of the lines', statement([line()], { totalCents: 1249 })],
      ['fractional amount', statement([line({ amountCents: 12.5 })], { totalCents: 0 })],
      ['fractional quantity', statement([line({ quantity: 0.5 })])],
      ['invalid sale time', statement([line({ saleAt: Number.NaN })])],
      ['infinite recording time', statement([line({ recordedAt: Number.POSITIVE_INFINITY })])],
    ];
    for (const [label, input] of cases) {
      const error = await thrown(() => statementCsv([input]));
      expect(error.code, label).toBe('DATA_INVALID');
      expect(error.message, label).toContain('statement S-P-LIB-LYON-2022-10: ');
    }
  });
});

/** What a text field must come back as: itself, with an apostrophe in front of a formula trigger. */
const guarded = (text: string) => (/^[=+\-@\t\r]/.test(text) ? `'${text}` : text);

const DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const TRICKY = ['a', 'é', 'Œ', ';', '"', "'", '\r', '\n', '\t', ' ', '=', '+', '-', '@', ',', '€', '•'];
const textArb = fc.string({ unit: fc.constantFrom(...TRICKY), maxLength: 12 });

const lineArb: fc.Arbitrary<StatementLine> = fc.record({
  id: fc.nat(),
  txnId: textArb,
  kind: fc.constantFrom('sale', 'cancellation', 'reversal'),
  corrects: fc.option(textArb, { nil: null }),
  saleAt: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
  recordedAt: fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }),
  terminalId: fc.option(textArb, { nil: null }),
  cardMasked: textArb,
  benefit: fc.constantFrom('SCHOOL_BOOKS', 'CINEMA', 'MUSEUM'),
  unit: fc.constantFrom('cent', 'entry'),
  quantity: fc.integer({ min: -100_000, max: 100_000 }),
  amountCents: fc.integer({ min: -1_000_000, max: 1_000_000 }),
  adjustment: fc.boolean(),
});

const statementArb: fc.Arbitrary<Statement> = fc
  .record({
    id: textArb, partnerId: textArb, partnerName: textArb, periodFrom: textArb, periodTo: textArb,
    status: fc.constantFrom('ready', 'held', 'paid'), lines: fc.array(lineArb, { maxLength: 4 }),
  })
  .map((s) => ({ ...s, createdAt: 0, proofMissing: [], paidAt: null, paidBy: null, totalCents: s.lines.reduce((sum, l) => sum + l.amountCents, 0) }));

describe('statementCsv round trip', () => {
  it('parses back, with csv-parse, to the very fields it was given', () => {
    fc.assert(
      fc.property(fc.array(statementArb, { maxLength: 4 }), (statements) => {
        const rows = parseCsv(statementCsv(statements));
        expect(rows[0]).toEqual([...STATEMENT_CSV_COLUMNS]);
        const expected = statements.flatMap((s) => s.lines.map((l) => ({ s, l })));
        expect(rows).toHaveLength(1 + expected.length);
        expected.forEach(({ s, l }, i) => {
          const row = rows[i + 1] ?? [];
          expect(row).toHaveLength(STATEMENT_CSV_COLUMNS.length);
          expect([row[0], row[1], row[2], row[3], row[4]]).toEqual([s.id, s.partnerId, s.partnerName, s.periodFrom, s.periodTo].map(guarded));
          expect([row[7], row[9], row[12], row[13]]).toEqual([l.txnId, l.corrects ?? '', l.terminalId ?? '', l.cardMasked].map(guarded));
          expect([row[6], row[14], row[16], row[17]]).toEqual([String(l.id), l.benefit, String(l.quantity), String(l.amountCents)]);
          expect(row[18]).toMatch(/^-?\d+,\d{2}$/);
          expect(BigInt(row[18]?.replace(',', '') ?? '')).toBe(BigInt(l.amountCents));
          expect([row[10], row[11]]).toEqual([expect.stringMatching(DATE_TIME), expect.stringMatching(DATE_TIME)]);
          expect(row[19]).toBe(l.adjustment ? 'oui' : 'non');
        });
      }),
      { numRuns: 200 },
    );
  });
});
