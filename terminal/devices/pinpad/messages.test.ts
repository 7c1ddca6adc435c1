import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { isPasserelleError } from '../../../protocol/errors.ts';
import { thrown } from '../../../tests/helpers/errors.ts';
import { type Message, MSG, decodeMessage, encodeMessage, keyFingerprint } from './messages.ts';

const TXN = '0190a6f2-5b1c-7d3e-8f40-123456789abc';
const BLOCK = new Uint8Array(118).fill(7);

const samples: Message[] = [
  { type: 'STATUS', seq: 0 },
  { type: 'SHOW_TEXT', seq: 1, lines: ['Présentez la carte', 'ou le QR code'] },
  { type: 'SHOW_TEXT', seq: 2, lines: [''] },
  { type: 'BEEP', seq: 3, count: 2, durationMs: 150 },
  { type: 'REQUEST_PIN', seq: 4, txnId: TXN, timeoutS: 60, prompt: ['Montant : 12,50 €', 'Code secret :'] },
  { type: 'CANCEL', seq: 255 },
  { type: 'ACK', seq: 4, forType: MSG.REQUEST_PIN },
  { type: 'NAK', seq: 5, forType: MSG.SHOW_TEXT, status: 'busy' },
  { type: 'STATUS_REPLY', seq: 6, state: 'entering', keyFingerprint: Buffer.alloc(8, 0xab), model: 'SIM-PAD-1', firmware: '1.2.3' },
  { type: 'PIN_RESULT', seq: 4, outcome: 'sealed', block: Buffer.from(BLOCK) },
  { type: 'PIN_RESULT', seq: 4, outcome: 'cancelled' },
  { type: 'PIN_RESULT', seq: 4, outcome: 'timed-out' },
];

function reasonOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return isPasserelleError(e, 'PAD_FRAME_INVALID') ? e.details?.['reason'] : `not PAD_FRAME_INVALID: ${String(e)}`;
  }
  return 'accepted';
}

describe('PIN pad messages', () => {
  it.each(samples.map((m) => [m.type, m] as const))('round-trips %s', (_type, m) => {
    expect(decodeMessage(encodeMessage(m))).toEqual(m);
  });

  it('lays out REQUEST_PIN as seq, type, txnId, timeout, then the prompt lines', () => {
    const bytes = encodeMessage({ type: 'REQUEST_PIN', seq: 9, txnId: TXN, timeoutS: 30, prompt: ['Code :'] });
    expect([...bytes.subarray(0, 2)]).toEqual([9, 0x13]);
    expect(bytes.subarray(2, 38).toString('ascii')).toBe(TXN);
    expect([...bytes.subarray(38, 41)]).toEqual([30, 1, 6]);
  });

  it('counts characters, not bytes: twenty accented letters fit a line', () => {
    const line = 'é'.repeat(20);
    expect(decodeMessage(encodeMessage({ type: 'SHOW_TEXT', seq: 1, lines: [line] }))).toMatchObject({ lines: [line] });
  });

  it('refuses over-long text, too many lines and control characters when encoding', async () => {
    expect((await thrown(() => encodeMessage({ type: 'SHOW_TEXT', seq: 1, lines: ['x'.repeat(21)] }))).code).toBe('PAD_FRAME_INVALID');
    expect(reasonOf(() => encodeMessage({ type: 'SHOW_TEXT', seq: 1, lines: ['a', 'b', 'c'] }))).toBe('bad-value');
    expect(reasonOf(() => encodeMessage({ type: 'SHOW_TEXT', seq: 1, lines: ['a\nb'] }))).toBe('bad-text');
    expect(reasonOf(() => encodeMessage({ type: 'SHOW_TEXT', seq: 1, lines: ['\ud800'] }))).toBe('bad-utf8');
    expect(reasonOf(() => encodeMessage({ type: 'BEEP', seq: 1, count: 50, durationMs: 100 }))).toBe('bad-value');
    expect(reasonOf(() => encodeMessage({ type: 'REQUEST_PIN', seq: 1, txnId: 'not-a-uuid', timeoutS: 60, prompt: ['x'] }))).toBe('bad-value');
  });

  it('names the reason, seq and type of each payload it refuses', async () => {
    const cases: [number[], string][] = [
      [[1], 'short-payload'],
      [[1, 0x7f], 'unknown-type'],
      [[1, MSG.BEEP, 1], 'short-body'],
      [[1, MSG.STATUS, 0], 'trailing-bytes'],
      [[1, MSG.SHOW_TEXT, 1, 2, 0xc3, 0x28], 'bad-utf8'],
      [[1, MSG.SHOW_TEXT, 1, 81, ...new Array<number>(81).fill(0x41)], 'text-too-long'],
      [[1, MSG.SHOW_TEXT, 1, 21, ...new Array<number>(21).fill(0x41)], 'text-too-long'],
      [[1, MSG.SHOW_TEXT, 1, 1, 0x07], 'bad-text'],
      [[1, MSG.NAK, MSG.BEEP, 0x77], 'bad-value'],
      [[1, MSG.PIN_RESULT, 0, 10, 1, 2], 'bad-value'],
    ];
    for (const [bytes, reason] of cases) {
      expect(reasonOf(() => decodeMessage(Uint8Array.from(bytes))), `${bytes.slice(0, 6).join(',')}`).toBe(reason);
    }
    expect((await thrown(() => decodeMessage(Uint8Array.from([42, 0x7f])))).message).toMatch(/unknown message type/);
    try {
      decodeMessage(Uint8Array.from([42, 0x7f]));
    } catch (e) {
      expect(isPasserelleError(e) && e.details).toMatchObject({ seq: 42, type: 0x7f, reason: 'unknown-type' });
    }
  });

  it('fingerprints a key as the first 8 bytes of its SHA-256', () => {
    const key = nacl.box.keyPair().publicKey;
    const fp = keyFingerprint(key);
    expect(fp).toHaveLength(8);
    expect(fp.equals(keyFingerprint(Uint8Array.from(key)))).toBe(true);
    expect(fp.equals(keyFingerprint(nacl.box.keyPair().publicKey))).toBe(false);
  });
});

describe('message decoder under fuzzing', () => {
  it('never throws anything but PAD_FRAME_INVALID with a reason, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          decodeMessage(bytes);
        } catch (e) {
          expect(isPasserelleError(e, 'PAD_FRAME_INVALID')).toBe(true);
          expect(typeof (isPasserelleError(e) && e.details?.['reason'])).toBe('string');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes a mutated valid message to a valid message or refuses it cleanly', () => {
    fc.assert(
      fc.property(fc.constantFrom(...samples), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (m, at, byte, truncate) => {
        const bytes = Buffer.from(encodeMessage(m));
        const i = at % bytes.length;
        const mutated = truncate ? bytes.subarray(0, i) : (bytes.fill(byte, i, i + 1), bytes);
        try {
          const decoded = decodeMessage(mutated);
          // Anything accepted must survive a round trip: the decoder only accepts what the encoder makes.
          expect(Buffer.from(encodeMessage(decoded)).equals(mutated)).toBe(true);
        } catch (e) {
          expect(isPasserelleError(e, 'PAD_FRAME_INVALID')).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
