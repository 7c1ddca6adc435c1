import { describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { buildHttpApp, type HealthReport } from './http.ts';

const report = (status: 'ok' | 'degraded'): HealthReport & { secret: string } => ({
  status,
  version: '0.1.0',
  uptimeS: 3,
  mqtt: { host: '127.0.0.1', port: 1884, clients: 2 },
  ledger: { ok: status === 'ok' },
  pipeline: { received: 1, approved: 1, declined: 0, repeats: 0, rejected: 0, conflicts: 0, batches: 1, ledgerFailures: 0, inFlight: 0 },
  secret: 'must not leak',
});

describe('HTTP app (inject, no socket)', () => {
  it('/healthz: 200 when ok, 503 when degraded, only the declared fields', async () => {
    for (const [status, code] of [['ok', 200], ['degraded', 503]] as const) {
      const app = buildHttpApp({ health: () => report(status), log: silentLogger });
      const res = await app.inject({ method: 'GET', url: '/healthz' });
      expect(res.statusCode).toBe(code);
      const body = res.json() as Record<string, unknown>;
      expect(body).toMatchObject({ status, mqtt: { clients: 2 } });
      expect(body).not.toHaveProperty('secret');
      await app.close();
    }
  });

  it('an unknown route is a JSON 404', async () => {
    const app = buildHttpApp({ health: () => report('ok'), log: silentLogger });
    const res = await app.inject({ method: 'GET', url: '/nope' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ statusCode: 404 });
    await app.close();
  });
});
