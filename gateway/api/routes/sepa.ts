import { Type } from '@sinclair/typebox';
import { PasserelleError } from '../../../protocol/errors.ts';
import { payStatements } from '../../reimbursement/payments.ts';
import { allow } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { sendFile } from '../files.ts';
import { FileResponse, IsoDate, meta, Obj, StatementId } from '../schemas.ts';

/** Paying partners (R11): the SEPA file of ready statements (gateway/reimbursement/payments.ts), and a file made before, again. */

const SepaExport = Obj({
  statementIds: Type.Optional(Type.Array(StatementId, { minItems: 1, maxItems: 10_000, uniqueItems: true, description: 'Omit to pay every ready statement with something owed' })),
  executionDate: IsoDate,
});

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
      const { file } = await payStatements(ledger, config.debtor, req.body.statementIds, req.body.executionDate, now());
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
      const f = await ledger.sepaFile(req.params.fileId);
      if (!f) throw new PasserelleError('NOT_FOUND', `no SEPA file ${req.params.fileId}`);
      return sendFile(reply, 'application/xml', `${f.id}.xml`, f.xml);
    },
  );
}
