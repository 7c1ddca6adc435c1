import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { b64url, nodeSigner } from '../../protocol/crypto.ts';
import { RawTerminal } from '../helpers/raw-terminal.ts';
import { World } from '../helpers/world.ts';

/**
 * "A technician token registered a terminal for a bookshop with a key of its choosing (201, active at
 * once)." A terminal now exists only when the Region says so: an operator registers it, or makes a
 * single-use, expiring enrolment code bound to a partner and a terminal id, which the terminal presents
 * with the public key it made. Every registration, key change and code is in the audit log.
 */

const world = new World();
let tokens: { operator: string; technician: string; partner: string };

beforeAll(async () => {
  await world.startGateway();
  tokens = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')) as typeof tokens;
});
afterAll(() => world.close());

async function call(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`${world.gateway.httpUrl}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

const newKey = () => {
  const seed = randomBytes(32);
  return { seed: b64url(seed), publicKey: b64url(nodeSigner(seed).publicKey) };
};

describe('a technician cannot bring a terminal into existence', () => {
  it('registering a terminal with a key of its choosing is refused, and nothing is stored', async () => {
    const k = newKey();
    const r = await call('POST', '/terminals', tokens.technician, { id: 'T-ROGUE-01', partnerId: 'P-LIB-LYON', publicKey: k.publicKey });
    expect(r.status).toBe(403);
    expect(await world.gateway.ledger.terminal('T-ROGUE-01')).toBeUndefined();
  });

  it('nor can it switch back on a terminal the Region switched off (it may still switch one off)', async () => {
    expect((await call('POST', '/terminals/T-LIB-LYON-02/deactivate', tokens.technician)).status).toBe(200);
    expect((await call('POST', '/terminals/T-LIB-LYON-02/activate', tokens.technician)).status).toBe(403);
    expect((await world.gateway.ledger.terminal('T-LIB-LYON-02'))?.active).toBe(false);
    expect((await call('POST', '/terminals/T-LIB-LYON-02/activate', tokens.operator)).status).toBe(200);
  });

  it('an operator registers one, and the audit log says who did what', async () => {
    const k = newKey();
    const r = await call('POST', '/terminals', tokens.operator, { id: 'T-LIB-LYON-03', partnerId: 'P-LIB-LYON', publicKey: k.publicKey });
    expect(r.status).toBe(201);
    const log = await call('GET', '/audit?subject=T-LIB-LYON-03', tokens.operator);
    expect(log.json.entries).toEqual([expect.objectContaining({ action: 'terminal.registered', subject: 'T-LIB-LYON-03', actor: 'operator:démo : Région' })]);
    expect((await call('GET', '/audit', tokens.technician)).status).toBe(403);
  });
});

describe('enrolment codes', () => {
  const make = async (terminalId: string, o: Record<string, unknown> = {}) =>
    call('POST', '/enrolment-codes', tokens.operator, { partnerId: 'P-LIB-LYON', terminalId, ...o });

  it('only an operator makes one; it is shown once, and it enrols one terminal with the key made on the device', async () => {
    expect((await call('POST', '/enrolment-codes', tokens.technician, { partnerId: 'P-LIB-LYON', terminalId: 'T-LIB-LYON-04' })).status).toBe(403);
    const made = await make('T-LIB-LYON-04');
    expect(made.status).toBe(201);
    expect(made.json.code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    const k = newKey();
    // The code is the credential: no token.
    const enrolled = await call('POST', '/enrolments', null, { code: made.json.code, publicKey: k.publicKey });
    expect(enrolled.status).toBe(201);
    expect(enrolled.json).toMatchObject({ terminalId: 'T-LIB-LYON-04', partnerId: 'P-LIB-LYON', benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'] });
    expect(enrolled.json.signed).toMatch(/^S1\./);
    expect(await world.gateway.ledger.terminal('T-LIB-LYON-04')).toMatchObject({ active: true, publicKey: new Uint8Array(Buffer.from(k.publicKey, 'base64url')) });
    // It connects with that key.
    const t = await RawTerminal.connect(world.gateway.mqttUrl, 'T-LIB-LYON-04', k.seed, world.gateway.keys.signPublicKey);
    await t.close();
    // Used once: a second use is refused with its own code and a French text for the technician's screen.
    const again = await call('POST', '/enrolments', null, { code: made.json.code, publicKey: newKey().publicKey });
    expect(again.status).toBe(409);
    expect(again.json.error).toMatchObject({ code: 'ENROLMENT_CODE_USED', fr: expect.stringContaining('déjà utilisé') });
  });

  it('a wrong code is refused; a few wrong tries exhaust it, even for the right one afterwards', async () => {
    const made = await make('T-LIB-LYON-05', { maxTries: 3 });
    const code = made.json.code as string;
    const wrong = code.slice(0, -1) + (code.endsWith('A') ? 'B' : 'A');
    for (let i = 0; i < 3; i++) {
      const r = await call('POST', '/enrolments', null, { code: wrong, publicKey: newKey().publicKey });
      expect(r.json.error?.code).toBe('ENROLMENT_CODE_INVALID');
    }
    const late = await call('POST', '/enrolments', null, { code, publicKey: newKey().publicKey });
    expect(late.json.error?.code).toBe('ENROLMENT_CODE_EXHAUSTED');
    expect(await world.gateway.ledger.terminal('T-LIB-LYON-05')).toBeUndefined();
    const unknown = await call('POST', '/enrolments', null, { code: 'ZZZZ-ZZZZ-ZZZZ-ZZZZ', publicKey: newKey().publicKey });
    expect(unknown.json.error?.code).toBe('ENROLMENT_CODE_INVALID');
  });

  it('an expired code is refused', async () => {
    const made = await make('T-LIB-LYON-06', { ttlS: 60 });
    const r = await call('POST', '/enrolments', null, { code: made.json.code, publicKey: newKey().publicKey });
    expect(r.status).toBe(201);
    const short = await make('T-LIB-LYON-07', { ttlS: 1 });
    await new Promise((res) => setTimeout(res, 1100));
    const expired = await call('POST', '/enrolments', null, { code: short.json.code, publicKey: newKey().publicKey });
    expect(expired.json.error).toMatchObject({ code: 'ENROLMENT_CODE_EXPIRED', fr: expect.stringContaining('expiré') });
  });

  it('re-enrolling a terminal id (a replaced device) revokes the old key at once, live connection included', async () => {
    const T = 'T-LIB-LYON-01';
    const old = await RawTerminal.connect(world.gateway.mqttUrl, T, world.key(T).seed, world.gateway.keys.signPublicKey);
    const closed = new Promise<void>((r) => old.client.once('close', () => r()));
    const made = await make(T);
    const k = newKey();
    expect((await call('POST', '/enrolments', null, { code: made.json.code, publicKey: k.publicKey })).status).toBe(201);
    await closed;
    await expect(RawTerminal.connect(world.gateway.mqttUrl, T, world.key(T).seed, world.gateway.keys.signPublicKey)).rejects.toThrow();
    const fresh = await RawTerminal.connect(world.gateway.mqttUrl, T, k.seed, world.gateway.keys.signPublicKey);
    await fresh.close();
    // The broker closed the old connection; mqtt.js would wait forever for its own close.
    old.client.end(true);
    const log = await call('GET', `/audit?subject=${T}`, tokens.operator);
    expect(log.json.entries.map((e: { action: string }) => e.action)).toEqual(['terminal.key-replaced', 'enrolment-code.used', 'enrolment-code.created']);
  });

  it('every code made, used and failed is in the audit log', async () => {
    const log = await call('GET', '/audit?limit=200', tokens.operator);
    const actions = new Set(log.json.entries.map((e: { action: string }) => e.action));
    for (const a of ['enrolment-code.created', 'enrolment-code.used', 'enrolment-code.failed', 'terminal.enrolled', 'terminal.registered', 'terminal.deactivated', 'terminal.activated']) {
      expect(actions, a).toContain(a);
    }
  });
});
