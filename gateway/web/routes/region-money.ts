import type { FastifyInstance } from 'fastify';
import { addDays, isIsoDate, regionDate } from '../../../common/paris-time.ts';
import { CODES } from '../../../protocol/codes.ts';
import { isPasserelleError, PasserelleError } from '../../../protocol/errors.ts';
import { formatEuros } from '../../../protocol/money.ts';
import { payStatements, runStatements } from '../../reimbursement/payments.ts';
import type { Statement } from '../../reimbursement/types.ts';
import { dailySalesChart, offlineShareChart } from '../charts.ts';
import { roles, type WebContext } from '../context.ts';

/**
 * The Region's money pages: reimbursements (the monthly statement run, SEPA files that pay ready
 * statements, files made before) and the charts of daily sales and of the offline share. Operators only.
 */

const STATUS_FR: Readonly<Record<Statement['status'], string>> = { ready: 'À payer', held: 'Suspendu (preuve d’affichage)', paid: 'Payé' };

/** The last full month, as the run's default period. */
function lastMonth(today: string): { from: string; to: string } {
  const first = `${today.slice(0, 7)}-01`;
  const to = addDays(first, -1);
  return { from: `${to.slice(0, 7)}-01`, to };
}

export function regionMoneyRoutes(web: FastifyInstance, ctx: WebContext): void {
  const { ledger, now } = ctx.deps;
  const operator = roles('operator');

  web.get('/region/remboursements', { config: operator }, async (req, reply) => {
    const q = req.query as { etat?: string };
    const status = q.etat && Object.hasOwn(STATUS_FR, q.etat) ? (q.etat as Statement['status']) : undefined;
    const all = await ledger.statements({});
    const shown = (status ? all.filter((s) => s.status === status) : all).sort((a, b) => b.createdAt - a.createdAt || b.id.localeCompare(a.id)).slice(0, 500);
    const sum = (st: Statement['status']) => all.filter((s) => s.status === st).reduce((t, s) => t + s.totalCents, 0);
    const files = [...new Set(all.filter((s) => s.paidBy).map((s) => s.paidBy!))].map((id) => {
      const paid = all.filter((s) => s.paidBy === id);
      return { id, at: paid[0]!.paidAt!, count: paid.length, cents: paid.reduce((t, s) => t + s.totalCents, 0) };
    }).sort((a, b) => b.at - a.at);
    const today = regionDate(now());
    return ctx.page(req, reply, 'region/statements', {
      title: 'Remboursements des partenaires',
      here: 'money',
      statements: await Promise.all(shown.map(async (s) => ({ ...s, statusText: STATUS_FR[s.status], bank: Boolean((await ledger.partner(s.partnerId))?.iban) }))),
      totals: { ready: sum('ready'), held: sum('held'), paid: sum('paid') },
      files,
      q,
      states: Object.entries(STATUS_FR),
      period: lastMonth(today),
      executionDate: addDays(today, 2),
      result: null,
    });
  });

  web.post('/region/remboursements/cloture', { config: operator }, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const from = typeof b.du === 'string' ? b.du : '';
    const to = typeof b.au === 'string' ? b.au : '';
    if (!isIsoDate(from) || !isIsoDate(to) || from > to) {
      ctx.flash(req, 'error', 'Donnez une période valide : du … au …');
    } else {
      try {
        const run = await runStatements(ledger, from, to, now());
        await ctx.audit(ctx.user(req).id, 'statements.run', `${from}..${to}`, { statements: run.statements.length, skipped: run.skipped.length });
        const total = run.statements.reduce((t, s) => t + s.totalCents, 0);
        ctx.flash(req, 'ok', `${run.statements.length} relevé(s) établi(s) pour ${formatEuros(total)} ; ${run.skipped.length} partenaire(s) sans rien à relever ou déjà relevé(s) sur la période.`);
      } catch (e) {
        if (!isPasserelleError(e)) throw e;
        ctx.flash(req, 'error', e.code === 'PERIOD_INVALID' ? 'Période refusée : elle doit être terminée, et ne pas chevaucher un relevé déjà établi.' : CODES[e.code].fr);
      }
    }
    return reply.redirect('/region/remboursements', 303);
  });

  web.post('/region/remboursements/virement', { config: operator }, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const raw = b.releve;
    const ids = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).filter((x): x is string => typeof x === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(x));
    const date = typeof b.execution === 'string' ? b.execution : '';
    if (ids.length === 0) {
      ctx.flash(req, 'error', 'Cochez au moins un relevé à payer.');
    } else if (!isIsoDate(date) || date < regionDate(now())) {
      ctx.flash(req, 'error', 'La date d’exécution du virement est aujourd’hui ou plus tard.');
    } else {
      try {
        const { file, statements } = await payStatements(ledger, ctx.deps.config.debtor, ids, date, now());
        await ctx.audit(ctx.user(req).id, 'sepa.exported', file.id, { statements: statements.length });
        ctx.flash(req, 'ok', `Fichier de virement ${file.id} créé : ${statements.length} relevé(s), ${formatEuros(statements.reduce((t, s) => t + s.totalCents, 0))}. Téléchargez-le ci-dessous et remettez-le à la banque.`);
      } catch (e) {
        if (!isPasserelleError(e)) throw e;
        const partner = typeof e.details?.partnerId === 'string' ? (await ledger.partner(e.details.partnerId))?.name : undefined;
        ctx.flash(req, 'error', partner ? `Rien n’est payé : ${partner} n’a pas de coordonnées bancaires valides.` : `Rien n’est payé : ${CODES[e.code].fr}`);
      }
    }
    return reply.redirect('/region/remboursements', 303);
  });

  web.get('/region/virements/:fileId.xml', { config: operator }, async (req, reply) => {
    const f = await ledger.sepaFile((req.params as { fileId: string }).fileId);
    if (!f) throw new PasserelleError('NOT_FOUND', 'no such SEPA file');
    return reply.type('application/xml; charset=utf-8').header('content-disposition', `attachment; filename="${f.id}.xml"`).header('cache-control', 'no-store').send(f.xml);
  });

  web.get('/region/activite', { config: operator }, async (req, reply) => {
    const q = req.query as { jours?: string };
    const days = q.jours && /^[0-9]{1,3}$/.test(q.jours) && Number(q.jours) >= 7 && Number(q.jours) <= 366 ? Number(q.jours) : 30;
    const to = regionDate(now());
    const from = addDays(to, -(days - 1));
    const chart = dailySalesChart(await ledger.dailySales(from, to), from, to);
    return ctx.page(req, reply, 'region/activity', { title: 'Activité', here: 'activity', days, from, to, chart, offlineSvg: offlineShareChart(chart.rows) });
  });
}
