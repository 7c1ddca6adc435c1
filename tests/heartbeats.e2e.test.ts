import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromB64url, nodeSigner } from '../protocol/crypto.ts';
import { encodeJson } from '../protocol/debit.ts';
import { encodeDirect } from '../protocol/frame.ts';
import { signHeartbeat, type HeartbeatBody } from '../protocol/heartbeat.ts';
import { statusTopic } from '../protocol/topics.ts';
import { until } from './helpers/errors.ts';
import { World } from './helpers/world.ts';

/**
 * Heartbeats and the fleet view: a terminal's signed heartbeat is kept as the latest for that terminal; a
 * replay, another key, another terminal's id, a deactivated terminal, an oversized or malformed frame
 * change nothing; the fleet API lists terminals by silence, filters the silent ones holding unsent
 * sales, shows a partner only its own, and a technician no money.
 */

const world = new World();
let tokens: { operator: string; technician: string; partner: string };
const T = 'T-LIB-LYON-01';

beforeAll(async () => {
  await world.startGateway({}, { fleet: { heartbeatMinIntervalS: 1 } });
  tokens = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')) as typeof tokens;
});
afterAll(() => world.close());

const body = (o: Partial<HeartbeatBody> = {}): HeartbeatBody => ({
  terminalId: T,
  sentAt: Date.now(),
  startedAt: Date.now() - 60_000,
  software: '0.1.0',
  policyVersion: 3,
  hotlistVersion: 12,
  settingsVersion: null,
  queue: { pending: 4, oldestPendingAt: Date.now() - 3_600_000, offlinePending: 3, offlinePendingCents: 4200 },
  devices: { nfc: 'ok', pad: 'PAD_UNAVAILABLE', qr: 'none' },
  lastSaleAt: Date.now() - 7_200_000,
  ...o,
});

async function fleet(token: string, query = ''): Promise<{ status: number; json: any }> {
  const res = await fetch(`${world.gateway.httpUrl}/api/v1/fleet${query}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, json: await res.json() };
}

describe('heartbeats', () => {
  it('keeps the latest signed heartbeat of a terminal, and nothing a replay, another key or another id says', async () => {
    const raw = await world.raw(T);
    const signer = nodeSigner(fromB64url(world.key(T).seed, 32, 'seed'));
    const stats = world.gateway.heartbeats.stats;
    const first = signHeartbeat(body(), signer);
    await raw.publish(first, statusTopic(T));
    await until(() => stats.recorded === 1, 'the heartbeat recorded');
    expect(await world.gateway.ledger.heartbeat(T)).toMatchObject({ software: '0.1.0', pending: 4, offlinePendingCents: 4200, devices: { pad: 'PAD_UNAVAILABLE' } });

    // Past the per-terminal interval only; each of these is refused and the kept one stays.
    const refusedBefore = stats.refused;
    const droppedBefore = stats.dropped;
    await raw.publish(signHeartbeat(body({ software: 'too-soon' }), signer), statusTopic(T));
    await until(() => stats.dropped === droppedBefore + 1, 'the early one dropped');
    await new Promise((r) => setTimeout(r, 1100));
    const other = nodeSigner(randomBytes(32));
    const message = encodeJson({ v: 1, type: 'terminal.heartbeat', body: body({ software: 'spaced' }) });
    for (const forged of [
      first, // a replay: not newer
      signHeartbeat(body({ software: 'other-key' }), other),
      signHeartbeat(body({ terminalId: 'T-LIB-LYON-02', software: 'other-id' }), signer),
      Buffer.concat([first, Buffer.alloc(4096, 0x20)]),
      encodeDirect(Buffer.from(JSON.stringify({ v: 1, type: 'terminal.heartbeat', body: body({ software: 'spaced' }) }, null, 1)), signer.sign(Buffer.from(JSON.stringify({ v: 1, type: 'terminal.heartbeat', body: body({ software: 'spaced' }) }, null, 1)))),
      encodeDirect(message, signer.sign(Buffer.from('something else'))),
      Buffer.from('not a frame'),
    ]) {
      await raw.publish(forged, statusTopic(T));
    }
    await until(() => stats.refused === refusedBefore + 7, `the 7 refused (refused ${stats.refused - refusedBefore})`);
    expect((await world.gateway.ledger.heartbeat(T))?.software).toBe('0.1.0');
    expect(stats.recorded).toBe(1);
  }, 20_000);

  it('does not hear a deactivated terminal', async () => {
    const id = 'T-CIN-VBN-01';
    const raw = await world.raw(id);
    const signer = nodeSigner(fromB64url(world.key(id).seed, 32, 'seed'));
    await world.gateway.ledger.setTerminalActive(id, false);
    const refused = world.gateway.heartbeats.stats.refused;
    await raw.publish(signHeartbeat(body({ terminalId: id }), signer), statusTopic(id));
    await until(() => world.gateway.heartbeats.stats.refused === refused + 1, 'refused');
    expect(await world.gateway.ledger.heartbeat(id)).toBeUndefined();
    await world.gateway.ledger.setTerminalActive(id, true);
  });

  it('the fleet API lists never-heard and longest-silent first, and filters the silent holding unsent sales', async () => {
    // T-LIB-LYON-01 was heard above, holding 4 unsent records; the others were never heard.
    const all = await fleet(tokens.operator);
    expect(all.status).toBe(200);
    const lyon = all.json.find((t: { terminalId: string }) => t.terminalId === T);
    expect(lyon).toMatchObject({ partnerId: 'P-LIB-LYON', state: 'online', software: '0.1.0', queue: { pending: 4, offlinePending: 3, offlinePendingCents: 4200 }, devices: { nfc: 'ok', pad: 'PAD_UNAVAILABLE', qr: 'none' } });
    expect(Math.abs(lyon.clockOffsetMs)).toBeLessThan(10_000);
    expect(all.json[0].state).toBe('never-heard');
    // Silent for a second at least, holding unsent sales: the one the Region must chase.
    await new Promise((r) => setTimeout(r, 1100));
    const chase = await fleet(tokens.operator, '?silentForS=1&unsent=true');
    expect(chase.json.map((t: { terminalId: string }) => t.terminalId)).toEqual([T]);
    // A technician sees no money; a partner only its own terminals.
    expect((await fleet(tokens.technician)).json.find((t: { terminalId: string }) => t.terminalId === T).queue).toEqual({ pending: 4, oldestPendingAt: expect.any(String), offlinePending: 3 });
    const own = await fleet(tokens.partner);
    expect(new Set(own.json.map((t: { partnerId: string }) => t.partnerId))).toEqual(new Set(['P-LIB-LYON']));
    expect((await fleet(tokens.partner, '?partnerId=P-CIN-VBN')).status).toBe(403);
  });
});
