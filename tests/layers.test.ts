import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The rooms of the house and who may import whom (issue 13). `protocol/` is pure and shared; `common/`
 * builds on it; the terminal and the gateway each stand on those two and never on each other; the
 * simulators drive a terminal; the command line, the benchmarks and the tests sit on top. Test code
 * (`*.test.ts`, `*.contract.ts`: the contract suites every implementation runs) may import what it tests
 * and the test helpers; the rules are for the code that ships. Imports of the code that ships form no
 * circle either, type-only ones included.
 */

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), '..'));

type Room = 'protocol' | 'common' | 'terminal' | 'gateway' | 'simulators' | 'cli' | 'bench' | 'bin' | 'tests';

const MAY_IMPORT: Readonly<Record<Room, readonly Room[]>> = {
  protocol: [],
  common: ['protocol'],
  terminal: ['protocol', 'common'],
  gateway: ['protocol', 'common'],
  simulators: ['protocol', 'common', 'terminal'],
  cli: ['protocol', 'common', 'terminal', 'gateway', 'simulators', 'bench'],
  bench: ['protocol', 'common', 'terminal', 'gateway', 'simulators'],
  bin: ['cli'],
  tests: ['protocol', 'common', 'terminal', 'gateway', 'simulators', 'cli', 'bench'],
};
const ROOMS = Object.keys(MAY_IMPORT) as Room[];

export interface SourceFile {
  /** Relative to the project root, with `/`. */
  readonly path: string;
  readonly text: string;
}

const isTestCode = (path: string) => path.startsWith('tests/') || /\.(test|contract)\.ts$/.test(path);
const roomOf = (path: string): Room | undefined => ROOMS.find((r) => path.startsWith(`${r}/`));

/** Our modules a file imports (static, re-exported, or dynamic with a literal), as project paths. */
export function importsOf(file: SourceFile): string[] {
  const specs = [...file.text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|^import\s+'([^']+)'/gm)].map((m) => m[1] ?? m[2] ?? m[3]!);
  return specs.filter((s) => s.startsWith('.')).map((s) => normalize(join(dirname(file.path), s)));
}

/** Every import of shipped code that crosses into a room it may not use: `from -> to`. */
export function layerViolations(files: readonly SourceFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const room = roomOf(f.path);
    if (!room || isTestCode(f.path)) continue;
    for (const target of importsOf(f)) {
      const to = roomOf(target);
      if (to !== room && (to === undefined || !MAY_IMPORT[room].includes(to))) out.push(`${f.path} -> ${target}`);
    }
  }
  return out;
}

/** Circles among the imports of shipped code (Tarjan's strongly connected components), each as its files. */
export function importCircles(files: readonly SourceFile[]): string[][] {
  const shipped = files.filter((f) => roomOf(f.path) && !isTestCode(f.path));
  const known = new Set(shipped.map((f) => f.path));
  const edges = new Map(shipped.map((f) => [f.path, importsOf(f).filter((t) => known.has(t))]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) {
        onStack.delete(w);
        scc.push(w);
        if (w === v) break;
      }
      if (scc.length > 1 || (edges.get(v) ?? []).includes(v)) circles.push(scc.sort());
    }
  };
  for (const f of shipped) if (!index.has(f.path)) visit(f.path);
  return circles;
}

function projectFiles(): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'fixtures') walk(path);
      } else if (/\.(ts|mjs)$/.test(e.name)) out.push({ path, text: readFileSync(join(ROOT, path), 'utf8') });
    }
  };
  for (const room of ROOMS) walk(room);
  return out;
}

describe('the layers of the code base', () => {
  const files = projectFiles();

  it('the code that ships imports only from the rooms below it', () => {
    expect(files.length).toBeGreaterThan(150);
    expect(layerViolations(files)).toEqual([]);
  });

  it('its imports form no circle', () => {
    expect(importCircles(files)).toEqual([]);
  });

  it('the checks catch what they are for: a wrong import, a circle, and test code left alone', () => {
    const wrong: SourceFile[] = [
      { path: 'gateway/x.ts', text: "import { a } from '../terminal/runtime.ts';\nexport const b = await import('../tests/helpers/debits.ts');" },
      { path: 'protocol/y.ts', text: "export { c } from '../common/log.ts';" },
      { path: 'terminal/p.ts', text: "import type { Q } from './q.ts';" },
      { path: 'terminal/q.ts', text: "import type { P } from './p.ts';" },
      { path: 'gateway/ledger/z.contract.ts', text: "import { d } from '../../tests/helpers/errors.ts';" },
    ];
    expect(layerViolations(wrong)).toEqual(['gateway/x.ts -> terminal/runtime.ts', 'gateway/x.ts -> tests/helpers/debits.ts', 'protocol/y.ts -> common/log.ts']);
    expect(importCircles(wrong)).toEqual([['terminal/p.ts', 'terminal/q.ts']]);
  });
});
