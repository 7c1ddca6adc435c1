import { Type } from '@sinclair/typebox';
import { PasserelleError } from '../../../protocol/errors.ts';
import { ENROLMENT_TRIES_MAX, ENROLMENT_TTL_S_MAX, makeEnrolmentCode, redeemEnrolmentCode } from '../../enrolment.ts';
import { actorOf, allow, publicRoute } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { Benefit, meta, Obj, PartnerId, TerminalId, Timestamp } from '../schemas.ts';
import { iso } from '../views.ts';
import { ed25519PublicKey } from './partners.ts';

/**
 * Enrolment (gateway/enrolment.ts): the operator makes single-use, expiring codes bound to a partner and a
 * terminal id; a terminal presents one with the public key it generated, without any token (the code is
 * its credential), and gets back what it needs to run, signed by the gateway. Wrong, used, expired and
 * exhausted codes each have their stable code and a French text for the technician's screen.
 */

const PublicKey = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: "The terminal's Ed25519 public key: 32 bytes in base64url, generated on the device" });

const NewCode = Obj({
  partnerId: PartnerId,
  terminalId: TerminalId,
  ttlS: Type.Optional(Type.Integer({ minimum: 1, maximum: ENROLMENT_TTL_S_MAX, description: 'How long the code may be used, in seconds (default 7 days)' })),
  maxTries: Type.Optional(Type.Integer({ minimum: 1, maximum: ENROLMENT_TRIES_MAX, description: 'Wrong tries before the code is exhausted (default 5)' })),
});

const CodeInfo = Obj({
  id: Type.String({ description: 'The first group of the code: names it, not a secret' }),
  partnerId: Type.String(),
  terminalId: Type.String(),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  maxTries: Type.Integer(),
  failures: Type.Integer(),
  createdBy: Type.String(),
});

const Enrol = Obj({
  code: Type.String({ minLength: 16, maxLength: 40, description: 'The enrolment code as typed, e.g. K7M2-9QXF-3RTB-HW4D (case, spaces and dashes ignored)' }),
  publicKey: PublicKey,
  mqttPassword: Type.Optional(
    Type.String({ minLength: 86, maxLength: 86, pattern: '^[A-Za-z0-9_-]+$', description: "The terminal's broker password, made from its key (protocol/connect-token.ts brokerPassword); needed when the gateway runs behind Mosquitto" }),
  ),
});

const EnrolmentView = Obj({
  terminalId: Type.String(),
  partnerId: Type.String(),
  partnerName: Type.String(),
  benefits: Type.Array(Benefit, { description: "What the partner's type may debit (R10): the cashier's choices" }),
  mqtt: Obj({ url: Type.String(), certPem: Type.Union([Type.String(), Type.Null()], { description: "The broker's TLS certificate to pin, when it speaks TLS" }) }),
  gateway: Obj({ signPublicKey: Type.String(), boxPublicKey: Type.String(), issuerPublicKey: Type.String() }),
  publicKey: Type.String({ description: 'The public key the terminal sent: the answer is bound to it' }),
  enrolledAt: Timestamp,
  replaced: Type.Boolean({ description: 'The terminal id existed: its old key is refused from now on' }),
  signed: Type.String({ description: 'The same fields, signed with the gateway key: S1.<signature>.<json> (enrolledAt in ms there)' }),
  codeMac: Type.String({ description: "HMAC-SHA256 of `signed` keyed with the code's secret hash (protocol/enrolment.ts): the answer comes from the gateway that made the code" }),
});

const CodeParams = Obj({ codeId: Type.String({ pattern: '^[0-9A-Z]{4}$' }) });

export function enrolmentRoutes(api: Api, { ledger, now, fleet }: ApiDeps): void {
  api.post(
    '/enrolment-codes',
    {
      config: allow('operator'),
      schema: { ...meta('terminals', 'Make a single-use enrolment code for one terminal id of one partner; the answer is the only time the code is shown'), body: NewCode, response: { 201: Obj({ id: Type.String(), code: Type.String(), expiresAt: Timestamp }), ...ERRORS } },
    },
    async (req, reply) => {
      const made = await makeEnrolmentCode(ledger, { ...req.body, actor: actorOf(req) }, now());
      return reply.code(201).send({ id: made.id, code: made.code, expiresAt: iso(made.expiresAt) });
    },
  );

  api.get(
    '/enrolment-codes',
    { config: allow('operator'), schema: { ...meta('terminals', 'Enrolment codes not yet used nor revoked (never the codes themselves)'), response: { 200: Type.Array(CodeInfo), ...ERRORS } } },
    async () =>
      (await ledger.openEnrolmentCodes()).map((c) => ({ id: c.id, partnerId: c.partnerId, terminalId: c.terminalId, createdAt: iso(c.createdAt), expiresAt: iso(c.expiresAt), maxTries: c.maxTries, failures: c.failures, createdBy: c.createdBy })),
  );

  api.delete(
    '/enrolment-codes/:codeId',
    { config: allow('operator'), schema: { ...meta('terminals', 'Revoke an enrolment code not yet used'), params: CodeParams, response: { 204: Type.Null(), ...ERRORS } } },
    async (req, reply) => {
      const code = await ledger.enrolmentCode(req.params.codeId);
      await ledger.atomically(async () => {
        if (!code || !await ledger.revokeEnrolmentCode(code.id, now())) throw new PasserelleError('NOT_FOUND', `no open enrolment code ${req.params.codeId}`);
        await ledger.addAudit({ at: now(), actor: actorOf(req), action: 'enrolment-code.revoked', subject: code.terminalId, details: { code: code.id } });
      });
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/enrolments',
    {
      config: publicRoute('the enrolment code in the body is the credential'),
      schema: {
        tags: ['terminals'],
        summary: 'Enrol a terminal: an enrolment code and the public key made on the device (no token)',
        security: [],
        body: Enrol,
        response: { 201: EnrolmentView, ...ERRORS },
      },
    },
    async (req, reply) => {
      const e = await redeemEnrolmentCode(ledger, req.body.code, ed25519PublicKey(req.body.publicKey), now(), fleet, req.ip, req.body.mqttPassword);
      return reply.code(201).send({ ...e, enrolledAt: iso(e.enrolledAt) });
    },
  );
}
