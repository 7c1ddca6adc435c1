import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import Database from 'better-sqlite3';
import { CODES, httpStatusOf, type Code } from '../../protocol/codes.ts';
import { isPasserelleError, type PasserelleError } from '../../protocol/errors.ts';
import { safeUrl } from './views.ts';

/**
 * One error envelope for every non-2xx answer of the HTTP app: `{ error: { code, num, message, fr } }`,
 * the code and its French text from `protocol/codes.ts`, so a partner's screen can show `fr` as is and a
 * script can branch on `code`. A few refusals say more: the failing `path` of a schema refusal, the bad
 * `lines` of a load file, the `partnerId` whose bank details are missing.
 *
 * HTTP statuses: each code carries its own in the code table (protocol/codes.ts `httpStatusOf`, listed in
 * docs/codes.md and docs/api.md):
 *   400 BAD_SCHEMA: the request does not match its schema (fastify's validation; the path is named)
 *   401 UNAUTHENTICATED, 403 FORBIDDEN and NOT_YOUR_SALE (another partner's sale is another partner's data)
 *   404 NOT_FOUND, SALE_UNKNOWN
 *   409 conflicts with the current state: ALREADY_EXISTS, CARD_ACTIVE_EXISTS, ALREADY_CORRECTED, GROUP_CONFLICT, CARD_NOT_ACTIVE, and
 *       NOT_SAME_DAY (the partner may cancel its sale, only not any more: the day is over)
 *   422 well-formed but refused by the rules: DATA_INVALID, BULK_LOAD_INVALID, PERIOD_INVALID, NOTHING_TO_STATE,
 *       GROUP_NOT_ALLOWED, and any other decline code
 *   429 RATE_LIMITED, with Retry-After
 *   503 LEDGER_FAILED (the storage failed; nothing changed; send again), GATEWAY_BUSY
 *   500 anything unexpected, without its message (logged with the request id, which the envelope gives)
 */

export const ErrorEnvelope = Type.Object(
  {
    error: Type.Object(
      {
        code: Type.String({ description: 'Stable code from the code table (docs/codes.md)' }),
        num: Type.Integer({ description: 'Its number, for displays with room for digits only' }),
        message: Type.String({ description: 'What happened, in English, for the operator or the developer' }),
        fr: Type.String({ description: 'What a partner reads, in French' }),
        requestId: Type.Optional(Type.String({ description: 'The id under which the gateway logged the failure' })),
        path: Type.Optional(Type.String({ description: 'BAD_SCHEMA: the failing field, e.g. /body/cardNumbers/0' })),
        lines: Type.Optional(
          Type.Array(Type.Object({ line: Type.Integer(), message: Type.String() }, { additionalProperties: false }), {
            description: 'BULK_LOAD_INVALID: the first bad rows (at most 100), by line number; the header is line 1',
          }),
        ),
        lineErrors: Type.Optional(Type.Integer({ description: 'BULK_LOAD_INVALID: how many problems the file has in all' })),
        partnerId: Type.Optional(Type.String({ description: 'The partner the refusal is about' })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false, description: 'Error envelope' },
);
export type ErrorEnvelope = Static<typeof ErrorEnvelope>;
type ErrorExtra = Omit<ErrorEnvelope['error'], 'code' | 'num' | 'message' | 'fr'>;

/** Add to every route's responses so the envelope is documented and serialised by its schema. */
export const ERRORS = { '4xx': ErrorEnvelope, '5xx': ErrorEnvelope } as const;

/** A refusal that carries its own status and details (a schema refusal, a too-large file, a missing IBAN). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: Code,
    message: string,
    readonly extra: ErrorExtra = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorEnvelope(code: Code, message: string, extra: ErrorExtra = {}): ErrorEnvelope {
  return { error: { code, num: CODES[code].num, message, fr: CODES[code].fr, ...extra } };
}

interface ValidationIssue {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message?: string;
}

interface ValidationFailure {
  readonly validation: readonly ValidationIssue[];
  readonly validationContext?: string;
}

function isValidationFailure(e: unknown): e is Error & ValidationFailure {
  return e instanceof Error && Array.isArray((e as Partial<ValidationFailure>).validation);
}

/** `/body/cardNumbers/0`, `/body/partnerId` for a missing property, `/body/pin` for an unknown one. */
function failingPath(e: ValidationFailure): string {
  const issue = e.validation[0];
  const base = `/${e.validationContext ?? 'request'}${issue?.instancePath ?? ''}`;
  const named = issue?.params.missingProperty ?? issue?.params.additionalProperty;
  return typeof named === 'string' ? `${base}/${named}` : base;
}

/** A storage engine's own failure (SQLite), not a refusal by the rules or a constraint on the data. */
function isStorageFailure(e: unknown): boolean {
  return e instanceof Database.SqliteError && !e.code.startsWith('SQLITE_CONSTRAINT');
}

function clientErrorStatus(e: unknown): number | undefined {
  const status = e instanceof Error ? (e as { statusCode?: unknown }).statusCode : undefined;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}

/** A PasserelleError's details that the envelope shows: only the known, harmless ones. */
function passerelleExtra(e: PasserelleError): ErrorExtra {
  const line = e.details?.line;
  if (e.code === 'BULK_LOAD_INVALID' && typeof line === 'number') return { lines: [{ line, message: e.message }], lineErrors: 1 };
  const partnerId = e.details?.partnerId;
  if (typeof partnerId === 'string') return { partnerId };
  return {};
}

export interface ErrorReply {
  readonly status: number;
  readonly body: ErrorEnvelope;
}

/** What to answer for an error thrown anywhere in a request. */
export function errorReply(e: unknown, requestId: string): ErrorReply {
  if (e instanceof ApiError) return { status: e.status, body: errorEnvelope(e.code, e.message, e.extra) };
  if (isPasserelleError(e)) return { status: httpStatusOf(e.code), body: errorEnvelope(e.code, e.message, passerelleExtra(e)) };
  if (isValidationFailure(e)) {
    const path = failingPath(e);
    return { status: 400, body: errorEnvelope('BAD_SCHEMA', `${path}: ${e.validation[0]?.message ?? 'invalid'}`, { path }) };
  }
  // The ledger's storage failed (locked, I/O, disk full): the request changed nothing and can be sent
  // again. Its raw message names tables and files, so it stays in the log.
  if (isStorageFailure(e)) {
    return { status: 503, body: errorEnvelope('LEDGER_FAILED', 'the ledger could not complete the request and nothing was changed: try again shortly', { requestId }) };
  }
  // fastify's own client errors: malformed JSON, unsupported media type, body too large.
  const status = clientErrorStatus(e);
  if (status !== undefined) return { status, body: errorEnvelope('BAD_SCHEMA', (e as Error).message) };
  // The message of an unexpected error may name a table, a file or a value: it stays in the log.
  return { status: 500, body: errorEnvelope('INTERNAL_ERROR', 'internal error: the gateway logged it under this request id', { requestId }) };
}

function onError(e: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body } = errorReply(e, req.id);
  if (status >= 500) req.log.error({ err: e }, 'request failed');
  else req.log.info({ status, code: body.error.code }, 'request refused');
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  return reply.code(status).send(body);
}

/**
 * The envelope for errors and for unknown routes, on the whole app (API, health, docs). `notFoundGuard`
 * runs before the 404 answer (the rate limit: unknown URLs are counted too, or guessing them would be free).
 */
export function installErrorHandling(app: FastifyInstance, notFoundGuard?: preHandlerHookHandler, notFoundPage?: (req: FastifyRequest) => string | undefined): void {
  app.setErrorHandler(onError);
  app.setNotFoundHandler(notFoundGuard ? { preHandler: notFoundGuard } : {}, (req, reply) => {
    // A person's browser gets a page (the web space's), a program the envelope.
    const page = notFoundPage?.(req);
    if (page !== undefined) return reply.code(404).type('text/html; charset=utf-8').send(page);
    // The URL may hold a card number (`/api/v1/cards/<number>/typo`) or a misplaced token: never echo it whole.
    const url = safeUrl(req.url);
    return reply.code(404).send(errorEnvelope('NOT_FOUND', `no route ${req.method} ${url}`));
  });
}
