import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../common/mqtt.ts';
import { brokerPassword, makeConnectToken } from '../protocol/connect-token.ts';
import { fromB64url, nodeSigner } from '../protocol/crypto.ts';
import { DEMO_TOKENS_FILE } from '../gateway/server.ts';
import { TestMosquitto, TestPostgres } from '../simulators/engines.ts';
import { freshClaims } from './helpers/raw-terminal.ts';
import { holder, World } from './helpers/world.ts';

/**
 * Region scale on the engines the Region runs: two gateways, one PostgreSQL ledger, one Mosquitto with its
 * dynamic security plugin. Terminals log in with the password made from their key; the gateways split the
 * requests by a shared subscription; the ledger holds each sale once.
 */
const ADMIN = { user: 'passerelle-gateway', password: 'gw-test-secret' };
const T = 'T-LIB-LYON-01';
let pg: TestPostgres;
let mosquitto: TestMosquitto;
const a = new World();
const b = new World();

function regionConfig(clientId: string, url: string) {
  return { ledger: { kind: 'postgres', url, maxConnections: 4 }, mqtt: { external: { url: mosquitto.url, username: ADMIN.user, password: ADMIN.password, clientId } } };
}

beforeAll(async () => {
  [pg, mosquitto] = await Promise.all([TestPostgres.start(), TestMosquitto.start({ dynsec: ADMIN })]);
  const url = await pg.createDatabase('region');
  // The first gateway seeds the demo; the second finds it there.
  await a.startGateway({}, regionConfig('gw-a', url));
  await b.startGateway({}, regionConfig('gw-b', url));
}, 60_000);

afterAll(async () => {
  await a.close();
  await b.close();
  await mosquitto?.stop();
  await pg?.stop();
});

describe('two gateways, PostgreSQL and Mosquitto', () => {
  it('split a terminal’s sales between them, each applied once, the journal balanced', async () => {
    const t = await a.terminal(T, { brokerAuth: 'key' }, ['LEISURE_BOOKS']);
    const lea = holder('Léa Martin');
    const before = (await a.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS'))!;
    const sold: string[] = [];
    for (let i = 0; i < 12; i++) {
      const outcome = await t.sellWithCard(lea, 'LEISURE_BOOKS', 10);
      expect(outcome.kind).toBe('approved');
      if (outcome.kind === 'approved') sold.push(outcome.txnId);
    }
    expect(new Set(sold).size).toBe(12);
    const received = [a.gateway.pipeline.stats.received, b.gateway.pipeline.stats.received];
    expect(received[0]! + received[1]!).toBeGreaterThanOrEqual(12);
    expect(received[0]).toBeGreaterThan(0);
    expect(received[1]).toBeGreaterThan(0);
    expect(await b.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS')).toBe(before - 120);
    for (const txn of sold) expect(await b.gateway.ledger.transfersForTxn(txn)).toHaveLength(1);
    expect(await a.gateway.ledger.terminalSync(T)).toMatchObject({ missing: [], chainBreaks: 0 });
    expect(await a.gateway.ledger.audit()).toEqual([]);
    // One of the two publishes the offline documents (the first, which started first).
    expect([a.gateway.publishesOffline(), b.gateway.publishesOffline()]).toEqual([true, false]);
  }, 60_000);

  it('lets a terminal in with its key password only, and only on its own topics', async () => {
    const seed = fromB64url(a.key('T-LIB-LYON-02').seed, 32, 'seed');
    const password = brokerPassword(nodeSigner(seed));
    // A connect token means nothing to Mosquitto; another terminal's password neither.
    await expect(connectMqttAsync(mosquitto.url, { clientId: 'T-LIB-LYON-02', username: 'T-LIB-LYON-02', password: makeConnectToken('T-LIB-LYON-02', nodeSigner(seed), freshClaims('T-LIB-LYON-02')), connectTimeout: 2000 })).rejects.toThrow();
    await expect(connectMqttAsync(mosquitto.url, { clientId: T, username: T, password, connectTimeout: 2000 })).rejects.toThrow();
    const c = await connectMqttAsync(mosquitto.url, { clientId: 'T-LIB-LYON-02', username: 'T-LIB-LYON-02', password, connectTimeout: 2000 });
    try {
      await expect(c.subscribeAsync(`passerelle/v1/terminal/${T}/reply`, { qos: 1 })).rejects.toThrow(/Subscribe error/);
      const own = await c.subscribeAsync('passerelle/v1/terminal/T-LIB-LYON-02/reply', { qos: 1 });
      expect(own[0]?.qos).toBe(1);
    } finally {
      await c.endAsync();
    }
  });

  it('cuts a terminal switched off at once, and lets it back when switched on', async () => {
    const operator = (JSON.parse(readFileSync(join(a.dir, DEMO_TOKENS_FILE), 'utf8')) as { operator: string }).operator;
    const call = (gateway: World, action: string) => fetch(`${gateway.gateway.httpUrl}/api/v1/terminals/T-LIB-LYON-02/${action}`, { method: 'POST', headers: { authorization: `Bearer ${operator}` } });
    const password = brokerPassword(nodeSigner(fromB64url(a.key('T-LIB-LYON-02').seed, 32, 'seed')));
    const c = await connectMqttAsync(mosquitto.url, { clientId: 'T-LIB-LYON-02', username: 'T-LIB-LYON-02', password, connectTimeout: 2000, reconnectPeriod: 0 });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    // Through the other gateway: the broker's accounts are shared, not any one gateway's.
    expect((await call(b, 'deactivate')).status).toBe(200);
    await closed;
    await expect(connectMqttAsync(mosquitto.url, { clientId: 'T-LIB-LYON-02', username: 'T-LIB-LYON-02', password, connectTimeout: 2000 })).rejects.toThrow();
    expect((await call(a, 'activate')).status).toBe(200);
    const back = await connectMqttAsync(mosquitto.url, { clientId: 'T-LIB-LYON-02', username: 'T-LIB-LYON-02', password, connectTimeout: 2000 });
    await back.endAsync();
  });
});
