import { Type } from '@sinclair/typebox';
import { allow } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { meta, Obj, Timestamp } from '../schemas.ts';
import { iso } from '../views.ts';

/** The audit log (operator): registrations, key changes, enrolment codes, switched terminals, chip keys. */

const Query = Obj({
  subject: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'A terminal id, a masked card number, a token id' })),
  action: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'e.g. terminal.key-replaced' })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
});

const Entry = Obj({
  at: Timestamp,
  actor: Type.String({ description: '<role>:<token name>, or enrolment-code:<id>' }),
  action: Type.String(),
  subject: Type.String(),
  details: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});

export function auditRoutes(api: Api, { ledger }: ApiDeps): void {
  api.get(
    '/audit',
    { config: allow('operator'), schema: { ...meta('terminals', 'The audit log, newest first'), querystring: Query, response: { 200: Obj({ entries: Type.Array(Entry) }), ...ERRORS } } },
    async (req) => ({
      entries: (await ledger
        .auditLog({ limit: req.query.limit, ...(req.query.subject ? { subject: req.query.subject } : {}), ...(req.query.action ? { action: req.query.action } : {}) }))
        .map((e) => ({ at: iso(e.at), actor: e.actor, action: e.action, subject: e.subject, details: e.details === null ? null : { ...e.details } })),
    }),
  );
}
