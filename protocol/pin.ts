import nacl from 'tweetnacl';
import { PasserelleError } from './errors.ts';

/**
 * The secret code (R3: 4 digits) never exists in clear outside the PIN pad and the gateway. The pad seals
 * it to the gateway's X25519 box key with a fresh ephemeral key pair (tweetnacl `box`, XSalsa20-Poly1305),
 * together with the transaction id, so the terminal only carries an opaque block and a block captured
 * for one sale cannot be replayed for another.
 *
 * Block layout (base64url): ephemeral public key (32) ‖ nonce (24) ‖ box of `PIN1:<txnId>:<code>`.
 */

export const PIN_PATTERN = /^[0-9]{4}$/;
const PLAIN_PREFIX = 'PIN1:';

export interface SealOptions {
  /** For tests only: a fixed ephemeral key pair and nonce. */
  readonly ephemeral?: nacl.BoxKeyPair;
  readonly nonce?: Uint8Array;
}

export function sealPin(pin: string, txnId: string, gatewayBoxPublicKey: Uint8Array, opts: SealOptions = {}): string {
  if (!PIN_PATTERN.test(pin)) throw new PasserelleError('PIN_BLOCK_INVALID', 'the secret code must be 4 digits');
  const eph = opts.ephemeral ?? nacl.box.keyPair();
  const nonce = opts.nonce ?? nacl.randomBytes(nacl.box.nonceLength);
  const plain = new TextEncoder().encode(`${PLAIN_PREFIX}${txnId}:${pin}`);
  const boxed = nacl.box(plain, nonce, gatewayBoxPublicKey, eph.secretKey);
  return Buffer.concat([eph.publicKey, nonce, boxed]).toString('base64url');
}

/** Open a block for the given transaction; any mismatch is PIN_BLOCK_INVALID. Returns the 4-digit code. */
export function openPin(block: string, txnId: string, gatewayBoxSecretKey: Uint8Array): string {
  const raw = Buffer.from(block, 'base64url');
  const head = nacl.box.publicKeyLength + nacl.box.nonceLength;
  if (raw.length <= head + nacl.box.overheadLength || raw.length > 200) {
    throw new PasserelleError('PIN_BLOCK_INVALID', 'PIN block has the wrong length');
  }
  const plain = nacl.box.open(raw.subarray(head), raw.subarray(32, head), raw.subarray(0, 32), gatewayBoxSecretKey);
  if (!plain) throw new PasserelleError('PIN_BLOCK_INVALID', 'PIN block does not open with the gateway key');
  const text = new TextDecoder().decode(plain);
  const expected = `${PLAIN_PREFIX}${txnId}:`;
  if (!text.startsWith(expected)) throw new PasserelleError('PIN_BLOCK_INVALID', 'PIN block was sealed for another transaction');
  const pin = text.slice(expected.length);
  if (!PIN_PATTERN.test(pin)) throw new PasserelleError('PIN_BLOCK_INVALID', 'PIN block does not hold 4 digits');
  return pin;
}
