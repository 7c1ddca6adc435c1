import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isBenefit } from '../../../protocol/benefits.ts';
import { isTerminalId } from '../../../protocol/topics.ts';
import { maskCardNumber } from '../../../protocol/card.ts';
import { CODES, type Code } from '../../../protocol/codes.ts';
import { isPasserelleError, PasserelleError } from '../../../protocol/errors.ts';
import { formatEuros } from '../../../protocol/money.ts';
import { uuidv7 } from '../../../protocol/uuid7.ts';
import { addDays, isIsoDate, regionDate, startOfRegionDay } from '../../../common/paris-time.ts';
import { csvDocument, frenchEuros, statementCsv } from '../../reimbursement/statement-csv.ts';
import type { PartnerRecord, SaleFilter, SaleLine, SaleState } from '../../ledger/ledger.ts';
import { counterBenefits, type CounterResult } from '../counter.ts';
import { CONVENTION } from '../convention.ts';
import { inviteUser, disableUser, renewLink, usersPage } from '../users.ts';
import { roles, type WebContext } from '../context.ts';
import { fleetState } from '../render.ts';

/**
 * The partner's space: the counter (R2a), its sales with filters and CSV, same-day cancellation, its
 * statements and their payment (R11), its convention (read, sign), its terminals, its users. Every page
 * is under `/partenaire/<partner id>` and admits only that partner's staff (the guard in web.ts).
 */


type Params = { partnerId: string };
/** Refusals of what was typed at the counter: the form comes back with the French text, nothing recorded. */
const FORM_REFUSALS: ReadonlySet<Code> = new Set(['DATA_INVALID', 'CARD_NUMBER_INVALID', 'BENEFIT_NOT_ALLOWED', 'AMOUNT_INVALID', 'SECRET_CODE_FORMAT', 'TXN_CONFLICT']);
const SALE_STATES: Readonly<Record<SaleState, string>> = { valid: 'Validée', cancelled: 'Annulée', reversed: 'Contre-passée par la Région' };

interface SalesQuery {
  du?: string;
  au?: string;
  avantage?: string;
  terminal?: string;
  etat?: string;
}

/** The sales filter from the page's query; a malformed field is refused (DATA_INVALID), never ignored. */
function saleFilter(partnerId: string, q: SalesQuery, limit: number): SaleFilter {
  const bad = (what: string) => new PasserelleError('DATA_INVALID', `filter ${what} is invalid`);
  const f: { -readonly [K in keyof SaleFilter]: SaleFilter[K] } = { partnerId, limit };
  if (q.du) {
    if (!isIsoDate(q.du)) throw bad('du');
    f.from = startOfRegionDay(q.du);
  }
  if (q.au) {
    if (!isIsoDate(q.au)) throw bad('au');
    f.to = startOfRegionDay(addDays(q.au, 1));
  }
  if (q.avantage) {
    if (!isBenefit(q.avantage)) throw bad('avantage');
    f.benefit = q.avantage;
  }
  if (q.terminal) {
    if (!isTerminalId(q.terminal)) throw bad('terminal');
    f.terminalId = q.terminal;
  }
  if (q.etat) {
    if (!Object.hasOwn(SALE_STATES, q.etat)) throw bad('etat');
    f.state = q.etat as SaleState;
  }
  return f;
}

function queryString(q: SalesQuery): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (typeof v === 'string' && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

function channelName(terminalId: string | null, groupId: string | null): string {
  if (groupId) return 'Vente de groupe';
  if (terminalId === null) return '—';
  return terminalId.startsWith('WEB-') ? 'Espace web' : terminalId;
}

export function partnerRoutes(web: FastifyInstance, ctx: WebContext): void {
  const { ledger, now, counter } = ctx.deps;
  const partnerOf = async (req: FastifyRequest): Promise<PartnerRecord> => {
    const p = await ledger.partner((req.params as Params).partnerId);
    if (!p) throw new PasserelleError('NOT_FOUND', 'no such partner');
    return p;
  };
  const everyone = roles('manager', 'cashier', 'accountant');

  web.get('/partenaire/:partnerId', { config: everyone }, async (req, reply) => {
    const p = await partnerOf(req);
    const today = regionDate(now());
    const sales = await ledger.partnerSales({ partnerId: p.id, from: startOfRegionDay(today), to: startOfRegionDay(addDays(today, 1)), state: 'valid', limit: 1000 });
    const fleet = await ledger.fleet({ partnerId: p.id, limit: 100 });
    const signature = await ledger.conventionSignature(p.id, CONVENTION.id);
    const unpaid = (await ledger.statements({ partnerId: p.id })).filter((s) => s.status !== 'paid');
    return ctx.page(req, reply, 'partner/home', {
      title: 'Accueil',
      here: 'home',
      partner: p,
      todayCount: sales.length,
      todayCents: sales.reduce((t, s) => t + s.amountCents, 0),
      terminals: fleet.length,
      signed: signature ?? null,
      unpaidCount: unpaid.length,
      unpaidCents: unpaid.reduce((t, s) => t + s.totalCents, 0),
      base: `/partenaire/${p.id}`,
    });
  });

  // The counter (R2a). The form carries the attempt's id: sent twice, it is one sale.
  const counterPage = (p: PartnerRecord, o: { txnId?: string; values?: Record<string, string>; error?: string } = {}) => ({
    title: 'Encaisser',
    here: 'counter',
    partner: p,
    benefits: counterBenefits(p.type),
    txnId: o.txnId ?? uuidv7(),
    values: o.values ?? {},
    ...(o.error ? { flash: { kind: 'error' as const, text: o.error } } : {}),
    base: `/partenaire/${p.id}`,
  });
  web.get('/partenaire/:partnerId/encaisser', { config: roles('manager', 'cashier') }, async (req, reply) => ctx.page(req, reply, 'partner/counter', counterPage(await partnerOf(req))));

  web.post('/partenaire/:partnerId/encaisser', { config: roles('manager', 'cashier') }, async (req, reply) => {
    const p = await partnerOf(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const field = (k: string) => (typeof b[k] === 'string' ? (b[k] as string).slice(0, 100) : '');
    const values = { carte: field('carte'), avantage: field('avantage'), montant: field('montant') };
    let result: CounterResult;
    try {
      result = await counter.sell({ partnerId: p.id, txnId: field('txn'), cardNumber: values.carte, benefit: values.avantage, amount: values.montant, code: field('code') });
    } catch (e) {
      if (!isPasserelleError(e) || !FORM_REFUSALS.has(e.code)) throw e;
      // Nothing was recorded: the same form (the same attempt id) may be sent again once corrected; a form
      // whose id was used for another sale, or lost, gets a new one.
      const renew = e.code === 'TXN_CONFLICT' || (e.code === 'DATA_INVALID' && !/^[0-9a-f-]{36}$/.test(field('txn')));
      const text = e.code === 'TXN_CONFLICT' ? 'Ce formulaire a déjà servi pour une autre vente : vérifiez-la dans la liste des ventes, puis saisissez la nouvelle vente ici.' : CODES[e.code].fr;
      return ctx.page(req, reply, 'partner/counter', counterPage(p, { ...(renew ? {} : { txnId: field('txn') }), values, error: text }), 422);
    }
    const card = maskCardNumber(result.cardNumber ?? values.carte.replace(/[\s-]/g, ''));
    return ctx.page(req, reply, 'partner/counter-result', { title: result.status === 'approved' ? 'Vente acceptée' : 'Vente refusée', here: 'counter', partner: p, result, card, declined: result.code ? CODES[result.code as Code].fr : null, base: `/partenaire/${p.id}` });
  });

  web.get('/partenaire/:partnerId/ventes', { config: everyone }, async (req, reply) => {
    const p = await partnerOf(req);
    const q = req.query as SalesQuery;
    const sales = await ledger.partnerSales(saleFilter(p.id, q, 501));
    const u = ctx.user(req);
    const today = regionDate(now());
    return ctx.page(req, reply, 'partner/sales', {
      title: 'Ventes',
      here: 'sales',
      partner: p,
      q,
      more: sales.length > 500,
      sales: sales.slice(0, 500).map((s) => ({ ...s, channel: channelName(s.terminalId, s.groupId), stateText: SALE_STATES[s.state], cancellable: s.state === 'valid' && s.guaranteed === 0 && regionDate(s.saleAt) === today && u.role !== 'accountant' })),
      benefits: counterBenefits(p.type),
      terminals: (await ledger.terminalsOf(p.id)).map((t) => t.id),
      states: Object.entries(SALE_STATES),
      total: sales.slice(0, 500).filter((s) => s.state === 'valid').reduce((t, s) => t + s.amountCents, 0),
      csvHref: `/partenaire/${p.id}/ventes.csv${queryString(q)}`,
      back: queryString(q),
      base: `/partenaire/${p.id}`,
    });
  });

  web.get('/partenaire/:partnerId/ventes.csv', { config: everyone }, async (req, reply) => {
    const p = await partnerOf(req);
    const sales = await ledger.partnerSales(saleFilter(p.id, req.query as SalesQuery, 100_000));
    const rows = sales.map((s: SaleLine) => [
      s.txnId,
      new Date(s.saleAt).toISOString(),
      regionDate(s.saleAt),
      channelName(s.terminalId, s.groupId),
      maskCardNumber(s.cardNumber),
      s.benefit,
      s.unit === 'cent' ? 'euros' : 'entrées',
      { number: s.unit === 'cent' ? frenchEuros(s.quantity) : String(s.quantity) },
      { number: frenchEuros(s.amountCents) },
      { number: String(s.amountCents) },
      SALE_STATES[s.state],
      s.statementId ?? '',
    ]);
    const csv = csvDocument(['identifiant', 'horodatage_utc', 'date', 'canal', 'carte', 'avantage', 'unite', 'quantite', 'montant_euros', 'montant_centimes', 'etat', 'releve'], rows);
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="ventes-${p.id}-${regionDate(now())}.csv"`)
      .header('cache-control', 'no-store')
      .send(csv);
  });

  web.post('/partenaire/:partnerId/ventes/:txnId/annuler', { config: roles('manager', 'cashier') }, async (req, reply) => {
    const p = await partnerOf(req);
    const { txnId } = req.params as Params & { txnId: string };
    try {
      const r = await ledger.cancelSale(txnId, p.id, now());
      await ctx.audit(ctx.user(req).id, 'sale.cancelled', txnId, { partnerId: p.id });
      ctx.flash(req, 'ok', `Vente annulée : ${r.unit === 'cent' ? formatEuros(r.amount) : `${r.amount} entrée(s)`} rendu(s) au jeune.`);
    } catch (e) {
      ctx.refused(req, e);
    }
    // Back to the list as it was filtered: only a query string as this site writes it.
    const back = (req.body as { retour?: unknown } | undefined)?.retour;
    return reply.redirect(`/partenaire/${p.id}/ventes${typeof back === 'string' && /^\?[A-Za-z0-9_%=&.+-]{1,300}$/.test(back) ? back : ''}`, 303);
  });

  web.get('/partenaire/:partnerId/releves', { config: roles('manager', 'accountant') }, async (req, reply) => {
    const p = await partnerOf(req);
    const statements = (await ledger.statements({ partnerId: p.id })).sort((a, b) => b.createdAt - a.createdAt);
    return ctx.page(req, reply, 'partner/statements', { title: 'Remboursements', here: 'statements', partner: p, statements, bankKnown: Boolean(p.iban), base: `/partenaire/${p.id}` });
  });

  web.get('/partenaire/:partnerId/releves/:statementId.csv', { config: roles('manager', 'accountant') }, async (req, reply) => {
    const p = await partnerOf(req);
    const s = await ledger.statement((req.params as { statementId: string }).statementId);
    if (!s || s.partnerId !== p.id) throw new PasserelleError('NOT_FOUND', 'no such statement');
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="releve-${s.id}.csv"`).header('cache-control', 'no-store').send(statementCsv([s]));
  });

  web.get('/partenaire/:partnerId/convention', { config: roles('manager', 'accountant') }, async (req, reply) => {
    const p = await partnerOf(req);
    const signature = await ledger.conventionSignature(p.id, CONVENTION.id);
    const signer = signature ? await ledger.webUser(signature.userId) : undefined;
    return ctx.page(req, reply, 'partner/convention', {
      title: 'Convention de partenariat',
      here: 'convention',
      partner: p,
      document: CONVENTION,
      signature: signature ?? null,
      signerEmail: signer?.email ?? null,
      mayTSign: ctx.user(req).role === 'manager',
      base: `/partenaire/${p.id}`,
    });
  });

  web.post('/partenaire/:partnerId/convention', { config: roles('manager') }, async (req, reply) => {
    const p = await partnerOf(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const name = typeof b.nom === 'string' ? b.nom.trim().replace(/\s+/g, ' ') : '';
    if (b.accepte !== 'oui' || name.length < 3 || name.length > 120) {
      ctx.flash(req, 'error', 'Pour signer, cochez « J’ai lu et j’accepte » et tapez vos prénom et nom.');
    } else if (b.empreinte !== CONVENTION.sha256) {
      // The text changed since the page was shown: the signer must see what is signed.
      ctx.flash(req, 'error', 'Le texte de la convention a changé depuis l’ouverture de la page : relisez-le puis signez à nouveau.');
    } else {
      const u = ctx.user(req);
      const s = await ledger.signConvention({ partnerId: p.id, documentId: CONVENTION.id, documentSha256: CONVENTION.sha256, userId: u.id, signerName: name, signedAt: now() });
      if (s.userId === u.id && s.signerName === name) {
        await ledger.addAudit({ at: s.signedAt, actor: `web:${u.id}`, action: 'convention.signed', subject: p.id, details: { documentId: s.documentId, sha256: s.documentSha256, signerName: name, address: req.ip } });
      }
      ctx.flash(req, 'ok', 'Convention signée. Merci !');
    }
    return reply.redirect(`/partenaire/${p.id}/convention`, 303);
  });

  web.get('/partenaire/:partnerId/terminaux', { config: roles('manager', 'cashier') }, async (req, reply) => {
    const p = await partnerOf(req);
    const entries = (await ledger.fleet({ partnerId: p.id, limit: 500 })).map((e) => ({ ...e, st: fleetState(e.heartbeat?.receivedAt ?? null, e.active, now(), ctx.deps.config.fleetOnlineWithinS * 1000) }));
    const requests = (await ledger.terminalRequests({ partnerId: p.id })).slice(0, 20);
    return ctx.page(req, reply, 'partner/terminals', { title: 'Terminaux', here: 'terminals', partner: p, entries, requests, mayAsk: ctx.user(req).role === 'manager', now: now(), onlineWithinMs: ctx.deps.config.fleetOnlineWithinS * 1000, base: `/partenaire/${p.id}` });
  });

  web.get('/partenaire/:partnerId/utilisateurs', { config: roles('manager') }, async (req, reply) => {
    const p = await partnerOf(req);
    return await usersPage(ctx, req, reply, { partnerId: p.id, back: `/partenaire/${p.id}/utilisateurs` });
  });

  web.post('/partenaire/:partnerId/utilisateurs', { config: roles('manager') }, async (req, reply) => {
    const p = await partnerOf(req);
    return inviteUser(ctx, req, reply, { partnerId: p.id, allowed: ['manager', 'cashier', 'accountant'], back: `/partenaire/${p.id}/utilisateurs` });
  });

  web.post('/partenaire/:partnerId/utilisateurs/:userId/lien', { config: roles('manager') }, async (req, reply) => {
    const p = await partnerOf(req);
    return renewLink(ctx, req, reply, { partnerId: p.id, back: `/partenaire/${p.id}/utilisateurs` });
  });

  web.post('/partenaire/:partnerId/utilisateurs/:userId/desactiver', { config: roles('manager') }, async (req, reply) => {
    const p = await partnerOf(req);
    return disableUser(ctx, req, reply, { partnerId: p.id, back: `/partenaire/${p.id}/utilisateurs` });
  });
}

