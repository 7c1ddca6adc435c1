import { describe, expect, it } from 'vitest';
import { uuidv7 } from './uuid7.ts';

describe('UUIDv7 transaction ids', () => {
  it('have the version and variant bits and the time in front, so they sort by time', () => {
    const a = uuidv7(1_700_000_000_000);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.replace(/-/g, '').slice(0, 12)).toBe((1_700_000_000_000).toString(16).padStart(12, '0'));
    const ids = [1, 2, 3, 1000, 10_000].map((d) => uuidv7(1_700_000_000_000 + d));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(Array.from({ length: 1000 }, () => uuidv7(1)))).toHaveProperty('size', 1000);
  });
});
