import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './link.ts';

describe('reconnection backoff', () => {
  const b = { baseMs: 250, maxMs: 15_000 };
  it('grows exponentially up to the cap, with jitter within [cap/2, cap]', () => {
    for (const [attempt, cap] of [[0, 250], [1, 500], [3, 2000], [6, 15_000], [40, 15_000]] as const) {
      expect(backoffDelayMs(attempt, b, () => 0)).toBe(cap / 2);
      expect(backoffDelayMs(attempt, b, () => 1)).toBe(cap);
    }
  });
  it('spreads terminals that lost the link together', () => {
    let seed = 1;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const delays = new Set(Array.from({ length: 100 }, () => backoffDelayMs(5, b, random)));
    expect(delays.size).toBeGreaterThan(90);
  });
});
