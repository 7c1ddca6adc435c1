import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadGatewayConfig } from '../gateway/config.ts';
import { demoCampaign } from '../gateway/demo-data.ts';
import type { Gateway } from '../gateway/server.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { b64url, publicKeyFromSeed } from '../protocol/crypto.ts';
import { benchChip } from './chips.ts';
import type { ClosedResult, LoadgenCommand, LoadgenReport, LoadgenSetup } from './loadgen.ts';

/*
 * What the online-debit scenarios share (bench/run.ts, bench/region.ts): the phases, the bench's partner,
 * terminals and cards, the load generator in its own process, and one closed-loop run with its CPU.
 */

export const TERMINALS = 100;
/** What each card holds: 35 € of leisure books, far more than a run's uniform draws of 1–99 cents take. */
export const CARD_CENTS = 3500;

export interface Phases {
  readonly cards: number;
  /** The grown ledger's youths and past sales (bench/grown-ledger.ts). */
  readonly grown: { readonly cards: number; readonly pastDebits: number };
  readonly closedRuns: number;
  readonly closed: { readonly warmupMs: number; readonly measureMs: number };
  readonly open: { readonly warmupMs: number; readonly measureMs: number };
}

export const FULL: Phases = { cards: 20_000, grown: { cards: 370_000, pastDebits: 3_400_000 }, closedRuns: 3, closed: { warmupMs: 1500, measureMs: 5000 }, open: { warmupMs: 2000, measureMs: 8000 } };
export const QUICK: Phases = { cards: 2000, grown: { cards: 20_000, pastDebits: 50_000 }, closedRuns: 1, closed: { warmupMs: 300, measureMs: 1000 }, open: { warmupMs: 300, measureMs: 1000 } };

export interface ClosedRun {
  readonly perS: number;
  /** CPU of the other processes `closedRun` was asked to watch (other gateways, the database, the broker), per debit. */
  readonly otherCpuUsPerDebit?: number;
  readonly gatewayCpuUsPerDebit: number;
  readonly terminalsCpuUsPerDebit: number;
  readonly result: ClosedResult;
}

/** A gateway for the benchmark in `dataDir`, on free ports. */
export function benchGatewayConfig(dataDir: string, more: Record<string, unknown> = {}) {
  return loadGatewayConfig(undefined, { ...benchGatewayOverrides(dataDir), ...more });
}

/** The bench gateway's settings over the defaults (a child process loads them itself). */
export function benchGatewayOverrides(dataDir: string): Record<string, unknown> {
  return {
    dataDir,
    seedDemo: false,
    mqtt: { port: 0 },
    http: { port: 0 },
    log: { level: 'silent' },
    // A hundred terminals at thousands of debits a second: far beyond a till's pace, so their quota of new
    // records is raised to match (gateway config limits.terminalRecords).
    limits: { terminalRecords: { points: 10_000_000, durationS: 60 } },
  };
}

/** A load generator in its own process (its own core); `profileDir` writes its CPU profile there. */
export function forkLoadgen(profileDir?: string): ChildProcess {
  const execArgv = ['--import', 'tsx', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
  return fork(fileURLToPath(new URL('./loadgen.ts', import.meta.url)), { execArgv, stdio: 'inherit' });
}

/**
 * One closed-loop run, with the CPU time both processes spent in its measured window; `watch` names more
 * processes (with their children) whose CPU in the same window is `otherCpuUsPerDebit`.
 */
export async function closedRun(child: ChildProcess, phases: Phases, watch?: () => readonly number[]): Promise<ClosedRun> {
  let start: NodeJS.CpuUsage | undefined;
  let gatewayCpuMs = 0;
  let othersAt = 0;
  let othersMs = 0;
  const t1 = setTimeout(() => {
    start = process.cpuUsage();
    if (watch) othersAt = treeCpuMs(watch());
  }, phases.closed.warmupMs);
  const t2 = setTimeout(() => {
    const c = process.cpuUsage(start);
    gatewayCpuMs = (c.user + c.system) / 1000;
    if (watch) othersMs = treeCpuMs(watch()) - othersAt;
  }, phases.closed.warmupMs + phases.closed.measureMs);
  const result = (await ask(child, { kind: 'closed', ...phases.closed }, 'closed')) as ClosedResult;
  clearTimeout(t1);
  clearTimeout(t2);
  const n = Math.max(result.completed, 1);
  return {
    perS: result.completed / result.seconds,
    gatewayCpuUsPerDebit: (gatewayCpuMs * 1000) / n,
    terminalsCpuUsPerDebit: (result.cpuMs * 1000) / n,
    ...(watch ? { otherCpuUsPerDebit: (othersMs * 1000) / n } : {}),
    result,
  };
}

/**
 * CPU time (user and system, in ms) of these processes and all their descendants, from /proc: a process's
 * own time, plus what its children that have already exited left in its `cutime` and `cstime` (a database
 * connection that closed still counts).
 */
export function treeCpuMs(roots: readonly number[]): number {
  const ticksMs = 1000 / 100; // USER_HZ is 100 on Linux
  const stat = new Map<number, { ppid: number; own: number; children: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // The command name is in parentheses and may hold spaces: the fields start after its closing one.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    stat.set(Number(entry), { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) });
  }
  let ticks = 0;
  const seen = new Set<number>();
  const visit = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const s = stat.get(pid);
    if (!s) return;
    ticks += s.own + s.children;
    for (const [child, c] of stat) if (c.ppid === pid) visit(child);
  };
  for (const r of roots) visit(r);
  return ticks * ticksMs;
}

/**
 * One bookshop, 100 terminals, and cards holding 35 € of leisure books: enough for every debit of a run to
 * pass. On a grown ledger the cards are `existing` youths', loaded with this year's benefit.
 */
export async function seed(gateway: Gateway, cardCount: number, existing?: readonly string[]): Promise<LoadgenSetup> {
  const l = gateway.ledger;
  const terminals: { id: string; seed: string }[] = [];
  const cards: string[] = [];
  const campaign = demoCampaign(Date.now());
  await l.atomically(async () => {
    await l.addCampaign(campaign);
    await l.addPartner({ id: 'P-BENCH', name: 'Librairie du banc d’essai', type: 'bookshop', conventionFrom: '2022-06-01', conventionTo: '2099-12-31' });
    for (let i = 0; i < TERMINALS; i++) {
      const seedBytes = randomBytes(32);
      const id = `T-BENCH-${String(i).padStart(3, '0')}`;
      await l.addTerminal({ id, partnerId: 'P-BENCH', publicKey: publicKeyFromSeed(seedBytes) });
      terminals.push({ id, seed: b64url(seedBytes) });
    }
    for (let i = 0; i < cardCount; i++) {
      // On a grown ledger, youths already there (their dossiers and wallets spread over the file); else new ones.
      const number = existing?.[i] ?? cardNumberFrom(`9${String(i).padStart(14, '0')}`);
      if (!existing) await l.issueCard({ number, holder: `Bench ${i}`, pinHash: null });
      await l.load({ cardNumber: number, benefit: 'LEISURE_BOOKS', campaign: campaign.id, amount: CARD_CENTS, at: Date.now() });
      // Personalised: the chip's key recorded, so the gateway can check the card's signature of each sale.
      await l.setCardKey(number, benchChip(number).publicKey, '2099-12-31', Date.now());
      cards.push(number);
    }
  });
  return { pipeline: 'passerelle', url: gateway.mqttUrl, gatewaySignPublicKey: b64url(gateway.keys.signPublicKey), terminals, cards };
}

export function ask(child: ChildProcess, cmd: LoadgenCommand, expect: LoadgenReport['kind']): Promise<LoadgenReport> {
  return new Promise((resolve, reject) => {
    const onMessage = (r: LoadgenReport) => {
      child.off('exit', onExit);
      if (r.kind === 'failed') reject(new Error(`load generator failed: ${r.message}`));
      else if (r.kind !== expect) reject(new Error(`load generator answered ${r.kind}, expected ${expect}`));
      else resolve(r);
    };
    const onExit = (code: number | null) => reject(new Error(`load generator exited (${code})`));
    child.once('message', onMessage);
    child.once('exit', onExit);
    child.send(cmd);
  });
}

export function median<T>(xs: readonly T[], key: (x: T) => number): T {
  const sorted = [...xs].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
