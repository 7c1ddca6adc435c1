import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

/**
 * Every promise is awaited, handed on, or explicitly let go (`void`): the ledger answers with promises, and a
 * write nobody waits for is a write whose failure nobody sees (a sale answered before it is stored). The
 * type checker does not catch a promise dropped on the floor, or one passed where a function's result is
 * ignored; typescript-eslint's three rules do, with the project's own types.
 */
describe('promises', () => {
  it('none is left floating, misused as a value, or awaited when it is not one', async () => {
    const eslint = new ESLint({
      cwd: new URL('..', import.meta.url).pathname,
      overrideConfigFile: true,
      overrideConfig: tseslint.config({
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser, parserOptions: { project: './tsconfig.json' } },
        plugins: { '@typescript-eslint': tseslint.plugin },
        rules: {
          '@typescript-eslint/no-floating-promises': 'error',
          '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
          '@typescript-eslint/await-thenable': 'error',
        },
      }) as ESLint.Options['overrideConfig'],
    });
    const results = await eslint.lintFiles(['protocol', 'common', 'terminal', 'gateway', 'simulators', 'cli', 'bench', 'tests'].map((d) => `${d}/**/*.ts`));
    const problems = results.flatMap((r) => r.messages.map((m) => `${r.filePath.replace(/^.*?\/(protocol|common|terminal|gateway|simulators|cli|bench|tests)\//, '$1/')}:${m.line} ${m.ruleId ?? ''} ${m.message}`));
    expect(problems).toEqual([]);
  }, 180_000);
});
