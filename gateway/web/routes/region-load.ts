import type { FastifyInstance } from 'fastify';
import Tokens from '@fastify/csrf';
import { CODES } from '../../../protocol/codes.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { FileTooLarge } from '../../bulk/byte-limit.ts';
import { LoadBusy, type LoadJob, type LoadJobs } from '../load-jobs.ts';
import { roles, type WebContext } from '../context.ts';

/**
 * The start-of-year card load from the console (operators): upload the Region's CSV (the format of
 * docs/api.md `POST /bulk-loads`), follow the job, read the bad rows by line when it is refused. The form
 * is multipart, so its anti-forgery token is checked here, as the first field of the stream, before a
 * byte of the file is written.
 */

const PHASE_FR: Readonly<Record<LoadJob['phase'], string>> = {
  reading: 'Lecture et vérification du fichier',
  loading: 'Chargement dans le registre',
  done: 'Chargé',
  refused: 'Refusé : rien n’a été chargé',
  failed: 'Échec : rien n’a été chargé',
};

const tokens = new Tokens({ userInfo: false });

export function jobView(j: LoadJob) {
  const percent = j.phase === 'reading' ? Math.floor((50 * j.readBytes) / Math.max(1, j.bytes)) : j.phase === 'loading' ? 50 + Math.floor((50 * j.loadedRows) / Math.max(1, j.totalRows)) : 100;
  return { ...j, percent, phaseText: PHASE_FR[j.phase], finished: j.finishedAt !== null };
}

export function regionLoadRoutes(web: FastifyInstance, ctx: WebContext, jobs: LoadJobs): void {
  const operator = roles('operator');

  web.get('/region/chargement', { config: operator }, async (req, reply) =>
    ctx.page(req, reply, 'region/load', { title: 'Chargement des cartes', here: 'load', jobs: jobs.list().map(jobView), busy: jobs.busy, maxMiB: Math.floor(ctx.deps.config.bulkLoadMaxBytes / 1048576) }),
  );

  web.post('/region/chargement', { config: { ...operator, csrfInStream: true } }, async (req, reply) => {
    if (!req.isMultipart()) throw new PasserelleError('DATA_INVALID', 'the card file is sent as a form with a file');
    const me = ctx.user(req);
    const parts = req.parts({ limits: { fields: 4, files: 1, parts: 6, fieldSize: 200, fileSize: ctx.deps.config.bulkLoadMaxBytes } });
    let checked = false;
    let createCampaigns = false;
    for await (const part of parts) {
      if (part.type === 'field') {
        if (part.fieldname === '_csrf') {
          const secret = req.session.get('_csrf') as string | undefined;
          checked = typeof secret === 'string' && typeof part.value === 'string' && tokens.verify(secret, part.value);
        } else if (part.fieldname === 'campagnes') createCampaigns = part.value === 'oui';
        continue;
      }
      // The file: only after a valid token, and one load at a time.
      if (!checked) {
        reply.header('connection', 'close');
        throw Object.assign(new Error('anti-forgery token missing or wrong'), { code: 'FST_CSRF_INVALID_TOKEN' });
      }
      const busy = () => {
        part.file.resume();
        ctx.flash(req, 'error', 'Un chargement est déjà en cours : attendez qu’il se termine.');
        return reply.redirect('/region/chargement', 303);
      };
      if (jobs.busy) return busy();
      try {
        const id = await jobs.start(part.file, {
          fileName: part.filename || 'cartes.csv',
          by: me.id,
          maxBytes: ctx.deps.config.bulkLoadMaxBytes,
          createCampaigns,
          onDone: async (j) => await ctx.audit(me.id, 'cards.bulk-load', j.id, { phase: j.phase, cards: j.result?.cards ?? 0, loads: j.result?.loads ?? 0, errors: j.errorCount }),
        });
        return reply.redirect(`/region/chargement/${id}`, 303);
      } catch (e) {
        if (e instanceof LoadBusy) return busy();
        if (e instanceof FileTooLarge || (e as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          reply.header('connection', 'close');
          throw new PasserelleError('BULK_LOAD_INVALID', `the file is larger than ${ctx.deps.config.bulkLoadMaxBytes} bytes`);
        }
        throw e;
      }
    }
    if (!checked) throw Object.assign(new Error('anti-forgery token missing or wrong'), { code: 'FST_CSRF_INVALID_TOKEN' });
    ctx.flash(req, 'error', 'Choisissez le fichier des cartes (CSV).');
    return reply.redirect('/region/chargement', 303);
  });

  web.get('/region/chargement/:jobId', { config: operator }, async (req, reply) => {
    const id = (req.params as { jobId: string }).jobId;
    if (id.endsWith('.json')) {
      const j = jobs.get(id.slice(0, -5));
      if (!j) throw new PasserelleError('NOT_FOUND', 'no such load');
      const v = jobView(j);
      return reply.header('cache-control', 'no-store').send({ phase: v.phase, phaseText: v.phaseText, percent: v.percent, finished: v.finished });
    }
    const j = jobs.get(id);
    if (!j) throw new PasserelleError('NOT_FOUND', 'no such load (they are kept by the gateway that ran them, the last 20)');
    return ctx.page(req, reply, 'region/load-job', { title: 'Chargement des cartes', here: 'load', job: jobView(j), refused: CODES.BULK_LOAD_INVALID.fr });
  });
}
