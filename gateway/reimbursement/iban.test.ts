import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { thrown } from '../../tests/helpers/errors.ts';
import { ibanProblem, isValidBic, isValidIban, normalizeIban } from './iban.ts';

/** Published example IBANs (SWIFT registry, banks' documentation), as people print them. */
const VALID_PRINTED = [
  'FR76 3000 6000 0112 3456 7890 189',
  'DE89 3704 0044 0532 0130 00',
  'GB29 NWBK 6016 1331 9268 19',
  'BE68 5390 0754 7034',
  'NL91 ABNA 0417 1643 00',
  'ES91 2100 0418 4502 0005 1332',
  'IT60 X054 2811 1010 0000 0123 456',
  'CH93 0076 2011 6238 5295 7',
  'MT84 MALT 0110 0001 2345 MTLC AST0 01S',
  'NO93 8601 1117 947',
  'LU28 0019 4006 4475 0000',
  'MC58 1122 2000 0101 2345 6789 030',
];
const VALID = VALID_PRINTED.map((iban) => iban.replace(/ /g, ''));
const FR = 'FR7630006000011234567890189';

describe('isValidIban', () => {
  it.each(VALID)('accepts %s', (iban) => {
    expect(isValidIban(iban)).toBe(true);
  });

  it('wants the canonical form: uppercase, no spaces', () => {
    expect(isValidIban(VALID_PRINTED[0] ?? '')).toBe(false);
    expect(isValidIban(FR.toLowerCase())).toBe(false);
    expect(isValidIban(` ${FR}`)).toBe(false);
  });

  it('refuses one digit changed, two digits swapped, wrong lengths and garbage', () => {
    const refused = [
      'FR7630006000011234567890188', // last digit changed
      'FR7630006000011234567890198', // two digits swapped
      'FR7730006000011234567890189', // check digit changed
      'DE89370400440532013001', // last digit changed
      'FR763000600001123456789018', // one digit short
      'FR76300060000112345678901890', // one digit long
      'DE893704004405320130000', // one digit long for DE, whatever the checksum
      'US64SVBKUS6S3300958879', // valid checksum, but not a SEPA country
      'XX00', '', 'FR', 'FR76', 'hello world', 'FR76-3000-6000-0112-3456-7890-189', 'FR76300060000112345678901é9',
    ];
    for (const iban of refused) expect(isValidIban(iban), iban).toBe(false);
  });

  it('refuses check digits 00, 01 and 99 even when mod-97 alone would pass', () => {
    // 99 ≡ 02, 00 ≡ 97 and 01 ≡ 98 (mod 97): each pair shares its remainder, but only 02..98 are issued.
    const pairs = [
      ['FR0230006000010000000000029', 'FR9930006000010000000000029'],
      ['FR9730006000010000000000065', 'FR0030006000010000000000065'],
      ['FR9830006000010000000000047', 'FR0130006000010000000000047'],
    ];
    for (const [valid = '', twin = ''] of pairs) {
      expect(isValidIban(valid), valid).toBe(true);
      expect(ibanProblem(twin), twin).toMatch(/never valid/);
    }
  });

  it('says why an IBAN is refused', () => {
    expect(ibanProblem(FR)).toBeNull();
    expect(ibanProblem('FR763000600001123456789018')).toBe('26 characters where a FR IBAN has 27');
    expect(ibanProblem('US64SVBKUS6S3300958879')).toBe('country US is not in the SEPA area');
    expect(ibanProblem('FR7630006000011234567890188')).toMatch(/mod-97/);
    expect(ibanProblem('fr76')).toMatch(/uppercase/);
  });

  it('catches every single-digit substitution and every adjacent transposition in a French IBAN', () => {
    const digitPositions = [...FR].flatMap((c, i) => (i >= 2 && /[0-9]/.test(c) ? [i] : []));
    fc.assert(
      fc.property(fc.constantFrom(...digitPositions), fc.integer({ min: 1, max: 9 }), (position, delta) => {
        const digit = (Number(FR[position]) + delta) % 10;
        expect(isValidIban(FR.slice(0, position) + digit + FR.slice(position + 1))).toBe(false);
      }),
    );
    for (let i = 4; i < FR.length - 1; i++) {
      if (FR[i] === FR[i + 1]) continue;
      const swapped = FR.slice(0, i) + FR[i + 1] + FR[i] + FR.slice(i + 2);
      expect(isValidIban(swapped), swapped).toBe(false);
    }
  });
});

describe('normalizeIban', () => {
  it.each(VALID_PRINTED)('turns the printed %s into the canonical form', (printed) => {
    expect(normalizeIban(printed)).toBe(printed.replace(/ /g, ''));
  });

  it('accepts lowercase, no-break spaces and stray blanks', () => {
    expect(normalizeIban('fr76 3000 6000 0112 3456 7890 189')).toBe(FR);
    expect(normalizeIban(' FR76\u00a03000\u00a06000\u00a00112\u00a03456\u00a07890\u00a0189 ')).toBe(FR);
    expect(normalizeIban('de89\t3704 0044 0532 0130 00')).toBe('DE89370400440532013000');
  });

  it('throws DATA_INVALID with the reason', async () => {
    for (const bad of ['FR76 3000 6000 0112 3456 7890 188', 'FR76 3000 6000 0112 3456 7890 18', 'garbage', '', 'FR76-3000']) {
      const error = await thrown(() => normalizeIban(bad));
      expect(error.code, bad).toBe('DATA_INVALID');
      expect(error.message, bad).toContain(`invalid IBAN ${JSON.stringify(bad)}: `);
    }
    expect((await thrown(() => normalizeIban('FR76 3000 6000 0112 3456 7890 18'))).message).toContain('26 characters where a FR IBAN has 27');
  });
});

describe('isValidBic', () => {
  it('accepts 8- and 11-character BICs', () => {
    for (const bic of ['BNPAFRPP', 'BNPAFRPPXXX', 'DEUTDEFF', 'DEUTDEFF500', 'AGRIFRPP882', 'INGBNL2A', 'COBADE01']) {
      expect(isValidBic(bic), bic).toBe(true);
    }
  });

  it('refuses wrong lengths, lowercase, spaces, digits in the bank or country code', () => {
    for (const bic of ['', 'BNPAFRP', 'BNPAFRPPX', 'BNPAFRPPXX', 'BNPAFRPPXXXX', 'bnpafrpp', 'BNPA FRPP', '1NPAFRPP', 'BNPAF1PP', 'BNPAFRPP-XX', 'BNPAFRPÉ']) {
      expect(isValidBic(bic), bic).toBe(false);
    }
  });
});
