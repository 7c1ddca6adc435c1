import { readFileSync } from 'node:fs';

/**
 * `npx tsx bench/profile-summary.ts <file.cpuprofile> [top]`: self time of a V8 CPU profile by function
 * and by source file, and inclusive time of selected project functions — to see where a benchmark's time goes.
 */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  hitCount?: number;
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary <file.cpuprofile> [top]');
const top = Number(topArg ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the samples and their time deltas (µs).
const self = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const short = (url: string) => url.replace(/^file:\/\/.*?\/work\/main\//, '').replace(/^file:\/\/.*node_modules\//, 'nm:') || '(native)';
const label = (n: Node) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
const fnSelf = new Map<string, number>();
const fileSelf = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  add(fnSelf, label(n), us);
  add(fileSelf, short(n.callFrame.url), us);
  // Inclusive time: every distinct project function on the stack of this sample.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const c = byId.get(cur)!;
    const url = c.callFrame.url;
    if (!url.includes('/work/main/') || url.includes('node_modules')) continue;
    const k = label(c);
    if (seen.has(k)) continue;
    seen.add(k);
    add(inclusive, k, us);
  }
}

const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${(us / 1000).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(`profile: ${((p.endTime - p.startTime) / 1000).toFixed(0)} ms, ${p.samples.length} samples`);
show('self time by function', fnSelf);
show('self time by file', fileSelf);
show('inclusive time of project functions', inclusive);
