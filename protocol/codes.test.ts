import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CODES, codesMarkdown, type Code } from './codes.ts';

describe('the code table', () => {
  it('has unique numbers, each in the range of its category', () => {
    const nums = Object.values(CODES).map((c) => c.num);
    expect(new Set(nums).size).toBe(nums.length);
    const range = { decline: 100, reject: 200, terminal: 300, process: 400, admin: 500 } as const;
    for (const [code, c] of Object.entries(CODES) as [Code, (typeof CODES)[Code]][]) {
      expect(Math.floor(c.num / 100) * 100, code).toBe(range[c.category]);
      expect(c.fr.length, code).toBeGreaterThan(0);
    }
  });

  it('docs/codes.md is the generated table', () => {
    expect(readFileSync(new URL('../docs/codes.md', import.meta.url), 'utf8')).toBe(codesMarkdown());
  });
});
