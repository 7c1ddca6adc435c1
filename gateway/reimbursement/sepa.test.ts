import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../tests/helpers/errors.ts';
import { creditTransferXml, toSepaText } from './sepa.ts';
import type { CreditTransferFile, Payment } from './types.ts';

const SCHEMA = fileURLToPath(new URL('../../tests/fixtures/pain.001.001.03.xsd', import.meta.url));

interface LintResult {
  readonly ok: boolean;
  readonly output: string;
}

/**
 * Validate documents against the real ISO 20022 schema with libxml2's xmllint (Debian package
 * libxml2-utils), several per call because each call is a subprocess.
 */
function xmllint(documents: readonly string[]): LintResult {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-sepa-'));
  try {
    const paths = documents.map((xml, i) => {
      const path = join(dir, `doc-${i}.xml`);
      writeFileSync(path, xml, 'utf8');
      return path;
    });
    try {
      const output = execFileSync('xmllint', ['--noout', '--schema', SCHEMA, ...paths], { encoding: 'utf8', stdio: 'pipe' });
      return { ok: true, output };
    } catch (e) {
      if (e instanceof Error && 'code' in e && e.code === 'ENOENT') throw new Error('xmllint not found: install libxml2-utils');
      const stderr = typeof e === 'object' && e !== null && 'stderr' in e ? String(e.stderr) : String(e);
      return { ok: false, output: stderr };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function expectSchemaValid(...documents: string[]): void {
  const result = xmllint(documents);
  expect(result.ok, result.output).toBe(true);
}

const REGION = { name: 'Région Auvergne-Rhône-Alpes', iban: 'FR76 3000 6000 0112 3456 7890 189', bic: 'BNPAFRPP' };

function payment(overrides: Partial<Payment> = {}): Payment {
  return {
    endToEndId: 'S-P-LIB-LYON-2022-10',
    creditor: { name: 'Librairie du Parc', iban: 'DE89370400440532013000', bic: 'COBADEFFXXX' },
    amountCents: 1250,
    remittance: "Pass'Région remboursement 2022-10",
    ...overrides,
  };
}

function file(overrides: Partial<CreditTransferFile> = {}): CreditTransferFile {
  return {
    messageId: 'PR-2022-11-0001',
    createdAt: new Date('2022-11-05T09:30:00.123Z'),
    debtor: REGION,
    executionDate: '2022-11-07',
    payments: [payment()],
    ...overrides,
  };
}

/** Every text value of an element, in document order. */
function values(xml: string, element: string): string[] {
  return [...xml.matchAll(new RegExp(`<${element}(?: [^>]*)?>([^<]*)</${element}>`, 'g'))].map((m) => m[1] ?? '');
}

/** Cents as the schema's decimal, computed independently of the code under test. */
function euros(cents: bigint): string {
  return `${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`;
}

describe('SEPA credit transfer file (pain.001.001.03)', () => {
  it('writes one payment exactly as expected, and the schema accepts it', () => {
    const xml = creditTransferXml(file());
    expect(xml).toBe(`<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">
  <CstmrCdtTrfInitn>
    <GrpHdr>
      <MsgId>PR-2022-11-0001</MsgId>
      <CreDtTm>2022-11-05T09:30:00Z</CreDtTm>
      <NbOfTxs>1</NbOfTxs>
      <CtrlSum>12.50</CtrlSum>
      <InitgPty>
        <Nm>Region Auvergne-Rhone-Alpes</Nm>
      </InitgPty>
    </GrpHdr>
    <PmtInf>
      <PmtInfId>PR-2022-11-0001</PmtInfId>
      <PmtMtd>TRF</PmtMtd>
      <BtchBookg>true</BtchBookg>
      <NbOfTxs>1</NbOfTxs>
      <CtrlSum>12.50</CtrlSum>
      <PmtTpInf>
        <SvcLvl>
          <Cd>SEPA</Cd>
        </SvcLvl>
      </PmtTpInf>
      <ReqdExctnDt>2022-11-07</ReqdExctnDt>
      <Dbtr>
        <Nm>Region Auvergne-Rhone-Alpes</Nm>
      </Dbtr>
      <DbtrAcct>
        <Id>
          <IBAN>FR7630006000011234567890189</IBAN>
        </Id>
      </DbtrAcct>
      <DbtrAgt>
        <FinInstnId>
          <BIC>BNPAFRPP</BIC>
        </FinInstnId>
      </DbtrAgt>
      <ChrgBr>SLEV</ChrgBr>
      <CdtTrfTxInf>
        <PmtId>
          <EndToEndId>S-P-LIB-LYON-2022-10</EndToEndId>
        </PmtId>
        <Amt>
          <InstdAmt Ccy="EUR">12.50</InstdAmt>
        </Amt>
        <CdtrAgt>
          <FinInstnId>
            <BIC>COBADEFFXXX</BIC>
          </FinInstnId>
        </CdtrAgt>
        <Cdtr>
          <Nm>Librairie du Parc</Nm>
        </Cdtr>
        <CdtrAcct>
          <Id>
            <IBAN>DE89370400440532013000</IBAN>
          </Id>
        </CdtrAcct>
        <RmtInf>
          <Ustrd>Pass'Region remboursement 2022-10</Ustrd>
        </RmtInf>
      </CdtTrfTxInf>
    </PmtInf>
  </CstmrCdtTrfInitn>
</Document>
`);
    expectSchemaValid(xml);
  });

  it('adds several payments in integer cents, where floats would drift', () => {
    expect(0.1 + 0.2).not.toBe(0.3); // the trap this file must not fall into
    const amounts = [10, 20, 1, 99, 99_999_999_999, 5];
    const payments = amounts.map((amountCents, i) => payment({ endToEndId: `S-${i}`, amountCents }));
    const xml = creditTransferXml(file({ payments }));
    expect(values(xml, 'NbOfTxs')).toEqual(['6', '6']);
    expect(values(xml, 'InstdAmt')).toEqual(['0.10', '0.20', '0.01', '0.99', '999999999.99', '0.05']);
    expect(values(xml, 'CtrlSum')).toEqual(['1000000001.34', '1000000001.34']);
    expect(values(xml, 'EndToEndId')).toEqual(['S-0', 'S-1', 'S-2', 'S-3', 'S-4', 'S-5']);
    expectSchemaValid(xml);
  });

  it('sums ten payments of 0,10 € to exactly 1.00', () => {
    const payments = Array.from({ length: 10 }, (_, i) => payment({ endToEndId: `S-${i}`, amountCents: 10 }));
    expect(values(creditTransferXml(file({ payments })), 'CtrlSum')).toEqual(['1.00', '1.00']);
  });

  it('transliterates French names and remittance texts into the SEPA character set', () => {
    const payments = [
      payment({ endToEndId: 'S-1', creditor: { ...payment().creditor, name: 'Théâtre de la Comédie' }, remittance: 'Spectacles — octobre, 2ᵉ quinzaine' }),
      payment({ endToEndId: 'S-2', creditor: { ...payment().creditor, name: 'Cinéma Les Lumières' } }),
      payment({ endToEndId: 'S-3', creditor: { ...payment().creditor, name: 'Œuvres de Sœur Françoise L’Hôpital' } }),
    ];
    const xml = creditTransferXml(file({ payments }));
    expect(values(xml, 'Nm')).toEqual([
      'Region Auvergne-Rhone-Alpes',
      'Region Auvergne-Rhone-Alpes',
      'Theatre de la Comedie',
      'Cinema Les Lumieres',
      "OEuvres de Soeur Francoise L'Hopital",
    ]);
    expect(values(xml, 'Ustrd')[0]).toBe('Spectacles - octobre, 2e quinzaine');
    expect(xml).toMatch(/^[\x20-\x7e\n]*$/); // nothing but printable ASCII reaches the bank
    expectSchemaValid(xml);
  });

  it('never lets XML special characters break the document', () => {
    const creditor = { ...payment().creditor, name: `Dupont & Fils <"L'Atelier">` };
    const xml = creditTransferXml(file({ payments: [payment({ creditor, remittance: `a<b>&"c"'d'` })] }));
    expect(values(xml, 'Nm').at(-1)).toBe("Dupont + Fils L'Atelier");
    expect(values(xml, 'Ustrd')).toEqual(["a b + c 'd'"]);
    expectSchemaValid(xml);
  });

  it('normalizes IBANs and BICs written the human way', () => {
    const creditor = { name: 'Librairie', iban: 'fr76 3000\u00a06000 0112 3456 7890 189', bic: 'bnpa frpp xxx' };
    const xml = creditTransferXml(file({ payments: [payment({ creditor })] }));
    expect(values(xml, 'IBAN')).toEqual(['FR7630006000011234567890189', 'FR7630006000011234567890189']);
    expect(values(xml, 'BIC')).toEqual(['BNPAFRPP', 'BNPAFRPPXXX']);
    expectSchemaValid(xml);
  });

  it('accepts fields exactly at their maximum length', () => {
    const creditor = { ...payment().creditor, name: 'N'.repeat(70) };
    const xml = creditTransferXml(file({
      messageId: 'M'.repeat(35),
      payments: [payment({ endToEndId: 'E'.repeat(35), creditor, remittance: 'R'.repeat(140) })],
    }));
    expectSchemaValid(xml);
  });

  it('accepts an execution date on the creation day in Paris, even when UTC is still the day before', async () => {
    // 23:30 UTC on 5 November is 00:30 on 6 November in Paris.
    const createdAt = new Date('2022-11-05T23:30:00Z');
    expect((await thrown(() => creditTransferXml(file({ createdAt, executionDate: '2022-11-06' })))).code).toBe('none');
    const early = await thrown(() => creditTransferXml(file({ createdAt, executionDate: '2022-11-05' })));
    expect(early.code).toBe('DATA_INVALID');
    expect(early.message).toContain('before the file\'s creation date 2022-11-06');
  });
});

describe('SEPA credit transfer validation', () => {
  const creditor = payment().creditor;
  const cases: ReadonlyArray<readonly [string, string, CreditTransferFile]> = [
    ['no payments', 'payments', file({ payments: [] })],
    ['zero amount', 'payments[0].amountCents', file({ payments: [payment({ amountCents: 0 })] })],
    ['negative amount', 'payments[0].amountCents', file({ payments: [payment({ amountCents: -500 })] })],
    ['fractional amount', 'payments[0].amountCents', file({ payments: [payment({ amountCents: 12.5 })] })],
    ['NaN amount', 'payments[0].amountCents', file({ payments: [payment({ amountCents: Number.NaN })] })],
    ['amount above the SEPA maximum', 'payments[0].amountCents', file({ payments: [payment({ amountCents: 100_000_000_000 })] })],
    ['creditor IBAN with one digit changed', 'payments[0].creditor.iban', file({ payments: [payment({ creditor: { ...creditor, iban: 'DE89370400440532013001' } })] })],
    ['creditor IBAN too short', 'payments[0].creditor.iban', file({ payments: [payment({ creditor: { ...creditor, iban: 'DE8937040044053201300' } })] })],
    ['debtor IBAN garbage', 'debtor.iban', file({ debtor: { ...REGION, iban: 'not an iban' } })],
    ['creditor BIC of 7 characters', 'payments[0].creditor.bic', file({ payments: [payment({ creditor: { ...creditor, bic: 'COBADEF' } })] })],
    ['creditor test BIC the schema refuses', 'payments[0].creditor.bic', file({ payments: [payment({ creditor: { ...creditor, bic: 'COBADE01' } })] })],
    ['debtor BIC garbage', 'debtor.bic', file({ debtor: { ...REGION, bic: 'BNP' } })],
    ['end-to-end id of 36 characters', 'payments[0].endToEndId', file({ payments: [payment({ endToEndId: 'E'.repeat(36) })] })],
    ['empty end-to-end id', 'payments[0].endToEndId', file({ payments: [payment({ endToEndId: '' })] })],
    ['end-to-end id with an underscore', 'payments[0].endToEndId', file({ payments: [payment({ endToEndId: 'S_P_LIB' })] })],
    ['end-to-end id with an accent', 'payments[0].endToEndId', file({ payments: [payment({ endToEndId: 'S-RÉGION' })] })],
    ['end-to-end id starting with a slash', 'payments[0].endToEndId', file({ payments: [payment({ endToEndId: '/S-1' })] })],
    ['end-to-end id with a double slash', 'payments[0].endToEndId', file({ payments: [payment({ endToEndId: 'S//1' })] })],
    ['duplicate end-to-end id', 'payments[1].endToEndId', file({ payments: [payment(), payment()] })],
    ['message id of 36 characters', 'messageId', file({ messageId: 'M'.repeat(36) })],
    ['message id with a hash', 'messageId', file({ messageId: 'PR#1' })],
    ['creditor name of 71 characters', 'payments[0].creditor.name', file({ payments: [payment({ creditor: { ...creditor, name: 'N'.repeat(71) } })] })],
    ['creditor name that transliteration makes too long', 'payments[0].creditor.name', file({ payments: [payment({ creditor: { ...creditor, name: 'œ'.repeat(36) } })] })],
    ['creditor name with nothing SEPA in it', 'payments[0].creditor.name', file({ payments: [payment({ creditor: { ...creditor, name: '<<€>>' } })] })],
    ['debtor name of 71 characters', 'debtor.name', file({ debtor: { ...REGION, name: 'R'.repeat(71) } })],
    ['remittance of 141 characters', 'payments[0].remittance', file({ payments: [payment({ remittance: 'R'.repeat(141) })] })],
    ['empty remittance', 'payments[0].remittance', file({ payments: [payment({ remittance: '  ' })] })],
    ['execution date that does not exist', 'executionDate', file({ executionDate: '2022-02-30' })],
    ['execution date in French format', 'executionDate', file({ executionDate: '07/11/2022' })],
    ['empty execution date', 'executionDate', file({ executionDate: '' })],
    ['execution date before creation', 'executionDate', file({ executionDate: '2022-11-04' })],
    ['invalid creation date', 'createdAt', file({ createdAt: new Date(Number.NaN) })],
  ];

  it.each(cases)('refuses %s, naming %s', async (_label, field, input) => {
    const error = await thrown(() => creditTransferXml(input));
    expect(error.code).toBe('DATA_INVALID');
    expect(error.message).toContain(`: ${field}: `);
  });
});

describe('toSepaText', () => {
  it('keeps the SEPA set and spells the rest in it', () => {
    expect(toSepaText("A-Z a-z 0-9 / - ? : ( ) . , ' +")).toBe("A-Z a-z 0-9 / - ? : ( ) . , ' +");
    expect(toSepaText('àâäéèêëîïôöùûüÿç ÀÂÄÉÈÊËÎÏÔÖÙÛÜŸÇ')).toBe('aaaeeeeiioouuuyc AAAEEEEIIOOUUUYC');
    expect(toSepaText('œ Œ æ Æ ß ø')).toBe('oe OE ae AE ss o');
    expect(toSepaText('ﬁlm\u00a0n°1 — 12 € _x_')).toBe('film n 1 - 12 x');
    expect(toSepaText('  a \n\t b  ')).toBe('a b');
  });
});

/** An IBAN with correct check digits around a random BBAN, computed with BigInt, not with iban.ts. */
function withCheckDigits(country: string, bban: string): string {
  const numeric = [...`${bban}${country}00`].map((c) => parseInt(c, 36).toString()).join('');
  const check = 98n - (BigInt(numeric) % 97n);
  return `${country}${check.toString().padStart(2, '0')}${bban}`;
}

const BBAN_CHARS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('');
const ibanArb = fc
  .constantFrom(['FR', 23], ['DE', 18], ['BE', 12], ['IT', 23], ['NL', 14], ['MT', 27], ['NO', 11])
  .chain(([country, length]) => fc.string({ unit: fc.constantFrom(...BBAN_CHARS), minLength: length, maxLength: length }).map((bban) => withCheckDigits(country, bban)));

const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 éèêëàâîïôûùüçÉÈÀÇœŒæ’'-&<>\"€_/.,()+?:".split('');
/** Starts with a letter so that something is always left; each character spells as at most two. */
const textArb = (maxLength: number) =>
  fc.tuple(fc.constantFrom(...'AÉeç'.split('')), fc.string({ unit: fc.constantFrom(...NAME_CHARS), maxLength: Math.floor((maxLength - 2) / 2) })).map(([a, b]) => a + b);
const ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-?:().,'+".split('');
const idArb = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 35 });
const bicArb = fc.constantFrom('BNPAFRPP', 'AGRIFRPP882', 'COBADEFFXXX', 'DEUTDEFF500', 'GEBABEBB', 'INGBNL2A');

const paymentArb: fc.Arbitrary<Payment> = fc.record({
  endToEndId: idArb,
  creditor: fc.record({ name: textArb(70), iban: ibanArb, bic: bicArb }),
  amountCents: fc.integer({ min: 1, max: 1_000_000_000 }),
  remittance: textArb(140),
});

const fileArb: fc.Arbitrary<CreditTransferFile> = fc.record({
  messageId: idArb,
  createdAt: fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-01-01T00:00:00Z'), noInvalidDate: true }),
  debtor: fc.record({ name: textArb(70), iban: ibanArb, bic: bicArb }),
  executionDate: fc.constant('2030-01-02'),
  payments: fc.uniqueArray(paymentArb, { minLength: 1, maxLength: 8, selector: (p) => p.endToEndId }),
});

describe('SEPA credit transfer property', () => {
  it('always produces a schema-valid document whose control sum is the exact sum of the payments', () => {
    fc.assert(
      fc.property(fc.array(fileArb, { minLength: 4, maxLength: 4 }), (files) => {
        const documents = files.map((f) => {
          const xml = creditTransferXml(f);
          const expected = euros(f.payments.reduce((sum, p) => sum + BigInt(p.amountCents), 0n));
          const fromAmounts = euros(values(xml, 'InstdAmt').reduce((sum, a) => sum + BigInt(a.replace('.', '')), 0n));
          expect(values(xml, 'CtrlSum')).toEqual([expected, expected]);
          expect(fromAmounts).toBe(expected);
          expect(values(xml, 'NbOfTxs')).toEqual([String(f.payments.length), String(f.payments.length)]);
          return xml;
        });
        expectSchemaValid(...documents);
      }),
      { numRuns: 15 },
    );
  });
});

describe('the schema check itself', () => {
  const good = creditTransferXml(file());
  const breakages: ReadonlyArray<readonly [string, string]> = [
    ['an unknown payment method', good.replace('<PmtMtd>TRF</PmtMtd>', '<PmtMtd>XXX</PmtMtd>')],
    ['a missing execution date', good.replace(/ *<ReqdExctnDt>.*\n/, '')],
    ['a four-letter currency', good.replace('Ccy="EUR"', 'Ccy="EURO"')],
    ['a lowercase BIC', good.replace('<BIC>BNPAFRPP</BIC>', '<BIC>bnpafrpp</BIC>')],
    ['a message id of 36 characters', good.replace('<MsgId>PR-2022-11-0001</MsgId>', `<MsgId>${'M'.repeat(36)}</MsgId>`)],
    ['the wrong namespace', good.replace('pain.001.001.03"', 'pain.001.001.09"')],
  ];

  it.each(breakages)('rejects a document with %s', (_label, broken) => {
    expect(broken).not.toBe(good);
    const result = xmllint([broken]);
    expect(result.ok).toBe(false);
    expect(result.output).toMatch(/fails to validate/);
  });
});
