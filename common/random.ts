import { randomInt } from 'node:crypto';

/**
 * A small seeded generator (mulberry32), so that generated data (noisy camera frames, load files) is the
 * same for the same seed on every machine. Not for anything secret.
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Crockford's base 32: digits and capitals without I, L, O, U, so a code read aloud or copied by hand survives. */
export const CROCKFORD32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `n` characters of Crockford base 32 from the system's secure random source (ids and codes people copy). */
export function randomBase32(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += CROCKFORD32[randomInt(CROCKFORD32.length)];
  return out;
}
