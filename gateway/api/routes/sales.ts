import { Type } from '@sinclair/typebox';
import { maskCardNumber } from '../../../protocol/card.ts';
import { DECLINE_CODES } from '../../../protocol/codes.ts';
import type { CorrectionResult } from '../../ledger/ledger.ts';
import { allow, checkPartnerScope, ownPartner, principalOf, requirePartner, type Principal } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ApiError, ERRORS } from '../errors.ts';
import { Amount, Benefit, CardNumber, GroupId, literals, MaskedCard, meta, Obj, Text, TxnId, Unit } from '../schemas.ts';
import { amountText } from '../views.ts';

/**
 * Corrections and group sales. A partner cancels its own sale the same local day (its partner id comes
 * from its token, never from the request); the Region reverses any sale later. A group sale (R12) is a
 * school outing paid with the shows or cinema benefit, one debit per youth.
 */

const TxnParams = Obj({ txnId: TxnId });
/** More than a class: a whole school year's outing. The ledger has its own limit too. */
const MAX_GROUP = 500;

const CorrectionView = Obj({
  txnId: Type.String(),
  unit: Unit,
  ...Amount,
  to: Type.Union([Type.Literal('wallet'), Type.Literal('region')], { description: "wallet: back on the youth's benefit; region: its window had ended" }),
});

const GroupSaleIn = Obj({
  groupId: GroupId,
  partnerId: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Required for the operator; a partner's token already names its partner" })),
  benefit: Benefit,
  amountPerYouth: Type.Integer({ minimum: 1, description: "Per youth, in the benefit's unit (cents for shows, entries for cinema)" }),
  cardNumbers: Type.Array(CardNumber, { minItems: 1, maxItems: MAX_GROUP }),
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

export function saleRoutes(api: Api, { ledger, now }: ApiDeps): void {
  api.post(
    '/sales/:txnId/cancel',
    { config: allow('partner'), schema: { ...meta('sales', 'A partner cancels its own sale, the same local day'), params: TxnParams, response: { 200: CorrectionView, ...ERRORS } } },
    async (req) => {
      return correctionView(ledger.cancelSale(req.params.txnId, requirePartner(principalOf(req)), now()));
    },
  );

  api.post(
    '/sales/:txnId/reverse',
    { config: allow('operator'), schema: { ...meta('sales', 'The Region reverses a sale, at any later time'), params: TxnParams, body: Obj({ reason: Text(500, 'Why, kept with the reversal') }), response: { 200: CorrectionView, ...ERRORS } } },
    async (req) => correctionView(ledger.reverseSale(req.params.txnId, req.body.reason, now())),
  );

  api.post(
    '/group-sales',
    { config: allow('operator', 'partner'), schema: { ...meta('sales', 'A group outing paid with the shows or cinema benefit (R12)'), body: GroupSaleIn, response: { 200: GroupSaleView, 201: GroupSaleView, ...ERRORS } } },
    async (req, reply) => {
      const { groupId, benefit, amountPerYouth, cardNumbers, reference } = req.body;
      const partnerId = groupPartner(principalOf(req), req.body.partnerId);
      const r = ledger.groupSale({ groupId, partnerId, benefit, amount: amountPerYouth, cardNumbers, reference, at: now() });
      const lines = r.lines.map((l) => ({ card: maskCardNumber(l.cardNumber), txnId: l.txnId, status: l.status, ...(l.code === undefined ? {} : { code: l.code }), taken: l.taken, remainingToPay: l.remainingToPay }));
      return reply.code(r.fresh ? 201 : 200).send({ groupId: r.groupId, fresh: r.fresh, lines });
    },
  );
}
