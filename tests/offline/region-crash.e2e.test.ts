import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { mulberry32 } from '../../common/random.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { PostgresLedger } from '../../gateway/ledger/postgres.ts';
import { startGateway } from '../../gateway/server.ts';
import { SimTerminal } from '../../simulators/sim-terminal.ts';
import { testBureau } from '../helpers/chips.ts';
import { TestMosquitto, TestPostgres } from '../../simulators/engines.ts';
import { addCrashCards, CRASH_BENEFIT, CRASH_LIMITS, CRASH_OFFLINE_LIMITS, CRASH_TERMINAL } from './fixtures.ts';
import { checkExactlyOncePostgres, exited, finishedLine, kill9, startChild, type OracleLine } from './oracle.ts';
import { TcpProxy } from './tcp-proxy.ts';

/**
 * The crash and partition tests at region scale: two gateway processes on one PostgreSQL ledger and one
 * Mosquitto broker. While a terminal sells, one gateway or the other is killed with SIGKILL at random
 * moments and started again, the broker is killed and restarted now and then, and the terminal's link to
 * the broker is cut at random. A request the killed gateway (or the restarted broker) held is sent again
 * by the terminal (Mosquitto #2662 loses a shared subscriber's in-flight QoS 1 message the same way) and
 * taken by the other gateway. At the end every sale shown approved or accepted offline is in the ledger
 * exactly once, and nothing else is.
 *
 * The seed is printed; `PASSERELLE_CRASH_SEED=<seed>` replays the same kill times and sales.
 */

const SALES = 400;
const EVENTS = 18;
const ADMIN = { user: 'passerelle-gateway', password: 'gw-crash-secret' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('region crash: two gateways killed at random, the broker restarted, the link cut', () => {
  it(`${SALES} sales through ${EVENTS} kills, restarts and cuts: every sale shown accepted is in the PostgreSQL ledger exactly once, and nothing else`, async () => {
    const seed = Number(process.env.PASSERELLE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`region crash test: seed ${seed} (replay with PASSERELLE_CRASH_SEED=${seed})`);
    const rnd = mulberry32(seed);
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-region-crash-'));
    dirs.push(dir);
    const [pg, mosquitto] = await Promise.all([TestPostgres.start(), TestMosquitto.start({ dynsec: ADMIN })]);
    const gateways: (ChildProcess | undefined)[] = [undefined, undefined];
    let proxy: TcpProxy | undefined;
    let sim: SimTerminal | undefined;
    try {
      const url = await pg.createDatabase('region');
      const region = (clientId: string) => ({ ledger: { kind: 'postgres', url, maxConnections: 4 }, mqtt: { external: { url: mosquitto.url, username: ADMIN.user, password: ADMIN.password, clientId } } });
      // Seed the ledger, the keys (one data directory, the gateways' shared keys) and the terminal's broker
      // account in this process, then hand over to the two gateway processes.
      const seedConfig = loadGatewayConfig(undefined, { dataDir: dir, http: { port: 0 }, log: { level: 'silent' }, offline: CRASH_OFFLINE_LIMITS, limits: CRASH_LIMITS, ...region('gw-seed') });
      const first = await startGateway(seedConfig, { log: silentLogger });
      const cards = await addCrashCards(first.ledger, 40, Date.now());
      const keys = first.keys;
      const terminalSeed = first.demoTerminals.find((t) => t.terminalId === CRASH_TERMINAL)!.seed;
      await first.close();

      const script = 'tests/offline/gateway-child.ts';
      const start = (i: number) => startChild(script, { PASSERELLE_CHILD: JSON.stringify({ dataDir: dir, mqttPort: 0, offline: CRASH_OFFLINE_LIMITS, overrides: region(`gw-${i}`) }) });
      gateways[0] = await start(0);
      gateways[1] = await start(1);
      proxy = await TcpProxy.start(mosquitto.port);
      sim = SimTerminal.start({
        terminalId: CRASH_TERMINAL,
        seed: terminalSeed,
        gatewayUrl: `mqtt://127.0.0.1:${proxy.port}`,
        gateway: keys,
        cards: testBureau(keys.issuer),
        outboxFile: join(dir, 'outbox.sqlite'),
        benefits: [CRASH_BENEFIT],
        crypto: 'node',
        config: { brokerAuth: 'key', replyTimeoutMs: 400, resendIntervalMs: 300, backoffBaseMs: 20, backoffMaxMs: 200, connectTimeoutMs: 1000, keepaliveS: 2, maxPending: 50_000 },
        log: silentLogger,
      });
      const terminal = sim;
      const lines: OracleLine[] = [];
      let selling = true;
      await terminal.waitUntilUp();
      const seller = (async () => {
        while (selling || lines.length < SALES) {
          const sale = terminal.runtime.sale(CRASH_BENEFIT, 100 + Math.floor(rnd() * 2900));
          terminal.bindings.nfc.tap({ cardNumber: cards[Math.floor(rnd() * cards.length)]! });
          const o = await sale;
          lines.push(finishedLine(o));
          await sleep(o.kind === 'refused' ? 5 + rnd() * 15 : rnd() * 5);
        }
      })();
      const done = { gatewayKills: 0, brokerRestarts: 0, cuts: 0 };
      for (let e = 0; e < EVENTS; e++) {
        await sleep(200 + rnd() * 800);
        const what = rnd();
        if (what < 0.6) {
          // One gateway dies; the other carries on alone until it is back.
          const i = rnd() < 0.5 ? 0 : 1;
          await kill9(gateways[i]!);
          await sleep(rnd() * 600);
          gateways[i] = await start(i);
          done.gatewayKills++;
        } else if (what < 0.8) {
          await mosquitto.restart();
          done.brokerRestarts++;
        } else {
          proxy.cut();
          await sleep(50 + rnd() * 600);
          proxy.heal();
          done.cuts++;
        }
      }
      selling = false;
      await seller;
      const until = Date.now() + 120_000;
      while (terminal.terminal.outbox.stats().pending > 0 && Date.now() < until) await sleep(20);
      expect(terminal.terminal.outbox.stats().pending).toBe(0);
      await terminal.close();
      for (const g of gateways) g!.kill('SIGTERM');
      for (const g of gateways) expect(await exited(g!, 20_000)).toBe(0);
      const r = await checkExactlyOncePostgres(url, CRASH_TERMINAL, lines);
      console.log(`region crash test: ${done.gatewayKills} gateway kills, ${done.brokerRestarts} broker restarts, ${done.cuts} cuts; ${r.finished} sales finished, ${r.shownAccepted} shown accepted (${r.shownOffline} offline), ${r.voided} voided, ${r.applied} applied`, r.outcomes);
      expect(r.problems).toEqual([]);
      expect(r.finished).toBeGreaterThanOrEqual(SALES);
      const ledger = await PostgresLedger.open({ url });
      try {
        expect(await ledger.audit()).toEqual([]);
        expect(await ledger.terminalSync(CRASH_TERMINAL)).toMatchObject({ missing: [] });
        expect((await ledger.offlineReport()).flaggedTerminals).toEqual([]);
      } finally {
        await ledger.close();
      }
    } finally {
      for (const g of gateways) if (g) await kill9(g);
      await sim?.close().catch(() => undefined);
      await proxy?.close();
      await mosquitto.stop();
      await pg.stop();
    }
  }, 600_000);
});
