import { randomBytes } from 'node:crypto';
import { isPasserelleError, PasserelleError } from '../../protocol/errors.ts';
import type { Ledger } from '../ledger/ledger.ts';
import { creditTransferXml } from './sepa.ts';
import type { BankAccount, Payment, Statement } from './types.ts';

/**
 * Paying partners (R11), for the API and the Region's console alike: the monthly statement run, and a
 * SEPA credit transfer file (pain.001.001.03) for statements that are ready, which the Region's treasury
 * hands to its bank. The statements are marked paid with the file kept beside them, only once the whole
 * file was built: a file refused by our own checks pays nothing and marks nothing. Two exports at once
 * cannot both pay a statement: `markPaid` marks only statements still ready, all of them or none, in one
 * transaction, so the second export fails whole.
 * A refusal that is about one partner names it (`details.partnerId`).
 */

export interface StatementRun {
  readonly statements: Statement[];
  readonly skipped: { partnerId: string; code: 'NOTHING_TO_STATE' | 'PERIOD_INVALID'; reason: string }[];
}

/**
 * Close a period for every partner. Partners with nothing to state (no sale or correction, a convention
 * starting later) and partners already stated for an overlapping period are skipped, with the reason; a
 * period not over yet or malformed is the same for every partner and refuses the whole run.
 */
export async function runStatements(ledger: Ledger, periodFrom: string, periodTo: string, at: number): Promise<StatementRun> {
  const run: StatementRun = { statements: [], skipped: [] };
  for (const p of await ledger.partners()) {
    try {
      run.statements.push(await ledger.closeStatement(p.id, periodFrom, periodTo, at));
    } catch (e) {
      if (!(e instanceof PasserelleError)) throw e;
      if (e.code === 'NOTHING_TO_STATE' || (e.code === 'PERIOD_INVALID' && e.message.includes('overlaps'))) run.skipped.push({ partnerId: p.id, code: e.code, reason: e.message });
      else throw e;
    }
  }
  return run;
}

async function toPay(ledger: Ledger, ids: readonly string[] | undefined): Promise<Statement[]> {
  if (ids === undefined) {
    const ready = (await ledger.statements({ status: 'ready' })).filter((s) => s.totalCents > 0);
    if (ready.length === 0) throw new PasserelleError('DATA_INVALID', 'no statement is ready to pay');
    return ready;
  }
  const found: Statement[] = [];
  for (const id of ids) {
    const s = await ledger.statement(id);
    if (!s) throw new PasserelleError('NOT_FOUND', `no statement ${id}`);
    if (s.status !== 'ready' || s.totalCents <= 0) throw new PasserelleError('DATA_INVALID', `statement ${id} is not ready to pay (${s.status}, total ${s.totalCents} cents)`);
    found.push(s);
  }
  return found;
}

async function paymentFor(ledger: Ledger, s: Statement): Promise<Payment> {
  const p = await ledger.partner(s.partnerId);
  if (!p?.iban || !p.bic) {
    throw new PasserelleError('DATA_INVALID', `partner ${s.partnerId} (${s.partnerName}) has no IBAN and BIC on record: statement ${s.id} cannot be paid`, { partnerId: s.partnerId });
  }
  return {
    endToEndId: s.id,
    creditor: { name: p.name, iban: p.iban, bic: p.bic },
    amountCents: s.totalCents,
    remittance: `Pass'Region remboursement ${s.periodFrom} au ${s.periodTo} releve ${s.id}`,
  };
}

/** `payments[2].creditor.bic` is statement 2's partner: the treasury fixes a partner, not an index. */
function namePartner(e: unknown, statements: readonly Statement[]): unknown {
  if (!isPasserelleError(e, 'DATA_INVALID')) return e;
  const index = /^payments\[(\d+)\]/.exec(String(e.details?.field ?? ''))?.[1];
  const s = index === undefined ? undefined : statements[Number(index)];
  if (s === undefined) return e;
  return new PasserelleError('DATA_INVALID', `partner ${s.partnerId} (${s.partnerName}), statement ${s.id}: ${e.message}`, { partnerId: s.partnerId });
}

/** Unique per file, at most 35 characters of the SEPA set: `PSR-20221102T093000-1a2b3c4d`. */
function messageId(at: number): string {
  const stamp = new Date(at).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `PSR-${stamp}-${randomBytes(4).toString('hex')}`;
}

async function buildFile(ledger: Ledger, debtor: BankAccount, statements: readonly Statement[], executionDate: string, at: number) {
  const payments: Payment[] = [];
  for (const s of statements) payments.push(await paymentFor(ledger, s));
  const id = messageId(at);
  try {
    return { id, xml: creditTransferXml({ messageId: id, createdAt: new Date(at), debtor, executionDate, payments }) };
  } catch (e) {
    throw namePartner(e, statements);
  }
}

/**
 * Pay statements (all ready ones with something owed when `ids` is omitted): the file, and the statements
 * it pays, now marked paid.
 */
export async function payStatements(ledger: Ledger, debtor: BankAccount, ids: readonly string[] | undefined, executionDate: string, at: number): Promise<{ file: { id: string; xml: string }; statements: Statement[] }> {
  const statements = await toPay(ledger, ids);
  const file = await buildFile(ledger, debtor, statements, executionDate, at);
  await ledger.markPaid(
    statements.map((s) => s.id),
    at,
    file,
  );
  return { file, statements };
}
