import { Readable, Transform } from 'node:stream';
import type { FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isPasserelleError } from '../../../protocol/errors.ts';
import { byteLimit, FileTooLarge } from '../../bulk/byte-limit.ts';
import { loadCardsFile, type LoadFileResult } from '../../bulk/load-file.ts';
import type { BadRow } from '../../bulk/types.ts';
import { allow } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ApiError, ERRORS } from '../errors.ts';
import { meta, Obj } from '../schemas.ts';

/**
 * The start-of-year card load file (operator): `POST /bulk-loads` with `content-type: text/csv`. The body
 * is parsed as it streams in (`parseCardsCsv`), never buffered whole; valid rows are kept, and the file is
 * loaded only if no row is bad, in one ledger transaction: all of it or none (a half-loaded file would
 * leave the Region not knowing which youths got their benefits).
 */

const MAX_REPORTED_ERRORS = 100;

const BulkLoadResult = Obj({
  cards: Type.Integer({ description: 'Card rows loaded (new cards, or new campaigns on existing dossiers)' }),
  loads: Type.Integer({ description: 'Benefit loads made' }),
});

class Aborted extends Error {}

interface LimitedBody {
  readonly stream: Transform;
  /** Detach from the request; `drain` reads and drops what the client still sends. */
  release(drain: boolean): void;
}

/**
 * The request body through the limit. Piped rather than `pipeline`d: when the parser stops early (a bad
 * header) only our side is destroyed and the rest of the upload can be drained, so the client still
 * reads the refusal instead of a reset connection.
 */
function limitedBody(source: Readable, max: number): LimitedBody {
  const stream = byteLimit(max);
  const abort = (e: Error) => stream.destroy(e);
  source.once('error', abort);
  source.once('close', () => {
    if (!source.readableEnded) abort(new Aborted('the client stopped sending the file'));
  });
  source.pipe(stream);
  return {
    stream,
    release(drain) {
      source.unpipe(stream);
      if (drain) source.resume();
    },
  };
}

/** A file-level problem (too large, no header, unknown columns) as the same refusal as bad rows. */
function fileProblem(e: unknown, reply: FastifyReply): unknown {
  if (e instanceof FileTooLarge) {
    // Draining the rest of an oversized upload would be reading what we refuse: close after answering.
    reply.header('connection', 'close');
    return new ApiError(413, 'BULK_LOAD_INVALID', e.message);
  }
  if (e instanceof Aborted) return new ApiError(400, 'BAD_SCHEMA', e.message);
  if (isPasserelleError(e, 'DATA_INVALID')) return new ApiError(422, 'BULK_LOAD_INVALID', e.message, { lines: [{ line: 1, message: e.message }], lineErrors: 1 });
  return e;
}

/** Read, check and load the body as one file (`loadCardsFile`: all or none); file problems become refusals. */
async function loadBody(source: Readable, deps: ApiDeps, reply: FastifyReply): Promise<LoadFileResult> {
  const body = limitedBody(source, deps.config.bulkLoadMaxBytes);
  let tooLarge = false;
  try {
    return await loadCardsFile(deps.ledger, body.stream, { at: deps.now() });
  } catch (e) {
    tooLarge = e instanceof FileTooLarge;
    if (isPasserelleError(e, 'BULK_LOAD_INVALID')) {
      const lines = ((e.details?.errors as readonly BadRow[] | undefined) ?? [{ line: Number(e.details?.line ?? 0), message: e.message }]).slice(0, MAX_REPORTED_ERRORS);
      throw new ApiError(422, 'BULK_LOAD_INVALID', e.message, { lines: [...lines], lineErrors: Number(e.details?.errorCount ?? lines.length) });
    }
    throw fileProblem(e, reply);
  } finally {
    body.release(!tooLarge);
  }
}

export function bulkLoadRoutes(api: Api, deps: ApiDeps): void {
  const { config } = deps;
  // Its own scope, so that only this route reads CSV and reads it as a stream.
  api.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('text/csv', (_req, payload, done) => done(null, payload));
    scope.withTypeProvider<TypeBoxTypeProvider>().post(
      '/bulk-loads',
      {
        config: allow('operator'),
        // The body is a stream, checked row by row by the parser; the schema documents it for OpenAPI.
        validatorCompiler: () => () => true,
        schema: {
          ...meta('cards', 'Load the start-of-year card file (CSV), all or nothing', 'Columns: card_number, dossier_id, holder, campaign, then one column per benefit code. See gateway/bulk/cards-csv.ts.'),
          consumes: ['text/csv'],
          body: Type.String({ description: 'The CSV file (UTF-8, `,` or `;`, header row required)' }),
          response: { 201: BulkLoadResult, ...ERRORS },
        },
      },
      async (req, reply) => {
        const source: unknown = req.body;
        if (!(source instanceof Readable)) throw new ApiError(415, 'BAD_SCHEMA', 'send the file with content-type: text/csv');
        if (Number(req.headers['content-length']) > config.bulkLoadMaxBytes) {
          throw fileProblem(new FileTooLarge(`the file is larger than ${config.bulkLoadMaxBytes} bytes`), reply);
        }
        const loaded = await loadBody(source, deps, reply);
        return reply.code(201).send({ cards: loaded.cards, loads: loaded.loads });
      },
    );
  });
}
