import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { cardNumberFrom, encodeCardQr } from './card.ts';
import { naclSigner, nodeSigner, NodeVerifier } from './crypto.ts';
import { isPasserelleError } from './errors.ts';
import type { Code } from './codes.ts';
import {
  APP_QR_PREFIX,
  APP_QR_TOKEN_BYTES,
  APP_QR_TOKEN_CHARS,
  mintAppQr,
  parseQrCredential,
  type ParseQrOptions,
} from './qr-payload.ts';

const ISSUER_SEED = new Uint8Array(32).fill(7);
const OTHER_SEED = new Uint8Array(32).fill(9);
const issuer = nodeSigner(ISSUER_SEED);
// tweetnacl (the terminal's default) checks ~270 signatures/s here; the many-case tests use node:crypto,
// which accepts the same signatures, and the default verifier has its own tests.
const fastVerifier = new NodeVerifier();
const CARD = cardNumberFrom('497012345678901');
const ISSUED_AT_MS = Date.UTC(2025, 8, 1, 10, 0, 0);
const NONCE = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
const QR_CODES: readonly Code[] = ['QR_PAYLOAD_INVALID', 'QR_NOT_GENUINE', 'QR_EXPIRED'];

function opts(nowMs = ISSUED_AT_MS + 5_000, extra: Partial<ParseQrOptions> = {}): ParseQrOptions {
  return { issuerPublicKey: issuer.publicKey, nowMs, verifier: fastVerifier, ...extra };
}

/** The terminal's default: no verifier given, so tweetnacl. */
function terminalOpts(nowMs = ISSUED_AT_MS + 5_000): ParseQrOptions {
  return { issuerPublicKey: issuer.publicKey, nowMs };
}

function validToken(ttlS = 120): string {
  return mintAppQr({ cardNumber: CARD, issuer, issuedAtMs: ISSUED_AT_MS, ttlS, nonce: NONCE });
}

/** The code (and reason) thrown by `fn`; fails the test on success or on anything not a PasserelleError. */
function refusal(fn: () => unknown): { code: Code; reason: unknown } {
  try {
    fn();
  } catch (e) {
    if (!isPasserelleError(e)) throw new Error(`expected a PasserelleError, got ${String(e)}`, { cause: e });
    return { code: e.code, reason: e.details?.['reason'] };
  }
  throw new Error('expected a refusal, the payload was accepted');
}

/** The token bytes of an app QR text, and back. */
const tokenBytes = (text: string): Buffer => Buffer.from(text.slice(APP_QR_PREFIX.length), 'base64url');
const textOf = (bytes: Uint8Array): string => APP_QR_PREFIX + Buffer.from(bytes).toString('base64url');

describe('app QR code: minting and reading back', () => {
  it('round-trips card number, dates, validity and nonce', () => {
    const text = validToken();
    expect(text.startsWith(APP_QR_PREFIX)).toBe(true);
    expect(text.length).toBe(APP_QR_PREFIX.length + APP_QR_TOKEN_CHARS);
    expect(tokenBytes(text).length).toBe(APP_QR_TOKEN_BYTES);
    expect(parseQrCredential(text, terminalOpts())).toEqual({
      kind: 'app',
      cardNumber: CARD,
      issuedAtMs: ISSUED_AT_MS,
      ttlS: 120,
      expiresAtMs: ISSUED_AT_MS + 120_000,
      nonceHex: '0102030405060708',
    });
  });

  it('lays out the body as documented: version, BCD card number, issuedAt, ttl, nonce', () => {
    const bytes = tokenBytes(validToken(600));
    expect(bytes[0]).toBe(1);
    expect(bytes.subarray(1, 9).toString('hex')).toBe(CARD);
    expect(bytes.readUInt32BE(9)).toBe(ISSUED_AT_MS / 1000);
    expect(bytes.readUInt16BE(13)).toBe(600);
    expect([...bytes.subarray(15, 23)]).toEqual([...NONCE]);
  });

  it('interoperates: minted with tweetnacl or node:crypto, checked with either', () => {
    for (const signer of [naclSigner(ISSUER_SEED), nodeSigner(ISSUER_SEED)]) {
      const text = mintAppQr({ cardNumber: CARD, issuer: signer, issuedAtMs: ISSUED_AT_MS, ttlS: 60 });
      expect(parseQrCredential(text, terminalOpts()).cardNumber).toBe(CARD);
      expect(parseQrCredential(text, opts()).cardNumber).toBe(CARD);
    }
  });

  it('with the default verifier (tweetnacl), refuses a forged code', () => {
    const forged = mintAppQr({ cardNumber: CARD, issuer: naclSigner(OTHER_SEED), issuedAtMs: ISSUED_AT_MS, ttlS: 60 });
    expect(refusal(() => parseQrCredential(forged, terminalOpts())).code).toBe('QR_NOT_GENUINE');
  });

  it('draws a fresh nonce for each code', () => {
    const a = mintAppQr({ cardNumber: CARD, issuer, issuedAtMs: ISSUED_AT_MS, ttlS: 60 });
    const b = mintAppQr({ cardNumber: CARD, issuer, issuedAtMs: ISSUED_AT_MS, ttlS: 60 });
    expect(a).not.toBe(b);
  });

  it('refuses to mint from bad arguments (programmer errors on the backend)', () => {
    const base = { cardNumber: CARD, issuer, issuedAtMs: ISSUED_AT_MS, ttlS: 60 };
    expect(() => mintAppQr({ ...base, cardNumber: '4970123456789011' })).toThrow(RangeError);
    expect(() => mintAppQr({ ...base, ttlS: 0 })).toThrow(RangeError);
    expect(() => mintAppQr({ ...base, ttlS: 601 })).toThrow(RangeError);
    expect(() => mintAppQr({ ...base, issuedAtMs: -1000 })).toThrow(RangeError);
    expect(() => mintAppQr({ ...base, issuedAtMs: 2 ** 32 * 1000 })).toThrow(RangeError);
    expect(() => mintAppQr({ ...base, nonce: new Uint8Array(7) })).toThrow(RangeError);
  });
});

describe('app QR code: validity in time', () => {
  it('is valid from issuedAt minus the skew to issuedAt plus the ttl, both ends included', () => {
    const text = validToken(120);
    expect(parseQrCredential(text, opts(ISSUED_AT_MS - 30_000)).kind).toBe('app');
    expect(parseQrCredential(text, opts(ISSUED_AT_MS + 120_000)).kind).toBe('app');
  });

  it('is refused as expired after issuedAt plus the ttl', () => {
    expect(refusal(() => parseQrCredential(validToken(120), opts(ISSUED_AT_MS + 120_001)))).toEqual({ code: 'QR_EXPIRED', reason: 'expired' });
  });

  it('is refused as not yet valid before issuedAt minus the skew', () => {
    expect(refusal(() => parseQrCredential(validToken(), opts(ISSUED_AT_MS - 30_001)))).toEqual({ code: 'QR_EXPIRED', reason: 'not-yet-valid' });
  });

  it('takes the skew from the options', () => {
    const text = validToken();
    expect(parseQrCredential(text, opts(ISSUED_AT_MS - 60_000, { skewMs: 60_000 })).kind).toBe('app');
    expect(refusal(() => parseQrCredential(text, opts(ISSUED_AT_MS - 1, { skewMs: 0 }))).code).toBe('QR_EXPIRED');
  });

  it('checks the signature before the time: a forged, expired code is not genuine', () => {
    const forged = mintAppQr({ cardNumber: CARD, issuer: naclSigner(OTHER_SEED), issuedAtMs: ISSUED_AT_MS, ttlS: 60 });
    expect(refusal(() => parseQrCredential(forged, opts(ISSUED_AT_MS + 3_600_000))).code).toBe('QR_NOT_GENUINE');
  });
});

describe('app QR code: authenticity and form', () => {
  it('refuses a code signed with another key', () => {
    const forged = mintAppQr({ cardNumber: CARD, issuer: naclSigner(OTHER_SEED), issuedAtMs: ISSUED_AT_MS, ttlS: 60 });
    expect(refusal(() => parseQrCredential(forged, opts()))).toEqual({ code: 'QR_NOT_GENUINE', reason: 'signature' });
  });

  it('refuses a valid code checked against another issuer key', () => {
    const other = naclSigner(OTHER_SEED).publicKey;
    expect(refusal(() => parseQrCredential(validToken(), opts(undefined, { issuerPublicKey: other }))).code).toBe('QR_NOT_GENUINE');
  });

  it('refuses every single-byte change of a valid token, whichever byte and bit', () => {
    const bytes = tokenBytes(validToken());
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const tampered = Buffer.from(bytes);
        tampered[i] = (tampered[i] ?? 0) ^ mask;
        const { code } = refusal(() => parseQrCredential(textOf(tampered), opts()));
        expect(['QR_NOT_GENUINE', 'QR_PAYLOAD_INVALID'], `byte ${i} ^ ${mask}`).toContain(code);
      }
    }
  });

  it('refuses a signature made without the domain tag', () => {
    const good = tokenBytes(validToken());
    const body = good.subarray(0, 23);
    const sig = issuer.sign(body);
    expect(refusal(() => parseQrCredential(textOf(Buffer.concat([body, sig])), opts())).code).toBe('QR_NOT_GENUINE');
  });

  it('names what is wrong with a malformed token', () => {
    const good = validToken();
    const bytes = tokenBytes(good);
    const withByte = (i: number, v: number): string => {
      const b = Buffer.from(bytes);
      b[i] = v;
      return textOf(b);
    };
    const cases: [string, string][] = [
      [good.slice(0, -1), 'token-length'],
      [good + 'A', 'token-length'],
      [APP_QR_PREFIX, 'token-length'],
      [good.slice(0, -1) + '=', 'token-alphabet'],
      [good.slice(0, -1) + '+', 'token-alphabet'],
      [withByte(0, 2), 'version'],
      [withByte(1, 0xa9), 'card-number'],
      [withByte(8, (bytes[8] ?? 0) ^ 0x01), 'card-number'],
      [withByte(13, 0x03), 'ttl'],
      [textOf(Buffer.concat([bytes.subarray(0, 13), Buffer.from([0, 0]), bytes.subarray(15)])), 'ttl'],
    ];
    for (const [text, reason] of cases) {
      expect(refusal(() => parseQrCredential(text, opts())), text).toEqual({ code: 'QR_PAYLOAD_INVALID', reason });
    }
  });
});

describe('card QR code and other texts', () => {
  it("reads the card's static code exactly as protocol/card.ts does", () => {
    expect(parseQrCredential(encodeCardQr(CARD), opts())).toEqual({ kind: 'card', cardNumber: CARD });
  });

  it('refuses a card code with a bad card number', () => {
    expect(refusal(() => parseQrCredential('PR1:C:4970123456789011', opts()))).toEqual({ code: 'QR_PAYLOAD_INVALID', reason: 'card-number' });
    expect(refusal(() => parseQrCredential(`PR1:C:${CARD} `, opts())).code).toBe('QR_PAYLOAD_INVALID');
  });

  it('refuses unknown prefixes and kinds', () => {
    expect(refusal(() => parseQrCredential('https://example.org/pay', opts()))).toEqual({ code: 'QR_PAYLOAD_INVALID', reason: 'unknown-prefix' });
    expect(refusal(() => parseQrCredential('PR1:X:123', opts()))).toEqual({ code: 'QR_PAYLOAD_INVALID', reason: 'unknown-kind' });
    expect(refusal(() => parseQrCredential('pr1:c:' + CARD, opts())).reason).toBe('unknown-prefix');
    expect(refusal(() => parseQrCredential('', opts())).reason).toBe('unknown-prefix');
  });

  it('refuses over-long texts before looking at them', () => {
    expect(refusal(() => parseQrCredential(APP_QR_PREFIX + 'A'.repeat(10_000), opts()))).toEqual({ code: 'QR_PAYLOAD_INVALID', reason: 'too-long' });
  });
});

describe('parseQrCredential fuzz', () => {
  /** Runs the parser and returns the code, or 'accepted'; anything thrown that is not one of ours fails. */
  function outcome(text: string): Code | 'accepted' {
    try {
      parseQrCredential(text, opts());
      return 'accepted';
    } catch (e) {
      if (!isPasserelleError(e) || !QR_CODES.includes(e.code)) throw e;
      return e.code;
    }
  }

  it('random strings: a QR code refusal every time, never anything else', () => {
    const prefixed = fc.tuple(fc.constantFrom('', 'PR1:', 'PR1:A:', 'PR1:C:'), fc.string({ unit: 'binary', maxLength: 300 }));
    fc.assert(
      fc.property(prefixed, ([prefix, rest]) => {
        expect(outcome(prefix + rest)).not.toBe('accepted');
      }),
      { seed: 42, numRuns: 2000 },
    );
  });

  it('random base64url tokens of the right length: refused', () => {
    const token = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'), minLength: 116, maxLength: 116 });
    fc.assert(
      fc.property(token, (t) => {
        expect(outcome(APP_QR_PREFIX + t)).not.toBe('accepted');
      }),
      { seed: 43, numRuns: 300 },
    );
  });

  it('mutated valid tokens (byte edits, cuts, insertions): never accepted', () => {
    const good = tokenBytes(validToken());
    const edit = fc.oneof(
      fc.record({ op: fc.constant('set' as const), at: fc.nat(good.length - 1), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('cut' as const), at: fc.nat(good.length - 1), value: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(good.length), value: fc.integer({ min: 0, max: 255 }) }),
    );
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        let bytes = Buffer.from(good);
        for (const e of edits) {
          if (e.op === 'set') bytes[e.at % bytes.length] = e.value;
          else if (e.op === 'cut') bytes = Buffer.concat([bytes.subarray(0, e.at), bytes.subarray(e.at + e.value)]);
          else bytes = Buffer.concat([bytes.subarray(0, e.at), Buffer.from([e.value]), bytes.subarray(e.at)]);
        }
        const result = outcome(textOf(bytes));
        // An edit that writes back the same byte leaves the token valid; anything else is refused.
        if (bytes.equals(good)) expect(result).toBe('accepted');
        else expect(result).not.toBe('accepted');
      }),
      { seed: 44, numRuns: 500 },
    );
  });

  it('mutated texts (character edits of a valid text): never accepted unless unchanged', () => {
    const good = validToken();
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 2 }), (at, s) => {
        const text = good.slice(0, at) + s + good.slice(at + 1);
        const result = outcome(text);
        if (text === good) expect(result).toBe('accepted');
        else expect(result).not.toBe('accepted');
      }),
      { seed: 45, numRuns: 500 },
    );
  });

  it('codes minted for random valid cards, times and validities round-trip', () => {
    const card = fc.stringMatching(/^[0-9]{15}$/).map(cardNumberFrom);
    fc.assert(
      fc.property(card, fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 600 }), (cardNumber, issuedAtS, ttlS) => {
        const text = mintAppQr({ cardNumber, issuer, issuedAtMs: issuedAtS * 1000, ttlS });
        const cred = parseQrCredential(text, opts(issuedAtS * 1000 + ttlS * 500));
        expect(cred).toMatchObject({ kind: 'app', cardNumber, issuedAtMs: issuedAtS * 1000, ttlS });
      }),
      { seed: 46, numRuns: 100 },
    );
  });
});
