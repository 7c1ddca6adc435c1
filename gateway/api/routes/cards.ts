import { Type } from '@sinclair/typebox';
import { BENEFIT_GROUP_CODES, BENEFIT_GROUPS, benefitUnit, type Benefit as BenefitCode, type BenefitGroup } from '../../../protocol/benefits.ts';
import { maskCardNumber } from '../../../protocol/card.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { APP_QR_TTL_S_MAX, mintAppQr } from '../../../protocol/qr-payload.ts';
import { ISSUER_KEY_INDEX } from '../../../protocol/gateway-keys.ts';
import { uuidv7 } from '../../../protocol/uuid7.ts';
import type { CardRecord, Ledger, OppositionReason } from '../../ledger/ledger.ts';
import { actorOf, allow } from '../auth.ts';
import { personaliseChip } from '../../personalise.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ApiError, ERRORS } from '../errors.ts';
import { Amount, Benefit, CampaignId, CardNumber, CardNumberOrRef, IsoDate, literals, MaskedCard, meta, NoContent, Obj, Text, Unit } from '../schemas.ts';
import { amountText, CardFound, cardFound, CardView, cardView, HistoryOut, historyOut } from '../views.ts';
import type { CardRefs } from '../../card-refs.ts';

/**
 * Cards (operator only): one card's state, its history, and the Region's actions on it (R3–R5). There is
 * deliberately no route that takes a secret code: the youth sets it in their own space, and the operator
 * can only lift a lock.
 */

const CardParams = Obj({ cardNumber: CardNumberOrRef });
const HISTORY_MAX = 500;

const IssueCard = Obj({
  number: CardNumber,
  dossierId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{1,40}$', description: "The youth's dossier (R1); a new one is created when omitted" })),
  holder: Text(120, "The youth's name as printed on the card"),
});

const Oppose = Obj({
  reason: literals<OppositionReason>(['lost', 'stolen', 'broken', 'school_change'], 'R4: lost, stolen or broken cost the replacement fee; a change of school is free'),
  replacementNumber: Type.Optional(CardNumber),
});

const OppositionView = Obj({
  feeCents: Type.Integer(),
  feeText: Type.String(),
  feeFrom: Type.Union([Obj({ benefit: Benefit, campaign: CampaignId }), Type.Null()], { description: 'The wallet that paid the fee, if any' }),
  replacement: Type.Union([MaskedCard, Type.Null()]),
});

const Group = literals<BenefitGroup>(BENEFIT_GROUP_CODES, `A group of benefits: ${BENEFIT_GROUP_CODES.map((g) => `${g} (${BENEFIT_GROUPS[g].benefits.join(', ')})`).join('; ')}`);

const Suspend = Obj({
  benefit: Type.Optional(Type.Union([Benefit, Type.Null()], { description: 'One benefit, or null for every benefit of the campaign (R5: all or part); or give `group`' })),
  group: Type.Optional(Group),
  campaign: CampaignId,
  reason: Text(500, 'Why (incivility…), kept with the suspension'),
});

const LiftQuery = Obj({
  campaign: CampaignId,
  // Neither: the suspension of the whole campaign.
  benefit: Type.Optional(Benefit),
  group: Type.Optional(Group),
});

/** R5 "tout ou partie": one benefit, a group of them, or (null) all; a request names one of these. */
function suspensionScope(q: { benefit?: BenefitCode | null; group?: BenefitGroup }, absent: 'refuse' | 'all'): BenefitCode | readonly BenefitCode[] | null {
  if (q.group !== undefined && q.benefit !== undefined) throw new ApiError(400, 'BAD_SCHEMA', 'give either benefit or group, not both', { path: '/group' });
  if (q.group !== undefined) return BENEFIT_GROUPS[q.group].benefits;
  if (q.benefit === undefined && absent === 'refuse') throw new ApiError(400, 'BAD_SCHEMA', 'give benefit (null for all of them) or group', { path: '/body/benefit' });
  return q.benefit ?? null;
}

const LoadOne = Obj({
  benefit: Benefit,
  campaign: CampaignId,
  amount: Type.Integer({ minimum: 0, description: "In the benefit's unit; 0 for an access (museums)" }),
});

const LoadView = Obj({ card: MaskedCard, benefit: Benefit, campaign: CampaignId, unit: Unit, ...Amount });

/**
 * The card number a route's `{cardNumber}` names: the number itself, or the opaque reference the card
 * search gave (so an operator acts on a card found by name without ever handling its number).
 */
export function cardNumberOf(refs: CardRefs, param: string): string {
  if (!param.startsWith('C')) return param;
  const number = refs.cardNumber(param);
  if (number === undefined) throw new PasserelleError('NOT_FOUND', 'no card has this reference');
  return number;
}

const SearchQuery = Obj({
  holder: Type.Optional(Type.String({ minLength: 1, maxLength: 120, description: "Words of the youth's name, in any case, with or without accents; a word may be the start of one" })),
  dossierId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9-]{1,40}$' })),
  first4: Type.Optional(Type.String({ pattern: '^[0-9]{4}$', description: 'The first four digits printed on the card' })),
  last4: Type.Optional(Type.String({ pattern: '^[0-9]{4}$', description: 'The last four digits printed on the card' })),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});

async function cardOrThrow(ledger: Ledger, number: string): Promise<CardRecord> {
  const card = await ledger.card(number);
  if (!card) throw new PasserelleError('NOT_FOUND', `no card ${maskCardNumber(number)}`);
  return card;
}

export function cardRoutes(api: Api, deps: ApiDeps): void {
  cardReads(api, deps);
  cardLifecycle(api, deps);
  cardLoads(api, deps);
  cardCredentials(api, deps);
}

const CredentialRequest = Obj({
  cardPublicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: "The chip's Ed25519 public key (32 bytes, base64url), generated on the chip" }),
  expiry: IsoDate,
  replace: Type.Optional(Type.Boolean({ description: 'The card already has another chip, which this one replaces (audited)' })),
});

const CredentialView = Obj({
  card: MaskedCard,
  expiry: IsoDate,
  issuerKeyIndex: Type.Integer(),
  credential: Type.String({ description: 'The credential to write on the chip (docs/card-application.md), base64url' }),
});

/**
 * Personalisation: the card bureau generates a key pair on the chip and sends its public half; the
 * gateway signs the credential with the Region's issuer key and the bureau writes it on the chip. The
 * private key never leaves the chip, so the gateway never holds what would let it (or a thief of its
 * database) clone a card.
 */
function cardCredentials(api: Api, { ledger, now, issuer, cardRefs }: ApiDeps): void {
  api.post(
    '/cards/:cardNumber/credential',
    {
      config: allow('operator'),
      schema: { ...meta('cards', "Sign a chip's credential with the issuer key (card personalisation)"), params: CardParams, body: CredentialRequest, response: { 201: CredentialView, ...ERRORS } },
    },
    async (req, reply) => {
      const { expiry, replace } = req.body;
      const credential = await personaliseChip(
        ledger,
        issuer,
        { cardNumber: cardNumberOf(cardRefs, req.params.cardNumber), cardPublicKey: Buffer.from(req.body.cardPublicKey, 'base64url'), expiry, actor: actorOf(req), ...(replace ? { replace } : {}) },
        now(),
      );
      return reply.code(201).send({ card: maskCardNumber(credential.cardNumber), expiry, issuerKeyIndex: ISSUER_KEY_INDEX, credential: credential.encoded.toString('base64url') });
    },
  );

  api.post(
    '/cards/:cardNumber/app-qr',
    {
      config: allow('operator'),
      schema: {
        ...meta('cards', "Mint the QR code the youth's mobile app shows: signed with the issuer key, valid a few minutes (it still needs the secret code)"),
        params: CardParams,
        body: Obj({ ttlS: Type.Integer({ minimum: 30, maximum: APP_QR_TTL_S_MAX, default: 300, description: 'How long the code is valid, in seconds' }) }),
        response: { 201: Obj({ payload: Type.String(), expiresAt: Type.String({ description: 'ISO 8601' }) }), ...ERRORS },
      },
    },
    async (req, reply) => {
      const card = await cardOrThrow(ledger, cardNumberOf(cardRefs, req.params.cardNumber));
      if (card.status !== 'active') throw new PasserelleError('CARD_NOT_ACTIVE', `card ${maskCardNumber(card.number)} is opposed`);
      const issuedAtMs = now();
      const payload = mintAppQr({ cardNumber: card.number, issuer, issuedAtMs, ttlS: req.body.ttlS });
      return reply.code(201).send({ payload, expiresAt: new Date(Math.floor(issuedAtMs / 1000) * 1000 + req.body.ttlS * 1000).toISOString() });
    },
  );
}

function cardReads(api: Api, { ledger, now, cardRefs }: ApiDeps): void {
  api.get(
    '/cards',
    {
      config: allow('operator'),
      schema: {
        ...meta('cards', "Find cards without their number: by the holder's name, the dossier, or the first and last four digits (at least one); each with a reference the card routes take in place of the number"),
        querystring: SearchQuery,
        response: { 200: Obj({ cards: Type.Array(CardFound) }), ...ERRORS },
      },
    },
    async (req) => {
      const { limit, ...q } = req.query;
      return { cards: (await ledger.searchCards(q, limit)).map((c) => cardFound(c, cardRefs.ref(c.number))) };
    },
  );

  api.get(
    '/cards/:cardNumber',
    { config: allow('operator'), schema: { ...meta('cards', 'One card: holder, status, code lock and wallets'), params: CardParams, response: { 200: CardView, ...ERRORS } } },
    async (req) => {
      const card = await cardOrThrow(ledger, cardNumberOf(cardRefs, req.params.cardNumber));
      return cardView(card, await ledger.wallets(card.number, now()), await ledger.pinGate(card.number, null, now()));
    },
  );

  api.get(
    '/cards/:cardNumber/history',
    {
      config: allow('operator'),
      schema: {
        ...meta('cards', "The movements of the card's wallets, newest first"),
        params: CardParams,
        querystring: Obj({ limit: Type.Integer({ minimum: 1, maximum: HISTORY_MAX, default: 50 }) }),
        response: { 200: Obj({ entries: Type.Array(HistoryOut) }), ...ERRORS },
      },
    },
    async (req) => ({ entries: (await ledger.history(cardNumberOf(cardRefs, req.params.cardNumber), req.query.limit)).map(historyOut) }),
  );
}

function cardLifecycle(api: Api, { ledger, now, cardRefs }: ApiDeps): void {
  api.post(
    '/cards',
    { config: allow('operator'), schema: { ...meta('cards', 'Issue a card'), body: IssueCard, response: { 201: CardView, ...ERRORS } } },
    async (req, reply) => {
      const { number, holder } = req.body;
      // Not the ledger's default `D-<card number>`: a dossier id is shown and passed around; a card number must not be.
      const dossierId = req.body.dossierId ?? `D-${uuidv7(now())}`;
      await ledger.issueCard({ number, dossierId, holder, pinHash: null, at: now() });
      return reply.code(201).send(cardView(await cardOrThrow(ledger, number), await ledger.wallets(number, now()), await ledger.pinGate(number, null, now())));
    },
  );

  api.post(
    '/cards/:cardNumber/opposition',
    { config: allow('operator'), schema: { ...meta('cards', 'Oppose (block) a card, take the fee, issue its replacement (R4)'), params: CardParams, body: Oppose, response: { 200: OppositionView, ...ERRORS } } },
    async (req) => {
      const { reason, replacementNumber } = req.body;
      const r = await ledger.oppose({
        cardNumber: cardNumberOf(cardRefs, req.params.cardNumber),
        reason,
        at: now(),
        ...(replacementNumber === undefined ? {} : { replacement: { number: replacementNumber } }),
      });
      return { feeCents: r.feeCents, feeText: amountText(r.feeCents, 'cent'), feeFrom: r.feeFrom, replacement: r.replacement === null ? null : maskCardNumber(r.replacement) };
    },
  );

  api.post(
    '/cards/:cardNumber/suspensions',
    { config: allow('operator'), schema: { ...meta('cards', "Suspend all or part of a youth's benefits for a campaign (R5)"), params: CardParams, body: Suspend, response: { 204: NoContent, ...ERRORS } } },
    async (req, reply) => {
      const { campaign, reason } = req.body;
      await ledger.suspend({ cardNumber: cardNumberOf(cardRefs, req.params.cardNumber), benefit: suspensionScope(req.body, 'refuse'), campaign, reason, at: now() });
      return reply.code(204).send(null);
    },
  );

  api.delete(
    '/cards/:cardNumber/suspensions',
    { config: allow('operator'), schema: { ...meta('cards', 'Lift a suspension'), params: CardParams, querystring: LiftQuery, response: { 204: NoContent, ...ERRORS } } },
    async (req, reply) => {
      await ledger.liftSuspension(cardNumberOf(cardRefs, req.params.cardNumber), suspensionScope(req.query, 'all'), req.query.campaign, now());
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/cards/:cardNumber/pin-unlock',
    { config: allow('operator'), schema: { ...meta('cards', 'Lift the lock after three wrong codes (R3), without changing the code'), params: CardParams, response: { 204: NoContent, ...ERRORS } } },
    async (req, reply) => {
      await ledger.unlockPin(cardNumberOf(cardRefs, req.params.cardNumber));
      return reply.code(204).send(null);
    },
  );
}

function cardLoads(api: Api, { ledger, now, cardRefs }: ApiDeps): void {
  api.post(
    '/cards/:cardNumber/loads',
    { config: allow('operator'), schema: { ...meta('cards', 'Load one benefit of a campaign onto the youth (no reload during the year)'), params: CardParams, body: LoadOne, response: { 201: LoadView, ...ERRORS } } },
    async (req, reply) => {
      const { benefit, campaign, amount } = req.body;
      const card = await cardOrThrow(ledger, cardNumberOf(cardRefs, req.params.cardNumber));
      await ledger.load({ cardNumber: card.number, benefit, campaign, amount, at: now() });
      const unit = benefitUnit(benefit);
      return reply.code(201).send({ card: maskCardNumber(card.number), benefit, campaign, unit, amount, amountText: amountText(amount, unit, amount === 0) });
    },
  );
}
