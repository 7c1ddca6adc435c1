import { randomBytes } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { isPasserelleError, PasserelleError } from '../../../protocol/errors.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { creditTransferXml } from '../../reimbursement/sepa.ts';
import type { BankAccount, Payment, Statement } from '../../reimbursement/types.ts';
import { allow } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ApiError, ERRORS } from '../errors.ts';
import { sendFile } from '../files.ts';
import { FileResponse, IsoDate, meta, Obj, StatementId } from '../schemas.ts';
import { statementOrThrow } from './statements.ts';

/**
 * Paying partners (R11): a SEPA credit transfer file (pain.001.001.03) for statements that are ready,
 * which the Region's treasury hands to its bank. The statements are marked paid in the same request, and
 * the file is kept with them (it can be fetched again by its id), only once the whole file was built: a file refused by our own checks pays nothing and marks
 * nothing. Building and marking run without an `await` between them, so two exports running at once
 * cannot both include the same statement.
 */

const SepaExport = Obj({
  statementIds: Type.Optional(Type.Array(StatementId, { minItems: 1, maxItems: 10_000, uniqueItems: true, description: 'Omit to pay every ready statement with something owed' })),
  executionDate: IsoDate,
});

function toPay(ledger: Ledger, ids: readonly string[] | undefined): Statement[] {
  if (ids === undefined) {
    const ready = ledger.statements({ status: 'ready' }).filter((s) => s.totalCents > 0);
    if (ready.length === 0) throw new PasserelleError('DATA_INVALID', 'no statement is ready to pay');
    return ready;
  }
  return ids.map((id) => {
    const s = statementOrThrow(ledger, id);
    if (s.status !== 'ready' || s.totalCents <= 0) throw new PasserelleError('DATA_INVALID', `statement ${id} is not ready to pay (${s.status}, total ${s.totalCents} cents)`);
    return s;
  });
}

function paymentFor(ledger: Ledger, s: Statement): Payment {
  const p = ledger.partner(s.partnerId);
  if (!p?.iban || !p.bic) {
    throw new ApiError(422, 'DATA_INVALID', `partner ${s.partnerId} (${s.partnerName}) has no IBAN and BIC on record: statement ${s.id} cannot be paid`, { partnerId: s.partnerId });
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
  return new ApiError(422, 'DATA_INVALID', `partner ${s.partnerId} (${s.partnerName}), statement ${s.id}: ${e.message}`, { partnerId: s.partnerId });
}

/** Unique per file, at most 35 characters of the SEPA set: `PSR-20221102T093000-1a2b3c4d`. */
function messageId(at: number): string {
  const stamp = new Date(at).toISOString().replace(/[-:]/g, '').slice(0, 15);
  return `PSR-${stamp}-${randomBytes(4).toString('hex')}`;
}

function buildFile(ledger: Ledger, debtor: BankAccount, statements: readonly Statement[], executionDate: string, at: number) {
  const payments = statements.map((s) => paymentFor(ledger, s));
  const id = messageId(at);
  try {
    return { id, xml: creditTransferXml({ messageId: id, createdAt: new Date(at), debtor, executionDate, payments }) };
  } catch (e) {
    throw namePartner(e, statements);
  }
}

export function sepaRoutes(api: Api, { ledger, now, config }: ApiDeps): void {
  api.post(
    '/sepa-exports',
    {
      config: allow('operator'),
      schema: {
        ...meta('statements', 'Pay statements: the SEPA credit transfer file (pain.001.001.03); marks them paid'),
        body: SepaExport,
        response: { 200: FileResponse('application/xml', 'pain.001.001.03 document'), ...ERRORS },
      },
    },
    async (req, reply) => {
      const at = now();
      const statements = toPay(ledger, req.body.statementIds);
      const file = buildFile(ledger, config.debtor, statements, req.body.executionDate, at);
      ledger.markPaid(
        statements.map((s) => s.id),
        at,
        file,
      );
      return sendFile(reply, 'application/xml', `${file.id}.xml`, file.xml);
    },
  );

  api.get(
    '/sepa-exports/:fileId',
    {
      config: allow('operator'),
      schema: {
        ...meta('statements', 'A SEPA file already made, again (its download was lost, or the bank asks for it)'),
        params: Obj({ fileId: Type.String({ pattern: '^PSR-[0-9T]{15}-[0-9a-f]{8}$' }) }),
        response: { 200: FileResponse('application/xml', 'pain.001.001.03 document'), ...ERRORS },
      },
    },
    async (req, reply) => {
      const f = ledger.sepaFile(req.params.fileId);
      if (!f) throw new PasserelleError('NOT_FOUND', `no SEPA file ${req.params.fileId}`);
      return sendFile(reply, 'application/xml', `${f.id}.xml`, f.xml);
    },
  );
}
