import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { mulberry32 } from '../../common/random.ts';
import { SimTerminal } from '../../simulators/sim-terminal.ts';
import { World } from '../helpers/world.ts';
import { addCrashCards, CRASH_BENEFIT, CRASH_LIMITS, CRASH_OFFLINE_LIMITS, CRASH_TERMINAL } from './fixtures.ts';
import { checkExactlyOnce, finishedLine, type OracleLine } from './oracle.ts';
import { TcpProxy } from './tcp-proxy.ts';
import { testBureau } from '../helpers/chips.ts';

/**
 * The network cut at random points under load: the terminal reaches the broker through a TCP proxy that
 * drops every connection (and every byte in flight) at random moments, for random lengths of time. The
 * same exactly-once result as the crash tests.
 */

const SALES = 600;
const CUTS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('partition: the link cut at random points under load', () => {
  it(`${SALES} sales through ${CUTS} cuts: every sale shown approved or accepted is in the ledger exactly once, and nothing else`, async () => {
    const seed = Number(process.env.PASSERELLE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`partition test: seed ${seed} (replay with PASSERELLE_CRASH_SEED=${seed})`);
    const rnd = mulberry32(seed);
    const world = new World();
    const gw = await world.startGateway({}, { offline: CRASH_OFFLINE_LIMITS, limits: CRASH_LIMITS, rules: { expirySweepS: 0 } });
    const proxy = await TcpProxy.start(gw.mqttPort);
    const cards = await addCrashCards(gw.ledger, 30, Date.now());
    const sim = SimTerminal.start({
      terminalId: CRASH_TERMINAL,
      seed: world.key(CRASH_TERMINAL).seed,
      gatewayUrl: `mqtt://127.0.0.1:${proxy.port}`,
      gateway: gw.keys,
      cards: testBureau(gw.keys.issuer),
      outboxFile: join(world.dir, 'outbox.sqlite'),
      benefits: [CRASH_BENEFIT],
      crypto: 'node',
      config: { replyTimeoutMs: 300, resendIntervalMs: 200, backoffBaseMs: 20, backoffMaxMs: 150, connectTimeoutMs: 500, keepaliveS: 1, maxPending: 50_000 },
      log: silentLogger,
    });
    const lines: OracleLine[] = [];
    let cutting = true;
    try {
      await sim.waitUntilUp();
      const seller = (async () => {
        while (cutting || lines.length < SALES) {
          const sale = sim.runtime.sale(CRASH_BENEFIT, 100 + Math.floor(rnd() * 2900));
          sim.bindings.nfc.tap({ cardNumber: cards[Math.floor(rnd() * cards.length)]! });
          const o = await sale;
          lines.push(finishedLine(o));
          await sleep(rnd() * 4);
        }
      })();
      for (let i = 0; i < CUTS; i++) {
        await sleep(100 + rnd() * 500);
        proxy.cut();
        await sleep(50 + rnd() * 800);
        proxy.heal();
      }
      cutting = false;
      await seller;
      const until = Date.now() + 60_000;
      while (sim.terminal.outbox.stats().pending > 0 && Date.now() < until) await sleep(20);
      expect(sim.terminal.outbox.stats().pending).toBe(0);
      const r = checkExactlyOnce(join(world.dir, 'ledger.sqlite'), CRASH_TERMINAL, lines);
      console.log(`partition test: ${proxy.cuts} cuts, ${r.finished} sales, ${r.shownAccepted} shown accepted (${r.shownOffline} offline), ${r.voided} voided`, r.outcomes);
      expect(r.problems).toEqual([]);
      expect(r.finished).toBeGreaterThanOrEqual(SALES);
      expect(r.shownOffline).toBeGreaterThan(0);
      expect(await gw.ledger.audit()).toEqual([]);
      // An honest terminal cut off twenty times never looks like one that broke its policy.
      expect((await gw.ledger.offlineReport()).flaggedTerminals).toEqual([]);
    } finally {
      cutting = false;
      await sim.close();
      await proxy.close();
      await world.close();
    }
  }, 300_000);
});
