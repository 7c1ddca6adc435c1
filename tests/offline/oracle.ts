import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { toPostgresSql } from '../../gateway/ledger/sql/db.ts';
import type { Benefit } from '../../protocol/benefits.ts';
import type { Outcome } from '../../terminal/sale.ts';

/**
 * The exactly-once oracle of the crash and partition tests: what the cashier saw, against what the
 * ledger holds. A sale shown approved (online) or accepted offline must be applied exactly once; a sale
 * applied must have been shown so; a sale shown declined or refused must not be applied.
 */

export interface CrashTerminalConfig {
  readonly terminalId: string;
  readonly seed: string;
  readonly gatewayUrl: string;
  readonly gatewaySignPublicKey: string;
  readonly gatewayBoxPublicKey: string;
  /** The gateway's card issuer seed: the child personalises genuine simulated cards with it. */
  readonly issuerSeed: string;
  readonly outboxFile: string;
  readonly logFile: string;
  readonly benefit: Benefit;
  readonly cards: readonly string[];
  readonly target: number;
  readonly rngSeed: number;
  readonly final?: boolean;
}

export interface OracleLine {
  readonly t: 'finished' | 'recovered' | 'drained';
  readonly txnId: string | null;
  readonly kind: string;
  readonly code?: string | null;
}

/** The oracle line for a finished sale: its id (when it has one), its kind and its code. */
export function finishedLine(o: Outcome): OracleLine {
  const code = 'code' in o ? o.code : o.kind === 'declined' ? (o.reply.code ?? null) : null;
  return { t: 'finished', txnId: 'txnId' in o ? o.txnId : null, kind: o.kind, code };
}

export function readOracle(file: string): OracleLine[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as OracleLine);
}

export interface OracleResult {
  readonly problems: string[];
  readonly shownAccepted: number;
  readonly shownOffline: number;
  readonly shownDeclined: number;
  readonly applied: number;
  readonly voided: number;
  readonly finished: number;
  /** How many sales ended each way (kind and code), for the test's report. */
  readonly outcomes: Record<string, number>;
}

/** Compare what was shown with the ledger file (read-only; the gateway may still run, WAL allows it). */
export function checkExactlyOnce(ledgerFile: string, terminalId: string, lines: readonly OracleLine[]): OracleResult {
  const db = new Database(ledgerFile, { readonly: true, fileMustExist: true });
  try {
    const sales = db.prepare<[string], { txn_id: string; n: number }>(SALE_LINES).all(terminalId);
    const corrections = db.prepare<[string], { txn_id: string }>(CORRECTIONS).all(terminalId);
    return judge(lines, sales, corrections);
  } finally {
    db.close();
  }
}

/** The same judgement on a PostgreSQL ledger. */
export async function checkExactlyOncePostgres(url: string, terminalId: string, lines: readonly OracleLine[]): Promise<OracleResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const sales = (await client.query<{ txn_id: string; n: string }>(toPostgresSql(SALE_LINES).text, [terminalId])).rows.map((r) => ({ txn_id: r.txn_id, n: Number(r.n) }));
    const corrections = (await client.query<{ txn_id: string }>(toPostgresSql(CORRECTIONS).text, [terminalId])).rows;
    return judge(lines, sales, corrections);
  } finally {
    await client.end();
  }
}

const SALE_LINES = "SELECT txn_id, count(*) AS n FROM sales WHERE terminal_id = ? AND kind = 'sale' GROUP BY txn_id";
const CORRECTIONS = "SELECT txn_id FROM sales WHERE terminal_id = ? AND kind <> 'sale'";

/** Every sale shown accepted applied once, nothing shown declined applied, nothing applied that was not shown. */
function judge(lines: readonly OracleLine[], sales: readonly { txn_id: string; n: number }[], corrections: readonly { txn_id: string }[]): OracleResult {
  const accepted = new Set<string>();
  const declined = new Set<string>();
  let offline = 0;
  for (const l of lines) {
    if (!l.txnId) continue;
    if (l.t === 'recovered' || (l.t === 'finished' && (l.kind === 'approved' || l.kind === 'offline'))) {
      accepted.add(l.txnId);
      if (l.kind === 'offline') offline++;
    } else if (l.t === 'finished') declined.add(l.txnId);
  }
  {
    const lineCounts = new Map<string, number>();
    for (const r of sales) lineCounts.set(r.txn_id, r.n);
    const corrected = new Set(corrections.map((r) => r.txn_id));
    const applied = new Set([...lineCounts.keys()].filter((t) => !corrected.has(t)));
    const problems: string[] = [];
    for (const [t, n] of lineCounts) if (n !== 1) problems.push(`sale ${t} has ${n} sale lines`);
    for (const t of accepted) if (!applied.has(t)) problems.push(`shown accepted but not applied: ${t}`);
    for (const t of applied) if (!accepted.has(t)) problems.push(`applied but never shown accepted: ${t}`);
    for (const t of declined) if (applied.has(t)) problems.push(`shown declined but applied: ${t}`);
    return {
      problems,
      shownAccepted: accepted.size,
      shownOffline: offline,
      shownDeclined: declined.size,
      applied: applied.size,
      voided: corrected.size,
      finished: lines.filter((l) => l.t === 'finished').length,
      outcomes: lines.reduce<Record<string, number>>((acc, l) => {
        if (l.t === 'finished') acc[`${l.kind}${l.code ? `:${l.code}` : ''}`] = (acc[`${l.kind}${l.code ? `:${l.code}` : ''}`] ?? 0) + 1;
        return acc;
      }, {}),
    };
  }
}

export { startChild } from '../../simulators/engines.ts';

/** SIGKILL a child and wait until it is gone. */
export function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Wait for a child to exit on its own (bounded). */
export function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`child still running after ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}
