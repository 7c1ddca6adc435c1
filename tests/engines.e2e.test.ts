import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import pg from 'pg';
import { TestMosquitto, TestPostgres } from '../simulators/engines.ts';

/**
 * The engines of the region-scale design, run by the tests themselves (issue 18): a PostgreSQL cluster
 * and a Mosquitto broker on free ports, reached with the clients the gateway will use (node-postgres,
 * mqtt.js), and a shared subscription splitting messages between two subscribers. Stopped by pid.
 */

let postgres: TestPostgres;
let mosquitto: TestMosquitto;

beforeAll(async () => {
  [postgres, mosquitto] = await Promise.all([TestPostgres.start(), TestMosquitto.start()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([postgres?.stop(), mosquitto?.stop()]);
});

describe('the engines the region-scale tests run', () => {
  it('a PostgreSQL of its own, reached with node-postgres: a transaction and a constraint', async () => {
    expect(postgres.port).not.toBe(5432);
    const c = new pg.Client({ connectionString: postgres.url });
    await c.connect();
    try {
      const v = await c.query<{ server_version_num: string }>('SHOW server_version_num');
      expect(Number(v.rows[0]!.server_version_num)).toBeGreaterThanOrEqual(150000);
      await c.query('CREATE TABLE t (id int PRIMARY KEY, cents bigint NOT NULL CHECK (cents >= 0))');
      await c.query('BEGIN');
      await c.query('INSERT INTO t VALUES (1, 1250)');
      await expect(c.query('INSERT INTO t VALUES (1, 1)')).rejects.toMatchObject({ code: '23505' });
      await c.query('ROLLBACK');
      expect((await c.query('SELECT count(*)::int AS n FROM t')).rows[0]).toEqual({ n: 0 });
    } finally {
      await c.end();
    }
  });

  it('a Mosquitto of its own splits a shared subscription between two subscribers, each message to one', async () => {
    expect(mosquitto.port).not.toBe(1883);
    const got: [string, string][] = [];
    const subscriber = async (name: string) => {
      const c = await mqtt.connectAsync(mosquitto.url, { clientId: name, protocolVersion: 5 });
      await c.subscribeAsync('$share/gateways/t/+/req', { qos: 1 });
      c.on('message', (topic) => got.push([name, topic]));
      return c;
    };
    const [a, b] = await Promise.all([subscriber('gw-a'), subscriber('gw-b')]);
    const terminal = await mqtt.connectAsync(mosquitto.url, { clientId: 'T-1', protocolVersion: 5 });
    for (let i = 0; i < 20; i++) await terminal.publishAsync(`t/T-${i}/req`, Buffer.from(String(i)), { qos: 1 });
    const until = Date.now() + 5000;
    while (got.length < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await Promise.all([a.endAsync(), b.endAsync(), terminal.endAsync()]);
    expect(got).toHaveLength(20);
    expect(new Set(got.map(([, topic]) => topic)).size).toBe(20);
    expect(new Set(got.map(([name]) => name))).toEqual(new Set(['gw-a', 'gw-b']));
  });
});
