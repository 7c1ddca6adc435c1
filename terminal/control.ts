import { randomBytes, timingSafeEqual } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { writeAtomic } from '../common/files.ts';
import { securityHeaders } from '../common/http-security.ts';
import { registerCashier, type CashierDeps } from './cashier/routes.ts';
import type { Logger } from '../common/log.ts';
import type { Benefit } from '../protocol/benefits.ts';
import { CODES, isCode, type Code } from '../protocol/codes.ts';
import { isPasserelleError, PasserelleError } from '../protocol/errors.ts';
import { BenefitSchema } from '../protocol/messages.ts';
import type { Outcome } from './sale.ts';

/**
 * The terminal service's control endpoint: on 127.0.0.1 only, for what runs on the terminal itself (the
 * cashier's page, the till link, a technician's script). Each boot makes a new secret, written with the
 * URL to a 0600 file the service's user owns; every call carries it (`Authorization: Bearer …`), so no
 * other local user or process can start a sale, and a `Host` other than the loopback address is refused
 * (a web page cannot reach it by DNS rebinding). Errors are `{ error: { code, num, message, fr } }`.
 */

export interface ControlDeps {
  status(): unknown;
  sale(benefit: Benefit, amount: number): Promise<Outcome>;
  cancel(): void;
  /** No new sale while on (an update drains the queue), for at most `forS`; returns the status. */
  maintenance(on: boolean, forS?: number): unknown;
  /** Stop the service as SIGTERM does (the supervisor starts the version in force again). */
  shutdown(): void;
  /** The cashier's page (terminal/cashier/), when the service serves one. */
  readonly cashier?: CashierDeps;
}

const MaintenanceBody = Type.Object(
  { on: Type.Boolean(), forS: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'Bound: maintenance ends by itself after this (default 600)' })) },
  { additionalProperties: false },
);

export interface ControlOptions {
  readonly port: number;
  /** Where the URL and the boot's secret are written (0600). */
  readonly file: string;
  readonly log: Logger;
}

export interface Control {
  readonly url: string;
  readonly token: string;
  close(): Promise<void>;
}

const SaleBody = Type.Object(
  {
    benefit: BenefitSchema,
    amount: Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'Cents, or entries for a per-entry benefit' }),
  },
  { additionalProperties: false },
);

const STATUS: Partial<Record<Code, number>> = { SALE_IN_PROGRESS: 409, TERMINAL_STOPPING: 503, UNAUTHENTICATED: 401, FORBIDDEN: 403, BAD_SCHEMA: 400 };

function envelope(code: Code, message: string) {
  return { error: { code, num: CODES[code].num, message, fr: CODES[code].fr } };
}

export async function startControl(deps: ControlDeps, o: ControlOptions): Promise<Control> {
  const token = randomBytes(32).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  // forceCloseConnections: a stop never waits for a kiosk's open page (its keep-alive, its event stream).
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 4096, forceCloseConnections: true });
  let port = 0;

  securityHeaders(app);
  app.addHook('onRequest', async (req, reply) => {
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return reply.code(403).send(envelope('FORBIDDEN', 'the control endpoint answers on 127.0.0.1 only'));
    }
    // The cashier's page has its own session (terminal/cashier/routes.ts); everything else, the boot's secret.
    if (req.url === '/caisse' || req.url.startsWith('/caisse/') || req.url.startsWith('/caisse?')) return;
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply.code(401).send(envelope('UNAUTHENTICATED', "this boot's secret is in the control file"));
    }
  });
  app.setErrorHandler((err, _req, reply) => {
    if (isPasserelleError(err)) return reply.code(STATUS[err.code] ?? 422).send(envelope(err.code, err.message));
    const e = err as { validation?: unknown; statusCode?: number; message: string; code?: string };
    if (e.validation || e.statusCode === 400) return reply.code(400).send(envelope('BAD_SCHEMA', e.message));
    if (e.statusCode === 413 || e.statusCode === 415) return reply.code(e.statusCode).send(envelope('BAD_SCHEMA', e.message));
    o.log.error({ err }, 'control endpoint failed');
    return reply.code(500).send(envelope('INTERNAL_ERROR', 'unexpected failure (logged)'));
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send(envelope('NOT_FOUND', `no ${req.method} ${req.url}`)));

  app.get('/v1/status', async () => deps.status());
  app.post<{ Body: Static<typeof SaleBody> }>('/v1/sales', { schema: { body: SaleBody } }, async (req) => {
    const outcome = await deps.sale(req.body.benefit, req.body.amount);
    return { outcome };
  });
  app.post('/v1/sales/cancel', async (_req, reply) => {
    deps.cancel();
    return reply.code(204).send();
  });
  app.post<{ Body: Static<typeof MaintenanceBody> }>('/v1/maintenance', { schema: { body: MaintenanceBody } }, async (req) => deps.maintenance(req.body.on, req.body.forS));
  app.post('/v1/shutdown', async (_req, reply) => {
    // Answered first: the stop closes this endpoint.
    void reply.code(202).send({ stopping: true });
    setImmediate(() => deps.shutdown());
    return reply;
  });

  let writeFile = () => undefined as void;
  const cashier = deps.cashier ? registerCashier(app, deps.cashier, { origin: () => `http://127.0.0.1:${port}`, onLoginRenewed: () => writeFile(), log: o.log }) : undefined;

  await app.listen({ host: '127.0.0.1', port: o.port }).catch((e: NodeJS.ErrnoException) => {
    throw new PasserelleError('PORT_IN_USE', `control endpoint 127.0.0.1:${o.port}: ${e.code ?? e.message}`, {}, { cause: e });
  });
  port = (app.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const startedAt = new Date().toISOString();
  writeFile = () => writeAtomic(o.file, JSON.stringify({ url, token, pid: process.pid, startedAt, ...(cashier ? { cashier: url + cashier.loginPath() } : {}) }, null, 2) + '\n', 0o600);
  writeFile();
  return {
    url,
    token,
    async close() {
      rmSync(o.file, { force: true });
      await app.close();
    },
  };
}

/** The stable code of a failure answered by the control endpoint, for clients (tests, the till link). */
export function controlErrorCode(body: unknown): Code | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' && isCode(code) ? code : undefined;
}
