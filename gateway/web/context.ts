import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps } from '../api/deps.ts';
import type { WebRole, WebUser } from '../ledger/ledger.ts';
import { isPartnerWebRole } from '../ledger/accounts.ts';
import type { WebCounter } from './counter.ts';

/** What the web pages share (gateway/web/web.ts builds it): their dependencies, settings and page helpers. */

export interface WebDeps extends ApiDeps {
  readonly counter: WebCounter;
  /** The gateway's own secret: the session key derives from it. */
  readonly sessionSecret: Uint8Array;
  readonly web?: Partial<WebConfig>;
}

export interface WebConfig {
  /** Wrong passwords in a row before the account is locked, and for how long. */
  readonly lockAfter: number;
  readonly lockForMs: number;
  /** Login attempts per address and minute. */
  readonly loginPerMinute: number;
  /** A session ends this long after login, or after this long without a request. */
  readonly sessionMaxMs: number;
  readonly sessionIdleMs: number;
  /** How long an invitation link is valid. */
  readonly invitationTtlMs: number;
}

export const DEFAULT_WEB_CONFIG: WebConfig = {
  lockAfter: 5,
  lockForMs: 15 * 60_000,
  loginPerMinute: 10,
  sessionMaxMs: 8 * 3600_000,
  sessionIdleMs: 30 * 60_000,
  invitationTtlMs: 7 * 86_400_000,
};

/** What the session cookie holds. */
export interface SessionUser {
  readonly id: string;
  readonly epoch: number;
  /** Login time and last request, epoch ms. */
  readonly iat: number;
  readonly seen: number;
}

declare module '@fastify/secure-session' {
  interface SessionData {
    u: SessionUser;
    flash: { readonly kind: 'ok' | 'error'; readonly text: string };
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A web page's rule: who may see it (none: public, e.g. the login page). */
    web?: { readonly roles: readonly WebRole[] };
    /** A multipart form that checks its anti-forgery token itself, first in its stream. */
    csrfInStream?: boolean;
  }
  interface FastifyRequest {
    webUser: WebUser | null;
  }
}

export interface WebContext {
  readonly deps: WebDeps;
  readonly config: WebConfig;
  /** Render a page with what every page needs (user, navigation, anti-forgery token, flash message). */
  page(req: FastifyRequest, reply: FastifyReply, view: string, data: { readonly title: string; readonly [k: string]: unknown }, status?: number): Promise<FastifyReply>;
  /** The logged-in user of a page with roles (set by the guard). */
  user(req: FastifyRequest): WebUser;
  /** A message shown once on the next page. */
  flash(req: FastifyRequest, kind: 'ok' | 'error', text: string): void;
  /** Log the user in (a new session: the anonymous one's token is dropped). */
  login(req: FastifyRequest, u: WebUser): void;
  /** An audit line for what a web user did (`web:<user id>`), at the gateway's clock. */
  audit(userId: string, action: string, subject: string, details: Readonly<Record<string, unknown>> | null): Promise<void>;
  /** A refusal with a stable code becomes the next page's French message; anything else is thrown on. */
  refused(req: FastifyRequest, e: unknown): void;
}

/** The page to land on after login, by role. */
export function homeOf(u: Pick<WebUser, 'role' | 'partnerId'>): string {
  return isPartnerWebRole(u.role) ? `/partenaire/${u.partnerId}` : '/region';
}

export function roles(...r: WebRole[]): { web: { roles: WebRole[] } } {
  return { web: { roles: r } };
}

