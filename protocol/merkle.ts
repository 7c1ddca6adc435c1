import { hash } from 'node:crypto';

/**
 * Merkle trees as in RFC 9162 (Certificate Transparency 2.0), section 2.1.
 *
 * Why: the gateway signs one root per group-commit batch instead of one signature per reply. Each reply
 * travels with its audit path, so a terminal checks its own reply against the signed root. On this
 * machine Ed25519 signs ~27,000/s and verifies ~9,000/s per core: one signature per reply would cost
 * the gateway a third of a core at 8,000 debits/s, and simulated terminals verifying every reply a full
 * core. A root per batch costs one signature per batch whatever its size.
 *
 * Leaves and interior nodes are hashed with distinct prefixes (0x00, 0x01) so a leaf can never pass for
 * an interior node (second-preimage attack on the tree).
 */

export const HASH_BYTES = 32;
/** A batch never holds more than this many replies, so an audit path is at most 16 hashes. */
export const MAX_TREE_SIZE = 65_536;

const LEAF = Buffer.of(0);
const NODE = Buffer.of(1);

// One-shot `crypto.hash` (Node ≥ 20.12): a hot path hashes a few times per reply, and a Hash object per
// call costs more than the hashing itself.
export function leafHash(leaf: Uint8Array): Buffer {
  return hash('sha256', Buffer.concat([LEAF, leaf]), 'buffer');
}

function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return hash('sha256', Buffer.concat([NODE, left, right]), 'buffer');
}

/** The largest power of two strictly below n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export interface Tree {
  readonly root: Buffer;
  /** proofs[i] is the audit path of leaf i, from the leaf up. */
  readonly proofs: Buffer[][];
}

/** Root and every leaf's audit path, from the leaf hashes. O(n log n) hashes. */
export function buildTree(leafHashes: readonly Buffer[]): Tree {
  const n = leafHashes.length;
  if (n < 1 || n > MAX_TREE_SIZE) throw new RangeError(`tree size out of range: ${n}`);
  return build(leafHashes, 0, n);
}

function build(leaves: readonly Buffer[], from: number, to: number): Tree {
  const n = to - from;
  if (n === 1) return { root: leaves[from] as Buffer, proofs: [[]] };
  const k = splitPoint(n);
  const left = build(leaves, from, from + k);
  const right = build(leaves, from + k, to);
  for (const p of left.proofs) p.push(right.root);
  for (const p of right.proofs) p.push(left.root);
  return { root: nodeHash(left.root, right.root), proofs: [...left.proofs, ...right.proofs] };
}

/**
 * RFC 9162 §2.1.3.2: the root implied by a leaf hash, its index, the tree size and its audit path; null
 * when the path cannot belong to a tree of that size.
 */
export function rootFromPath(leaf: Buffer, index: number, size: number, path: readonly Buffer[]): Buffer | null {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size || size > MAX_TREE_SIZE) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 ? r : null;
}

const ROOT_CONTEXT = Buffer.from('passerelle/reply-batch/v1\0', 'ascii');

/**
 * The exact bytes the gateway signs for a batch: a context string (so this signature can never be
 * mistaken for one over a JSON message, which starts with `{`), the tree size, the root.
 */
export function rootMessage(size: number, root: Uint8Array): Buffer {
  const out = Buffer.alloc(ROOT_CONTEXT.length + 4 + HASH_BYTES);
  ROOT_CONTEXT.copy(out, 0);
  out.writeUInt32BE(size, ROOT_CONTEXT.length);
  Buffer.from(root.buffer, root.byteOffset, root.byteLength).copy(out, ROOT_CONTEXT.length + 4);
  return out;
}
