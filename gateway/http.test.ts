import { noStats } from './pipeline.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { buildHttpApp, type HealthReport } from './http.ts';
import { SqliteLedger } from './ledger/sqlite.ts';
import { testCardRefs, testFleet } from '../tests/helpers/api-world.ts';
import { nodeSigner } from '../protocol/crypto.ts';

const testIssuer = nodeSigner(new Uint8Array(32).fill(9));

const report = (status: 'ok' | 'degraded'): HealthReport & { secret: string } => ({
  status,
  version: '0.1.0',
  uptimeS: 3,
  mqtt: { host: '127.0.0.1', port: 1884, clients: 2 },
  ledger: { ok: status === 'ok' },
  pipeline: { ...noStats(), received: 1, approved: 1, batches: 1 },
  secret: 'must not leak',
});

const ledgers: SqliteLedger[] = [];
afterEach(async () => {
  for (const l of ledgers.splice(0)) await l.close();
});

function app(status: 'ok' | 'degraded' = 'ok') {
  const ledger = new SqliteLedger({ file: ':memory:' });
  ledgers.push(ledger);
  return buildHttpApp({ issuer: testIssuer, cardRefs: testCardRefs, fleet: testFleet(), health: async () => report(status), log: silentLogger, ledger, now: () => Date.now() });
}

describe('HTTP app (inject, no socket)', () => {
  it('/healthz: 200 when ok, 503 when degraded, only the declared fields, no token needed', async () => {
    for (const [status, code] of [['ok', 200], ['degraded', 503]] as const) {
      const a = app(status);
      const res = await a.inject({ method: 'GET', url: '/healthz' });
      expect(res.statusCode).toBe(code);
      const body = res.json() as Record<string, unknown>;
      expect(body).toMatchObject({ status, mqtt: { clients: 2 } });
      expect(body).not.toHaveProperty('secret');
      await a.close();
    }
  });

  it('an unknown route is a 404 in the error envelope', async () => {
    const a = app();
    const res = await a.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', num: 503, message: 'no route GET /nope', fr: 'Introuvable' } });
    await a.close();
  });

  it('refuses a Region debtor account that could never pay, at build time', () => {
    const ledger = new SqliteLedger({ file: ':memory:' });
    ledgers.push(ledger);
    const build = (iban: string) => () => buildHttpApp({ issuer: testIssuer, cardRefs: testCardRefs, fleet: testFleet(), health: async () => report('ok'), log: silentLogger, ledger, now: Date.now, api: { debtor: { name: 'Région', iban, bic: 'BDFEFRPPCCT' } } });
    expect(build('FR7630001007941234567890186')).toThrow(/debtor IBAN is invalid/);
    expect(build('fr76 3000 1007 9412 3456 7890 185')).not.toThrow();
  });
});
