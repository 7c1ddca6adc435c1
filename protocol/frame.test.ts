import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NodeVerifier, naclVerifier, nodeSigner } from './crypto.ts';
import { isPasserelleError } from './errors.ts';
import { VerifiedRoots, decodeFrame, encodeBatch, encodeDirect, verifyFrame } from './frame.ts';
import { buildTree, leafHash, rootFromPath, rootMessage } from './merkle.ts';

const signer = nodeSigner(randomBytes(32));
const verifier = new NodeVerifier();

function signBatch(messages: Buffer[]): Buffer[] {
  const tree = buildTree(messages.map(leafHash));
  const sig = signer.sign(rootMessage(messages.length, tree.root));
  return messages.map((m, i) => encodeBatch(m, sig, messages.length, i, tree.proofs[i]!));
}

describe('Merkle trees (RFC 9162)', () => {
  it('every leaf of every size up to 70 proves against the root, and no other leaf does', () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
      const tree = buildTree(leaves);
      for (let i = 0; i < n; i++) {
        expect(rootFromPath(leaves[i]!, i, n, tree.proofs[i]!)?.equals(tree.root)).toBe(true);
        const other = leaves[(i + 1) % n]!;
        if (n > 1) expect(rootFromPath(other, i, n, tree.proofs[i]!)?.equals(tree.root) ?? false).toBe(false);
      }
      expect(tree.proofs.every((p) => p.length <= Math.ceil(Math.log2(n)))).toBe(true);
    }
  });

  it('a path claimed for a wrong index does not reach the root; a wrong size fails the signature', () => {
    const leaves = Array.from({ length: 9 }, (_, i) => leafHash(Buffer.from([i])));
    const tree = buildTree(leaves);
    expect(rootFromPath(leaves[3]!, 4, 9, tree.proofs[3]!)?.equals(tree.root) ?? false).toBe(false);
    expect(rootFromPath(leaves[3]!, 9, 9, tree.proofs[3]!)).toBeNull();
    // A left-side path can fit a larger tree and give the same root (RFC 9162 binds the size by signing
    // it with the root), so the check that matters is the signature over (size, root).
    const messages = Array.from({ length: 9 }, (_, i) => Buffer.from(`{"r":${i}}`));
    const f = decodeFrame(signBatch(messages)[3]!);
    if (f.mode !== 'batch') throw new Error('expected a batch frame');
    expect(verifyFrame(f, signer.publicKey, verifier)).toBe(true);
    expect(verifyFrame({ ...f, size: 10 }, signer.publicKey, verifier)).toBe(false);
  });
});

describe('signed frames', () => {
  it('round-trips a direct frame and verifies it with both libraries', () => {
    const message = Buffer.from('{"v":1,"type":"debit.request","x":"é."}');
    const frame = decodeFrame(encodeDirect(message, signer.sign(message)));
    expect(frame.mode).toBe('direct');
    expect(frame.message.equals(message)).toBe(true);
    expect(verifyFrame(frame, signer.publicKey, verifier)).toBe(true);
    expect(verifyFrame(frame, signer.publicKey, naclVerifier)).toBe(true);
  });

  it('round-trips batch frames: each reply verifies alone, a swapped body does not', () => {
    const messages = Array.from({ length: 13 }, (_, i) => Buffer.from(`{"reply":${i}}`));
    const frames = signBatch(messages).map(decodeFrame);
    const roots = new VerifiedRoots();
    for (const [i, f] of frames.entries()) {
      expect(f.mode === 'batch' && f.index === i && f.size === 13).toBe(true);
      expect(verifyFrame(f, signer.publicKey, naclVerifier)).toBe(true);
      expect(verifyFrame(f, signer.publicKey, verifier, roots)).toBe(true);
    }
    const swapped = { ...frames[2]!, message: messages[3]! };
    expect(verifyFrame(swapped, signer.publicKey, verifier, roots)).toBe(false);
    // The cached signature does not vouch for another root: same signature, another batch's content.
    const other = signBatch(Array.from({ length: 13 }, (_, i) => Buffer.from(`{"other":${i}}`))).map(decodeFrame)[0]!;
    expect(verifyFrame({ ...other, signature: frames[0]!.signature }, signer.publicKey, verifier, roots)).toBe(false);
    expect(verifyFrame(frames[2]!, nodeSigner(randomBytes(32)).publicKey, verifier, roots)).toBe(false);
  });

  it('a batch of one has an empty audit path', () => {
    const [payload] = signBatch([Buffer.from('{"only":true}')]);
    const f = decodeFrame(payload!);
    expect(f.mode === 'batch' && f.path.length === 0).toBe(true);
    expect(verifyFrame(f, signer.publicKey, naclVerifier)).toBe(true);
  });

  it('a header byte with its high bit set is not its 7-bit twin', () => {
    const message = Buffer.from('{"v":1}');
    for (const frame of [signBatch([message, message])[0]!, encodeDirect(message, signer.sign(message))]) {
      for (const at of [0, 1, 2, 5, 89]) {
        const bad = Buffer.from(frame);
        bad[at] = (bad[at] ?? 0) | 0x80;
        expect(() => decodeFrame(bad)).toThrow();
      }
    }
  });

  it('refuses malformed frames with BAD_FRAME', () => {
    const good = encodeDirect(Buffer.from('{}'), signer.sign(Buffer.from('{}')));
    const bad = [
      Buffer.alloc(0),
      Buffer.from('hello'),
      Buffer.from('X1.' + 'A'.repeat(86) + '.{}'),
      Buffer.concat([good.subarray(0, 89), Buffer.from('!{}')]),
      Buffer.concat([good.subarray(0, 90), Buffer.from('[]')]),
      Buffer.from('S1.' + '*'.repeat(86) + '.{}'),
      Buffer.from('M1.' + 'A'.repeat(86) + '.3.3..{}'),
      Buffer.from('M1.' + 'A'.repeat(86) + '.0.0..{}'),
      Buffer.from('M1.' + 'A'.repeat(86) + '.2.1.AAAA.{}'),
      Buffer.from('M1.' + 'A'.repeat(86) + '.99999999.1..{}'),
      Buffer.alloc(20_000, 0x7b),
    ];
    for (const b of bad) {
      expect(() => decodeFrame(b), b.subarray(0, 20).toString()).toThrow();
      try {
        decodeFrame(b);
      } catch (e) {
        expect(isPasserelleError(e, 'BAD_FRAME')).toBe(true);
      }
    }
  });

  it('never crashes on random or mutated bytes: a frame or BAD_FRAME, and a mutated frame never verifies', () => {
    const message = Buffer.from('{"v":1,"amount":1250}');
    const valid = signBatch([message, Buffer.from('{"v":1}'), Buffer.from('{"v":2}')])[0]!;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (random, flips) => {
        for (const candidate of [Buffer.from(random), mutate(valid, flips)]) {
          try {
            const f = decodeFrame(candidate);
            if (candidate !== valid && !candidate.equals(valid)) expect(verifyFrame(f, signer.publicKey, verifier)).toBe(false);
          } catch (e) {
            expect(isPasserelleError(e, 'BAD_FRAME')).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

function mutate(b: Buffer, flips: [number, number][]): Buffer {
  const c = Buffer.from(b);
  for (const [at, x] of flips) c[at % c.length] = (c[at % c.length] ?? 0) ^ x;
  return c;
}
