import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holder, World } from './helpers/world.ts';

/**
 * `/metrics` on a running gateway, read as Prometheus would: after real sales through the broker, the
 * counters, histograms and gauges say what happened; an address outside `http.metricsAllow` gets 403.
 */

const world = new World();

beforeAll(async () => {
  await world.startGateway();
}, 60_000);
afterAll(() => world.close());

/** One sample's value from the text format. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('/metrics', () => {
  it('counts debits by outcome, batches and their latency, connected terminals and what the fleet reports', async () => {
    const t = await world.terminal('T-LIB-LYON-01', {}, ['LEISURE_BOOKS']);
    const lea = holder('Léa Martin');
    expect(await t.sellWithCard(lea, 'LEISURE_BOOKS', 100)).toMatchObject({ kind: 'approved' });
    expect(await t.sellWithCard(lea, 'LEISURE_BOOKS', 100_00)).toMatchObject({ kind: 'approved' });
    expect(await t.sellWithCard(holder('Tom Robert'), 'LEISURE_BOOKS', 100)).toMatchObject({ kind: 'declined' });
    const res = await fetch(`${world.gateway.httpUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(sample(text, 'passerelle_debits_total{outcome="approved"}')).toBe(2);
    expect(sample(text, 'passerelle_debits_total{outcome="declined"}')).toBe(1);
    expect(sample(text, 'passerelle_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'passerelle_batch_size_sum')).toBe(3);
    expect(sample(text, 'passerelle_commit_seconds_count')).toBe(sample(text, 'passerelle_batch_size_count'));
    expect(sample(text, 'passerelle_verify_seconds_count')).toBe(3);
    expect(sample(text, 'passerelle_connected_terminals')).toBe(1);
    expect(sample(text, 'passerelle_in_flight')).toBe(0);
    expect(sample(text, 'passerelle_ledger_failures_total')).toBe(0);
    expect(sample(text, 'passerelle_fleet_terminals')).toBe(8);
    expect(sample(text, 'passerelle_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    // A second read counts nothing twice.
    const again = await (await fetch(`${world.gateway.httpUrl}/metrics`)).text();
    expect(sample(again, 'passerelle_debits_total{outcome="approved"}')).toBe(2);
  });

  it('is refused to an address outside http.metricsAllow', async () => {
    const closed = new World();
    try {
      await closed.startGateway({}, { http: { metricsAllow: ['10.0.0.0/8'] } });
      const res = await fetch(`${closed.gateway.httpUrl}/metrics`);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FORBIDDEN');
    } finally {
      await closed.close();
    }
  });
});
