import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';

describe('logger', () => {
  it('redacts card numbers, PIN blocks, seeds and passwords wherever they sit', () => {
    const lines: string[] = [];
    const destination = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
    const log = createLogger({ destination, level: 'info' });
    log.info({ cardNumber: '8250123456789014', body: { credential: { cardNumber: '8250123456789014', pinBlock: 'SEALED' } }, seed: 'S', password: 'P' }, 'x');
    const out = lines.join('');
    expect(out).not.toContain('8250123456789014');
    expect(out).not.toContain('SEALED');
    expect(out).not.toMatch(/"seed":"S"|"password":"P"/);
    expect(out).toContain('[redacted]');
  });
});
