import type { Signer, Verifier } from './crypto.ts';

/**
 * How a terminal authenticates to the broker over MQTT 3.1.1 (no challenge/response there): username is
 * its terminal id, password a token `<ms>.<signature>` over a context string, the terminal id and the
 * time. The broker checks it with the terminal's registered public key and refuses tokens older than a
 * bound, which limits both replay and clock skew. Requests are signed on their own anyway; this keeps
 * strangers off the broker and other terminals' replies private.
 */

function tokenMessage(terminalId: string, ms: number): Buffer {
  return Buffer.from(`passerelle/mqtt-connect/v1\0${terminalId}\0${ms}`, 'utf8');
}

export function makeConnectToken(terminalId: string, signer: Signer, nowMs: number): string {
  const sig = signer.sign(tokenMessage(terminalId, nowMs));
  return `${nowMs}.${Buffer.from(sig).toString('base64url')}`;
}

export function checkConnectToken(
  terminalId: string,
  token: string,
  publicKey: Uint8Array,
  verifier: Verifier,
  nowMs: number,
  maxAgeS: number,
): boolean {
  const m = /^([0-9]{1,15})\.([A-Za-z0-9_-]{86})$/.exec(token);
  if (!m) return false;
  const ms = Number(m[1]);
  if (Math.abs(nowMs - ms) > maxAgeS * 1000) return false;
  return verifier.verify(tokenMessage(terminalId, ms), Buffer.from(m[2] as string, 'base64url'), publicKey);
}
