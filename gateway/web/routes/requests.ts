import type { FastifyInstance } from 'fastify';
import { TERMINAL_ID_PATTERN } from '../../../protocol/topics.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { uuidv7 } from '../../../protocol/uuid7.ts';
import { makeEnrolmentCode } from '../../enrolment.ts';
import { isWebChannel } from '../../ledger/registry.ts';
import { roles, type WebContext } from '../context.ts';

/**
 * New terminals: a partner's manager asks for one (where, why); a Region operator approves it, naming the
 * terminal id, and the gateway makes its single-use enrolment code, shown once to the operator, who hands
 * it to the technician (docs/terminal.md); or refuses it, saying why. The open enrolment codes can be
 * revoked from the same page.
 */

const TERMINAL_ID = new RegExp(TERMINAL_ID_PATTERN);

/** A free terminal id for a partner: its id with T- for P-, numbered. */
async function sequentially<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}

export async function suggestTerminalId(partnerId: string, taken: (id: string) => Promise<boolean>): Promise<string> {
  const stem = partnerId.replace(/^P-/, '').slice(0, 24);
  for (let n = 1; n < 100; n++) {
    const id = `T-${stem}-${String(n).padStart(2, '0')}`;
    if (!(await taken(id))) return id;
  }
  return `T-${stem}-${Date.now() % 1000}`;
}

export function requestRoutes(web: FastifyInstance, ctx: WebContext): void {
  const { ledger, now } = ctx.deps;

  web.post('/partenaire/:partnerId/terminaux/demande', { config: roles('manager') }, async (req, reply) => {
    const partnerId = (req.params as { partnerId: string }).partnerId;
    const b = (req.body ?? {}) as Record<string, unknown>;
    const site = typeof b.lieu === 'string' ? b.lieu.trim().replace(/\s+/g, ' ') : '';
    const note = typeof b.motif === 'string' ? b.motif.trim().slice(0, 500) : '';
    if (site.length < 2 || site.length > 200) {
      ctx.flash(req, 'error', 'Indiquez où le terminal sera installé (2 à 200 caractères).');
    } else if ((await ledger.terminalRequests({ partnerId, status: 'open' })).length >= 5) {
      ctx.flash(req, 'error', 'Vous avez déjà cinq demandes en attente : la Région les traite avant d’en recevoir d’autres.');
    } else {
      const id = `DT-${uuidv7()}`;
      await ledger.addTerminalRequest({ id, partnerId, requestedBy: ctx.user(req).id, site, note, createdAt: now() });
      await ctx.audit(ctx.user(req).id, 'terminal-request.created', partnerId, { id, site });
      ctx.flash(req, 'ok', 'Demande envoyée à la Région. Vous la suivez ici.');
    }
    return reply.redirect(`/partenaire/${partnerId}/terminaux`, 303);
  });

  const page = async (o: { made?: { terminalId: string; code: string; expiresAt: number; partnerName: string } } = {}) => {
    const open = await ledger.terminalRequests({ status: 'open' });
    // An id is free when no terminal has it, no open code names it, and no request above was offered it.
    const taken = new Set((await ledger.openEnrolmentCodes()).map((c) => c.terminalId));
    const suggest = async (partnerId: string) => {
      const id = await suggestTerminalId(partnerId, async (t) => taken.has(t) || (await ledger.terminal(t)) !== undefined);
      taken.add(id);
      return id;
    };
    const decided = (await ledger.terminalRequests({})).filter((r) => r.status !== 'open').slice(0, 50);
    const name = async (p: string) => (await ledger.partner(p))?.name ?? p;
    const requester = async (u: string) => (await ledger.webUser(u))?.name ?? u;
    return {
      title: 'Demandes de terminaux',
      here: 'requests',
      // One after the other: each suggestion takes its id before the next request's.
      open: await sequentially(open, async (r) => ({ ...r, partnerName: await name(r.partnerId), requester: await requester(r.requestedBy), suggestion: await suggest(r.partnerId) })),
      decided: await Promise.all(decided.map(async (r) => ({ ...r, partnerName: await name(r.partnerId) }))),
      codes: await Promise.all((await ledger.openEnrolmentCodes()).map(async (c) => ({ ...c, partnerName: await name(c.partnerId) }))),
      made: o.made ?? null,
      now: now(),
    };
  };

  web.get('/region/demandes', { config: roles('operator') }, async (req, reply) => ctx.page(req, reply, 'region/requests', await page()));

  web.post('/region/demandes/:requestId', { config: roles('operator') }, async (req, reply) => {
    const r = await ledger.terminalRequest((req.params as { requestId: string }).requestId);
    if (!r) throw new PasserelleError('NOT_FOUND', 'no such request');
    const b = (req.body ?? {}) as Record<string, unknown>;
    const me = ctx.user(req);
    if (r.status !== 'open') {
      ctx.flash(req, 'error', 'Cette demande a déjà été traitée.');
      return reply.redirect('/region/demandes', 303);
    }
    if (b.decision === 'refuser') {
      const why = typeof b.raison === 'string' ? b.raison.trim().slice(0, 300) : '';
      if (why.length < 3) ctx.flash(req, 'error', 'Dites au partenaire pourquoi la demande est refusée.');
      else if (await ledger.decideTerminalRequest(r.id, { status: 'refused', refusal: why }, me.id, now())) {
        await ctx.audit(me.id, 'terminal-request.refused', r.partnerId, { id: r.id, why });
        ctx.flash(req, 'ok', 'Demande refusée.');
      }
      return reply.redirect('/region/demandes', 303);
    }
    const terminalId = typeof b.terminal === 'string' ? b.terminal.trim().toUpperCase() : '';
    // A new terminal: an id no terminal has and no open code names (two codes for one id would let the
    // second enrolment replace the first device's key).
    const taken = async () => (await ledger.terminal(terminalId)) !== undefined || (await ledger.openEnrolmentCodes()).some((c) => c.terminalId === terminalId);
    const refuseId = () => {
      ctx.flash(req, 'error', 'Identifiant de terminal invalide ou déjà pris (par un terminal ou un code en cours) : 3 à 32 caractères, lettres majuscules, chiffres et tirets, par exemple T-LIB-LYON-03.');
      return reply.redirect('/region/demandes', 303);
    };
    if (!TERMINAL_ID.test(terminalId) || isWebChannel(terminalId)) return refuseId();
    let made;
    try {
      made = await ledger.atomically(async () => {
        // Checked inside the transaction: two operators granting the same id cannot both pass.
        if (await taken()) return null;
        const code = await makeEnrolmentCode(ledger, { partnerId: r.partnerId, terminalId, actor: `web:${me.id}` }, now());
        if (!await ledger.decideTerminalRequest(r.id, { status: 'approved', terminalId, codeId: code.id }, me.id, now())) throw new PasserelleError('ALREADY_EXISTS', 'request decided meanwhile');
        return code;
      });
      if (made === null) return refuseId();
    } catch (e) {
      ctx.refused(req, e);
      return reply.redirect('/region/demandes', 303);
    }
    await ctx.audit(me.id, 'terminal-request.approved', r.partnerId, { id: r.id, terminalId, code: made.id });
    // Shown once: the code is kept nowhere but as a hash.
    return ctx.page(req, reply, 'region/requests', await page({ made: { terminalId, code: made.code, expiresAt: made.expiresAt, partnerName: (await ledger.partner(r.partnerId))?.name ?? r.partnerId } }), 201);
  });

  web.post('/region/codes/:codeId/revoquer', { config: roles('operator') }, async (req, reply) => {
    const c = await ledger.enrolmentCode((req.params as { codeId: string }).codeId);
    const me = ctx.user(req);
    if (c && await ledger.revokeEnrolmentCode(c.id, now())) {
      await ctx.audit(me.id, 'enrolment-code.revoked', c.terminalId, { code: c.id });
      ctx.flash(req, 'ok', `Code d'installation de ${c.terminalId} annulé.`);
    } else {
      ctx.flash(req, 'error', 'Ce code est déjà utilisé ou annulé.');
    }
    return reply.redirect('/region/demandes', 303);
  });
}
