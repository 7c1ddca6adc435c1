import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/log.ts';
import { PUBLIC_FILE } from '../gateway/keys.ts';
import { startSimService, writeSimTerminalConfig, type SimService } from '../simulators/sim-service.ts';
import { SimTill } from '../simulators/till.ts';
import { testBureau } from './helpers/chips.ts';
import { holder, World } from './helpers/world.ts';

/**
 * A till drives the terminal service over Caisse-AP (TCP on 127.0.0.1) and the sale runs the whole way:
 * the simulated card on the reader, the runtime, the gateway's rules and ledger. Full and partial debits,
 * a refused card, a malformed message, a second request during a sale, a till that leaves mid-sale and
 * asks for its result afterwards: each answered as docs/till.md says, each debit in the ledger once.
 */

const TID = 'T-LIB-LYON-02';
const world = new World();
let sim: SimService;
let port: number;

beforeAll(async () => {
  await world.startGateway();
  const configFile = writeSimTerminalConfig({
    dir: world.dir,
    name: 'till-terminal',
    terminalId: TID,
    seed: world.key(TID).seed,
    gatewayUrl: world.gateway.mqttUrl,
    gatewayKeysFile: join(world.dir, PUBLIC_FILE),
    benefits: ['SCHOOL_BOOKS', 'LEISURE_BOOKS'],
    extra: { till: { host: '127.0.0.1', port: 0, allow: ['127.0.0.1'], benefit: 'LEISURE_BOOKS' } },
  });
  sim = await startSimService({ configFile, gateway: world.gateway.keys, cards: testBureau(world.gateway.keys.issuer, world.gateway.ledger), log: silentLogger });
  port = (sim.service.status().till as { port: number }).port;
  const end = Date.now() + 10_000;
  while (!sim.service.terminal.runtime.linkUp() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}, 30_000);

afterAll(async () => {
  await sim?.close();
  await world.close();
});

const balance = async (name: string) => (await world.gateway.ledger.walletBalance(holder(name).cardNumber, 'LEISURE_BOOKS'))!;

describe('a till on the terminal service', () => {
  it('a full debit: the price taken, approved', async () => {
    const till = await SimTill.connect(port);
    const before = await balance('Hugo Bernard');
    const answer = till.debit(1200);
    sim.devices.nfc.tap(holder('Hugo Bernard'));
    const a = await answer;
    expect(Object.fromEntries(a)).toMatchObject({ CZ: '0300', CJ: '012345678901', CA: '01', AE: '10', CB: '1200', ZS: 'approved' });
    expect(a.has('ZR')).toBe(false);
    expect(await balance('Hugo Bernard')).toBe(before - 1200);
    expect(await world.gateway.ledger.transfersForTxn(a.get('ZT')!)).toHaveLength(1);
    till.close();
  });

  it('a partial debit: the whole balance taken, the rest for the till to collect', async () => {
    const till = await SimTill.connect(port);
    const before = await balance('Léa Martin');
    const answer = till.debit(before + 650);
    sim.devices.nfc.tap(holder('Léa Martin'));
    const a = await answer;
    expect([a.get('AE'), a.get('CB'), a.get('ZR'), a.get('ZS')]).toEqual(['10', String(before), '650', 'approved']);
    expect(await balance('Léa Martin')).toBe(0);
    till.close();
  });

  it('a refused card: AE 01, AF 04 and the reason', async () => {
    const till = await SimTill.connect(port);
    const answer = till.debit(500);
    sim.devices.nfc.tap(holder('Tom Robert'));
    const a = await answer;
    expect([a.get('AE'), a.get('AF'), a.get('ZS'), a.get('ZE')]).toEqual(['01', '04', 'declined', 'CARD_BLOCKED']);
    till.close();
  });

  it('a malformed message gets the format status; a second request during a sale is refused; the sale goes on', async () => {
    const till = await SimTill.connect(port, { ca: '02' });
    const bad = await till.send('CZ0040300CJ0011CA00202CD0010CE003978CB003abc');
    expect([bad.get('AE'), bad.get('AF')]).toEqual(['01', '09']);
    const other = await SimTill.connect(port, { ca: '03' });
    const selling = till.debit(300);
    const deadline = Date.now() + 5000;
    while (sim.service.terminal.runtime.state.tag !== 'awaitingCredential' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const busy = await other.debit(400);
    expect([busy.get('AE'), busy.get('AF'), busy.get('ZE')]).toEqual(['01', '05', 'SALE_IN_PROGRESS']);
    sim.devices.nfc.tap(holder('Hugo Bernard'));
    expect((await selling).get('AE')).toBe('10');
    till.close();
    other.close();
  });

  it('a till that leaves mid-sale loses nothing: the sale finishes and the till asks for its result', async () => {
    const gone = await SimTill.connect(port, { ca: '04' });
    const before = await balance('Hugo Bernard');
    gone.debitAndLeave(250);
    const deadline = Date.now() + 5000;
    while (sim.service.terminal.runtime.state.tag !== 'awaitingCredential' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    sim.devices.nfc.tap(holder('Hugo Bernard'));
    const back = await SimTill.connect(port, { ca: '04' });
    let last = await back.lastResult();
    for (let i = 0; i < 100 && last.get('AE') === '11'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      last = await back.lastResult();
    }
    expect([last.get('ZQ'), last.get('AE'), last.get('CB'), last.get('ZS')]).toEqual(['1', '10', '250', 'approved']);
    expect(await balance('Hugo Bernard')).toBe(before - 250);
    back.close();
  });
});
