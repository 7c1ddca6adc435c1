import type { FastifyInstance } from 'fastify';
import { CODES } from '../../../protocol/codes.ts';
import { isPasserelleError } from '../../../protocol/errors.ts';
import type { WebUser } from '../../ledger/ledger.ts';
import { burnPasswordCheck, hashPassword, invitationHash, PASSWORD_MAX, verifyPassword } from '../passwords.ts';
import { homeOf, roles, type WebContext } from '../context.ts';

/**
 * Login, logout and accepting an invitation. A failed login never says whether the address has an
 * account; `lockAfter` wrong passwords in a row lock the account for `lockForMs` (no password is even
 * tried meanwhile), and each address may try `loginPerMinute` times a minute. A successful login starts a
 * new session (the anonymous one's anti-forgery secret is dropped).
 */

interface LoginBody {
  email?: unknown;
  password?: unknown;
  suite?: unknown;
}

/** Only a path of this site (never `//host` or a scheme): the login's `suite` cannot send anyone away. */
function localPath(p: unknown): string | undefined {
  return typeof p === 'string' && /^\/(?![/\\])[\x21-\x7e]*$/.test(p) ? p : undefined;
}

export function authRoutes(web: FastifyInstance, ctx: WebContext): void {
  const { ledger, now } = ctx.deps;
  const loginPage = (suite: unknown, email = '', error?: string) => ({ title: 'Connexion', suite: localPath(suite) ?? '', email, ...(error ? { flash: { kind: 'error' as const, text: error } } : {}) });

  web.get('/connexion', async (req, reply) => {
    if (req.webUser) return reply.redirect(homeOf(req.webUser), 303);
    return ctx.page(req, reply, 'login', loginPage((req.query as { suite?: string }).suite));
  });

  web.post('/connexion', { config: { rateLimit: { max: ctx.config.loginPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
    const b = (req.body ?? {}) as LoginBody;
    const email = typeof b.email === 'string' ? b.email.trim().slice(0, 200) : '';
    const password = typeof b.password === 'string' ? b.password : '';
    const refuse = (code: 'LOGIN_FAILED' | 'ACCOUNT_LOCKED') => ctx.page(req, reply, 'login', loginPage(b.suite, email, CODES[code].fr), code === 'LOGIN_FAILED' ? 401 : 423);
    const u = email && password.length <= PASSWORD_MAX ? await ledger.webUserByEmail(email) : undefined;
    if (!u || u.passwordHash === null || u.disabledAt !== null) {
      // The same work and the same answer as a wrong password: the answer does not say which addresses exist.
      await burnPasswordCheck(password);
      return refuse('LOGIN_FAILED');
    }
    if (u.lockedUntil !== null && u.lockedUntil > now()) return refuse('ACCOUNT_LOCKED');
    // Counted before the slow check, in one statement: a burst of guesses sent at once cannot all be tried
    // while the count lags behind. Only the attempt that reached the limit is still checked; a right
    // password then clears the count (as it would have one attempt earlier).
    const counted = await ledger.recordLoginFailure(u.id, now(), ctx.config.lockAfter, ctx.config.lockForMs);
    const lockedByThis = counted.lockedUntil !== null && counted.lockedUntil > now() && counted.failedLogins === 0 && counted.lockedUntil !== u.lockedUntil;
    if (counted.lockedUntil !== null && counted.lockedUntil > now() && !lockedByThis) return refuse('ACCOUNT_LOCKED');
    if (!(await verifyPassword(password, u.passwordHash))) {
      if (lockedByThis) {
        await ctx.audit(u.id, 'web-user.locked', u.email, { until: counted.lockedUntil, address: req.ip });
        return refuse('ACCOUNT_LOCKED');
      }
      return refuse('LOGIN_FAILED');
    }
    // A lock set meanwhile by another attempt holds, even for the right password.
    const fresh = (await ledger.webUser(u.id))!;
    if (!lockedByThis && fresh.lockedUntil !== null && fresh.lockedUntil > now()) return refuse('ACCOUNT_LOCKED');
    await ledger.recordLoginSuccess(u.id);
    ctx.login(req, u);
    return reply.redirect(localPath(b.suite) ?? homeOf(u), 303);
  });

  web.post('/deconnexion', async (req, reply) => {
    if (req.webUser) await ledger.endSessions(req.webUser.id);
    req.session.delete();
    return reply.redirect('/connexion', 303);
  });

  // Any logged-in user: their account, and a new password (the current one asked again).
  const everyone = roles('manager', 'cashier', 'accountant', 'operator', 'technician');
  web.get('/compte', { config: everyone }, async (req, reply) => ctx.page(req, reply, 'account', { title: 'Mon compte', here: 'account', me: ctx.user(req) }));

  web.post('/compte/mot-de-passe', { config: { ...everyone, rateLimit: { max: ctx.config.loginPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
    const u = ctx.user(req);
    const b = (req.body ?? {}) as Record<string, unknown>;
    const text = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : '');
    const again = (fr: string, status: number) => ctx.page(req, reply, 'account', { title: 'Mon compte', here: 'account', me: u, flash: { kind: 'error', text: fr } }, status);
    if (u.passwordHash === null || !(await verifyPassword(text('actuel'), u.passwordHash))) {
      const after = await ledger.recordLoginFailure(u.id, now(), ctx.config.lockAfter, ctx.config.lockForMs);
      if (after.lockedUntil !== null && after.lockedUntil > now()) {
        // Wrong current passwords count like wrong logins: the account locks and this session ends.
        await ledger.endSessions(u.id);
        await ctx.audit(u.id, 'web-user.locked', u.email, { until: after.lockedUntil, address: req.ip });
        return reply.redirect('/connexion', 303);
      }
      return again('Mot de passe actuel incorrect.', 401);
    }
    let hash: string;
    try {
      hash = await hashPassword(text('nouveau'), text('confirmation'));
    } catch (e) {
      if (!isPasserelleError(e)) throw e;
      return again(CODES[e.code].fr, 422);
    }
    await ledger.recordLoginSuccess(u.id);
    await ledger.setWebPassword(u.id, hash);
    await ctx.audit(u.id, 'web-user.password-changed', u.email, null);
    // The other sessions ended with the new password; this one goes on, renewed.
    ctx.login(req, (await ledger.webUser(u.id))!);
    ctx.flash(req, 'ok', 'Mot de passe changé. Vos autres sessions sont fermées.');
    return reply.redirect('/compte', 303);
  });

  const invited = async (secret: string): Promise<WebUser | undefined> => {
    const u = /^[A-Za-z0-9_-]{43}$/.test(secret) ? await ledger.webUserByInvite(invitationHash(secret)) : undefined;
    return u && u.inviteExpiresAt !== null && u.inviteExpiresAt > now() && u.disabledAt === null ? u : undefined;
  };
  const invitationGone = { title: 'Invitation', message: CODES.INVITATION_INVALID.fr, code: 'INVITATION_INVALID', num: CODES.INVITATION_INVALID.num, back: '/connexion' };

  web.get('/invitation/:secret', { config: { rateLimit: { max: ctx.config.loginPerMinute * 3, timeWindow: 60_000 } } }, async (req, reply) => {
    const u = await invited((req.params as { secret: string }).secret);
    if (!u) return ctx.page(req, reply, 'error', invitationGone, 410);
    return ctx.page(req, reply, 'invitation', { title: 'Choisir votre mot de passe', invitee: { name: u.name, email: u.email, role: u.role } });
  });

  web.post('/invitation/:secret', { config: { rateLimit: { max: ctx.config.loginPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
    const secret = (req.params as { secret: string }).secret;
    const u = await invited(secret);
    if (!u) return ctx.page(req, reply, 'error', invitationGone, 410);
    const b = (req.body ?? {}) as { password?: string; confirm?: string };
    let hash: string;
    try {
      hash = await hashPassword(String(b.password ?? ''), String(b.confirm ?? ''));
    } catch (e) {
      if (!isPasserelleError(e)) throw e;
      return ctx.page(req, reply, 'invitation', { title: 'Choisir votre mot de passe', invitee: { name: u.name, email: u.email, role: u.role }, flash: { kind: 'error', text: CODES[e.code].fr } }, 422);
    }
    if (!await ledger.acceptInvitation(u.id, invitationHash(secret), hash, now())) return ctx.page(req, reply, 'error', invitationGone, 410);
    await ctx.audit(u.id, 'web-user.activated', u.email, null);
    ctx.login(req, (await ledger.webUser(u.id))!);
    ctx.flash(req, 'ok', 'Votre mot de passe est enregistré. Bienvenue !');
    return reply.redirect(homeOf(u), 303);
  });
}
