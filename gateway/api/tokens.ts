import { createHash, randomBytes } from 'node:crypto';
import { PasserelleError } from '../../protocol/errors.ts';
import type { ApiRole, ApiTokenRecord, Ledger } from '../ledger/ledger.ts';

/**
 * API tokens: 32 random bytes in base64url behind a `psr_` prefix (so a leaked token is recognisable in a
 * paste or a secret scanner). Only the SHA-256 of a token is stored; the token itself is shown once, when
 * it is created, and cannot be recovered from the ledger.
 *
 * A plain SHA-256 (not a slow hash like the PIN's) is enough: the token has 256 bits of entropy, so
 * there is nothing to brute-force, and every request has to hash it.
 */

export const TOKEN_PREFIX = 'psr_';
const TOKEN_BYTES = 32;
/** `psr_` then 43 base64url characters (32 bytes, unpadded). */
const TOKEN_SHAPE = /^psr_[A-Za-z0-9_-]{43}$/;
const NAME_MAX = 80;

export interface NewApiToken {
  readonly name: string;
  readonly role: ApiRole;
  /** Required for, and only for, the partner role: the partner whose data the token sees. */
  readonly partnerId?: string;
  /** Made by the demo seeding: withdrawn when the gateway starts without the demo. */
  readonly demo?: boolean;
  /** Who makes it, for the audit log (`<role>:<name>`, `cli`, `gateway`). */
  readonly actor?: string;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A token's public name: the first 16 hex digits of its hash (what `Ledger.revokeApiToken` takes). */
export function tokenId(token: string): string {
  return hashToken(token).slice(0, 16);
}

async function checkNewToken(ledger: Ledger, t: NewApiToken): Promise<void> {
  if (t.name.trim() === '' || t.name.length > NAME_MAX) throw new PasserelleError('DATA_INVALID', `a token name is 1 to ${NAME_MAX} characters`);
  if (t.role === 'partner' && t.partnerId === undefined) throw new PasserelleError('DATA_INVALID', 'a partner token needs its partner id');
  if (t.role !== 'partner' && t.partnerId !== undefined) throw new PasserelleError('DATA_INVALID', `a ${t.role} token is not tied to a partner`);
  if (t.partnerId !== undefined && !await ledger.partner(t.partnerId)) throw new PasserelleError('NOT_FOUND', `no partner ${t.partnerId}`);
}

/** Creates a token, stores its hash, and returns the token: the only time anyone sees it. */
export async function createApiToken(ledger: Ledger, t: NewApiToken, now: number): Promise<string> {
  await checkNewToken(ledger, t);
  const token = TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
  await ledger.atomically(async () => {
    await ledger.addApiToken({ tokenHash: hashToken(token), name: t.name, role: t.role, partnerId: t.partnerId ?? null, createdAt: now, demo: t.demo === true });
    await ledger.addAudit({ at: now, actor: t.actor ?? 'gateway', action: 'token.created', subject: tokenId(token), details: { name: t.name, role: t.role, partnerId: t.partnerId ?? null } });
  });
  return token;
}

/**
 * The record of a presented token, or undefined. The lookup is by hash, never by the token, so the
 * comparison the database makes is between digests: its timing can at most reveal the start of a digest,
 * which gives no way to build a token that has it (that would be a SHA-256 preimage).
 */
export async function lookupApiToken(ledger: Ledger, presented: string): Promise<ApiTokenRecord | undefined> {
  if (!TOKEN_SHAPE.test(presented)) return undefined;
  return await ledger.apiToken(hashToken(presented));
}

/** Revoke a token by its id, with its audit line; false when no token in force has that id. */
export async function revokeApiToken(ledger: Ledger, id: string, now: number, actor: string): Promise<boolean> {
  return await ledger.atomically(async () => {
    const done = await ledger.revokeApiToken(id, now);
    if (done) await ledger.addAudit({ at: now, actor, action: 'token.revoked', subject: id, details: null });
    return done;
  });
}
