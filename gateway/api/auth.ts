import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PasserelleError } from '../../protocol/errors.ts';
import type { ApiRole, Ledger } from '../ledger/ledger.ts';
import { lookupApiToken } from './tokens.ts';

/**
 * Who may call what. Every API route declares the roles it admits in its config (`config: allow(...)`);
 * a route under the API prefix without that declaration stops the app from starting, so no API route
 * can be public by omission.
 * Authentication and the role check run in `onRequest`, before the body is even read: an unauthenticated
 * client cannot make the gateway parse a 200 MiB upload.
 *
 * A partner token sees only its partner's data; that needs the data, so the routes check it themselves
 * with `checkPartnerScope` (another partner's data is 403 FORBIDDEN, like a role refusal).
 */

export interface Access {
  readonly roles: readonly ApiRole[];
  /** Set (to why) on the few routes whose credential is in the request itself, not a token: enrolment. */
  readonly public?: string;
}

export interface Principal {
  readonly name: string;
  readonly role: ApiRole;
  /** Set for a partner token, null otherwise. */
  readonly partnerId: string | null;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export const allow = (...roles: ApiRole[]): { access: Access } => ({ access: { roles } });

/** A route under the API prefix that takes no token, and says why (its own credential, rate-limited harder). */
export const publicRoute = (why: string): { access: Access } => ({ access: { roles: [], public: why } });

/** The caller as the audit log names it: `<role>:<token name>`. */
export function actorOf(req: FastifyRequest): string {
  const p = principalOf(req);
  return `${p.role}:${p.name}`;
}

const BEARER = /^Bearer +(\S+) *$/i;

async function authenticate(ledger: Ledger, header: string | undefined): Promise<Principal> {
  if (header === undefined) throw new PasserelleError('UNAUTHENTICATED', 'an Authorization: Bearer <token> header is required');
  const token = BEARER.exec(header)?.[1];
  const record = token === undefined ? undefined : await lookupApiToken(ledger, token);
  if (!record) throw new PasserelleError('UNAUTHENTICATED', 'the API token is unknown or revoked');
  return { name: record.name, role: record.role, partnerId: record.partnerId };
}

/** The caller of an authenticated route (set by the onRequest hook before any handler runs). */
export function principalOf(req: FastifyRequest): Principal {
  if (req.principal === null) throw new Error('principalOf: route is not behind the auth hook');
  return req.principal;
}

/** A partner may only touch its own partner's data; the other roles are already checked by role. */
export function checkPartnerScope(p: Principal, partnerId: string): void {
  if (p.role === 'partner' && p.partnerId !== partnerId) {
    throw new PasserelleError('FORBIDDEN', `a partner token sees only its own partner (${p.partnerId ?? 'none'})`);
  }
}

/** The partner a partner token is tied to; undefined for the other roles. */
export function ownPartner(p: Principal): string | undefined {
  return p.role === 'partner' ? (p.partnerId ?? undefined) : undefined;
}

/** The partner of a partner-only route's caller. */
export function requirePartner(p: Principal): string {
  if (p.role !== 'partner' || p.partnerId === null) throw new PasserelleError('FORBIDDEN', 'only a partner token may do this');
  return p.partnerId;
}

/**
 * Install on the root app, before any route: every route under `prefix`, whichever plugin registers it,
 * must declare its roles, and every route that declares roles is authenticated. Routes outside the
 * prefix without a rule (health, docs) stay public.
 */
export function installAuth(app: FastifyInstance, ledger: Ledger, prefix: string): void {
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (route.url.startsWith(prefix) && !access?.roles.length && !access?.public) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no access rule (config: allow(...roles))`);
    }
  });
  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config.access;
    // Public routes, and unknown ones: the 404 handler has nothing to protect.
    if (access === undefined || access.public !== undefined || req.is404) return;
    const principal = await authenticate(ledger, req.headers.authorization);
    if (!access.roles.includes(principal.role)) {
      throw new PasserelleError('FORBIDDEN', `the ${principal.role} role may not ${req.method} ${req.routeOptions.url ?? ''}`);
    }
    req.principal = principal;
  });
}
