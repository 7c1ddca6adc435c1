import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { connectMqttAsync } from '../../common/mqtt.ts';
import { makeConnectToken } from '../../protocol/connect-token.ts';
import { fromB64url, nodeSigner } from '../../protocol/crypto.ts';
import { HOTLIST_FULL_TOPIC, HOTLIST_TOPIC, hotlistTag } from '../../protocol/offline.ts';
import { debitRequest, encodeJson } from '../../protocol/debit.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import { encodeDirect } from '../../protocol/frame.ts';
import { debitBody } from '../helpers/debits.ts';
import { freshClaims, RawTerminal } from '../helpers/raw-terminal.ts';
import { until } from '../helpers/errors.ts';
import { holder, World } from '../helpers/world.ts';

/**
 * The smaller doors an attacker (or an accident) found open: a health probe stuck at 503, storage errors
 * hidden behind a 500, a world-readable ledger, no security headers, tokens in logs, demo tokens that
 * outlive the demo, a deactivated terminal still on the broker, and signed requests in several spellings.
 */

const world = new World();
const lines: string[] = [];
const T = 'T-LIB-LYON-01';
const lea = holder('Léa Martin');
let raw: RawTerminal;

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  await world.startGateway({ log: createLogger({ level: 'info', destination: sink }) }, { log: { level: 'info' } });
  raw = await world.raw(T);
});
afterAll(() => world.close());

const body = (o: Partial<Parameters<typeof debitBody>[0]> = {}) =>
  debitBody({ terminalId: T, cardNumber: lea.cardNumber, benefit: 'LEISURE_BOOKS', amount: 100, ...o });

describe('health and storage failures', () => {
  it('/healthz says degraded while the ledger fails and ok again once a commit succeeds', async () => {
    const health = async () => (await fetch(`${world.gateway.httpUrl}/healthz`)).status;
    expect(await health()).toBe(200);
    const spy = vi.spyOn(world.gateway.ledger, 'commitDebits').mockImplementationOnce(() => {
      throw new PasserelleError('LEDGER_FAILED', 'disk full (test)');
    });
    const failed = body();
    await raw.publish(raw.signedFrame(failed));
    await until(() => world.gateway.pipeline.stats.ledgerFailures === 1, 'the commit failed');
    expect(await health()).toBe(503);
    spy.mockRestore();
    expect(await raw.send(body())).toMatchObject({ body: { status: 'approved' } });
    expect(await health()).toBe(200);
  });

  it('a storage error in an API route is 503 LEDGER_FAILED (retryable), not a 500', async () => {
    const token = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')).operator as string;
    const spy = vi.spyOn(world.gateway.ledger, 'card').mockImplementationOnce(() => {
      throw new Database.SqliteError('database is locked', 'SQLITE_BUSY');
    });
    const res = await fetch(`${world.gateway.httpUrl}/api/v1/cards/${lea.cardNumber}`, { headers: { authorization: `Bearer ${token}` } });
    spy.mockRestore();
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ error: { code: 'LEDGER_FAILED' } });
  });

  it('the ledger, its journal files and every secret file are readable by the gateway user only', () => {
    for (const f of ['ledger.sqlite', 'ledger.sqlite-wal', 'ledger.sqlite-shm', 'gateway-keys.json', 'demo-terminals.json', 'demo-tokens.json', 'demo-cards.json']) {
      expect({ f, mode: (statSync(join(world.dir, f)).mode & 0o777).toString(8) }).toEqual({ f, mode: '600' });
    }
  });
});

describe('HTTP hygiene', () => {
  it('every answer carries security headers with a strict content security policy', async () => {
    for (const path of ['/healthz', '/api/v1/cards/x', '/nope']) {
      const res = await fetch(`${world.gateway.httpUrl}${path}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toContain("'unsafe-inline'");
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
    }
  });

  it('a token put in a query string never reaches the log', async () => {
    const token = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')).operator as string;
    await fetch(`${world.gateway.httpUrl}/api/v1/partners?access_token=${token}`);
    await fetch(`${world.gateway.httpUrl}/nope/${token}`);
    // The logger is asynchronous: give it a moment.
    await new Promise((r) => setTimeout(r, 200));
    const log = lines.join('');
    expect(log).toContain('/api/v1/partners');
    expect(log).not.toContain(token.slice(4));
  });
});

describe('what every terminal receives', () => {
  it('the hotlist names blocked cards by their chip key’s tag, never by number', async () => {
    const T3 = 'T-CIN-VBN-01';
    const signer = nodeSigner(fromB64url(world.key(T3).seed, 32, 'seed'));
    const client = await connectMqttAsync(world.gateway.mqttUrl, { clientId: T3, username: T3, password: makeConnectToken(T3, signer, freshClaims(T3)) });
    const docs: string[] = [];
    client.on('message', (_topic, payload) => docs.push(payload.toString('utf8')));
    await client.subscribeAsync([HOTLIST_FULL_TOPIC, HOTLIST_TOPIC], { qos: 1 });
    // Tom's opposed card is on it, by the tag of the chip key the gateway holds for it (the test chip the
    // World recorded after the start: a new key, so a new version, published within a second).
    const tag = hotlistTag((await world.gateway.ledger.cardKey(holder('Tom Robert').cardNumber))!.publicKey);
    await until(() => docs.some((d) => d.includes(tag)), 'the hotlist naming Tom’s card');
    await client.endAsync(true);
    expect(docs.some((d) => d.includes('"full":true'))).toBe(true);
    for (const d of docs) expect(d).not.toMatch(/[0-9]{16}/);
  });
});

describe('signed requests have one spelling', () => {
  /** Sign exactly these JSON bytes, as a terminal key holder could. */
  const signedText = (text: string) => encodeDirect(Buffer.from(text), raw.signer.sign(Buffer.from(text)));

  it('numbers spelt otherwise (100e0, 100.0) and duplicate keys are refused, nothing recorded', async () => {
    for (const spell of [(t: string) => t.replace('"amount":100,', '"amount":100e0,'), (t: string) => t.replace('"amount":100,', '"amount":100.0,'), (t: string) => t.replace('"amount":100,', '"amount":1,"amount":100,')]) {
      const b = body();
      const text = spell(JSON.stringify(debitRequest(b)));
      expect(text).not.toBe(encodeJson(debitRequest(b)).toString());
      await raw.publish(signedText(text));
      expect(await raw.waitFor(b.txnId)).toMatchObject({ type: 'error', body: { code: 'BAD_SCHEMA' } });
      expect(await world.gateway.ledger.request(b.txnId)).toBeUndefined();
    }
  });
});

describe('terminals and tokens that should no longer work', () => {
  it('a deactivated terminal cannot connect to the broker', async () => {
    const T2 = 'T-LIB-LYON-02';
    await world.gateway.ledger.setTerminalActive(T2, false);
    await expect(RawTerminal.connect(world.gateway.mqttUrl, T2, world.key(T2).seed, world.gateway.keys.signPublicKey)).rejects.toThrow();
    await world.gateway.ledger.setTerminalActive(T2, true);
    const ok = await RawTerminal.connect(world.gateway.mqttUrl, T2, world.key(T2).seed, world.gateway.keys.signPublicKey);
    await ok.close();
  });

  it('a restart with seedDemo off withdraws the demo tokens', async () => {
    const token = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')).operator as string;
    const get = () => fetch(`${world.gateway.httpUrl}/api/v1/partners`, { headers: { authorization: `Bearer ${token}` } });
    expect((await get()).status).toBe(200);
    await raw.close();
    await world.gateway.close();
    await world.startGateway({}, { seedDemo: false });
    expect((await get()).status).toBe(401);
  });
});
