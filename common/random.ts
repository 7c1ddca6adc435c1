import { randomInt } from 'node:crypto';
import { CROCKFORD32 } from '../protocol/enrolment.ts';

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

/** `n` characters of Crockford base 32 from the system's secure random source (ids and codes people copy). */
export function randomBase32(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += CROCKFORD32[randomInt(CROCKFORD32.length)];
  return out;
}
