import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../../common/log.ts';
import { Type, type Static } from '@sinclair/typebox';
import { BENEFITS, type Benefit } from '../../protocol/benefits.ts';
import { parseEuros } from '../../protocol/money.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import { BenefitSchema } from '../../protocol/messages.ts';
import type { Outcome } from '../sale.ts';
import type { Screen } from '../screens.ts';
import { screens } from '../screens.ts';
import { benefitChoices, saleLine } from './view.ts';
import type { SaleEntry, VoidEntry } from '../outbox-store.ts';

/**
 * The cashier's page, served by the terminal service's loopback endpoint for the terminal's own screen (a
 * kiosk browser): choose the benefit, type the amount, follow the terminal's screens live, see the latest
 * sales with their final result.
 *
 * Who may use it: a browser that opened the one-time login link (`control.json` holds it, 0600, renewed at
 * each use) gets a session cookie (HttpOnly, SameSite=Strict, path /caisse); the link in a kiosk's command
 * line is then worthless to anyone else. Every POST must also come from this origin (`Origin` checked), so
 * no other page can start a sale through the cashier's browser. No build step: one HTML file, one script,
 * one style sheet, under the strict content security policy of the rest of the service.
 */

export interface CashierDeps {
  offered(): readonly Benefit[];
  status(): CashierStatus;
  screen(): Screen | undefined;
  onScreen(listener: (s: Screen) => void): () => void;
  recentSales(limit: number): SaleEntry[];
  voidOf(txnId: string): VoidEntry | undefined;
  cancelLastSale(): Promise<{ readonly result: string; readonly sale: SaleEntry }>;
  sale(benefit: Benefit, amount: number): Promise<Outcome>;
  cancel(): void;
}

export interface CashierStatus {
  readonly terminalId: string;
  readonly partner: string | null;
  readonly state: string;
  readonly link: { readonly state: string };
  readonly outbox: { readonly pending: number; readonly oldestPendingAt: number | null };
}

const STATIC = (name: string) => readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');
const MAX_SESSIONS = 8;
const SALES_SHOWN = 10;

const SaleBody = Type.Object({ benefit: BenefitSchema, amount: Type.String({ minLength: 1, maxLength: 20, description: 'As typed: 12,50 (euros) or a number of entries' }) }, { additionalProperties: false });

export interface Cashier {
  /** The link that opens a session once; a new one replaces it after each use. */
  loginPath(): string;
}

export function registerCashier(app: FastifyInstance, deps: CashierDeps, o: { origin: () => string; onLoginRenewed: () => void; log?: Logger }): Cashier {
  const page = STATIC('index.html');
  const script = STATIC('app.js');
  const style = STATIC('app.css');
  const sessions: string[] = [];
  let login = randomBytes(24).toString('base64url');

  const hasSession = (req: FastifyRequest): boolean => {
    const m = /(?:^|;\s*)caisse=([A-Za-z0-9_-]{43})/.exec(req.headers.cookie ?? '');
    if (!m) return false;
    const given = Buffer.from(m[1]!);
    return sessions.some((s) => timingSafeEqual(Buffer.from(s), given));
  };
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!hasSession(req)) return reply.code(401).type('text/plain; charset=utf-8').send('Session de caisse requise : ouvrir le lien de connexion du terminal.');
    if (req.method === 'POST' && req.headers.origin !== o.origin()) return reply.code(403).type('text/plain; charset=utf-8').send('Origine refusée.');
  };

  app.get('/caisse/login', async (req, reply) => {
    const k = (req.query as { k?: unknown }).k;
    const given = Buffer.from(typeof k === 'string' ? k : '');
    if (given.length !== Buffer.byteLength(login) || !timingSafeEqual(given, Buffer.from(login))) {
      return reply.code(401).type('text/plain; charset=utf-8').send('Lien de connexion expiré : ouvrir le lien en cours du terminal.');
    }
    login = randomBytes(24).toString('base64url');
    o.onLoginRenewed();
    const session = randomBytes(32).toString('base64url');
    sessions.push(session);
    if (sessions.length > MAX_SESSIONS) sessions.shift();
    return reply.header('set-cookie', `caisse=${session}; Path=/caisse; HttpOnly; SameSite=Strict`).redirect('/caisse', 303);
  });

  app.get('/caisse', { preHandler: guard }, async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page));
  app.get('/caisse/app.js', { preHandler: guard }, async (_req, reply) => reply.type('text/javascript; charset=utf-8').send(script));
  app.get('/caisse/app.css', { preHandler: guard }, async (_req, reply) => reply.type('text/css; charset=utf-8').send(style));

  const state = () => {
    const st = deps.status();
    return {
      terminalId: st.terminalId,
      partner: st.partner,
      state: st.state,
      link: st.link.state,
      pending: st.outbox.pending,
      oldestPendingAt: st.outbox.oldestPendingAt,
      screen: deps.screen() ?? screens.idle(),
      benefits: benefitChoices(deps.offered()),
      sales: deps.recentSales(SALES_SHOWN).map((e) => saleLine(e, deps.voidOf(e.txnId))),
    };
  };

  app.get('/caisse/state', { preHandler: guard }, async () => state());

  // Live: the state at once, again on every screen the terminal shows, and every 2 s (the link, the queue).
  // Streams are ended when the endpoint closes (a stop must not wait for the kiosk to go away).
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });
  app.get('/caisse/events', { preHandler: guard }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    let queued = false;
    const send = () => {
      try {
        res.write(`event: state\ndata: ${JSON.stringify(state())}\n\n`);
      } catch (e) {
        o.log?.warn({ err: e }, 'cashier event not sent');
      }
    };
    // A screen is shown from inside the sale flow: the state is read and sent after it, never within it.
    const soon = () => {
      if (queued) return;
      queued = true;
      setImmediate(() => {
        queued = false;
        send();
      });
    };
    send();
    const off = deps.onScreen(soon);
    const timer = setInterval(send, 2000);
    const end = () => {
      off();
      clearInterval(timer);
      streams.delete(end);
      res.end();
    };
    streams.add(end);
    req.raw.on('close', end);
  });

  app.post<{ Body: Static<typeof SaleBody> }>('/caisse/sale', { preHandler: guard, schema: { body: SaleBody } }, async (req) => {
    const { benefit } = req.body;
    const amount = BENEFITS[benefit].unit === 'cent' ? parseEuros(req.body.amount) : entries(req.body.amount);
    const outcome = await deps.sale(benefit, amount);
    return { outcome: outcome.kind, screen: screens.outcome(outcome) };
  });

  app.post('/caisse/cancel-last', { preHandler: guard }, async () => {
    const c = await deps.cancelLastSale();
    return { result: c.result, screen: screens.cancelled(c.sale, c.result) };
  });

  app.post('/caisse/cancel', { preHandler: guard }, async (_req, reply) => {
    deps.cancel();
    return reply.code(204).send();
  });

  return { loginPath: () => `/caisse/login?k=${login}` };
}

function entries(text: string): number {
  const t = text.trim();
  if (!/^[0-9]{1,2}$/.test(t) || Number(t) < 1) throw new PasserelleError('AMOUNT_INVALID', `not a number of entries from 1 to 99: ${JSON.stringify(text)}`);
  return Number(t);
}
