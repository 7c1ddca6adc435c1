import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BENEFITS, isBenefit, PARTNER_TYPES, type Benefit } from '../../../protocol/benefits.ts';
import { isValidCardNumber, maskCardNumber } from '../../../protocol/card.ts';
import { CODES } from '../../../protocol/codes.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { formatEuros } from '../../../protocol/money.ts';
import { campaignAt } from '../../campaigns.ts';
import type { CardRecord, OppositionReason } from '../../ledger/ledger.ts';
import { CONVENTION } from '../convention.ts';
import { inviteUser, disableUser, renewLink, usersPage } from '../users.ts';
import { roles, type WebContext } from '../context.ts';
import { fleetState } from '../render.ts';

/**
 * The Region's console: cards (search without the number, a card's wallets and history, oppose and
 * replace, suspend, unlock the code), partners with their convention and proof state, the fleet (silent
 * terminals holding unsent sales first), the offline report, and the Region's users. A technician sees the
 * fleet and the partners' basics, never money nor cards.
 */

const REASONS: Readonly<Record<OppositionReason, string>> = { lost: 'Perte', stolen: 'Vol', broken: 'Carte abîmée', school_change: "Changement d'établissement (gratuit)" };
const STATUS_FR: Readonly<Record<CardRecord['status'], string>> = { active: 'Active', opposed: 'En opposition' };

export function regionRoutes(web: FastifyInstance, ctx: WebContext): void {
  const { ledger, now, cardRefs } = ctx.deps;
  const operator = roles('operator');
  const region = roles('operator', 'technician');

  const cardOf = async (req: FastifyRequest): Promise<CardRecord> => {
    const ref = (req.params as { ref: string }).ref;
    const number = cardRefs.cardNumber(ref);
    const card = number === undefined ? undefined : await ledger.card(number);
    if (!card) throw new PasserelleError('NOT_FOUND', 'no such card');
    return card;
  };

  web.get('/region', { config: region }, async (req, reply) => {
    const u = ctx.user(req);
    const counts = await ledger.counts();
    const silent = (await ledger.fleet({ silentSince: now() - 3600_000, withUnsent: true, limit: 1000 })).length;
    return ctx.page(req, reply, 'region/home', { title: 'Console de la Région', here: 'home', counts, silent, money: u.role === 'operator', openRequests: (await ledger.terminalRequests({ status: 'open' })).length });
  });

  web.get('/region/cartes', { config: operator }, async (req, reply) => {
    const q = req.query as { nom?: string; dossier?: string; premiers?: string; derniers?: string };
    const search = {
      ...(q.nom?.trim() ? { holder: q.nom.trim().slice(0, 100) } : {}),
      ...(q.dossier?.trim() ? { dossierId: q.dossier.trim().slice(0, 40) } : {}),
      ...(q.premiers?.trim() ? { first4: q.premiers.trim() } : {}),
      ...(q.derniers?.trim() ? { last4: q.derniers.trim() } : {}),
    };
    const asked = Object.keys(search).length > 0;
    let found: { ref: string; masked: string; holder: string; dossierId: string; status: string }[] = [];
    let error: string | null = null;
    if ((search.first4 !== undefined && !/^[0-9]{4}$/.test(search.first4)) || (search.last4 !== undefined && !/^[0-9]{4}$/.test(search.last4))) {
      error = 'Les premiers et derniers chiffres de la carte sont 4 chiffres.';
    } else if (asked) {
      found = (await ledger.searchCards(search, 50)).map((c) => ({ ref: cardRefs.ref(c.number), masked: maskCardNumber(c.number), holder: c.holder, dossierId: c.dossierId, status: STATUS_FR[c.status] }));
    }
    return ctx.page(req, reply, 'region/cards', { title: 'Cartes', here: 'cards', q, asked, found, ...(error ? { flash: { kind: 'error', text: error } } : {}) });
  });

  // A whole number typed from the card goes in a form's body, never in an address (logs, history).
  web.post('/region/cartes/numero', { config: operator }, async (req, reply) => {
    const raw = (req.body as { numero?: unknown } | undefined)?.numero;
    const n = typeof raw === 'string' ? raw.replace(/[\s-]/g, '') : '';
    const card = isValidCardNumber(n) ? await ledger.card(n) : undefined;
    if (card) return reply.redirect(`/region/cartes/${cardRefs.ref(card.number)}`, 303);
    ctx.flash(req, 'error', isValidCardNumber(n) ? 'Aucune carte avec ce numéro.' : CODES.CARD_NUMBER_INVALID.fr);
    return reply.redirect('/region/cartes', 303);
  });

  web.get('/region/cartes/:ref', { config: operator }, async (req, reply) => {
    const card = await cardOf(req);
    const ref = cardRefs.ref(card.number);
    const at = now();
    const wallets = await ledger.wallets(card.number, at);
    const history = await ledger.history(card.number, 50);
    const pin = await ledger.pinGate(card.number, null, at);
    const campaigns = (await ledger.campaigns()).map((c) => c.id);
    return ctx.page(req, reply, 'region/card', {
      title: `Carte ${maskCardNumber(card.number)}`,
      here: 'cards',
      card: { ref, masked: maskCardNumber(card.number), holder: card.holder, dossierId: card.dossierId, status: card.status, statusText: STATUS_FR[card.status], codeSet: card.pinHash !== null, pin },
      wallets,
      history: await Promise.all(history.map(async (h) => ({ ...h, partnerName: h.partnerId ? ((await ledger.partner(h.partnerId))?.name ?? h.partnerId) : '' }))),
      reasons: Object.entries(REASONS),
      benefits: Object.entries(BENEFITS).map(([code, b]) => ({ code, fr: b.fr })),
      campaigns,
      campaign: campaigns.includes(campaignAt(at)) ? campaignAt(at) : (campaigns.at(-1) ?? ''),
    });
  });

  web.post('/region/cartes/:ref/opposition', { config: operator }, async (req, reply) => {
    const card = await cardOf(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const reason = typeof b.motif === 'string' && Object.hasOwn(REASONS, b.motif) ? (b.motif as OppositionReason) : null;
    const replacement = typeof b.remplacement === 'string' ? b.remplacement.replace(/[\s-]/g, '') : '';
    const back = `/region/cartes/${cardRefs.ref(card.number)}`;
    if (!reason) return (ctx.flash(req, 'error', 'Choisissez le motif de l’opposition.'), reply.redirect(back, 303));
    if (replacement && !isValidCardNumber(replacement)) return (ctx.flash(req, 'error', CODES.CARD_NUMBER_INVALID.fr), reply.redirect(back, 303));
    try {
      const r = await ledger.oppose({ cardNumber: card.number, reason, at: now(), ...(replacement ? { replacement: { number: replacement } } : {}) });
      await ctx.audit(ctx.user(req).id, 'card.opposed', maskCardNumber(card.number), { reason, replacement: r.replacement ? maskCardNumber(r.replacement) : null });
      const fee = r.feeCents > 0 ? ` Frais de remplacement : ${formatEuros(r.feeCents)}${r.feeFrom ? ` pris sur ${BENEFITS[r.feeFrom.benefit].fr}` : ''}.` : '';
      ctx.flash(req, 'ok', `Carte mise en opposition.${r.replacement ? ` Nouvelle carte ${maskCardNumber(r.replacement)}.` : ''}${fee}`);
      if (r.replacement) return reply.redirect(`/region/cartes/${cardRefs.ref(r.replacement)}`, 303);
    } catch (e) {
      ctx.refused(req, e);
    }
    return reply.redirect(back, 303);
  });

  web.post('/region/cartes/:ref/suspension', { config: operator }, async (req, reply) => {
    const card = await cardOf(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const back = `/region/cartes/${cardRefs.ref(card.number)}`;
    const benefit = b.avantage === 'tous' ? null : typeof b.avantage === 'string' && isBenefit(b.avantage) ? (b.avantage as Benefit) : undefined;
    const campaign = typeof b.campagne === 'string' ? b.campagne : '';
    const reason = typeof b.motif === 'string' ? b.motif.trim().slice(0, 200) : '';
    if (benefit === undefined || !reason || !(await ledger.campaigns()).some((c) => c.id === campaign)) {
      ctx.flash(req, 'error', 'Choisissez l’avantage, la campagne, et donnez le motif de la suspension.');
      return reply.redirect(back, 303);
    }
    try {
      await ledger.suspend({ cardNumber: card.number, benefit, campaign, reason, at: now() });
      await ctx.audit(ctx.user(req).id, 'card.suspended', maskCardNumber(card.number), { benefit, campaign, reason });
      ctx.flash(req, 'ok', benefit ? `Avantage « ${BENEFITS[benefit].fr} » suspendu pour ${campaign}.` : `Tous les avantages sont suspendus pour ${campaign}.`);
    } catch (e) {
      ctx.refused(req, e);
    }
    return reply.redirect(back, 303);
  });

  web.post('/region/cartes/:ref/levee-suspension', { config: operator }, async (req, reply) => {
    const card = await cardOf(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const back = `/region/cartes/${cardRefs.ref(card.number)}`;
    const benefit = typeof b.avantage === 'string' && isBenefit(b.avantage) ? b.avantage : undefined;
    const campaign = typeof b.campagne === 'string' && (await ledger.campaigns()).some((c) => c.id === b.campagne) ? b.campagne : undefined;
    if (!benefit || !campaign) throw new PasserelleError('DATA_INVALID', 'benefit and campaign');
    await ledger.liftSuspension(card.number, benefit, campaign, now());
    await ctx.audit(ctx.user(req).id, 'card.suspension-lifted', maskCardNumber(card.number), { benefit, campaign });
    ctx.flash(req, 'ok', `Suspension levée : ${BENEFITS[benefit].fr}, ${campaign}.`);
    return reply.redirect(back, 303);
  });

  web.post('/region/hors-ligne/:ref/deblocage', { config: operator }, async (req, reply) => {
    const card = await cardOf(req);
    if (await ledger.liftSoftBlock(card.number, now())) {
      await ctx.audit(ctx.user(req).id, 'card.soft-block-lifted', maskCardNumber(card.number), null);
      ctx.flash(req, 'ok', `La carte ${maskCardNumber(card.number)} peut de nouveau servir hors ligne.`);
    } else {
      ctx.flash(req, 'error', 'Cette carte n’est pas bloquée hors ligne.');
    }
    return reply.redirect('/region/hors-ligne', 303);
  });

  web.post('/region/cartes/:ref/deblocage-code', { config: operator }, async (req, reply) => {
    const card = await cardOf(req);
    await ledger.unlockPin(card.number);
    await ctx.audit(ctx.user(req).id, 'card.pin-unlocked', maskCardNumber(card.number), null);
    ctx.flash(req, 'ok', 'Le code secret est débloqué.');
    return reply.redirect(`/region/cartes/${cardRefs.ref(card.number)}`, 303);
  });

  web.get('/region/partenaires', { config: region }, async (req, reply) => {
    const money = ctx.user(req).role === 'operator';
    const year = campaignAt(now());
    const partners = await Promise.all((await ledger.partners()).map(async (p) => {
      const signed = await ledger.conventionSignature(p.id, CONVENTION.id);
      const proofs = p.type === 'equipment_shop' ? await ledger.partnerProofs(p.id) : null;
      return { id: p.id, name: p.name, type: p.type, typeFr: PARTNER_TYPES[p.type].fr, conventionFrom: p.conventionFrom, conventionTo: p.conventionTo, signedAt: signed?.signedAt ?? null, bank: money ? Boolean(p.iban) : null, terminals: (await ledger.terminalsOf(p.id)).length, proofs, proofDue: proofs !== null && !proofs.includes(year) };
    }));
    return ctx.page(req, reply, 'region/partners', { title: 'Partenaires', here: 'partners', partners, money, year });
  });

  web.post('/region/partenaires/:partnerId/preuve', { config: operator }, async (req, reply) => {
    const p = await ledger.partner((req.params as { partnerId: string }).partnerId);
    if (!p) throw new PasserelleError('NOT_FOUND', 'no such partner');
    const year = (req.body as { annee?: unknown } | undefined)?.annee;
    try {
      if (typeof year !== 'string' || !/^[0-9]{4}-[0-9]{4}$/.test(year)) throw new PasserelleError('DATA_INVALID', 'school year');
      const r = await ledger.recordProof(p.id, year, now());
      await ctx.audit(ctx.user(req).id, 'partner.proof-recorded', p.id, { year, released: r.released });
      ctx.flash(req, 'ok', `Preuve d'affichage ${year} enregistrée pour ${p.name} : ${r.released} relevé(s) libéré(s) pour paiement.`);
    } catch (e) {
      ctx.refused(req, e);
    }
    return reply.redirect('/region/partenaires', 303);
  });

  web.get('/region/parc', { config: region }, async (req, reply) => {
    const q = req.query as { silence?: string; attente?: string };
    const silenceH = q.silence && /^[0-9]{1,4}$/.test(q.silence) ? Number(q.silence) : undefined;
    const entries = await ledger.fleet({ ...(silenceH !== undefined ? { silentSince: now() - silenceH * 3600_000 } : {}), ...(q.attente === 'oui' ? { withUnsent: true } : {}), limit: 1000 });
    // Those the Region must chase first: silent for an hour or more while holding unsent sales.
    const chase = (e: (typeof entries)[number]) => e.heartbeat !== null && e.heartbeat.pending > 0 && now() - e.heartbeat.receivedAt >= 3600_000;
    const sorted = [...entries.filter(chase), ...entries.filter((e) => !chase(e))];
    return ctx.page(req, reply, 'region/fleet', {
      title: 'Parc de terminaux',
      here: 'fleet',
      entries: await Promise.all(sorted.map(async (e) => ({ ...e, chase: chase(e), partnerName: (await ledger.partner(e.partnerId))?.name ?? e.partnerId, st: fleetState(e.heartbeat?.receivedAt ?? null, e.active, now(), ctx.deps.config.fleetOnlineWithinS * 1000) }))),
      q,
      now: now(),
      onlineWithinMs: ctx.deps.config.fleetOnlineWithinS * 1000,
      money: ctx.user(req).role === 'operator',
    });
  });

  web.get('/region/hors-ligne', { config: operator }, async (req, reply) => {
    const report = await ledger.offlineReport(100);
    return ctx.page(req, reply, 'region/offline', { title: 'Ventes hors ligne', here: 'offline', report, refOf: (n: string) => cardRefs.ref(n) });
  });

  web.get('/region/utilisateurs', { config: operator }, async (req, reply) =>
    await usersPage(ctx, req, reply, { partnerId: null, back: '/region/utilisateurs' }),
  );

  web.post('/region/utilisateurs', { config: operator }, async (req, reply) => inviteUser(ctx, req, reply, { partnerId: null, allowed: ['operator', 'technician', 'manager'], back: '/region/utilisateurs' }));

  web.post('/region/utilisateurs/:userId/lien', { config: operator }, async (req, reply) => renewLink(ctx, req, reply, { partnerId: null, back: '/region/utilisateurs' }));

  web.post('/region/utilisateurs/:userId/desactiver', { config: operator }, async (req, reply) => disableUser(ctx, req, reply, { partnerId: null, back: '/region/utilisateurs' }));
}
