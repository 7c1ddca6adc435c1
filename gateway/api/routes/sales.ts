import { Type } from '@sinclair/typebox';
import { maskCardNumber } from '../../../protocol/card.ts';
import { DECLINE_CODES } from '../../../protocol/codes.ts';
import { randomBase32 } from '../../../common/random.ts';
import { endOfRegionDay } from '../../../common/paris-time.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { MAX_GROUP_SIZE } from '../../rules.ts';
import type { CorrectionResult, GroupList } from '../../ledger/ledger.ts';
import { actorOf, allow, checkPartnerScope, ownPartner, principalOf, requirePartner, type Principal } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ApiError, ERRORS } from '../errors.ts';
import { Amount, Benefit, CardNumber, GroupId, IsoDate, literals, MaskedCard, meta, Obj, PartnerId, Text, Timestamp, TxnId, Unit } from '../schemas.ts';
import { amountText, iso } from '../views.ts';

/**
 * Corrections and group sales. A partner cancels its own sale the same local day (its partner id comes
 * from its token, never from the request); the Region reverses any sale later. A group sale (R12) is a
 * school outing paid with the shows or cinema benefit, one debit per youth.
 */

const TxnParams = Obj({ txnId: TxnId });

const CorrectionView = Obj({
  txnId: Type.String(),
  unit: Unit,
  ...Amount,
  to: Type.Union([Type.Literal('wallet'), Type.Literal('region')], { description: "wallet: back on the youth's benefit; region: its window had ended" }),
});

const ListId = Type.String({ pattern: '^GL-[0-9A-HJKMNP-TV-Z]{12}$', description: 'A group list the Region approved, e.g. GL-8K2M4Q7Z1XRT' });

const GroupSaleIn = Obj({
  groupId: GroupId,
  listId: ListId,
  partnerId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Required for the operator; a partner's token already names its partner" })),
  benefit: Benefit,
  amountPerYouth: Type.Integer({ minimum: 1, description: "Per youth, in the benefit's unit (cents for shows, entries for cinema)" }),
  cardNumbers: Type.Array(CardNumber, { minItems: 1, maxItems: MAX_GROUP_SIZE }),
  reference: Text(140, 'The outing, e.g. "Lycée du Parc, sortie théâtre 12/10"'),
});

const GroupLine = Obj({
  card: MaskedCard,
  txnId: Type.String(),
  status: Type.Union([Type.Literal('approved'), Type.Literal('declined')]),
  code: Type.Optional(literals(DECLINE_CODES, 'Why the line was declined')),
  taken: Type.Integer(),
  remainingToPay: Type.Integer({ description: 'R9: what the youth (or the school) pays beyond the benefit' }),
});

const GroupSaleView = Obj({
  groupId: Type.String(),
  fresh: Type.Boolean({ description: 'false when this is a repeat of a group already recorded: nothing was debited again' }),
  lines: Type.Array(GroupLine),
});

function correctionView(r: CorrectionResult) {
  return { txnId: r.txnId, unit: r.unit, amount: r.amount, amountText: amountText(r.amount, r.unit), to: r.to };
}

/** The partner a group sale is for: the token's own, or the one the operator names. */
function groupPartner(p: Principal, named: string | undefined): string {
  const own = ownPartner(p);
  if (own !== undefined) {
    if (named !== undefined) checkPartnerScope(p, named);
    return own;
  }
  if (named === undefined) throw new ApiError(400, 'BAD_SCHEMA', '/body/partnerId: the operator must name the partner', { path: '/body/partnerId' });
  return named;
}

const NewGroupList = Obj({
  partnerId: PartnerId,
  benefit: Benefit,
  reference: Text(140, 'The outing and its school, e.g. "Lycée du Parc, sortie théâtre 12/10"'),
  cardNumbers: Type.Array(CardNumber, { minItems: 1, maxItems: MAX_GROUP_SIZE, description: 'The youths the school lists for the outing' }),
  maxPerYouth: Type.Integer({ minimum: 1, description: "Most taken per youth, in the benefit's unit" }),
  validUntil: IsoDate,
});

const GroupListView = Obj({
  listId: Type.String(),
  partnerId: Type.String(),
  benefit: Benefit,
  reference: Type.String(),
  cards: Type.Array(Obj({ card: MaskedCard, paid: Type.Boolean({ description: 'Already paid by a group sale under this list' }) })),
  maxPerYouth: Type.Integer(),
  validUntil: Timestamp,
  createdBy: Type.String(),
});

const ListParams = Obj({ listId: ListId });

/**
 * R12 lists (operator): the youths a school sends on one outing with one partner, approved by the Region.
 * A group sale names one; without it no card is debited (a partner cannot debit any card number it likes).
 */
export function groupListRoutes(api: Api, { ledger, now }: ApiDeps): void {
  api.post(
    '/group-lists',
    { config: allow('operator'), schema: { ...meta('sales', "Approve a school's list of youths for one partner's group outing (R12)"), body: NewGroupList, response: { 201: GroupListView, ...ERRORS } } },
    async (req, reply) => {
      const b = req.body;
      if (!await ledger.partner(b.partnerId)) throw new PasserelleError('NOT_FOUND', `no partner ${b.partnerId}`);
      const listId = `GL-${randomBase32(12)}`;
      await ledger.atomically(async () => {
        await ledger.addGroupList({ id: listId, partnerId: b.partnerId, benefit: b.benefit, reference: b.reference, cardNumbers: b.cardNumbers, maxPerYouth: b.maxPerYouth, validUntil: endOfRegionDay(b.validUntil) - 1, createdAt: now(), createdBy: actorOf(req) });
        await ledger.addAudit({ at: now(), actor: actorOf(req), action: 'group-list.approved', subject: listId, details: { partnerId: b.partnerId, benefit: b.benefit, cards: b.cardNumbers.length, maxPerYouth: b.maxPerYouth } });
      });
      return reply.code(201).send(groupListView((await ledger.groupList(listId))!));
    },
  );

  api.get(
    '/group-lists/:listId',
    { config: allow('operator', 'partner'), schema: { ...meta('sales', 'One group list, its cards masked, which are paid (a partner reads its own)'), params: ListParams, response: { 200: GroupListView, ...ERRORS } } },
    async (req) => {
      const list = await ledger.groupList(req.params.listId);
      if (!list) throw new PasserelleError('NOT_FOUND', `no group list ${req.params.listId}`);
      checkPartnerScope(principalOf(req), list.partnerId);
      return groupListView(list);
    },
  );
}

function groupListView(l: GroupList & { readonly paid: readonly string[] }) {
  const paid = new Set(l.paid);
  return {
    listId: l.id,
    partnerId: l.partnerId,
    benefit: l.benefit,
    reference: l.reference,
    cards: l.cardNumbers.map((n) => ({ card: maskCardNumber(n), paid: paid.has(n) })),
    maxPerYouth: l.maxPerYouth,
    validUntil: iso(l.validUntil),
    createdBy: l.createdBy,
  };
}

export function saleRoutes(api: Api, { ledger, now }: ApiDeps): void {
  api.post(
    '/sales/:txnId/cancel',
    { config: allow('partner'), schema: { ...meta('sales', 'A partner cancels its own sale, the same local day'), params: TxnParams, response: { 200: CorrectionView, ...ERRORS } } },
    async (req) => {
      return correctionView(await ledger.cancelSale(req.params.txnId, requirePartner(principalOf(req)), now()));
    },
  );

  api.post(
    '/sales/:txnId/reverse',
    { config: allow('operator'), schema: { ...meta('sales', 'The Region reverses a sale, at any later time'), params: TxnParams, body: Obj({ reason: Text(500, 'Why, kept with the reversal') }), response: { 200: CorrectionView, ...ERRORS } } },
    async (req) => correctionView(await ledger.reverseSale(req.params.txnId, req.body.reason, now())),
  );

  api.post(
    '/group-sales',
    { config: allow('operator', 'partner'), schema: { ...meta('sales', 'A group outing paid with the shows or cinema benefit (R12)'), body: GroupSaleIn, response: { 200: GroupSaleView, 201: GroupSaleView, ...ERRORS } } },
    async (req, reply) => {
      const { groupId, listId, benefit, amountPerYouth, cardNumbers, reference } = req.body;
      const partnerId = groupPartner(principalOf(req), req.body.partnerId);
      const r = await ledger.groupSale({ groupId, listId, partnerId, benefit, amount: amountPerYouth, cardNumbers, reference, at: now() });
      const lines = r.lines.map((l) => ({ card: maskCardNumber(l.cardNumber), txnId: l.txnId, status: l.status, ...(l.code === undefined ? {} : { code: l.code }), taken: l.taken, remainingToPay: l.remainingToPay }));
      return reply.code(r.fresh ? 201 : 200).send({ groupId: r.groupId, fresh: r.fresh, lines });
    },
  );
}
