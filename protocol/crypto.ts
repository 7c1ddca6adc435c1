import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { PasserelleError } from './errors.ts';

/**
 * Ed25519 signing and verification behind one small interface, with two implementations that produce
 * and accept the same bytes (RFC 8032; protocol/crypto.test.ts checks it both ways):
 *  - node:crypto (OpenSSL): every hot path, the terminal's as much as the gateway's (requests signed,
 *    replies, pushed documents, card credentials and QR codes checked). Sign ~20 µs, verify ~60 µs here,
 *    against 4 ms and 4–11 ms for tweetnacl, which is several times slower again on an ARM board.
 *  - tweetnacl: pure JavaScript, kept where node:crypto lacks the primitive (the PIN pad's sealed box,
 *    protocol/pin.ts) and for the interoperability tests.
 * Keys travel as raw bytes: a 32-byte seed for a private key, 32 bytes for a public key.
 */

export const SEED_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface Verifier {
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
}

export function b64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Decode base64url of an exact length; a wrong length or alphabet is a KEY_FILE_INVALID. */
export function fromB64url(text: string, bytes: number, what: string): Uint8Array {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new PasserelleError('KEY_FILE_INVALID', `${what} is not base64url`);
  }
  const out = Buffer.from(text, 'base64url');
  if (out.length !== bytes) throw new PasserelleError('KEY_FILE_INVALID', `${what} must be ${bytes} bytes, got ${out.length}`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The fixed PKCS#8 header of an Ed25519 private key (RFC 8410): the 32-byte seed follows it. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The public key of a seed, with node:crypto: tweetnacl's scalar multiplication costs about 10 ms here,
 * OpenSSL's a few µs (a bench that personalises 20,000 chips notices). Same bytes (RFC 8032).
 */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return publicKeyOf(nodePrivateKey(seed));
}

function publicKeyOf(privateKey: KeyObject): Uint8Array {
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x;
  return new Uint8Array(Buffer.from(String(x), 'base64url'));
}

/** tweetnacl's Ed25519: interoperability tests only (every hot path uses nodeSigner). */
export function naclSigner(seed: Uint8Array): Signer {
  const kp = nacl.sign.keyPair.fromSeed(seed);
  return {
    publicKey: kp.publicKey,
    sign: (message) => nacl.sign.detached(message, kp.secretKey),
  };
}

/** tweetnacl's Ed25519 check: interoperability tests only (every hot path uses NodeVerifier). */
export const naclVerifier: Verifier = {
  verify(message, signature, publicKey) {
    if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
    return nacl.sign.detached.verify(message, signature, publicKey);
  },
};

export function nodePrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== SEED_BYTES) throw new RangeError('an Ed25519 seed is 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

export function nodePublicKey(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(publicKey) }, format: 'jwk' });
}

export function nodeSigner(seed: Uint8Array): Signer & { readonly keyObject: KeyObject } {
  const keyObject = nodePrivateKey(seed);
  return {
    publicKey: publicKeyOf(keyObject),
    keyObject,
    sign: (message) => nodeSign(null, message, keyObject),
  };
}

/**
 * node:crypto verification with a bounded cache of parsed public keys: building a KeyObject costs more
 * than the verification itself.
 */
export class NodeVerifier implements Verifier {
  readonly #cache = new Map<string, KeyObject>();
  readonly #byArray = new WeakMap<Uint8Array, { readonly bytes: Buffer; readonly key: KeyObject }>();
  readonly #maxKeys: number;

  constructor(maxKeys = 100_000) {
    this.#maxKeys = maxKeys;
  }

  keyObject(publicKey: Uint8Array): KeyObject {
    // Ledgers hand out the same array for a key each time: found without encoding it, and still checked
    // byte for byte (32 bytes), so an array whose content changed can never bring back the old key.
    const known = this.#byArray.get(publicKey);
    if (known && known.bytes.equals(publicKey)) return known.key;
    const key = this.#byId(publicKey);
    this.#byArray.set(publicKey, { bytes: Buffer.from(publicKey), key });
    return key;
  }

  #byId(publicKey: Uint8Array): KeyObject {
    const id = b64url(publicKey);
    let key = this.#cache.get(id);
    if (!key) {
      if (this.#cache.size >= this.#maxKeys) this.#cache.clear();
      key = nodePublicKey(publicKey);
      this.#cache.set(id, key);
    }
    return key;
  }

  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
    if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
    return nodeVerify(null, message, this.keyObject(publicKey), signature);
  }

  /** The same check on libuv's thread pool, so the event loop keeps serving the broker meanwhile. */
  verifyAsync(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
    if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return Promise.resolve(false);
    const key = this.keyObject(publicKey);
    return new Promise((resolve) => {
      nodeVerify(null, message, key, signature, (err, ok) => resolve(!err && ok));
    });
  }
}

let shared: NodeVerifier | undefined;

/** The verifier of a caller that names none: node:crypto, one instance (and one key cache) per process. */
export function defaultVerifier(): NodeVerifier {
  return (shared ??= new NodeVerifier());
}
