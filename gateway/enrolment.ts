import { isBrokerPassword } from '../protocol/connect-token.ts';
import { timingSafeEqual } from 'node:crypto';
import { randomBase32 } from '../common/random.ts';
import { PARTNER_TYPES, type Benefit } from '../protocol/benefits.ts';
import { b64url, defaultVerifier, type Signer } from '../protocol/crypto.ts';
import { encodeJson } from '../protocol/debit.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { enrolmentAnswerMac, enrolmentSecretHash as secretHash, ENROLMENT_ID_CHARS as ID_CHARS, ENROLMENT_SECRET_CHARS as SECRET_CHARS, parseEnrolmentCode } from '../protocol/enrolment.ts';
import { encodeDirect } from '../protocol/frame.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import type { GatewayPublicKeys } from '../protocol/gateway-keys.ts';
import type { EnrolmentCodeRecord, Ledger } from './ledger/ledger.ts';

/**
 * Enrolment codes: how a terminal comes to exist. An operator makes a code bound to one partner and one
 * terminal id, single-use, expiring, with a few tries; a technician types it on the new terminal, which
 * sends it with the public key it generated on the device. The gateway then registers (or, for a replaced
 * device, re-keys) that terminal and answers with what it needs to run, signed with the gateway key.
 *
 * A code is 16 characters of Crockford base32 in four groups, `K7M2-9QXF-3RTB-HW4D` (protocol/enrolment.ts):
 * the first group names the code (20 bits, unique among stored codes), the other twelve are its secret (60
 * bits), of which only a SHA-256 is stored. Sixty bits with a handful of tries per code, behind the HTTP rate limit,
 * cannot be guessed online; a stolen database yields only hashes of codes that expire within days.
 */

export const ENROLMENT_TTL_S_DEFAULT = 7 * 86_400;
export const ENROLMENT_TTL_S_MAX = 30 * 86_400;
export const ENROLMENT_TRIES_DEFAULT = 5;
export const ENROLMENT_TRIES_MAX = 20;

export interface NewEnrolmentCode {
  readonly partnerId: string;
  readonly terminalId: string;
  readonly ttlS?: number;
  readonly maxTries?: number;
  /** Who made it, as the audit log names callers. */
  readonly actor: string;
}

export interface MadeEnrolmentCode {
  readonly id: string;
  /** The whole code: shown once, never stored. */
  readonly code: string;
  readonly expiresAt: number;
}

/** What a terminal needs to run, given in the enrolment answer (issue "the terminal as a product"). */
export interface EnrolmentContext {
  readonly signer: Signer;
  readonly keys: GatewayPublicKeys;
  /** The broker URL terminals connect to (mqtt:// on loopback, mqtts:// elsewhere). */
  readonly mqttUrl: string;
  /** The broker's TLS certificate (PEM) a terminal pins, when the broker speaks TLS. */
  readonly mqttCertPem?: string;
  /** A terminal's old key was replaced, or it was switched off: drop its live connection now. */
  readonly onKeyReplaced?: (terminalId: string) => void;
  /**
   * An external broker (Mosquitto): give it the terminal's password (checked against the key first) before
   * the code is used; a failure leaves the code unused. Absent: the gateway's own broker, which checks
   * connect tokens itself.
   */
  readonly provisionBroker?: (terminalId: string, password: string) => Promise<void>;
}

export interface Enrolment {
  readonly terminalId: string;
  readonly partnerId: string;
  readonly partnerName: string;
  readonly benefits: Benefit[];
  readonly mqtt: { readonly url: string; readonly certPem: string | null };
  readonly gateway: { readonly signPublicKey: string; readonly boxPublicKey: string; readonly issuerPublicKey: string };
  readonly enrolledAt: number;
  /** The public key the terminal sent (base64url): the answer is bound to it. */
  readonly publicKey: string;
  /** `replaced`: the terminal id existed (a replaced device) and its old key is refused from now on. */
  readonly replaced: boolean;
  /** The same fields as a signed frame (`S1.<signature>.<json>`), signed with the gateway's reply key. */
  readonly signed: string;
  /** HMAC of `signed` keyed with the code's secret hash: the terminal knows the answer is from its code's gateway. */
  readonly codeMac: string;
}

export async function makeEnrolmentCode(ledger: Ledger, n: NewEnrolmentCode, now: number): Promise<MadeEnrolmentCode> {
  const partner = await ledger.partner(n.partnerId);
  if (!partner) throw new PasserelleError('NOT_FOUND', `no partner ${n.partnerId}`);
  const existing = await ledger.terminal(n.terminalId);
  if (existing && existing.partnerId !== n.partnerId) {
    throw new PasserelleError('DATA_INVALID', `terminal ${n.terminalId} belongs to partner ${existing.partnerId}, not ${n.partnerId}`);
  }
  const ttlS = n.ttlS ?? ENROLMENT_TTL_S_DEFAULT;
  const maxTries = n.maxTries ?? ENROLMENT_TRIES_DEFAULT;
  if (!Number.isInteger(ttlS) || ttlS < 1 || ttlS > ENROLMENT_TTL_S_MAX) throw new PasserelleError('DATA_INVALID', `ttlS must be 1 to ${ENROLMENT_TTL_S_MAX}`);
  if (!Number.isInteger(maxTries) || maxTries < 1 || maxTries > ENROLMENT_TRIES_MAX) throw new PasserelleError('DATA_INVALID', `maxTries must be 1 to ${ENROLMENT_TRIES_MAX}`);
  return await ledger.atomically(async () => {
    // 2^20 ids: draw until one is free (a handful of codes are alive at any time).
    let id = randomBase32(ID_CHARS);
    for (let i = 0; await ledger.enrolmentCode(id) && i < 64; i++) id = randomBase32(ID_CHARS);
    if (await ledger.enrolmentCode(id)) throw new PasserelleError('DATA_INVALID', 'no free enrolment code id: revoke unused codes');
    const secret = randomBase32(SECRET_CHARS);
    const expiresAt = now + ttlS * 1000;
    await ledger.addEnrolmentCode({ id, secretHash: secretHash(id, secret), partnerId: n.partnerId, terminalId: n.terminalId, createdAt: now, expiresAt, maxTries, createdBy: n.actor });
    await ledger.addAudit({ at: now, actor: n.actor, action: 'enrolment-code.created', subject: n.terminalId, details: { code: id, partnerId: n.partnerId, expiresAt, maxTries } });
    const code = id + secret;
    return { id, code: `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8, 12)}-${code.slice(12)}`, expiresAt };
  });
}

/** Why a stored code cannot enrol now, or null when it can (the secret is checked apart). */
function unusable(c: EnrolmentCodeRecord, now: number): PasserelleError | null {
  if (c.revokedAt !== null) return new PasserelleError('ENROLMENT_CODE_REVOKED', `enrolment code ${c.id} was revoked`);
  if (c.usedAt !== null) return new PasserelleError('ENROLMENT_CODE_USED', `enrolment code ${c.id} was already used`);
  if (now >= c.expiresAt) return new PasserelleError('ENROLMENT_CODE_EXPIRED', `enrolment code ${c.id} expired`);
  if (c.failures >= c.maxTries) return new PasserelleError('ENROLMENT_CODE_EXHAUSTED', `enrolment code ${c.id} had ${c.failures} wrong tries`);
  return null;
}

/**
 * Enrol a terminal with a code and the public key it made. A wrong secret counts against the code (and is
 * logged) even though the call fails; everything else is one transaction: the terminal registered or
 * re-keyed, the code used, the audit lines written. `from` is the caller's address, for the log.
 */
export async function redeemEnrolmentCode(ledger: Ledger, typed: string, publicKey: Uint8Array, now: number, ctx: EnrolmentContext, from: string, mqttPassword?: string): Promise<Enrolment> {
  const parsed = parseEnrolmentCode(typed);
  const stored = parsed && await ledger.enrolmentCode(parsed.id);
  if (!parsed || !stored) throw new PasserelleError('ENROLMENT_CODE_INVALID', 'no such enrolment code');
  const refusal = unusable(stored, now);
  if (refusal) throw refusal;
  const given = Buffer.from(secretHash(parsed.id, parsed.secret), 'hex');
  if (!timingSafeEqual(given, Buffer.from(stored.secretHash, 'hex'))) {
    await ledger.atomically(async () => {
      const failures = await ledger.countEnrolmentFailure(stored.id);
      await ledger.addAudit({ at: now, actor: `enrolment-code:${stored.id}`, action: 'enrolment-code.failed', subject: stored.terminalId, details: { from, failures, maxTries: stored.maxTries } });
    });
    throw new PasserelleError('ENROLMENT_CODE_INVALID', `wrong secret for enrolment code ${stored.id}`);
  }
  const actor = `enrolment-code:${stored.id}`;
  if (ctx.provisionBroker && (mqttPassword === undefined || !isBrokerPassword(mqttPassword, publicKey, defaultVerifier()))) {
    throw new PasserelleError('DATA_INVALID', 'this gateway runs behind an MQTT broker that needs the broker password made from the key (mqttPassword): update the terminal software');
  }
  const key = b64url(publicKey);
  // First the code is used (once, checked against revocation and the terminal's partner, in one
  // transaction); then an external broker is given the terminal's account; then the key is recorded. A
  // broker that refuses gives the code back; no other request can have used it meanwhile.
  await ledger.atomically(async () => {
    if (!(await ledger.useEnrolmentCode(stored.id, now))) throw new PasserelleError('ENROLMENT_CODE_USED', `enrolment code ${stored.id} was already used`);
    const existing = await ledger.terminal(stored.terminalId);
    if (existing && existing.partnerId !== stored.partnerId) throw new PasserelleError('DATA_INVALID', `terminal ${stored.terminalId} now belongs to another partner`);
  });
  if (ctx.provisionBroker) {
    try {
      await ctx.provisionBroker(stored.terminalId, mqttPassword!);
    } catch (e) {
      await ledger.releaseEnrolmentCode(stored.id, now);
      throw e;
    }
  }
  const replaced = await ledger.atomically(async () => {
    await ledger.addAudit({ at: now, actor, action: 'enrolment-code.used', subject: stored.terminalId, details: { from, publicKey: key } });
    const existing = await ledger.terminal(stored.terminalId);
    if (existing) {
      if (existing.partnerId !== stored.partnerId) throw new PasserelleError('DATA_INVALID', `terminal ${stored.terminalId} now belongs to another partner`);
      await ledger.replaceTerminalKey(stored.terminalId, publicKey);
      await ledger.addAudit({ at: now, actor, action: 'terminal.key-replaced', subject: stored.terminalId, details: { oldPublicKey: b64url(existing.publicKey), publicKey: key, wasActive: existing.active } });
      return true;
    }
    await ledger.addTerminal({ id: stored.terminalId, partnerId: stored.partnerId, publicKey });
    await ledger.addAudit({ at: now, actor, action: 'terminal.enrolled', subject: stored.terminalId, details: { partnerId: stored.partnerId, publicKey: key } });
    return false;
  });
  if (replaced) ctx.onKeyReplaced?.(stored.terminalId);
  const partner = await ledger.partner(stored.partnerId);
  if (!partner) throw new PasserelleError('NOT_FOUND', `no partner ${stored.partnerId}`);
  const fields = {
    terminalId: stored.terminalId,
    publicKey: b64url(publicKey),
    partnerId: partner.id,
    partnerName: partner.name,
    benefits: [...PARTNER_TYPES[partner.type].benefits] as Benefit[],
    mqtt: { url: ctx.mqttUrl, certPem: ctx.mqttCertPem ?? null, auth: ctx.provisionBroker ? ('key' as const) : ('token' as const) },
    gateway: { signPublicKey: b64url(ctx.keys.signPublicKey), boxPublicKey: b64url(ctx.keys.boxPublicKey), issuerPublicKey: b64url(ctx.keys.issuerPublicKey) },
    enrolledAt: now,
    replaced,
  };
  const message = encodeJson({ v: PROTOCOL_VERSION, type: 'terminal.enrolment', body: fields });
  const signed = encodeDirect(message, ctx.signer.sign(message)).toString('utf8');
  return { ...fields, signed, codeMac: enrolmentAnswerMac(stored.secretHash, signed) };
}
