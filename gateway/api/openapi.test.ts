import Ajv2020 from 'ajv/dist/2020.js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiWorld, type ApiWorld } from '../../tests/helpers/api-world.ts';

/**
 * The OpenAPI description is generated from the routes' own schemas: it lists every route of the app, is
 * an OpenAPI 3.1 document in its structure, and every schema in it is a valid JSON Schema (2020-12, the
 * dialect of OpenAPI 3.1).
 */

interface Operation {
  security?: unknown;
  responses?: Record<string, { content?: Record<string, { schema?: object }> }>;
  parameters?: { name: string; in: string; required?: boolean; schema?: object }[];
  requestBody?: { content?: Record<string, { schema?: object }> };
}
interface OpenApi {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }>; schemas?: Record<string, object> };
}

let w: ApiWorld;
let doc: OpenApi;
const routes: { method: string; url: string; hidden: boolean }[] = [];
const collect = (app: FastifyInstance) =>
  app.addHook('onRoute', (r) => {
    const hidden = (r.schema as { hide?: boolean } | undefined)?.hide === true;
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push({ method, url: r.url, hidden });
  });

beforeAll(async () => {
  w = await apiWorld({ beforeReady: collect });
  const res = await w.call('GET', '/docs/json', { token: null });
  expect(res.statusCode).toBe(200);
  doc = res.json() as OpenApi;
});
afterAll(() => w.close());

const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

function schemasOf(op: Operation): object[] {
  const content = (c?: Record<string, { schema?: object }>) => Object.values(c ?? {}).flatMap((m) => (m.schema ? [m.schema] : []));
  return [
    ...(op.parameters ?? []).flatMap((p) => (p.schema ? [p.schema] : [])),
    ...content(op.requestBody?.content),
    ...Object.values(op.responses ?? {}).flatMap((r) => content(r.content)),
  ];
}

describe('OpenAPI at /docs/json, UI at /docs', () => {
  it('is OpenAPI 3.1 with bearer security', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toContain('Passerelle');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('lists every route of the app that is not the docs themselves', () => {
    const listed = routes.filter((r) => !r.hidden && !r.url.startsWith('/docs'));
    expect(listed.length).toBeGreaterThan(25);
    for (const { method, url } of listed) expect(doc.paths[openApiPath(url)]?.[method.toLowerCase()], `${method} ${url}`).toBeDefined();
  });

  it('every API operation requires the bearer token, documents the error envelope and its path parameters', () => {
    for (const [path, ops] of Object.entries(doc.paths)) {
      expect(path.startsWith('/')).toBe(true);
      for (const [method, op] of Object.entries(ops)) {
        const responses = Object.keys(op.responses ?? {});
        expect(responses.some((s) => /^2/.test(s)), `${method} ${path}`).toBe(true);
        const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        for (const name of params) expect(op.parameters?.find((p) => p.in === 'path' && p.name === name)?.required, `${method} ${path} ${name}`).toBe(true);
        if (!path.startsWith('/api/')) continue;
        // Enrolment takes no token: its code is the credential, and the operation says so (security: []).
        expect(op.security, `${method} ${path}`).toEqual(path === '/api/v1/enrolments' ? [] : [{ bearerAuth: [] }]);
        expect(responses, `${method} ${path}`).toEqual(expect.arrayContaining(['4XX', '5XX']));
      }
    }
  });

  it('every schema in the document is a valid JSON Schema 2020-12', () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    const all = [...Object.values(doc.paths).flatMap((ops) => Object.values(ops).flatMap(schemasOf)), ...Object.values(doc.components.schemas ?? {})];
    expect(all.length).toBeGreaterThan(50);
    for (const schema of all) expect(() => ajv.compile(schema), JSON.stringify(schema).slice(0, 200)).not.toThrow();
  });

  it('documents the CSV upload and the file downloads with their media types', () => {
    expect(Object.keys(doc.paths['/api/v1/bulk-loads']?.post?.requestBody?.content ?? {})).toEqual(['text/csv']);
    expect(Object.keys(doc.paths['/api/v1/statements/{statementId}/csv']?.get?.responses?.['200']?.content ?? {})).toEqual(['text/csv']);
    expect(Object.keys(doc.paths['/api/v1/sepa-exports']?.post?.responses?.['200']?.content ?? {})).toEqual(['application/xml']);
  });

  it('/docs serves the Swagger UI page', async () => {
    const res = await w.call('GET', '/docs', { token: null });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toContain('swagger-ui');
  });
});
