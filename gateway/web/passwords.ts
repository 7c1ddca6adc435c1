import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { PasserelleError } from '../../protocol/errors.ts';

/**
 * Web passwords: scrypt (node:crypto, on libuv's thread pool, one at a time, so logins never block the sales), N = 2^15,
 * r = 8 (32 MiB and some 60 ms a hash here), a random salt each. Stored as
 * `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>` so the cost can grow. Invitation links and their
 * hashes: 32 random bytes, and only their SHA-256 kept.
 */

const LOG_N = 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const MAXMEM = 128 * 1024 * 1024;

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 200;

/**
 * At most this many password hashes at once: they share libuv's thread pool (4 threads) with the
 * terminals' signature and code checks, so a flood of logins waits its turn instead of slowing sales.
 */
const MAX_CONCURRENT = 1;
let running = 0;
const waiting: (() => void)[] = [];

async function derive(password: string, salt: Buffer, logN: number, r: number, p: number, length: number): Promise<Buffer> {
  // A slot is taken here, or handed over by the one finishing.
  if (running >= MAX_CONCURRENT) await new Promise<void>((go) => waiting.push(go));
  else running++;
  try {
    return await new Promise((resolve, reject) => {
      scrypt(password.normalize('NFC'), salt, length, { N: 2 ** logN, r, p, maxmem: MAXMEM }, (err, key) => (err ? reject(err) : resolve(key)));
    });
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** A new password's hash; PASSWORD_WEAK when it is too short or too long, or the two typings differ. */
export async function hashPassword(password: string, confirm: string = password): Promise<string> {
  if (password !== confirm || [...password].length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
    throw new PasserelleError('PASSWORD_WEAK', `a password has ${PASSWORD_MIN} to ${PASSWORD_MAX} characters, typed the same twice`);
  }
  const salt = randomBytes(16);
  const hash = await derive(password, salt, LOG_N, R, P, KEY_BYTES);
  return ['scrypt', LOG_N, R, P, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

/** Compare in constant time; a stored value of another format never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt' || password.length > PASSWORD_MAX) return false;
  const [, logN, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(password, Buffer.from(salt, 'base64url'), Number(logN), Number(r), Number(p), expected.length);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/**
 * Spent on an unknown e-mail, so a login takes as long whether the account exists or not (the answer
 * never tells which addresses have one).
 */
let decoy: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  decoy ??= hashPassword('decoy-password-never-used');
  await verifyPassword(password.slice(0, PASSWORD_MAX), await decoy);
}

/** A new invitation secret (for the link) and the hash the ledger keeps. */
export function newInvitation(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: invitationHash(secret) };
}

export function invitationHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}
