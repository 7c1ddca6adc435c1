import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import type { Logger } from '../common/log.ts';

/**
 * The gateway's HTTP app, built by a factory apart from `listen`, so tests `inject()` requests without a
 * socket. Every route declares its response schema: fastify serialises only the declared fields, so a
 * route can never leak one by accident. The admin, technician and partner routes come with the rules issue.
 */

export const HealthReport = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
    version: Type.String(),
    uptimeS: Type.Integer({ minimum: 0 }),
    mqtt: Type.Object({ host: Type.String(), port: Type.Integer(), clients: Type.Integer({ minimum: 0 }) }),
    ledger: Type.Object({ ok: Type.Boolean() }),
    pipeline: Type.Object({
      received: Type.Integer(),
      approved: Type.Integer(),
      declined: Type.Integer(),
      repeats: Type.Integer(),
      rejected: Type.Integer(),
      conflicts: Type.Integer(),
      batches: Type.Integer(),
      ledgerFailures: Type.Integer(),
      inFlight: Type.Integer(),
    }),
  },
  { additionalProperties: false },
);
export type HealthReport = Static<typeof HealthReport>;

export interface HttpDeps {
  readonly health: () => HealthReport;
  readonly log: Logger;
}

export function buildHttpApp(deps: HttpDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log,
    // Health probes arrive every few seconds; logging each would drown everything else.
    logController: new LogController({ disableRequestLogging: (req) => req.url === '/healthz' }),
    bodyLimit: 64 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/healthz',
    { schema: { response: { 200: HealthReport, 503: HealthReport } } },
    async (_req, reply) => {
      const h = deps.health();
      return reply.code(h.status === 'ok' ? 200 : 503).send(h);
    },
  );
  return app as unknown as FastifyInstance;
}
