import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NodeVerifier, naclSigner, naclVerifier, nodeSigner } from './crypto.ts';

describe('Ed25519: tweetnacl and node:crypto agree byte for byte', () => {
  const verifier = new NodeVerifier();
  it('produce the same signature for the same seed and message, and verify each other', async () => {
    for (let i = 0; i < 20; i++) {
      const seed = randomBytes(32);
      const message = randomBytes(1 + i * 37);
      const terminal = naclSigner(seed);
      const gateway = nodeSigner(seed);
      expect(Buffer.from(terminal.publicKey)).toEqual(Buffer.from(gateway.publicKey));
      const a = terminal.sign(message);
      const b = gateway.sign(message);
      // Ed25519 is deterministic: both libraries must emit identical bytes.
      expect(Buffer.from(a)).toEqual(Buffer.from(b));
      expect(verifier.verify(message, a, terminal.publicKey)).toBe(true);
      expect(await verifier.verifyAsync(message, a, terminal.publicKey)).toBe(true);
      expect(naclVerifier.verify(message, b, gateway.publicKey)).toBe(true);
    }
  });

  it('both refuse a flipped bit in the message, the signature or the key', async () => {
    const s = nodeSigner(randomBytes(32));
    const message = Buffer.from('{"v":1}');
    const sig = Buffer.from(s.sign(message));
    const flip = (b: Uint8Array, i: number) => {
      const c = Buffer.from(b);
      c[i] = (c[i] ?? 0) ^ 1;
      return c;
    };
    for (const [m, g, k] of [
      [flip(message, 3), sig, s.publicKey],
      [message, flip(sig, 10), s.publicKey],
      [message, sig, flip(s.publicKey, 0)],
    ] as const) {
      expect(verifier.verify(m, g, k)).toBe(false);
      expect(await verifier.verifyAsync(m, g, k)).toBe(false);
      expect(naclVerifier.verify(m, g, k)).toBe(false);
    }
    expect(verifier.verify(message, sig.subarray(1), s.publicKey)).toBe(false);
    expect(naclVerifier.verify(message, sig, s.publicKey.subarray(1))).toBe(false);
  });
});

describe('NodeVerifier key cache', () => {
  it('an array whose bytes change in place is checked with its new key, never the one cached for it', () => {
    const verifier = new NodeVerifier();
    const a = nodeSigner(randomBytes(32));
    const b = nodeSigner(randomBytes(32));
    const message = Buffer.from('{"v":1}');
    const key = new Uint8Array(a.publicKey);
    expect(verifier.verify(message, a.sign(message), key)).toBe(true);
    key.set(b.publicKey);
    expect(verifier.verify(message, a.sign(message), key)).toBe(false);
    expect(verifier.verify(message, b.sign(message), key)).toBe(true);
  });
});
