import { describe, expect, it } from 'vitest';
import { backoffDelayMs, refusalOf } from './link.ts';

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

describe('a refused connect', () => {
  const connack = (message: string, code: number) => Object.assign(new Error(message), { code });
  it('is named by its CONNACK return code: 5 is a terminal not admitted, any other refusal is the connect token', () => {
    expect(refusalOf(connack('Connection refused: Not authorized', 5), 7)).toEqual({ code: 'LINK_NOT_AUTHORIZED', returnCode: 5, reason: 'Connection refused: Not authorized', at: 7 });
    expect(refusalOf(connack('Connection refused: Bad username or password', 4), 7)).toMatchObject({ code: 'LINK_REFUSED', returnCode: 4 });
  });
  it('is not any error: a socket or TLS failure is no refusal', () => {
    expect(refusalOf(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1884'), { code: 'ECONNREFUSED' }), 7)).toBeUndefined();
    expect(refusalOf(new Error("the broker's certificate is not the pinned one"), 7)).toBeUndefined();
  });
});
