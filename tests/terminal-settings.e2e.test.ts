import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeSigner, type Signer } from '../protocol/crypto.ts';
import { encodeJson } from '../protocol/debit.ts';
import { encodeDirect } from '../protocol/frame.ts';
import { settingsTopic } from '../protocol/terminal-settings.ts';
import { until } from './helpers/errors.ts';
import { World } from './helpers/world.ts';

/**
 * Settings set at the gateway (benefits, timeouts): checked against the partner's type, numbered, pushed
 * signed and retained; a terminal applies the newest it verified, whole, keeps it across a restart, and
 * ignores settings signed by anyone else or meant for another terminal.
 */

const world = new World();
let tokens: { operator: string; technician: string; partner: string };
const T = 'T-LIB-LYON-02';

beforeAll(async () => {
  await world.startGateway();
  tokens = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')) as typeof tokens;
});
afterAll(() => world.close());

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${world.gateway.httpUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: await res.json() };
}

describe('terminal settings pushed by the gateway', () => {
  it('only the Region sets them, within what the partner may debit; a partner reads its own', async () => {
    expect((await call('GET', `/terminals/${T}/settings`, tokens.operator)).json).toEqual({ terminalId: T, settings: null, inForce: null });
    expect((await call('PUT', `/terminals/${T}/settings`, tokens.partner, { benefits: ['LEISURE_BOOKS'] })).status).toBe(403);
    const sport = await call('PUT', `/terminals/${T}/settings`, tokens.operator, { benefits: ['LEISURE_BOOKS', 'SPORT'] });
    expect([sport.status, sport.json.error?.code]).toEqual([422, 'BENEFIT_NOT_ALLOWED']);
    expect((await call('PUT', `/terminals/${T}/settings`, tokens.operator, { benefits: ['LEISURE_BOOKS'], replyTimeoutMs: 5 })).status).toBe(400);
    expect((await call('PUT', '/terminals/T-NOPE-01/settings', tokens.operator, { benefits: ['LEISURE_BOOKS'] })).status).toBe(404);
    expect((await call('GET', '/terminals/T-CIN-VBN-01/settings', tokens.partner)).status).toBe(403);
    expect(await world.gateway.ledger.terminalSettings(T)).toBeUndefined();
  });

  it('reach the terminal signed, whole and newest first; kept across a restart; forged ones are ignored', async () => {
    const t = await world.terminal(T, {}, ['SCHOOL_BOOKS', 'LEISURE_BOOKS']);
    expect(t.terminal.runtime.settings()).toMatchObject({ version: null, benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'], replyTimeoutMs: 3000 });
    const set = await call('PUT', `/terminals/${T}/settings`, tokens.operator, { benefits: ['LEISURE_BOOKS'], replyTimeoutMs: 4500, heartbeatS: 30 });
    expect(set.status).toBe(200);
    expect(set.json.settings).toMatchObject({ version: 1, benefits: ['LEISURE_BOOKS'], replyTimeoutMs: 4500, resendIntervalMs: 2000, heartbeatS: 30 });
    await until(() => t.terminal.runtime.settings().version === 1, 'version 1 applied');
    expect(t.terminal.runtime.settings()).toEqual({ version: 1, benefits: ['LEISURE_BOOKS'], replyTimeoutMs: 4500, resendIntervalMs: 2000, heartbeatS: 30 });

    // Whoever else signs, or settings for another terminal (even signed by the gateway), change nothing.
    const raw = await world.raw('T-LIB-LYON-01');
    const forge = (body: unknown, signer: Signer = nodeSigner(randomBytes(32))) => {
      const message = encodeJson({ v: 1, type: 'terminal.settings', body });
      return encodeDirect(message, signer.sign(message));
    };
    const evil = { terminalId: T, version: 9, issuedAt: Date.now(), benefits: ['SCHOOL_BOOKS'], replyTimeoutMs: 100, resendIntervalMs: 50, heartbeatS: 1 };
    // Another terminal may not read them, nor publish there (the broker drops it) ...
    await expect(raw.client.subscribeAsync(settingsTopic(T), { qos: 1 })).rejects.toThrow(/Subscribe error/);
    const closed = new Promise<void>((r) => raw.client.once('close', () => r()));
    raw.client.publish(settingsTopic(T), forge(evil), { qos: 1 });
    await closed;
    // Dropped by the broker: mqtt.js would never call back from end(), so it is not awaited.
    void raw.close();
    // ... and what reaches the terminal's link is checked: another key, another terminal's settings.
    t.link.deliverPush(settingsTopic(T), forge(evil), false);
    t.link.deliverPush(settingsTopic(T), forge({ ...evil, terminalId: 'T-LIB-LYON-01' }, world.gateway.keys.signer), false);
    await new Promise((r) => setTimeout(r, 200));
    expect(t.terminal.runtime.settings().version).toBe(1);

    // A restart offline keeps them (in the outbox); the next version arrives retained at reconnect.
    t.link.cut = true;
    await call('PUT', `/terminals/${T}/settings`, tokens.operator, { benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'], resendIntervalMs: 1500 });
    const again = await world.terminal(T, {}, ['SCHOOL_BOOKS', 'LEISURE_BOOKS']);
    await until(() => again.terminal.runtime.settings().version === 2, 'version 2 applied after the restart');
    expect(again.terminal.runtime.settings()).toEqual({ version: 2, benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'], replyTimeoutMs: 3000, resendIntervalMs: 1500, heartbeatS: 60 });
    const audit = await call('GET', `/audit?subject=${T}&action=terminal.settings-set`, tokens.operator);
    expect(audit.json.entries.map((e: { details: { version: number } }) => e.details.version)).toEqual([2, 1]);
  }, 20_000);
});
