import type { Signer, Verifier } from './crypto.ts';

/**
 * How a terminal authenticates to the broker over MQTT 3.1.1 (which has no challenge/response): username
 * is its terminal id, password a connect token signed with its key,
 *
 *   `2.<ms>.<head>.<signature>`   over `passerelle/mqtt-connect/v2\0<terminal id>\0<ms>\0<head>`
 *
 * - `ms`: the terminal's clock, strictly greater than in any token the gateway may have admitted (every
 *   token sent, except those the broker explicitly refused). The gateway accepts a token only within
 *   `connectTokenMaxAgeS` of its own clock and only with a time later than the last token it accepted from
 *   that terminal, so a token works once: replayed from another socket (or after the first connection
 *   ended) it is refused, and the terminal that used it is not kicked off.
 * - `head`: the sequence number of the last record in the terminal's outbox. The gateway records it with
 *   the time of the connect: every record with a higher number was made after that moment, which bounds
 *   how far back an offline sale can be dated (docs/security.md).
 *
 * Requests are signed on their own anyway; the token keeps strangers off the broker and other terminals'
 * replies private. Over plain TCP a token can still be read on the wire and used first by whoever reads
 * it: outside loopback the broker speaks TLS (docs/security.md).
 */

export interface ConnectClaims {
  /** The terminal's clock when it made the token; later than any token of the terminal that may have been admitted. */
  readonly ms: number;
  /** The sequence number of its last outbox record (0: none yet). */
  readonly head: number;
}

/**
 * Where a terminal keeps the fate of its connect tokens (its outbox, durably): the claims of the next
 * token, and what the broker answered to each. One object, so no part of a terminal can make tokens and
 * forget to report their fate.
 */
export interface ConnectTokenStore {
  /** The claims of the next token; the token counts as sent (perhaps admitted) from now on. */
  connectClaims(nowMs: number): ConnectClaims;
  /** The broker admitted the token with this time (its CONNACK accepted the connection). */
  connectAdmitted(ms: number): void;
  /** The broker refused the token with this time (CONNACK 4 or 5): it was never admitted. */
  connectRefused(ms: number): void;
}

function tokenMessage(terminalId: string, c: ConnectClaims): Buffer {
  return Buffer.from(`passerelle/mqtt-connect/v2\0${terminalId}\0${c.ms}\0${c.head}`, 'utf8');
}

export function makeConnectToken(terminalId: string, signer: Signer, claims: ConnectClaims): string {
  if (!Number.isSafeInteger(claims.ms) || claims.ms < 0 || !Number.isSafeInteger(claims.head) || claims.head < 0) {
    throw new RangeError('connect claims are non-negative integers');
  }
  const sig = signer.sign(tokenMessage(terminalId, claims));
  return `2.${claims.ms}.${claims.head}.${Buffer.from(sig).toString('base64url')}`;
}

/**
 * The claims of a token whose signature verifies with the terminal's key; undefined for anything else
 * (another version, a malformed token, a wrong signature). Freshness and single use are the gateway's to
 * judge (gateway/contacts.ts).
 */
export function readConnectToken(terminalId: string, token: string, publicKey: Uint8Array, verifier: Verifier): ConnectClaims | undefined {
  const m = /^2\.(0|[1-9][0-9]{0,14})\.(0|[1-9][0-9]{0,14})\.([A-Za-z0-9_-]{86})$/.exec(token);
  if (!m) return undefined;
  const claims = { ms: Number(m[1]), head: Number(m[2]) };
  return verifier.verify(tokenMessage(terminalId, claims), Buffer.from(m[3] as string, 'base64url'), publicKey) ? claims : undefined;
}

/**
 * A terminal's password on an external broker (Mosquitto with its dynamic security plugin), where the broker
 * cannot check a connect token: the terminal's Ed25519 signature of a fixed text (its key is its own, so the
 * password is too; the broker binds it to the terminal id as username and client id). Ed25519 signs
 * deterministically, so the terminal makes the same password at every connect from the key it already
 * holds; the gateway checks it with the terminal's public key when the terminal enrols and gives it to the
 * broker, which keeps only its hash. Whoever holds the key can connect as the terminal, as with the token;
 * it is not single-use, so outside loopback the broker speaks TLS (docs/security.md).
 */
export function brokerPassword(signer: Signer): string {
  return Buffer.from(signer.sign(BROKER_PASSWORD_MESSAGE)).toString('base64url');
}

/** Whether `password` is `brokerPassword` of the key `publicKey`. */
export function isBrokerPassword(password: string, publicKey: Uint8Array, verifier: Verifier): boolean {
  const sig = Buffer.from(password, 'base64url');
  return sig.length === 64 && sig.toString('base64url') === password && verifier.verify(BROKER_PASSWORD_MESSAGE, sig, publicKey);
}

const BROKER_PASSWORD_MESSAGE = Buffer.from('passerelle/mqtt-password/v1', 'utf8');
