import type { FastifyReply } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { PasserelleError } from '../../../protocol/errors.ts';
import type { Ledger } from '../../ledger/ledger.ts';
import { statementCsv } from '../../reimbursement/statement-csv.ts';
import { runStatements } from '../../reimbursement/payments.ts';
import type { Statement } from '../../reimbursement/types.ts';
import { allow, checkPartnerScope, ownPartner, principalOf, type Principal } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { sendFile } from '../files.ts';
import { FileResponse, IsoDate, literals, meta, Obj, StatementId } from '../schemas.ts';
import { StatementSummary, statementSummary, StatementView, statementView } from '../views.ts';

/**
 * Reimbursement statements (R11): the operator closes a partner's period; the operator reads them all,
 * a partner reads its own, as JSON or as the accountants' CSV.
 */

const StatementParams = Obj({ statementId: StatementId });
const Filter = Obj({
  partnerId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "A partner's token may only name its own partner" })),
  status: Type.Optional(literals(['ready', 'held', 'paid'] as const)),
});
const CloseStatement = Obj({ partnerId: Type.String({ minLength: 1, maxLength: 64 }), periodFrom: IsoDate, periodTo: IsoDate });

export async function statementOrThrow(ledger: Ledger, id: string): Promise<Statement> {
  const s = await ledger.statement(id);
  if (!s) throw new PasserelleError('NOT_FOUND', `no statement ${id}`);
  return s;
}

/** A partner's filter is always its own partner, whatever it asks for (and asking for another's is refused). */
function scopedFilter(p: Principal, q: Static<typeof Filter>): { partnerId?: string; status?: Statement['status'] } {
  if (q.partnerId !== undefined) checkPartnerScope(p, q.partnerId);
  const partnerId = ownPartner(p) ?? q.partnerId;
  return { ...(partnerId === undefined ? {} : { partnerId }), ...(q.status === undefined ? {} : { status: q.status }) };
}

async function readable(ledger: Ledger, p: Principal, id: string): Promise<Statement> {
  const s = await statementOrThrow(ledger, id);
  checkPartnerScope(p, s.partnerId);
  return s;
}

function sendCsv(reply: FastifyReply, filename: string, statements: readonly Statement[]): FastifyReply {
  return sendFile(reply, 'text/csv', filename, statementCsv(statements));
}

export function statementRoutes(api: Api, { ledger, now }: ApiDeps): void {
  const csvResponse = FileResponse('text/csv', 'Statement lines as CSV for a French spreadsheet (UTF-8 with BOM, `;`)');

  api.post(
    '/statements',
    { config: allow('operator'), schema: { ...meta('statements', "Close a partner's statement for a period"), body: CloseStatement, response: { 201: StatementView, ...ERRORS } } },
    async (req, reply) => {
      const { partnerId, periodFrom, periodTo } = req.body;
      return reply.code(201).send(statementView(await ledger.closeStatement(partnerId, periodFrom, periodTo, now())));
    },
  );

  api.post(
    '/statement-runs',
    {
      config: allow('operator'),
      schema: {
        ...meta(
          'statements',
          'Close a period for every partner (the monthly run): partners with nothing to state (no sale or correction, a convention starting later) and partners already stated for an overlapping period are skipped, with the reason',
        ),
        body: Obj({ periodFrom: IsoDate, periodTo: IsoDate }),
        response: {
          201: Obj({
            statements: Type.Array(StatementSummary),
            skipped: Type.Array(Obj({ partnerId: Type.String(), code: literals(['NOTHING_TO_STATE', 'PERIOD_INVALID'] as const), reason: Type.String() })),
          }),
          ...ERRORS,
        },
      },
    },
    async (req, reply) => {
      const { statements, skipped } = await runStatements(ledger, req.body.periodFrom, req.body.periodTo, now());
      return reply.code(201).send({ statements: statements.map(statementSummary), skipped });
    },
  );

  api.get(
    '/statements',
    { config: allow('operator', 'partner'), schema: { ...meta('statements', 'List statements (a partner: its own)'), querystring: Filter, response: { 200: Obj({ statements: Type.Array(StatementSummary) }), ...ERRORS } } },
    async (req) => ({ statements: (await ledger.statements(scopedFilter(principalOf(req), req.query))).map(statementSummary) }),
  );

  api.get(
    '/statements/csv',
    { config: allow('operator', 'partner'), schema: { ...meta('statements', 'The CSV of every statement matching the filter'), querystring: Filter, response: { 200: csvResponse, ...ERRORS } } },
    async (req, reply) => sendCsv(reply, 'releves.csv', await ledger.statements(scopedFilter(principalOf(req), req.query))),
  );

  api.get(
    '/statements/:statementId',
    { config: allow('operator', 'partner'), schema: { ...meta('statements', 'One statement with its lines'), params: StatementParams, response: { 200: StatementView, ...ERRORS } } },
    async (req) => statementView(await readable(ledger, principalOf(req), req.params.statementId)),
  );

  api.get(
    '/statements/:statementId/csv',
    { config: allow('operator', 'partner'), schema: { ...meta('statements', 'One statement as CSV'), params: StatementParams, response: { 200: csvResponse, ...ERRORS } } },
    async (req, reply) => {
      const s = await readable(ledger, principalOf(req), req.params.statementId);
      return sendCsv(reply, `${s.id}.csv`, [s]);
    },
  );
}
