import { Type } from '@sinclair/typebox';
import { maskCardNumber } from '../../../protocol/card.ts';
import { formatEuros } from '../../../protocol/money.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { allow, checkPartnerScope, principalOf } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { OfflineLimits } from '../../../protocol/offline.ts';
import { Benefit, CardNumberOrRef, MaskedCard, meta, Obj, Timestamp, Unit } from '../schemas.ts';
import { cardNumberOf } from './cards.ts';
import { iso } from '../views.ts';

/**
 * Offline acceptance, seen from the Region: the exposure the policy allows and what offline sales cost
 * (docs/offline.md), the soft blocks put on cards after an offline loss, and each terminal's sequence
 * (gaps and chain breaks).
 */

const LossView = Obj({
  txnId: Type.String(),
  card: MaskedCard,
  cardRef: Type.String({ description: 'The card in the card routes and the soft-block route, without its number' }),
  partnerId: Type.String(),
  terminalId: Type.String(),
  benefit: Benefit,
  unit: Unit,
  amount: Type.Integer({ description: "What the Region covered, in the benefit's unit" }),
  amountCents: Type.Integer(),
  amountText: Type.String({ description: 'French rendering of amountCents' }),
  reason: Type.String({ description: 'The decline the wallet alone would have given, or PARTIAL' }),
  saleAt: Timestamp,
  recordedAt: Timestamp,
});

const ReportView = Obj({
  policy: Type.Union([Obj({ version: Type.Integer(), issuedAt: Timestamp, limits: OfflineLimits }), Type.Null()]),
  hotlistVersion: Type.Integer(),
  boundPerCardDayCents: Type.Integer({ description: 'The most one card can cost the Region in one day, over every active terminal' }),
  offlineSales: Type.Integer(),
  guaranteedCents: Type.Integer(),
  guaranteedEntries: Type.Integer(),
  breaches: Type.Integer({ description: 'Offline sales settled without the guarantee because the terminal broke the policy' }),
  flaggedTerminals: Type.Array(
    Obj({
      terminalId: Type.String(),
      breaches: Type.Integer(),
      kinds: Type.Record(Type.String(), Type.Integer(), { description: 'Breaches by kind: card-proof, time, hotlisted, amount, card-day, pending, qr, policy-unknown, policy-disabled' }),
      lastAt: Timestamp,
    }),
    { description: 'Terminals that broke the offline policy, the most breaches first: to look into' },
  ),
  softBlockedCards: Type.Integer(),
  losses: Type.Array(LossView),
});

const SyncView = Obj({
  terminalId: Type.String(),
  nextSeq: Type.Integer({ description: 'Lowest sequence number not received yet' }),
  maxSeq: Type.Integer(),
  missing: Type.Array(Type.Integer(), { description: 'Sequence numbers below maxSeq never received (asked for again)' }),
  chainBreaks: Type.Integer({ description: 'Records whose hash link or sequence number does not fit: the outbox was altered or reset' }),
});

export function offlineRoutes(api: Api, { ledger, now, cardRefs }: ApiDeps): void {
  api.get(
    '/offline/report',
    { config: allow('operator'), schema: { ...meta('offline', "The offline policy, the Region's exposure and its offline losses"), response: { 200: ReportView, ...ERRORS } } },
    async () => {
      const r = await ledger.offlineReport(100);
      return {
        policy: r.policy && { version: r.policy.version, issuedAt: iso(r.policy.issuedAt), limits: r.policy.limits },
        hotlistVersion: await ledger.hotlistVersion(),
        boundPerCardDayCents: r.boundPerCardDayCents,
        offlineSales: r.offlineSales,
        guaranteedCents: r.guaranteedCents,
        guaranteedEntries: r.guaranteedEntries,
        breaches: r.breaches,
        flaggedTerminals: r.flaggedTerminals.map((t) => ({ terminalId: t.terminalId, breaches: t.breaches, kinds: { ...t.kinds }, lastAt: iso(t.lastAt) })),
        softBlockedCards: r.softBlockedCards,
        losses: r.losses.map((l) => ({
          txnId: l.txnId,
          card: maskCardNumber(l.cardNumber),
          cardRef: cardRefs.ref(l.cardNumber),
          partnerId: l.partnerId,
          terminalId: l.terminalId,
          benefit: l.benefit,
          unit: l.unit,
          amount: l.amount,
          amountCents: l.amountCents,
          amountText: formatEuros(l.amountCents),
          reason: l.reason,
          saleAt: iso(l.saleAt),
          recordedAt: iso(l.recordedAt),
        })),
      };
    },
  );

  api.delete(
    '/offline/soft-blocks/:cardNumber',
    {
      config: allow('operator'),
      schema: {
        ...meta('offline', 'Lift the offline soft block put on a card after an offline loss (online sales were never blocked)'),
        params: Obj({ cardNumber: CardNumberOrRef }),
        response: { 204: Type.Null(), ...ERRORS },
      },
    },
    async (req, reply) => {
      if (!await ledger.liftSoftBlock(cardNumberOf(cardRefs, req.params.cardNumber), now())) throw new PasserelleError('NOT_FOUND', 'this card has no offline soft block');
      return reply.code(204).send(null);
    },
  );

  api.get(
    '/terminals/:terminalId/sync',
    {
      config: allow('operator', 'technician', 'partner'),
      schema: {
        ...meta('terminals', "Where the gateway stands with a terminal's records: gaps and chain breaks"),
        params: Obj({ terminalId: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 200: SyncView, ...ERRORS },
      },
    },
    async (req) => {
      const t = await ledger.terminal(req.params.terminalId);
      if (!t) throw new PasserelleError('NOT_FOUND', `no terminal ${req.params.terminalId}`);
      checkPartnerScope(principalOf(req), t.partnerId);
      const s = await ledger.terminalSync(t.id, 100);
      return { terminalId: s.terminalId, nextSeq: s.nextSeq, maxSeq: s.maxSeq, missing: [...s.missing], chainBreaks: s.chainBreaks };
    },
  );
}
