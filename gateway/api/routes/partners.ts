import { createPublicKey } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { PasserelleError } from '../../../protocol/errors.ts';
import type { Ledger, PartnerRecord, TerminalRecord } from '../../ledger/ledger.ts';
import { isValidBic, normalizeIban } from '../../reimbursement/iban.ts';
import { actorOf, allow, checkPartnerScope, principalOf } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { IsoDate, meta, Obj, PartnerId, PartnerType, TerminalId, Text } from '../schemas.ts';
import { PartnerView, partnerView, TerminalView, terminalView } from '../views.ts';

/**
 * Partners (operator; a technician reads the basics it needs to install a terminal) and terminals
 * (operator or technician; a partner reads its own).
 */

const PartnerParams = Obj({ partnerId: Type.String({ minLength: 1, maxLength: 64 }) });
const TerminalParams = Obj({ terminalId: Type.String({ minLength: 1, maxLength: 64 }) });

const Iban = Type.String({ minLength: 15, maxLength: 42, description: 'IBAN; spaces allowed, checked by its check digits' });
const Bic = Type.String({ minLength: 8, maxLength: 14, description: 'BIC (8 or 11 characters)' });
const EntryPrice = Type.Integer({ minimum: 0, maximum: 100_000, description: 'What the Region pays per entry, in cents (cinema, museum)' });

const NewPartner = Obj({
  id: PartnerId,
  name: Text(120, 'Name as on the convention'),
  type: PartnerType,
  conventionFrom: IsoDate,
  conventionTo: IsoDate,
  entryPriceCents: Type.Optional(EntryPrice),
  iban: Type.Optional(Iban),
  bic: Type.Optional(Bic),
});

const PartnerPatch = Obj({
  name: Type.Optional(Text(120, 'Name as on the convention')),
  conventionFrom: Type.Optional(IsoDate),
  conventionTo: Type.Optional(IsoDate),
  entryPriceCents: Type.Optional(EntryPrice),
  iban: Type.Optional(Type.Union([Iban, Type.Null()])),
  bic: Type.Optional(Type.Union([Bic, Type.Null()])),
});

const NewTerminal = Obj({
  id: TerminalId,
  partnerId: Type.String({ minLength: 1, maxLength: 64 }),
  publicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: "The terminal's Ed25519 public key: 32 bytes in base64url, unpadded" }),
  active: Type.Optional(Type.Boolean({ default: true })),
});

/** Bank details in the form the SEPA file needs, or DATA_INVALID naming what is wrong. */
function bankDetails(b: { iban?: string | null; bic?: string | null }): { iban?: string | null; bic?: string | null } {
  const out: { iban?: string | null; bic?: string | null } = {};
  if (b.iban !== undefined) out.iban = b.iban === null ? null : normalizeIban(b.iban);
  if (b.bic !== undefined) {
    const bic = b.bic === null ? null : b.bic.replace(/\s/g, '').toUpperCase();
    if (bic !== null && !isValidBic(bic)) throw new PasserelleError('DATA_INVALID', `invalid BIC ${JSON.stringify(b.bic)}`, { bic: b.bic });
    out.bic = bic;
  }
  return out;
}

async function partnerOrThrow(ledger: Ledger, id: string): Promise<PartnerRecord> {
  const p = await ledger.partner(id);
  if (!p) throw new PasserelleError('NOT_FOUND', `no partner ${id}`);
  return p;
}

async function terminalOrThrow(ledger: Ledger, id: string): Promise<TerminalRecord> {
  const t = await ledger.terminal(id);
  if (!t) throw new PasserelleError('NOT_FOUND', `no terminal ${id}`);
  return t;
}

/** 32 bytes that Node accepts as an Ed25519 public key; a terminal with a bad key could never connect. */
export function ed25519PublicKey(base64url: string): Uint8Array {
  const bytes = Buffer.from(base64url, 'base64url');
  try {
    if (bytes.length !== 32) throw new Error('not 32 bytes');
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: base64url }, format: 'jwk' });
  } catch {
    throw new PasserelleError('DATA_INVALID', 'publicKey is not a 32-byte Ed25519 public key in base64url');
  }
  return new Uint8Array(bytes);
}

export function partnerRoutes(api: Api, { ledger, now }: ApiDeps): void {
  api.post(
    '/partners',
    { config: allow('operator'), schema: { ...meta('partners', 'Create a partner (convention, entry price, bank details)'), body: NewPartner, response: { 201: PartnerView, ...ERRORS } } },
    async (req, reply) => {
      const { iban, bic, ...rest } = req.body;
      await ledger.addPartner({ ...rest, ...bankDetails({ iban, bic }) });
      return reply.code(201).send(partnerView(await partnerOrThrow(ledger, rest.id), true));
    },
  );

  api.get(
    '/partners',
    { config: allow('operator', 'technician'), schema: { ...meta('partners', 'Every partner (a technician sees no money nor bank details)'), response: { 200: Type.Array(PartnerView), ...ERRORS } } },
    async (req) => {
      const full = principalOf(req).role === 'operator';
      return (await ledger.partners()).map((p) => partnerView(p, full));
    },
  );

  api.get(
    '/partners/:partnerId/terminals',
    { config: allow('operator', 'technician', 'partner'), schema: { ...meta('terminals', "A partner's terminals (a partner reads its own)"), params: PartnerParams, response: { 200: Type.Array(TerminalView), ...ERRORS } } },
    async (req) => {
      checkPartnerScope(principalOf(req), req.params.partnerId);
      await partnerOrThrow(ledger, req.params.partnerId);
      return (await ledger.terminalsOf(req.params.partnerId)).map(terminalView);
    },
  );

  api.get(
    '/partners/:partnerId',
    { config: allow('operator', 'technician'), schema: { ...meta('partners', 'One partner (a technician sees no money nor bank details)'), params: PartnerParams, response: { 200: PartnerView, ...ERRORS } } },
    async (req) => partnerView(await partnerOrThrow(ledger, req.params.partnerId), principalOf(req).role === 'operator'),
  );

  api.patch(
    '/partners/:partnerId',
    { config: allow('operator'), schema: { ...meta('partners', 'Change the convention, entry price or bank details'), params: PartnerParams, body: PartnerPatch, response: { 200: PartnerView, ...ERRORS } } },
    async (req) => {
      const { iban, bic, ...rest } = req.body;
      await partnerOrThrow(ledger, req.params.partnerId);
      await ledger.updatePartner(req.params.partnerId, { ...rest, ...bankDetails({ iban, bic }) });
      return partnerView(await partnerOrThrow(ledger, req.params.partnerId), true);
    },
  );

  api.post(
    '/partners/:partnerId/proofs',
    {
      config: allow('operator'),
      schema: {
        ...meta('partners', "Record an equipment shop's yearly proof (sticker and logo) for a campaign; releases the held statements that waited only for it"),
        params: PartnerParams,
        body: Obj({
          schoolYear: Type.String({
            pattern: '^[0-9]{4}-[0-9]{4}$',
            description: 'The campaign whose wallets the sales took from, e.g. 2022-2023 for equipment sales from 7 June 2022 to 31 May 2023 (a held statement names it in proofMissing)',
          }),
        }),
        response: {
          201: Obj({
            partnerId: Type.String(),
            schoolYear: Type.String(),
            released: Type.Integer({ description: 'Held statements now ready to pay' }),
            stillHeld: Type.Array(Obj({ statementId: Type.String(), proofMissing: Type.Array(Type.String()) }), {
              description: "The partner's statements still held, with the campaigns whose proof each still waits for",
            }),
          }),
          ...ERRORS,
        },
      },
    },
    async (req, reply) => {
      const r = await ledger.recordProof(req.params.partnerId, req.body.schoolYear, now());
      return reply.code(201).send({ partnerId: req.params.partnerId, schoolYear: req.body.schoolYear, released: r.released, stillHeld: r.stillHeld.map((h) => ({ statementId: h.statementId, proofMissing: [...h.proofMissing] })) });
    },
  );
}

/**
 * A terminal exists only when the Region says so: the operator registers it here with its key, or makes an
 * enrolment code the terminal presents with the key it made (routes/enrolment.ts). A technician may
 * switch a terminal off (a stolen or broken one, at once) but never on, and never brings a key in: a
 * technician token alone cannot make a terminal that moves money. Every change is in the audit log.
 */
export function terminalRoutes(api: Api, { ledger, now, fleet }: ApiDeps): void {
  api.post(
    '/terminals',
    { config: allow('operator'), schema: { ...meta('terminals', 'Register a terminal and its public key (the Region only; or an enrolment code)'), body: NewTerminal, response: { 201: TerminalView, ...ERRORS } } },
    async (req, reply) => {
      const { id, partnerId, publicKey, active } = req.body;
      const key = ed25519PublicKey(publicKey);
      await ledger.atomically(async () => {
        await ledger.addTerminal({ id, partnerId, publicKey: key, ...(active === undefined ? {} : { active }) });
        await ledger.addAudit({ at: now(), actor: actorOf(req), action: 'terminal.registered', subject: id, details: { partnerId, publicKey, active: active ?? true } });
      });
      return reply.code(201).send(terminalView(await terminalOrThrow(ledger, id)));
    },
  );

  api.get(
    '/terminals/:terminalId',
    { config: allow('operator', 'technician', 'partner'), schema: { ...meta('terminals', 'One terminal (a partner reads its own)'), params: TerminalParams, response: { 200: TerminalView, ...ERRORS } } },
    async (req) => {
      const t = await terminalOrThrow(ledger, req.params.terminalId);
      checkPartnerScope(principalOf(req), t.partnerId);
      return terminalView(t);
    },
  );

  for (const [action, active] of [['activate', true], ['deactivate', false]] as const) {
    api.post(
      `/terminals/:terminalId/${action}`,
      {
        config: active ? allow('operator') : allow('operator', 'technician'),
        schema: {
          ...meta('terminals', active ? 'Activate a terminal (the Region only)' : 'Deactivate a terminal: it is dropped from the broker and may no longer connect nor debit'),
          params: TerminalParams,
          response: { 200: TerminalView, ...ERRORS },
        },
      },
      async (req) => {
        const id = req.params.terminalId;
        await ledger.atomically(async () => {
          await ledger.setTerminalActive(id, active);
          await ledger.addAudit({ at: now(), actor: actorOf(req), action: active ? 'terminal.activated' : 'terminal.deactivated', subject: id, details: null });
        });
        if (!active) fleet.disconnect(id);
        else await fleet.allow?.(id);
        return terminalView(await terminalOrThrow(ledger, id));
      },
    );
  }
}
