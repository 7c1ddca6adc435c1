import { randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/server.ts';
import { makeConnectToken } from '../protocol/connect-token.ts';
import { nodeSigner } from '../protocol/crypto.ts';
import { isPasserelleError } from '../protocol/errors.ts';
import { replyTopic, requestTopic } from '../protocol/topics.ts';
import { debitBody } from './helpers/debits.ts';
import { freshClaims, RawTerminal } from './helpers/raw-terminal.ts';
import { holder, World } from './helpers/world.ts';

/** The gateway against requests a real terminal would never send: conflicting, forged, malformed, misrouted. */

const world = new World();
let raw: RawTerminal;
const T = 'T-LIB-LYON-01';
const lea = holder('Léa Martin');

beforeAll(async () => {
  await world.startGateway();
  raw = await world.raw(T);
});
afterAll(() => world.close());

const body = (o: Partial<Parameters<typeof debitBody>[0]> = {}) =>
  debitBody({ terminalId: T, cardNumber: lea.cardNumber, benefit: 'LEISURE_BOOKS', amount: 100, ...o });

describe('idempotency', () => {
  it('a repeat gets the original reply, byte for byte, and is applied once', async () => {
    const b = body({ amount: 150 });
    const first = await raw.send(b);
    raw.replies.length = 0;
    const second = await raw.send(b);
    expect(second).toEqual(first);
    expect(first).toMatchObject({ type: 'debit.reply', body: { status: 'approved', taken: 150 } });
    expect(await world.gateway.ledger.transfersForTxn(b.txnId)).toHaveLength(1);
  });

  it('a repeat with other content is refused, logged as a conflict, and the original stands', async () => {
    const b = body({ amount: 200 });
    await raw.send(b);
    const balance = await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS');
    raw.replies.length = 0;
    const forged = await raw.send({ ...b, amount: 1 });
    expect(forged).toMatchObject({ type: 'error', corr: b.txnId, body: { code: 'TXN_CONFLICT' } });
    expect(await world.gateway.ledger.conflictCount(b.txnId)).toBe(1);
    expect(await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS')).toBe(balance);
    expect(await world.gateway.ledger.transfersForTxn(b.txnId)).toEqual([expect.objectContaining({ amount: 200 })]);
  });
});

describe('requests refused before any rule, with nothing recorded', () => {
  it('a signature from another key: BAD_SIGNATURE', async () => {
    const b = body();
    await raw.publish(raw.signedFrame(b, nodeSigner(randomBytes(32))));
    expect(await raw.waitFor(b.txnId)).toMatchObject({ type: 'error', body: { code: 'BAD_SIGNATURE' } });
    expect(await world.gateway.ledger.request(b.txnId)).toBeUndefined();
  });

  it('a body naming another terminal than its topic: TOPIC_MISMATCH', async () => {
    const b = body({ terminalId: 'T-LIB-LYON-02' });
    await raw.publish(raw.signedFrame(b));
    expect(await raw.waitFor(b.txnId)).toMatchObject({ body: { code: 'TOPIC_MISMATCH' } });
    expect(await world.gateway.ledger.request(b.txnId)).toBeUndefined();
  });

  it('cinema counted in cents: UNIT_MISMATCH; a wrong field: BAD_SCHEMA; a bad Luhn digit: CARD_NUMBER_INVALID', async () => {
    const unit = body({ benefit: 'CINEMA', unit: 'cent' });
    await raw.publish(raw.signedFrame(unit));
    expect(await raw.waitFor(unit.txnId)).toMatchObject({ body: { code: 'UNIT_MISMATCH' } });
    const float = { ...body(), amount: 12.5 };
    await raw.publish(raw.signedFrame(float));
    expect(await raw.waitFor(float.txnId)).toMatchObject({ body: { code: 'BAD_SCHEMA' } });
    const luhn = body({ cardNumber: lea.cardNumber.slice(0, 15) + String((Number(lea.cardNumber[15]) + 1) % 10) });
    await raw.publish(raw.signedFrame(luhn));
    expect(await raw.waitFor(luhn.txnId)).toMatchObject({ body: { code: 'CARD_NUMBER_INVALID' } });
  });

  it('garbage: BAD_FRAME, answered with an empty corr', async () => {
    raw.replies.length = 0;
    await raw.publish('hello');
    expect(await raw.waitFor('')).toMatchObject({ type: 'error', corr: '', body: { code: 'BAD_FRAME' } });
  });

  it('a sealed code opened for another sale: PIN_BLOCK_INVALID', async () => {
    const { sealPin } = await import('../protocol/pin.ts');
    const other = randomUUID();
    const b = body({ credential: { kind: 'qr', cardNumber: lea.cardNumber, pinBlock: sealPin('1234', other, world.gateway.keys.boxPublicKey) } });
    await raw.publish(raw.signedFrame(b));
    expect(await raw.waitFor(b.txnId)).toMatchObject({ body: { code: 'PIN_BLOCK_INVALID' } });
  });

  it('the gateway stays up and keeps serving after all of that', async () => {
    expect(await raw.send(body({ amount: 1 }))).toMatchObject({ body: { status: 'approved' } });
    expect(await world.gateway.ledger.audit()).toEqual([]);
  });
});

describe('the broker lets each terminal touch only its own topics', () => {
  const connect = (clientId: string, password: string) =>
    mqtt.connectAsync(world.gateway.mqttUrl, { clientId, username: clientId, password, reconnectPeriod: 0, connectTimeout: 2000 });

  it('refuses a connect token signed by another key, an old token, and an unknown terminal', async () => {
    await expect(connect(T, makeConnectToken(T, nodeSigner(randomBytes(32)), freshClaims(T)))).rejects.toThrow();
    await expect(connect(T, makeConnectToken(T, raw.signer, { ms: Date.now() - 3_600_000, head: 0 }))).rejects.toThrow();
    await expect(connect('T-NOBODY-01', makeConnectToken('T-NOBODY-01', raw.signer, freshClaims('T-NOBODY-01')))).rejects.toThrow();
  });

  it("refuses a subscription to another terminal's replies and a publish on another terminal's requests", async () => {
    // mqtt.js turns the SUBACK failure code (0x80) into a rejection.
    await expect(raw.client.subscribeAsync(replyTopic('T-LIB-LYON-02'), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    // The refused subscription left the connection usable.
    expect(await raw.send(body({ amount: 1 }))).toMatchObject({ body: { status: 'approved' } });
    // Close it before the rogue connection below takes over this terminal's session.
    await raw.close();
    const spy = await RawTerminal.connect(world.gateway.mqttUrl, 'T-LIB-LYON-02', world.key('T-LIB-LYON-02').seed, world.gateway.keys.signPublicKey);
    // A new connection of T-LIB-LYON-01 (it takes over the session) publishes on T-LIB-LYON-02's request topic, signed with the
    // other terminal's key as if it had stolen it: the broker disconnects it and nothing reaches the gateway.
    const rogue = await mqtt.connectAsync(world.gateway.mqttUrl, {
      clientId: `${T}`,
      username: T,
      password: makeConnectToken(T, raw.signer, freshClaims(T)),
      reconnectPeriod: 0,
    });
    const closed = new Promise<void>((r) => rogue.once('close', () => r()));
    const b = body({ terminalId: 'T-LIB-LYON-02' });
    rogue.publish(requestTopic('T-LIB-LYON-02'), spy.signedFrame(b), { qos: 1 });
    await closed;
    await new Promise((r) => setTimeout(r, 100));
    expect(spy.replies).toEqual([]);
    expect(await world.gateway.ledger.request(b.txnId)).toBeUndefined();
    await spy.close();
    await rogue.endAsync(true);
  });
});

describe('HTTP', () => {
  it('/healthz answers through inject-free real sockets with the pipeline counters', async () => {
    const res = await fetch(`${world.gateway.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    const h = (await res.json()) as { status: string; pipeline: { approved: number }; mqtt: { port: number } };
    expect(h.status).toBe('ok');
    expect(h.mqtt.port).toBe(world.gateway.mqttPort);
    expect(h.pipeline.approved).toBeGreaterThan(0);
    // Every counter the pipeline keeps, none dropped by the answer's schema.
    expect(Object.keys(h.pipeline).sort()).toEqual(Object.keys(world.gateway.pipeline.stats).sort());
  });
});

describe('ports', () => {
  it('a taken MQTT or HTTP port fails with PORT_IN_USE and a clear message', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    for (const overrides of [{ mqtt: { port } }, { mqtt: { port: 0 }, http: { port } }]) {
      const config = loadGatewayConfig(undefined, { dataDir: world.dir + '/other', log: { level: 'silent' }, http: { port: 0 }, ...overrides });
      let err: unknown;
      try {
        const g = await startGateway(config, { log: silentLogger });
        await g.close();
      } catch (e) {
        err = e;
      }
      expect(isPasserelleError(err, 'PORT_IN_USE')).toBe(true);
      expect((err as Error).message).toContain(`port ${port}`);
    }
    blocker.close();
  });
});
