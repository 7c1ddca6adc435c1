import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { PIN_PATTERN } from '../protocol/pin.ts';

/**
 * The secret code is stored as an scrypt hash (R3): a 4-digit code has only 10,000 values, so a fast hash
 * would fall to brute force in a blink if the database leaked; scrypt makes each guess cost memory and
 * time. Format: `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`, so parameters can grow later.
 */

const LOG_N = 14;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

export function hashPin(pin: string, salt: Buffer = randomBytes(16)): string {
  if (!PIN_PATTERN.test(pin)) throw new RangeError('a secret code is 4 digits');
  const hash = scryptSync(pin, salt, KEY_BYTES, { N: 2 ** LOG_N, r: R, p: P });
  return ['scrypt', LOG_N, R, P, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Compare a code with a stored hash on libuv's thread pool, in constant time. */
export function verifyPin(pin: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return Promise.reject(new Error('stored PIN hash has an unknown format'));
  const [, logN, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  return new Promise((resolve, reject) => {
    const opts = { N: 2 ** Number(logN), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 };
    scrypt(pin, Buffer.from(salt, 'base64url'), expected.length, opts, (err, key) => {
      if (err) reject(err);
      else resolve(key.length === expected.length && timingSafeEqual(key, expected));
    });
  });
}
