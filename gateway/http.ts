import { BlockList, isIPv4, isIPv6 } from 'node:net';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { PasserelleError } from '../protocol/errors.ts';
import { securityHeaders } from '../common/http-security.ts';
import rateLimit from '@fastify/rate-limit';
import { hashToken, lookupApiToken } from './api/tokens.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static, type TInteger } from '@sinclair/typebox';
import type { Logger } from '../common/log.ts';
import type { CardRefs } from './card-refs.ts';
import type { Signer } from '../protocol/crypto.ts';
import { apiConfig, registerApi, registerDocs } from './api/api.ts';
import type { ApiConfig, FleetDeps } from './api/deps.ts';
import { ApiError, installErrorHandling } from './api/errors.ts';
import { safeUrl } from './api/views.ts';
import type { Ledger } from './ledger/ledger.ts';
import type { PipelineStats } from './pipeline.ts';
import type { WebCounter } from './web/counter.ts';
import { notFoundPage, registerWeb } from './web/web.ts';
import type { WebConfig } from './web/context.ts';

/**
 * The gateway's HTTP app, built by a factory apart from `listen`, so tests `inject()` requests without a
 * socket. Every route declares its response schema: fastify serialises only the declared fields, so a
 * route can never leak one by accident. `/healthz` and the docs (`/docs`, `/docs/json`) are public; the
 * admin, technician and partner API is under `/api/v1` (gateway/api, docs/api.md).
 */

/** Every counter of the debit pipeline (`PipelineStats`): the type below fails to compile if one is left out. */
const PipelineCounters = Type.Object(
  Object.fromEntries(
    (
      ['received', 'approved', 'declined', 'repeats', 'rejected', 'rateLimited', 'conflicts', 'seqConflicts', 'voids', 'offline', 'gapRequests', 'batches', 'ledgerFailures', 'inFlight'] satisfies (keyof PipelineStats)[]
    ).map((k) => [k, Type.Integer()]),
  ) as Record<keyof PipelineStats, TInteger>,
);

export const HealthReport = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    version: Type.String(),
    uptimeS: Type.Integer({ minimum: 0 }),
    mqtt: Type.Object({ host: Type.String(), port: Type.Integer(), clients: Type.Integer({ minimum: 0 }) }),
    ledger: Type.Object({ ok: Type.Boolean() }),
    pipeline: PipelineCounters,
  },
  { additionalProperties: false },
);
export type HealthReport = Static<typeof HealthReport>;

export interface HttpDeps {
  readonly health: () => Promise<HealthReport>;
  readonly log: Logger;
  readonly ledger: Ledger;
  /** The clock of every API decision (same-day cancels, statement periods, expiry), injected for tests. */
  readonly now: () => number;
  /** The Region's paying account and limits; defaults in gateway/api/deps.ts. */
  readonly api?: Partial<ApiConfig>;
  /** The card issuer key (signs credentials when a card is personalised). */
  readonly issuer: Signer;
  /** Opaque card references for the operator's card search (gateway/card-refs.ts). */
  readonly cardRefs: CardRefs;
  /** Enrolment and the broker connections of terminals (gateway/api/deps.ts). */
  readonly fleet: FleetDeps;
  /** The partners' web space and the Region's console (gateway/web); without it, the app serves the API alone. */
  readonly web?: { readonly counter: WebCounter; readonly sessionSecret: Uint8Array; readonly config?: Partial<WebConfig> };
  /** Requests per minute for a token, and for an address without a valid one (gateway config `http.rateLimit`). */
  readonly rateLimit?: RateLimits;
  /** The reverse proxies whose X-Forwarded-* headers are believed (gateway config `http.trustProxy`). */
  readonly trustProxy?: readonly string[];
  /** `/metrics` (gateway/metrics.ts), for the addresses in `allow` (gateway config `http.metricsAllow`). */
  readonly metrics?: { readonly text: () => Promise<string>; readonly contentType: string; readonly allow: readonly string[] };
}

/** Who may read /metrics: addresses and CIDR ranges, IPv4 and IPv6 (an IPv4-mapped IPv6 address counts as IPv4). */
export function addressList(entries: readonly string[]): (ip: string) => boolean {
  const list = new BlockList();
  for (const e of entries) {
    const [address, bits] = e.split('/') as [string, string | undefined];
    const type = isIPv6(address) ? 'ipv6' : isIPv4(address) ? 'ipv4' : undefined;
    if (!type) throw new PasserelleError('CONFIG_INVALID', `http.metricsAllow: ${JSON.stringify(e)} is not an address or a CIDR range`);
    if (bits === undefined) list.addAddress(address, type);
    else {
      const n = Number(bits);
      if (!Number.isInteger(n) || n < 0 || n > (type === 'ipv4' ? 32 : 128)) throw new PasserelleError('CONFIG_INVALID', `http.metricsAllow: ${JSON.stringify(e)} has a bad prefix length`);
      list.addSubnet(address, n, type);
    }
  }
  return (ip) => {
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    if (v4 !== undefined) return list.check(v4, 'ipv4');
    return isIPv6(ip) ? list.check(ip, 'ipv6') : isIPv4(ip) && list.check(ip, 'ipv4');
  };
}

function metricsRoute(app: FastifyInstance, m: NonNullable<HttpDeps['metrics']>, allowed: (ip: string) => boolean): void {
  app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
    if (!allowed(req.ip)) throw new PasserelleError('FORBIDDEN', `the metrics are not served to ${req.ip} (gateway config http.metricsAllow)`);
    return reply.type(m.contentType).header('cache-control', 'no-store').send(await m.text());
  });
}

interface RateLimits {
  readonly perMinute: number;
  readonly anonymousPerMinute: number;
  /** The web pages (anything outside the API, the docs and the health probe), per address. */
  readonly webPerMinute?: number;
}

/** The web pages and their files, as opposed to the machines' API, the docs and the health probe. */
const isWebPath = (url: string) => !/^\/(api|docs|healthz|metrics)(\/|\?|$)/.test(url);

/**
 * Request log lines carry the URL, and a card's routes carry its number (`/api/v1/cards/<number>`), a
 * careless client a token: pino's redaction works on keys, not inside a string, so the URL is masked here.
 */
function safeRequest(req: { method?: string; url?: string; ip?: string }): Record<string, unknown> {
  return { method: req.method, url: safeUrl(req.url ?? ''), remoteAddress: req.ip };
}

function healthRoute(app: FastifyInstance, health: () => Promise<HealthReport>): void {
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/healthz',
    { schema: { summary: 'Liveness and readiness (public)', tags: ['health'], response: { 200: HealthReport, 503: HealthReport } } },
    async (_req, reply) => {
      const h = await health();
      return reply.code(h.status === 'ok' ? 200 : 503).send(h);
    },
  );
}

const DEFAULT_RATE_LIMIT: RateLimits = { perMinute: 600, anonymousPerMinute: 60, webPerMinute: 600 };

/**
 * HTTP rate limits (@fastify/rate-limit), before authentication and before any body is read: per API token
 * when the request carries a valid one, per address otherwise (enrolment, the public pages, and requests
 * with an unknown token, which cannot dodge the address limit by inventing tokens); the web pages and their
 * files have their own, higher limit per address (`webPerMinute`: a shop or an office shares one). Beyond the limit:
 * 429 RATE_LIMITED in the error envelope, with Retry-After. Token keys are hashes: the limiter's memory
 * holds no token.
 */
function rateLimits(app: FastifyInstance, ledger: Ledger, limits: RateLimits): void {
  app.register(rateLimit, {
    global: true,
    timeWindow: 60_000,
    keyGenerator: async (req) => {
      const token = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
      if (token !== undefined && await lookupApiToken(ledger, token)) return `token:${hashToken(token)}`;
      return isWebPath(req.url) ? `web:${req.ip}` : `address:${req.ip}`;
    },
    max: (_req, key) => (key.startsWith('token:') ? limits.perMinute : key.startsWith('web:') ? (limits.webPerMinute ?? DEFAULT_RATE_LIMIT.webPerMinute!) : limits.anonymousPerMinute),
    errorResponseBuilder: (_req, ctx) => new ApiError(429, 'RATE_LIMITED', `more than ${ctx.max} requests a minute: try again in ${ctx.after}`),
  });
}

export function buildHttpApp(deps: HttpDeps): FastifyInstance {
  const config = apiConfig(deps.api);
  const app = Fastify({
    loggerInstance: deps.log,
    // Behind a reverse proxy, the client's address and scheme come from its headers, from it alone.
    ...(deps.trustProxy?.length ? { trustProxy: [...deps.trustProxy] } : {}),
    // Health probes arrive every few seconds; logging each would drown everything else.
    logController: new LogController({ disableRequestLogging: (req) => req.url === '/healthz' }),
    childLoggerFactory: (logger, bindings, opts) => logger.child(bindings, { ...opts, serializers: { ...opts.serializers, req: safeRequest } }),
    // JSON bodies are small; the card load file has its own streamed limit (gateway/api/routes/bulk-load.ts).
    bodyLimit: 64 * 1024,
    // An unknown field is refused (400), not silently dropped: a client sending a `pin` must learn it is not taken.
    ajv: { customOptions: { removeAdditional: false } },
  }) as unknown as FastifyInstance;
  securityHeaders(app);
  rateLimits(app, deps.ledger, deps.rateLimit ?? DEFAULT_RATE_LIMIT);
  // Once the limiter is loaded, unknown URLs go through it too.
  app.after(() => installErrorHandling(app, app.rateLimit(), deps.web ? (req) => (isWebPath(req.url) && /text\/html/.test(req.headers.accept ?? '') ? notFoundPage() : undefined) : undefined));
  registerDocs(app);
  app.register(async (scope) => healthRoute(scope, deps.health));
  const metrics = deps.metrics;
  if (metrics) {
    // Checked now: a bad address in the configuration fails the start, naming it.
    const allowed = addressList(metrics.allow);
    app.register(async (scope) => metricsRoute(scope, metrics, allowed));
  }
  const apiDeps = { ledger: deps.ledger, now: deps.now, config, issuer: deps.issuer, cardRefs: deps.cardRefs, fleet: deps.fleet };
  registerApi(app, apiDeps);
  if (deps.web) registerWeb(app, { ...apiDeps, counter: deps.web.counter, sessionSecret: deps.web.sessionSecret, ...(deps.web.config ? { web: deps.web.config } : {}) });
  return app;
}
