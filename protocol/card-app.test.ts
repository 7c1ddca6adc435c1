import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ForeignCard, personaliseCard } from '../simulators/card.ts';
import { CardChecker } from '../terminal/card-reader.ts';
import type { CardSession } from '../terminal/devices/contactless.ts';
import { cardNumberFrom } from './card.ts';
import {
  APDU,
  CREDENTIAL_BYTES,
  encodeFci,
  issueCredential,
  parseCredential,
  parseFci,
  splitResponse,
  SW,
  verifyCredential,
} from './card-app.ts';
import { naclVerifier, nodeSigner, NodeVerifier } from './crypto.ts';
import { PasserelleError } from './errors.ts';
import { settledCode } from '../tests/helpers/errors.ts';

const issuer = nodeSigner(new Uint8Array(32).fill(7));
const issuerKeys = new Map([[1, issuer.publicKey]]);
const CARD = cardNumberFrom('825000000000123');
const NOW = Date.parse('2026-11-21T10:00:00Z');

/** A card session over an APDU handler, optionally rewriting responses (a hostile card). */
function session(handle: (apdu: Buffer) => Buffer, rewrite?: (res: Buffer, index: number) => Buffer): CardSession {
  let n = 0;
  return {
    reader: 'test reader',
    uid: '04a1b2c3',
    gone: new AbortController().signal,
    transmit: async (apdu) => {
      const res = handle(Buffer.from(apdu));
      return rewrite ? rewrite(res, n++) : res;
    },
  };
}

const checker = new CardChecker({ issuerKeys, clock: { now: () => NOW }, verifier: new NodeVerifier() });

const codeOf = (p: Promise<unknown>) => settledCode(p, 'accepted');

describe('card application', () => {
  it('a genuine card proves itself and gives its number', async () => {
    const card = personaliseCard({ cardNumber: CARD, expiry: '2028-08-31', issuer });
    const got = await checker.check(session((a) => card.handle(a)));
    expect(got).toEqual({ cardNumber: CARD, expiry: '2028-08-31', uid: '04a1b2c3', reader: 'test reader', cardPublicKey: card.credential.cardPublicKey });
    expect(card.received.map((a) => a.subarray(0, 2).toString('hex'))).toEqual(['00a4', '80ca', '0088']);
  });

  it('a clone (same credential, another chip) is refused: it cannot sign the challenge', async () => {
    const clone = personaliseCard({ cardNumber: CARD, expiry: '2028-08-31', issuer }).clone();
    expect(await codeOf(checker.check(session((a) => clone.handle(a))))).toBe('CARD_NOT_GENUINE');
  });

  it('a recorded answer replayed to a new challenge is refused', async () => {
    const card = personaliseCard({ cardNumber: CARD, expiry: '2028-08-31', issuer });
    const recorded: Buffer[] = [];
    await checker.check(session((a) => card.handle(a), (r) => (recorded.push(r), r)));
    const replay = session((a) => card.handle(a), (r, i) => (i === 2 ? recorded[2]! : r));
    expect(await codeOf(checker.check(replay))).toBe('CARD_NOT_GENUINE');
  });

  it('a credential signed by another key, or naming an unknown issuer key, is refused', async () => {
    const forged = personaliseCard({ cardNumber: CARD, expiry: '2028-08-31', issuer: nodeSigner(randomBytes(32)) });
    expect(await codeOf(checker.check(session((a) => forged.handle(a))))).toBe('CARD_NOT_GENUINE');
    const otherIndex = personaliseCard({ cardNumber: CARD, expiry: '2028-08-31', issuer, issuerKeyIndex: 2 });
    expect(await codeOf(checker.check(session((a) => otherIndex.handle(a))))).toBe('CARD_NOT_GENUINE');
  });

  it('an expired card is refused; its last day is still valid (Paris date)', async () => {
    const lastDay = personaliseCard({ cardNumber: CARD, expiry: '2026-11-21', issuer });
    expect(await codeOf(checker.check(session((a) => lastDay.handle(a))))).toBe('accepted');
    const expired = personaliseCard({ cardNumber: CARD, expiry: '2026-11-20', issuer });
    expect(await codeOf(checker.check(session((a) => expired.handle(a))))).toBe('CARD_EXPIRED');
  });

  it('a card without our application is named as such', async () => {
    const card = new ForeignCard();
    expect(await codeOf(checker.check(session((a) => card.handle(a))))).toBe('CARD_NOT_PASS_REGION');
  });

  it('the emulated card refuses commands out of order and malformed APDUs', () => {
    const card = personaliseCard({ cardNumber: CARD, expiry: '2028-08-31', issuer });
    expect(splitResponse(card.handle(APDU.getCredential())).sw).toBe(SW.CONDITIONS_NOT_SATISFIED);
    expect(splitResponse(card.handle(Buffer.from([0x00]))).sw).toBe(SW.WRONG_LENGTH);
    expect(splitResponse(card.handle(Buffer.from([0x00, 0xa4, 0x04, 0x00, 0x05, 1, 2]))).sw).toBe(SW.WRONG_LENGTH);
    expect(splitResponse(card.handle(Buffer.from([0x00, 0xa4, 0x04, 0x00, 0x02, 1, 2, 0]))).sw).toBe(SW.FILE_NOT_FOUND);
    expect(splitResponse(card.handle(APDU.select())).sw).toBe(SW.OK);
    expect(splitResponse(card.handle(Buffer.from([0x00, 0x88, 0x00, 0x00, 0x04, 1, 2, 3, 4, 0]))).sw).toBe(SW.WRONG_LENGTH);
  });

  it('credentials round-trip and tweetnacl and node:crypto agree on them', () => {
    const c = issueCredential({ cardNumber: CARD, expiry: '2030-02-28', cardPublicKey: new Uint8Array(32).fill(1), issuerKeyIndex: 1 }, issuer);
    expect(c.encoded.length).toBe(CREDENTIAL_BYTES);
    const back = parseCredential(c.encoded);
    expect(back.cardNumber).toBe(CARD);
    expect(back.expiry).toBe('2030-02-28');
    verifyCredential(back, issuerKeys, naclVerifier);
    verifyCredential(back, issuerKeys, new NodeVerifier());
    expect(parseFci(encodeFci())).toEqual({ version: 1 });
  });

  it('refuses to issue what it could not encode', () => {
    const f = { cardNumber: CARD, expiry: '2030-02-30', cardPublicKey: new Uint8Array(32), issuerKeyIndex: 1 };
    expect(() => issueCredential(f, issuer)).toThrow(RangeError);
    expect(() => issueCredential({ ...f, expiry: '2030-02-28', cardNumber: '1234567812345678' }, issuer)).toThrow(RangeError);
  });
});

describe('card application parsers under fuzz', () => {
  const genuine = issueCredential({ cardNumber: CARD, expiry: '2030-02-28', cardPublicKey: new Uint8Array(32).fill(1), issuerKeyIndex: 1 }, issuer);

  /** Each input is either accepted or refused with one of the card codes; nothing else may escape. */
  const expectCardError = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(PasserelleError);
      expect(['CARD_RESPONSE_INVALID', 'CARD_NOT_GENUINE', 'CARD_NOT_PASS_REGION']).toContain((e as PasserelleError).code);
      expect((e as PasserelleError).message.length).toBeGreaterThan(10);
    }
  };

  it('random bytes never crash the response, FCI or credential parsers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const b = Buffer.from(bytes);
        expectCardError(() => splitResponse(b));
        expectCardError(() => parseFci(b));
        expectCardError(() => parseCredential(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('a credential with any byte changed is refused (parse or signature), never accepted', () => {
    fc.assert(
      fc.property(fc.nat({ max: CREDENTIAL_BYTES - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const mutated = Buffer.from(genuine.encoded);
        mutated[at]! ^= xor;
        expect(() => verifyCredential(parseCredential(mutated), issuerKeys, naclVerifier)).toThrow(PasserelleError);
      }),
      { numRuns: 200 },
    );
  });

  it('hostile card answers (random, truncated, mutated) end every check with a card code', async () => {
    const card = personaliseCard({ cardNumber: CARD, expiry: '2028-08-31', issuer });
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: 2 }),
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => () => Buffer.from(b)),
          fc.nat({ max: 200 }).map((n) => (r: Buffer) => r.subarray(0, Math.min(n, r.length))),
          fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => (r: Buffer) => {
            const m = Buffer.from(r);
            if (m.length > 0) m[at % m.length]! ^= x;
            return m;
          }),
        ),
        async (which, mutate) => {
          const code = await codeOf(checker.check(session((a) => card.handle(a), (r, i) => (i === which ? mutate(r) : r))));
          expect(['accepted', 'CARD_RESPONSE_INVALID', 'CARD_NOT_GENUINE', 'CARD_NOT_PASS_REGION', 'CARD_EXPIRED']).toContain(code);
        },
      ),
      { numRuns: 300 },
    );
  });
});
