import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { publicKeyFromSeed } from '../protocol/crypto.ts';
import { SimTerminal } from '../simulators/sim-terminal.ts';
import { systemClock, type Clock } from '../terminal/bindings.ts';
import { World } from './helpers/world.ts';

/**
 * A broker that refuses a terminal is not a silent gateway: the terminal names the refusal (LINK_REFUSED
 * for its connect token, most often its clock; LINK_NOT_AUTHORIZED for a terminal the gateway does not
 * admit) on its status bar and to whoever waits for its link, instead of NO_REPLY.
 */

const DAY_MS = 86_400_000;
let world: World;
const started: SimTerminal[] = [];

beforeAll(async () => {
  world = new World();
  // Every refused try counts against the address (all of these terminals are 127.0.0.1): room for them all.
  await world.startGateway({}, { mqtt: { failedConnects: { points: 10_000 } } });
});
afterAll(async () => {
  for (const t of started) await t.close();
  await world.close();
});

function simTerminal(terminalId: string, seed: Uint8Array | string, clock: Clock = systemClock): SimTerminal {
  const t = SimTerminal.start({
    terminalId,
    seed,
    gatewayUrl: world.gateway.mqttUrl,
    gateway: world.gateway.keys,
    outboxFile: join(world.dir, `outbox-refusal-${terminalId}-${started.length}.sqlite`),
    config: { backoffBaseMs: 20, backoffMaxMs: 200 },
    clock,
    log: silentLogger,
  });
  started.push(t);
  return t;
}

describe('a refused connection is named, not taken for silence', () => {
  it('a terminal whose clock is three days behind: LINK_REFUSED (336), on the status bar too', async () => {
    const behind: Clock = { ...systemClock, now: () => Date.now() - 3 * DAY_MS };
    const t = simTerminal('T-LIB-LYON-01', world.key('T-LIB-LYON-01').seed, behind);
    await expect(t.waitUntilUp(3000)).rejects.toMatchObject({ code: 'LINK_REFUSED', message: expect.stringContaining('Bad username or password') });
    expect(t.runtime.linkRefusal()).toMatchObject({ code: 'LINK_REFUSED', returnCode: 4 });
    expect(t.runtime.linkStatus()).toEqual({ state: 'refused', code: 'LINK_REFUSED' });
    expect(t.bindings.display.last?.footer).toMatch(/^HORS LIGNE : connexion refusée \(code 336\)/);
  });

  it('a terminal the gateway does not know, and a deactivated one: LINK_NOT_AUTHORIZED (337)', async () => {
    const seed = randomBytes(32);
    const unknown = simTerminal('T-NOT-REGISTERED', seed);
    await expect(unknown.waitUntilUp(3000)).rejects.toMatchObject({ code: 'LINK_NOT_AUTHORIZED' });
    expect(unknown.bindings.display.last?.footer).toMatch(/^HORS LIGNE : connexion refusée \(code 337\)/);

    await world.gateway.ledger.addTerminal({ id: 'T-SWITCHED-OFF', partnerId: 'P-LIB-LYON', publicKey: publicKeyFromSeed(seed), active: false });
    const off = simTerminal('T-SWITCHED-OFF', seed);
    await expect(off.waitUntilUp(3000)).rejects.toMatchObject({ code: 'LINK_NOT_AUTHORIZED' });
  });

  it('a clock days ahead, once set right, connects again at once: a refused token does not hold the next ones back', async () => {
    let shiftMs = 3 * DAY_MS;
    const t = simTerminal('T-JUDO-GRE-01', world.key('T-JUDO-GRE-01').seed, { ...systemClock, now: () => Date.now() + shiftMs });
    await expect(t.waitUntilUp(3000)).rejects.toMatchObject({ code: 'LINK_REFUSED' });
    shiftMs = 0;
    const until = Date.now() + 3000;
    while (!t.runtime.linkUp() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(t.runtime.linkStatus()).toEqual({ state: 'online' });
  });

  it('the refusal is forgotten once a connect is accepted', async () => {
    let shiftMs = -3 * DAY_MS;
    const t = simTerminal('T-LIB-LYON-02', world.key('T-LIB-LYON-02').seed, { ...systemClock, now: () => Date.now() + shiftMs });
    await expect(t.waitUntilUp(3000)).rejects.toMatchObject({ code: 'LINK_REFUSED' });
    shiftMs = 0; // the technician set the clock; the link's next try goes through
    const until = Date.now() + 3000;
    while (!t.runtime.linkUp() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(t.runtime.linkRefusal()).toBeUndefined();
    expect(t.runtime.linkStatus()).toEqual({ state: 'online' });
    expect(t.bindings.display.last?.footer).toMatch(/^En ligne/);
  });
});
