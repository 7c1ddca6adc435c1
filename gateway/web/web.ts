import { hkdfSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import secureSession from '@fastify/secure-session';
import csrf from '@fastify/csrf-protection';
import fastifyStatic from '@fastify/static';
import { CODES } from '../../protocol/codes.ts';
import { isPasserelleError, PasserelleError } from '../../protocol/errors.ts';
import { errorReply } from '../api/errors.ts';
import type { Ledger, WebRole, WebUser } from '../ledger/ledger.ts';
import { isPartnerWebRole } from '../ledger/accounts.ts';
import { render, type PageUser } from './render.ts';
import { DEFAULT_WEB_CONFIG, homeOf, type SessionUser, type WebConfig, type WebContext, type WebDeps } from './context.ts';
import { authRoutes } from './routes/auth.ts';
import { partnerRoutes } from './routes/partner.ts';
import { regionRoutes } from './routes/region.ts';
import { regionMoneyRoutes } from './routes/region-money.ts';
import { requestRoutes } from './routes/requests.ts';
import { regionLoadRoutes } from './routes/region-load.ts';
import { LoadJobs } from './load-jobs.ts';
import multipart from '@fastify/multipart';

/**
 * The partners' web space and the Region's console (docs/web.md), served by the gateway's fastify app
 * beside the API, in their own scope:
 *   - sessions in an encrypted cookie (@fastify/secure-session; HttpOnly, SameSite=Strict, Secure behind
 *     HTTPS, 8 hours at most and 30 minutes idle), its key derived from the gateway's secret so every
 *     gateway of a deployment reads it; the cookie names the user and a session epoch the ledger keeps, so
 *     logging out, a password change or a disabled account ends it at once on every gateway;
 *   - an anti-forgery token on every form (@fastify/csrf-protection, its secret in the session), checked
 *     before anything else on every POST;
 *   - the app's security headers and strict CSP (common/http-security.ts): no inline script or style;
 *   - each page names the roles it admits; a partner's pages take the partner from the URL and admit only
 *     that partner's staff.
 */

const STATIC_ROOT = fileURLToPath(new URL('./static', import.meta.url));

interface NavEntry {
  readonly id: string;
  readonly href: string;
  readonly label: string;
  readonly roles: readonly WebRole[];
}

function navOf(u: WebUser): { id: string; href: string; label: string }[] {
  const p = `/partenaire/${u.partnerId ?? ''}`;
  const entries: NavEntry[] = isPartnerWebRole(u.role)
    ? [
        { id: 'home', href: p, label: 'Accueil', roles: ['manager', 'cashier', 'accountant'] },
        { id: 'counter', href: `${p}/encaisser`, label: 'Encaisser', roles: ['manager', 'cashier'] },
        { id: 'sales', href: `${p}/ventes`, label: 'Ventes', roles: ['manager', 'cashier', 'accountant'] },
        { id: 'statements', href: `${p}/releves`, label: 'Remboursements', roles: ['manager', 'accountant'] },
        { id: 'terminals', href: `${p}/terminaux`, label: 'Terminaux', roles: ['manager', 'cashier'] },
        { id: 'convention', href: `${p}/convention`, label: 'Convention', roles: ['manager', 'accountant'] },
        { id: 'users', href: `${p}/utilisateurs`, label: 'Utilisateurs', roles: ['manager'] },
      ]
    : [
        { id: 'home', href: '/region', label: 'Accueil', roles: ['operator', 'technician'] },
        { id: 'cards', href: '/region/cartes', label: 'Cartes', roles: ['operator'] },
        { id: 'partners', href: '/region/partenaires', label: 'Partenaires', roles: ['operator', 'technician'] },
        { id: 'fleet', href: '/region/parc', label: 'Terminaux', roles: ['operator', 'technician'] },
        { id: 'requests', href: '/region/demandes', label: 'Demandes', roles: ['operator'] },
        { id: 'offline', href: '/region/hors-ligne', label: 'Hors ligne', roles: ['operator'] },
        { id: 'money', href: '/region/remboursements', label: 'Remboursements', roles: ['operator'] },
        { id: 'load', href: '/region/chargement', label: 'Chargement', roles: ['operator'] },
        { id: 'activity', href: '/region/activite', label: 'Activité', roles: ['operator'] },
        { id: 'users', href: '/region/utilisateurs', label: 'Utilisateurs', roles: ['operator'] },
      ];
  return entries.filter((e) => e.roles.includes(u.role)).map(({ id, href, label }) => ({ id, href, label }));
}

export function registerWeb(app: FastifyInstance, deps: WebDeps): void {
  const config = { ...DEFAULT_WEB_CONFIG, ...deps.web };
  const key = Buffer.from(hkdfSync('sha256', deps.sessionSecret, Buffer.alloc(0), 'passerelle/web-session/v1', 32));
  app.register(async (web) => {
    web.register(formbody, { bodyLimit: 16 * 1024 });
    // Pages take forms, never JSON: a JSON body is refused as an unsupported type (415).
    web.removeContentTypeParser('application/json');
    // Only the card load page takes a file; its size is bounded there (the API's bulkLoadMaxBytes).
    web.register(multipart, { limits: { fields: 4, files: 1, parts: 6, fieldSize: 200 } });
    web.register(secureSession, {
      key,
      cookieName: 'passerelle_session',
      expiry: Math.ceil(config.sessionMaxMs / 1000),
      cookie: { path: '/', httpOnly: true, sameSite: 'strict', secure: 'auto' },
    });
    web.register(csrf, { sessionPlugin: '@fastify/secure-session' });
    web.register(fastifyStatic, { root: STATIC_ROOT, prefix: '/static/', decorateReply: false, maxAge: 3600_000 });
    web.decorateRequest('webUser', null);

    const ctx: WebContext = {
      deps,
      config,
      async page(req, reply, view, data, status = 200) {
        const u = req.webUser;
        const flash = req.session.get('flash');
        if (flash) req.session.set('flash', undefined);
        const partnerName = u?.partnerId ? ((await deps.ledger.partner(u.partnerId))?.name ?? null) : null;
        const user: PageUser | null = u ? { name: u.name, role: u.role, partnerId: u.partnerId, partnerName } : null;
        const html = render(view, { flash, ...data, user, nav: u ? navOf(u) : [], csrf: reply.generateCsrf() });
        return reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').send(html);
      },
      user(req) {
        if (!req.webUser) throw new PasserelleError('UNAUTHENTICATED', 'this page needs a logged-in user');
        return req.webUser;
      },
      flash(req, kind, text) {
        req.session.set('flash', { kind, text });
      },
      async audit(userId, action, subject, details) {
        await deps.ledger.addAudit({ at: deps.now(), actor: `web:${userId}`, action, subject, details });
      },
      refused(req, e) {
        if (!isPasserelleError(e)) throw e;
        req.session.set('flash', { kind: 'error', text: CODES[e.code].fr });
      },
      login(req, u) {
        req.session.regenerate();
        const now = deps.now();
        req.session.set('u', { id: u.id, epoch: u.sessionEpoch, iat: now, seen: now } satisfies SessionUser);
      },
    };

    // A query field given twice arrives as a list: the pages read one value each, so that is refused.
    web.addHook('preValidation', async (req) => {
      const q = req.query as Record<string, unknown> | undefined;
      if (q && Object.values(q).some((v) => typeof v !== 'string')) throw new PasserelleError('DATA_INVALID', 'a query field is given more than once');
    });
    // Who is there: the session's user, if the session is still valid.
    web.addHook('preHandler', async (req) => {
      req.webUser = await sessionUser(req, deps.ledger, config, deps.now());
    });
    // Every form is checked against forgery before its page's handler runs.
    web.addHook('preHandler', (req, reply, done) => {
      // A multipart form's token is checked in its handler, first in the stream (routes/region-load.ts).
      if (req.method === 'GET' || req.method === 'HEAD' || req.routeOptions.config.csrfInStream) return done();
      web.csrfProtection(req, reply, done);
    });
    // Each page's roles: no session, to the login page; another role or another partner, refused.
    web.addHook('preHandler', async (req, reply) => {
      const rule = req.routeOptions.config.web;
      if (!rule) return;
      const u = req.webUser;
      if (!u) {
        if (req.method === 'GET') return reply.redirect(`/connexion?suite=${encodeURIComponent(req.url)}`, 303);
        throw new PasserelleError('UNAUTHENTICATED', 'the session has ended: log in again');
      }
      if (!rule.roles.includes(u.role)) throw new PasserelleError('FORBIDDEN', `the ${u.role} role may not open ${req.routeOptions.url ?? ''}`);
      // A partner's staff see their own partner's pages only; the Region's pages that name a partner
      // (recording its proof) are for Region roles, which the route's roles already decided.
      const partnerId = (req.params as { partnerId?: string } | undefined)?.partnerId;
      if (partnerId !== undefined && isPartnerWebRole(u.role) && u.partnerId !== partnerId) throw new PasserelleError('FORBIDDEN', "another partner's pages");
    });

    web.setErrorHandler((e, req, reply) => {
      const csrfFailure = (e as { code?: string }).code?.startsWith('FST_CSRF') === true;
      const { status, body } = csrfFailure ? { status: 403, body: { error: { code: 'CSRF_INVALID', num: CODES.CSRF_INVALID.num, message: 'anti-forgery token missing or wrong', fr: CODES.CSRF_INVALID.fr } } } : errorReply(e, req.id);
      if (status >= 500) req.log.error({ err: e }, 'web page failed');
      else req.log.info({ status, code: body.error.code }, 'web request refused');
      if (status === 401) return reply.redirect('/connexion', 303);
      const requestId = status >= 500 ? req.id : undefined;
      return ctx.page(req, reply, 'error', { title: status === 403 ? 'Accès refusé' : 'Demande refusée', message: body.error.fr, code: body.error.code, num: body.error.num, requestId, back: req.webUser ? homeOf(req.webUser) : '/connexion' }, status);
    });

    web.get('/', async (req, reply) => reply.redirect(req.webUser ? homeOf(req.webUser) : '/connexion', 303));
    authRoutes(web, ctx);
    partnerRoutes(web, ctx);
    regionRoutes(web, ctx);
    regionMoneyRoutes(web, ctx);
    requestRoutes(web, ctx);
    regionLoadRoutes(web, ctx, new LoadJobs(deps.ledger, deps.now));
  });
}

/** The session's user, or null when there is none or it has ended (expired, idle, logged out, disabled). */
async function sessionUser(req: FastifyRequest, ledger: Ledger, config: WebConfig, now: number): Promise<WebUser | null> {
  const s = req.session.get('u') as SessionUser | undefined;
  if (!s || typeof s.id !== 'string') return null;
  const u = await ledger.webUser(s.id);
  const valid = u !== undefined && u.disabledAt === null && u.passwordHash !== null && u.sessionEpoch === s.epoch && now - s.iat < config.sessionMaxMs && now - s.seen < config.sessionIdleMs;
  if (!valid) {
    req.session.set('u', undefined);
    return null;
  }
  // Renewed at most once a minute, so the cookie is not re-sent with every request.
  if (now - s.seen > 60_000) req.session.set('u', { ...s, seen: now });
  return u;
}

/** The page for an address the web space does not have (no session is read: it is the same for everyone). */
export function notFoundPage(): string {
  return render('error', { title: 'Page introuvable', user: null, nav: [], csrf: '', message: 'Cette page n’existe pas. Vérifiez l’adresse, ou repartez de l’accueil.', code: 'NOT_FOUND', num: CODES.NOT_FOUND.num, back: '/' });
}
