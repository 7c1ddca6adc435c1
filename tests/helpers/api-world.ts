import { noStats } from '../../gateway/pipeline.ts';
import { cardRefs } from '../../gateway/card-refs.ts';
import type { FastifyInstance, LightMyRequestResponse as InjectResponse } from 'fastify';
import { silentLogger, type Logger } from '../../common/log.ts';
import type { Benefit } from '../../protocol/benefits.ts';
import { cardNumberFrom } from '../../protocol/card.ts';
import { DebitReply, parseJson } from '../../protocol/messages.ts';
import { debitBody, debitItem } from './debits.ts';
import { defaultWindows } from '../../gateway/campaigns.ts';
import { buildHttpApp, type HealthReport } from '../../gateway/http.ts';
import type { Ledger } from '../../gateway/ledger/ledger.ts';
import { SqliteLedger } from '../../gateway/ledger/sqlite.ts';
import type { ApiConfig, FleetDeps } from '../../gateway/api/deps.ts';
import { gatewayKeysFrom } from '../../gateway/keys.ts';
import { createApiToken } from '../../gateway/api/tokens.ts';
import { nodeSigner } from '../../protocol/crypto.ts';
import type { TerminalSettings } from '../../protocol/terminal-settings.ts';

/** The card issuer key of API test worlds. */
export const testIssuer = nodeSigner(new Uint8Array(32).fill(9));
export const testCardRefs = cardRefs(new Uint8Array(32).fill(11));

export const UNLIMITED = { perMinute: 1_000_000, anonymousPerMinute: 1_000_000 };

/** The fleet side of API test worlds: no broker; the terminals the API dropped and the settings it pushed are recorded. */
export function testFleet(): FleetDeps & { readonly disconnected: string[]; readonly pushed: TerminalSettings[] } {
  const keys = gatewayKeysFrom(new Uint8Array(32).fill(3), new Uint8Array(32).fill(4), new Uint8Array(32).fill(9));
  const disconnected: string[] = [];
  const pushed: TerminalSettings[] = [];
  return { signer: keys.signer, keys, mqttUrl: 'mqtt://127.0.0.1:1884', disconnect: (id) => void disconnected.push(id), disconnected, publishSettings: (s) => void pushed.push(s), pushed };
}

/**
 * A fresh in-memory ledger, a small seed in the spirit of the ledger contract's, an app over it with a
 * clock the test moves, and one token per role. Tests of the API only; nothing here runs in the gateway.
 */

/** Monday 3 October 2022, 10:00 in Lyon: every window of campaign 2022/2023 is open. */
export const NOW = Date.parse('2022-10-03T10:00:00+02:00');
export const DAY = 86_400_000;
export const CARD = cardNumberFrom('100000000000001');
export const POOR = cardNumberFrom('100000000000005');
export const BARE = cardNumberFrom('100000000000003');
export const UNKNOWN_CARD = cardNumberFrom('100000000000009');
export const KEY_B64 = Buffer.from(new Uint8Array(32).fill(7)).toString('base64url');
/** Fictional accounts, valid by their check digits (the demo partners'). */
export const IBAN = 'FR7630004010000001234560120';
export const BIC = 'BNPAFRPPXXX';

const CONVENTION = { conventionFrom: '2022-06-01', conventionTo: '2027-05-31' };

export async function seed(l: Ledger): Promise<void> {
  await l.addCampaign({ id: '2022-2023', windows: defaultWindows('2022-2023') });
  await l.addPartner({ id: 'P-BOOK', name: 'Librairie des Canuts', type: 'bookshop', ...CONVENTION, iban: IBAN, bic: BIC });
  await l.addPartner({ id: 'P-BOOK2', name: 'Autre librairie', type: 'bookshop', ...CONVENTION });
  await l.addPartner({ id: 'P-VENU', name: 'Théâtre de la Comédie', type: 'venue', ...CONVENTION, iban: 'FR7630002030000005678900548', bic: 'CRLYFRPPXXX' });
  await l.addPartner({ id: 'P-CINE', name: 'Cinéma Les Lumières', type: 'cinema', ...CONVENTION, entryPriceCents: 550 });
  await l.addPartner({ id: 'P-AIDE', name: 'Secourisme', type: 'training_body', ...CONVENTION });
  await l.addPartner({ id: 'P-EQUI', name: 'Outillage Pro', type: 'equipment_shop', ...CONVENTION });
  const key = new Uint8Array(32).fill(7);
  for (const [id, partnerId] of [['T-BOOK-01', 'P-BOOK'], ['T-BOOK2-01', 'P-BOOK2'], ['T-VENU-01', 'P-VENU'], ['T-CINE-01', 'P-CINE'], ['T-EQUI-01', 'P-EQUI']] as const) {
    await l.addTerminal({ id, partnerId, publicKey: key });
  }
  const loadedAt = Date.parse('2022-09-01T08:00:00+02:00');
  for (const [number, holder] of [[CARD, 'Léa Martin'], [POOR, 'Hugo Petit'], [BARE, 'Inès Roux']] as const) {
    await l.issueCard({ number, dossierId: `DOS-${number.slice(-4)}`, holder, pinHash: null, at: loadedAt });
  }
  const load = async (cardNumber: string, benefit: Benefit, amount: number) => await l.load({ cardNumber, benefit, campaign: '2022-2023', amount, at: loadedAt });
  await load(CARD, 'LEISURE_BOOKS', 1500);
  await load(CARD, 'CINEMA', 5);
  await load(CARD, 'SHOWS', 3000);
  await load(CARD, 'MUSEUM', 0);
  await load(CARD, 'PRO_EQUIPMENT', 20000);
  await load(POOR, 'SHOWS', 300);
}

export const healthy: HealthReport = {
  status: 'ok',
  version: '0.1.0',
  uptimeS: 1,
  mqtt: { host: '127.0.0.1', port: 1884, clients: 0 },
  ledger: { ok: true },
  pipeline: noStats(),
};

export interface CallOptions {
  /** undefined: the operator's token; null: no Authorization header. */
  readonly token?: string | null;
  readonly body?: unknown;
  readonly csv?: string;
  readonly headers?: Record<string, string>;
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface ApiWorld {
  readonly app: FastifyInstance;
  readonly ledger: Ledger;
  readonly tokens: { readonly operator: string; readonly technician: string; readonly partner: string; readonly venue: string };
  /** `clock.now` is what the API's `now()` returns: move it to move the API's clock. */
  readonly clock: { now: number };
  call(method: Method, url: string, o?: CallOptions): Promise<InjectResponse>;
  close(): Promise<void>;
}

export interface WorldOptions {
  readonly api?: Partial<ApiConfig>;
  readonly log?: Logger;
  /** Hook the app before it is ready (e.g. collect its routes). */
  readonly beforeReady?: (app: FastifyInstance) => void;
}

function headersFor(o: CallOptions, operator: string): Record<string, string> {
  const token = o.token === undefined ? operator : o.token;
  const h: Record<string, string> = { ...(token === null ? {} : { authorization: `Bearer ${token}` }) };
  if (o.csv !== undefined) h['content-type'] = 'text/csv';
  return { ...h, ...o.headers };
}

export async function apiWorld(opts: WorldOptions = {}): Promise<ApiWorld> {
  const ledger = new SqliteLedger({ file: ':memory:' });
  await seed(ledger);
  const tokens = {
    operator: await createApiToken(ledger, { name: 'Région', role: 'operator' }, NOW),
    technician: await createApiToken(ledger, { name: 'Installateur', role: 'technician' }, NOW),
    partner: await createApiToken(ledger, { name: 'Librairie', role: 'partner', partnerId: 'P-BOOK' }, NOW),
    venue: await createApiToken(ledger, { name: 'Théâtre', role: 'partner', partnerId: 'P-VENU' }, NOW),
  };
  const clock = { now: NOW };
  // Tests call many routes in a row: the rate limits have their own test (tests/security/rates.e2e.test.ts).
  const app = buildHttpApp({ issuer: testIssuer, cardRefs: testCardRefs, fleet: testFleet(), rateLimit: UNLIMITED, health: async () => healthy, log: opts.log ?? silentLogger, ledger, now: () => clock.now, ...(opts.api ? { api: opts.api } : {}) });
  try {
    opts.beforeReady?.(app);
    await app.ready();
  } catch (e) {
    await ledger.close();
    throw e;
  }
  const call = (method: Method, url: string, o: CallOptions = {}) => {
    const payload = o.csv ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
    const headers = headersFor(o, tokens.operator);
    if (o.body !== undefined) headers['content-type'] ??= 'application/json';
    return app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload }) });
  };
  const close = async () => {
    await app.close();
    await ledger.close();
  };
  return { app, ledger, tokens, clock, call, close };
}

/** A terminal sale straight through the ledger (the MQTT path is not under test here); its txnId. */
export async function sell(l: Ledger, terminalId: string, cardNumber: string, benefit: Benefit, amount: number, at: number): Promise<string> {
  const body = debitBody({ terminalId, cardNumber, benefit, amount, createdAt: at });
  const out = (await l.commitDebits([debitItem(body)], at))[0];
  if (out?.kind !== 'reply' || parseJson(DebitReply, out.reply, 'reply').body.status !== 'approved') throw new Error('test sale was not approved');
  return body.txnId;
}

/** The envelope's code of a response. */
export function codeOf(res: InjectResponse): string {
  return (res.json() as { error?: { code?: string } }).error?.code ?? `(no envelope: ${res.statusCode})`;
}
