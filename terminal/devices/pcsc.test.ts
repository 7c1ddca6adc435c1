import { describe, expect, it } from 'vitest';
import { CODES } from '../../protocol/codes.ts';
import { isPasserelleError } from '../../protocol/errors.ts';
import { loadNfcPcsc } from './pcsc.ts';

/** The driver's package is optional: a terminal that asks for it where it is absent is told what to install. */
describe('the PC/SC driver package', () => {
  const thrown = (load: (id: string) => unknown) => {
    try {
      loadNfcPcsc(load);
    } catch (e) {
      return e;
    }
    return undefined;
  };

  it('absent: NFC_DRIVER_MISSING, naming the Debian packages and the npm package to install', () => {
    const e = thrown(() => {
      throw Object.assign(new Error("Cannot find module 'nfc-pcsc'"), { code: 'MODULE_NOT_FOUND' });
    });
    expect(isPasserelleError(e, 'NFC_DRIVER_MISSING')).toBe(true);
    expect((e as Error).message).toMatch(/not installed.*libpcsclite-dev.*npm install nfc-pcsc/);
    expect(CODES.NFC_DRIVER_MISSING.fr).toContain('libpcsclite-dev');
  });

  it('present but unloadable (built for another Node): the same code, with the loader\'s reason', () => {
    const e = thrown(() => {
      throw new Error('was compiled against a different Node.js version');
    });
    expect(isPasserelleError(e, 'NFC_DRIVER_MISSING')).toBe(true);
    expect((e as Error).message).toContain('different Node.js version');
  });

  it('installed: the real package loads here (the tests need it for the PC/SC device tests)', () => {
    expect(typeof loadNfcPcsc().NFC).toBe('function');
  });
});
