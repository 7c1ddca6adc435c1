import type { FastifyReply, FastifyRequest } from 'fastify';
import { CODES } from '../../protocol/codes.ts';
import { isPasserelleError, PasserelleError } from '../../protocol/errors.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import type { Ledger, WebRole } from '../ledger/ledger.ts';
import { isPartnerWebRole } from '../ledger/accounts.ts';
import { newInvitation } from './passwords.ts';
import { ROLE_FR } from './render.ts';
import type { WebContext } from './context.ts';

/**
 * Inviting and disabling users, for a partner's manager (its own staff) and for a Region operator (Region
 * agents, and a partner's first manager). An invitation is a single-use link, valid `invitationTtlMs`,
 * shown once to whoever invites (the gateway sends no e-mail: they pass it on); only its hash is kept.
 */

/** Who may renew whose link: a manager for its cashiers and accountants, an operator for technicians. */
const RANK: Readonly<Record<WebRole, number>> = { cashier: 1, accountant: 1, manager: 2, technician: 1, operator: 2 };

const EMAIL = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,185}\.[a-z]{2,24}$/i;

export interface NewInvitation {
  readonly email: string;
  readonly name: string;
  readonly role: WebRole;
  readonly partnerId: string | null;
  /** Who invites: a web user id, or `cli`. */
  readonly invitedBy: string;
  readonly ttlMs: number;
}

/**
 * A new user with an open invitation; returns the secret of the link (`/invitation/<secret>`), which is
 * kept nowhere. DATA_INVALID for a malformed address or name, a partner role without a known partner or a
 * Region role with one; ALREADY_EXISTS for an address that has an account.
 */
export async function createInvitation(ledger: Ledger, i: NewInvitation, at: number): Promise<string> {
  const email = i.email.trim().toLowerCase();
  const name = i.name.trim().replace(/\s+/g, ' ');
  if (!EMAIL.test(email) || email.length > 254) throw new PasserelleError('DATA_INVALID', `not an e-mail address: ${JSON.stringify(i.email)}`);
  if (name.length < 2 || name.length > 120) throw new PasserelleError('DATA_INVALID', 'a name has 2 to 120 characters');
  if (isPartnerWebRole(i.role) !== (i.partnerId !== null)) throw new PasserelleError('DATA_INVALID', 'a partner role names its partner, a Region role none');
  if (i.partnerId !== null && !await ledger.partner(i.partnerId)) throw new PasserelleError('DATA_INVALID', `no partner ${i.partnerId}`);
  const inv = newInvitation();
  await ledger.addWebUser({ id: `U-${uuidv7()}`, email, name, role: i.role, partnerId: i.partnerId, inviteHash: inv.hash, inviteExpiresAt: at + i.ttlMs, createdAt: at, invitedBy: i.invitedBy });
  await ledger.addAudit({ at, actor: i.invitedBy === 'cli' ? 'cli' : `web:${i.invitedBy}`, action: 'web-user.invited', subject: email, details: { role: i.role, partnerId: i.partnerId } });
  return inv.secret;
}

async function inviteForm(ctx: WebContext, partnerId: string | null): Promise<{ roleChoices: { code: WebRole; fr: string }[]; partners: { id: string; name: string }[] | null }> {
  const codes: WebRole[] = partnerId === null ? ['operator', 'technician', 'manager'] : ['manager', 'cashier', 'accountant'];
  return {
    roleChoices: codes.map((code) => ({ code, fr: code === 'manager' && partnerId === null ? `${ROLE_FR.manager} d'un partenaire` : ROLE_FR[code] })),
    partners: partnerId === null ? (await ctx.deps.ledger.partners()).map((p) => ({ id: p.id, name: p.name })) : null,
  };
}

/** The users page of a space: a partner's (`partnerId`), or the Region's (null); `back` is its address. */
export async function usersPage(ctx: WebContext, req: FastifyRequest, reply: FastifyReply, space: { readonly partnerId: string | null; readonly back: string }, extra: Record<string, unknown> = {}, status = 200): Promise<FastifyReply> {
  const data = { title: 'Utilisateurs', here: 'users', ...await inviteForm(ctx, space.partnerId), action: space.back, users: await ctx.deps.ledger.webUsers(space.partnerId), me: ctx.user(req).id, now: ctx.deps.now(), ...extra };
  return ctx.page(req, reply, 'users', data, status);
}

export function publicBase(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}`;
}

export async function inviteUser(ctx: WebContext, req: FastifyRequest, reply: FastifyReply, o: { partnerId: string | null; allowed: readonly WebRole[]; back: string }): Promise<FastifyReply> {
  const { ledger, now } = ctx.deps;
  const b = (req.body ?? {}) as Record<string, unknown>;
  const text = (k: string) => (typeof b[k] === 'string' ? (b[k] as string).trim() : '');
  const email = text('email').toLowerCase();
  const name = text('nom').replace(/\s+/g, ' ');
  const role = text('role') as WebRole;
  // A Region operator names the partner of a partner role; a manager's staff are its own partner's.
  const partnerId = o.partnerId ?? (isPartnerWebRole(role) ? text('partenaire') : null);
  const inviter = ctx.user(req);
  let link: string | null = null;
  let error: string | null = null;
  try {
    if (!o.allowed.includes(role)) throw new PasserelleError('FORBIDDEN', `may not invite a ${role}`);
    const secret = await createInvitation(ledger, { email, name, role, partnerId: partnerId || null, invitedBy: inviter.id, ttlMs: ctx.config.invitationTtlMs }, now());
    link = `${publicBase(req)}/invitation/${secret}`;
  } catch (e) {
    if (!isPasserelleError(e)) throw e;
    error = e.code === 'DATA_INVALID' ? 'Vérifiez l’adresse e-mail, le nom (2 à 120 caractères) et, pour un partenaire, son identifiant.' : CODES[e.code].fr;
  }
  return await usersPage(ctx, req, reply, { partnerId: o.partnerId, back: o.back }, { invited: link ? { email, link } : null, values: error ? { email, nom: name, role } : {}, ...(error ? { flash: { kind: 'error', text: error } } : {}) }, error ? 422 : 201);
}

/** A new single-use link for an account of this space (a forgotten password, an expired invitation), shown once. */
export async function renewLink(ctx: WebContext, req: FastifyRequest, reply: FastifyReply, o: { partnerId: string | null; back: string }): Promise<FastifyReply> {
  const { ledger, now } = ctx.deps;
  const target = await ledger.webUser((req.params as { userId: string }).userId);
  const me = ctx.user(req);
  if (!target || target.partnerId !== o.partnerId || target.disabledAt !== null) throw new PasserelleError('NOT_FOUND', 'no such user here');
  // A link sets the account's password: for staff of a lower rank, or an account that has none yet. An
  // equal's account with a password is not taken over this way (they change it themselves, on /compte).
  const lower = RANK[target.role] < RANK[me.role];
  if (!lower && target.passwordHash !== null) {
    ctx.flash(req, 'error', `${target.name} a déjà un mot de passe et le même rôle que vous : cette personne le change elle-même depuis « Mon compte » ; si elle l’a oublié, la Région lui envoie un nouveau lien.`);
    return reply.redirect(o.back, 303);
  }
  const inv = newInvitation();
  await ledger.renewInvitation(target.id, inv.hash, now() + ctx.config.invitationTtlMs);
  await ctx.audit(me.id, 'web-user.link-renewed', target.email, null);
  return await usersPage(ctx, req, reply, { partnerId: o.partnerId, back: o.back }, { invited: { email: target.email, link: `${publicBase(req)}/invitation/${inv.secret}` } }, 201);
}

export async function disableUser(ctx: WebContext, req: FastifyRequest, reply: FastifyReply, o: { partnerId: string | null; back: string }): Promise<FastifyReply> {
  const { ledger, now } = ctx.deps;
  const target = await ledger.webUser((req.params as { userId: string }).userId);
  const me = ctx.user(req);
  // Only this space's users (a partner's, or the Region's), and never oneself (a space keeps one manager).
  if (!target || target.partnerId !== o.partnerId) throw new PasserelleError('NOT_FOUND', 'no such user here');
  if (target.id === me.id) {
    ctx.flash(req, 'error', 'Vous ne pouvez pas désactiver votre propre compte.');
  } else if (await ledger.disableWebUser(target.id, now())) {
    await ctx.audit(me.id, 'web-user.disabled', target.email, null);
    ctx.flash(req, 'ok', `Le compte de ${target.name} est désactivé.`);
  }
  return reply.redirect(o.back, 303);
}
