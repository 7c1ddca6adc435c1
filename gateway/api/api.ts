import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { PasserelleError } from '../../protocol/errors.ts';
import { VERSION } from '../../common/version.ts';
import { ibanProblem, isValidBic } from '../reimbursement/iban.ts';
import { installAuth } from './auth.ts';
import { DEFAULT_API_CONFIG, type ApiConfig, type ApiDeps } from './deps.ts';
import { bulkLoadRoutes } from './routes/bulk-load.ts';
import { campaignRoutes } from './routes/campaigns.ts';
import { offlineRoutes } from './routes/offline.ts';
import { cardRoutes } from './routes/cards.ts';
import { partnerRoutes, terminalRoutes } from './routes/partners.ts';
import { groupListRoutes, saleRoutes } from './routes/sales.ts';
import { sepaRoutes } from './routes/sepa.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { statementRoutes } from './routes/statements.ts';
import { auditRoutes } from './routes/audit.ts';
import { enrolmentRoutes } from './routes/enrolment.ts';
import { fleetRoutes } from './routes/fleet.ts';

/**
 * The admin, technician and partner HTTP API under `/api/v1`, and its OpenAPI description generated from
 * the routes' own schemas (`/docs/json`, browsable at `/docs`). The route table is in docs/api.md.
 */

export const API_PREFIX = '/api/v1';

/** The defaults completed with what the configuration gives; a bad Region account fails the start. */
export function apiConfig(given: Partial<ApiConfig> = {}): ApiConfig {
  const config = { ...DEFAULT_API_CONFIG, ...given };
  const iban = config.debtor.iban.replace(/\s/g, '').toUpperCase();
  const problem = ibanProblem(iban);
  if (problem !== null) throw new PasserelleError('CONFIG_INVALID', `the Region's debtor IBAN is invalid: ${problem}`);
  if (!isValidBic(config.debtor.bic)) throw new PasserelleError('CONFIG_INVALID', `the Region's debtor BIC ${JSON.stringify(config.debtor.bic)} is invalid`);
  return { ...config, debtor: { ...config.debtor, iban } };
}

/** Register before any route: @fastify/swagger collects the routes registered after it. */
export function registerDocs(app: FastifyInstance): void {
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: "Passerelle admin API (Pass'Région)", version: VERSION, description: 'Operator, technician and partner API of the Passerelle gateway. See docs/api.md.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API token: psr_ then 43 base64url characters' } } },
      tags: ['campaigns', 'cards', 'partners', 'terminals', 'sales', 'statements', 'offline'].map((name) => ({ name })),
    },
  });
  app.register(swaggerUi, { routePrefix: '/docs' });
}

export function registerApi(app: FastifyInstance, deps: ApiDeps): void {
  installAuth(app, deps.ledger, API_PREFIX);
  app.register(
    async (scope) => {
      const api = scope.withTypeProvider<TypeBoxTypeProvider>();
      campaignRoutes(api, deps);
      cardRoutes(api, deps);
      bulkLoadRoutes(api, deps);
      partnerRoutes(api, deps);
      terminalRoutes(api, deps);
      saleRoutes(api, deps);
      groupListRoutes(api, deps);
      statementRoutes(api, deps);
      sepaRoutes(api, deps);
      tokenRoutes(api, deps);
      offlineRoutes(api, deps);
      enrolmentRoutes(api, deps);
      fleetRoutes(api, deps);
      auditRoutes(api, deps);
    },
    { prefix: API_PREFIX },
  );
}
