import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.ts';
import { mulberry32 } from '../../common/random.ts';
import { loadGatewayConfig } from '../../gateway/config.ts';
import { SqliteLedger } from '../../gateway/ledger/sqlite.ts';
import { startGateway } from '../../gateway/server.ts';
import { b64url } from '../../protocol/crypto.ts';
import { SimTerminal } from '../../simulators/sim-terminal.ts';
import { World } from '../helpers/world.ts';
import { addCrashCards, CRASH_BENEFIT, CRASH_LIMITS, CRASH_OFFLINE_LIMITS, CRASH_TERMINAL } from './fixtures.ts';
import { checkExactlyOnce, finishedLine, exited, kill9, readOracle, startChild, type CrashTerminalConfig, type OracleLine } from './oracle.ts';
import { testBureau } from '../helpers/chips.ts';

/**
 * Power cuts, for real: the terminal process (then the gateway process) is killed with SIGKILL at random
 * moments while sales run, and started again on the same files. After the last restart and the sync,
 * every sale shown approved or accepted offline is in the ledger exactly once, and nothing else is.
 *
 * The seed is printed; `PASSERELLE_CRASH_SEED=<seed>` replays the same kill times and sales.
 */

const SALES = 1000;
const KILLS = 25;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function crashSeed(which: string): number {
  const seed = Number(process.env.PASSERELLE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`${which}: seed ${seed} (replay with PASSERELLE_CRASH_SEED=${seed})`);
  return seed;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('crash: the terminal killed (SIGKILL) at random moments', () => {
  it(`${SALES} sales, ${KILLS} kills: every sale shown approved or accepted is in the ledger exactly once, and nothing else`, async () => {
    const seed = crashSeed('terminal crash test');
    const rnd = mulberry32(seed);
    const world = new World();
    try {
      const gw = await world.startGateway({}, { offline: CRASH_OFFLINE_LIMITS, limits: CRASH_LIMITS, rules: { expirySweepS: 0 } });
      const cards = await addCrashCards(gw.ledger, 40, Date.now());
      const logFile = join(world.dir, 'oracle.jsonl');
      const base: CrashTerminalConfig = {
        terminalId: CRASH_TERMINAL,
        seed: world.key(CRASH_TERMINAL).seed,
        gatewayUrl: gw.mqttUrl,
        gatewaySignPublicKey: b64url(gw.keys.signPublicKey),
        gatewayBoxPublicKey: b64url(gw.keys.boxPublicKey),
        issuerSeed: b64url(gw.keys.issuerSeed),
        outboxFile: join(world.dir, 'outbox.sqlite'),
        logFile,
        benefit: CRASH_BENEFIT,
        cards,
        target: SALES,
        rngSeed: seed,
      };
      const script = 'tests/offline/terminal-child.ts';
      let kills = 0;
      for (; kills < KILLS; kills++) {
        const child = await startChild(script, { PASSERELLE_CHILD: JSON.stringify({ ...base, rngSeed: seed + kills }) });
        await sleep(150 + rnd() * 900);
        await kill9(child);
      }
      const final = await startChild(script, { PASSERELLE_CHILD: JSON.stringify({ ...base, rngSeed: seed + kills, final: true }) });
      expect(await exited(final, 180_000)).toBe(0);
      const lines = readOracle(logFile);
      expect(lines.at(-1)).toMatchObject({ t: 'drained', kind: '0' });
      const r = checkExactlyOnce(join(world.dir, 'ledger.sqlite'), CRASH_TERMINAL, lines);
      console.log(`terminal crash test: ${kills} kills, ${r.finished} sales finished, ${r.shownAccepted} shown accepted (${r.shownOffline} offline), ${r.voided} voided, ${r.applied} applied`, r.outcomes);
      expect(r.problems).toEqual([]);
      expect(r.finished).toBeGreaterThanOrEqual(SALES);
      expect(r.shownOffline).toBeGreaterThan(0);
      expect(await gw.ledger.audit()).toEqual([]);
      expect(await gw.ledger.terminalSync(CRASH_TERMINAL)).toMatchObject({ missing: [], chainBreaks: 0 });
      // An honest terminal, however often killed, never looks like one that broke its policy.
      expect((await gw.ledger.offlineReport()).flaggedTerminals).toEqual([]);
    } finally {
      await world.close();
    }
  }, 600_000);
});

describe('crash: the gateway killed (SIGKILL) at random moments', () => {
  it(`${SALES} sales, ${KILLS} gateway kills: the same exactly-once result`, async () => {
    const seed = crashSeed('gateway crash test');
    const rnd = mulberry32(seed);
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-gwcrash-'));
    dirs.push(dir);
    // Seed the data directory once in this process (demo data, cards), keep its port, then hand it over.
    const seedConfig = loadGatewayConfig(undefined, { dataDir: dir, mqtt: { port: 0 }, http: { port: 0 }, log: { level: 'silent' }, offline: CRASH_OFFLINE_LIMITS, limits: CRASH_LIMITS });
    const first = await startGateway(seedConfig, { log: silentLogger });
    const cards = await addCrashCards(first.ledger, 40, Date.now());
    const mqttPort = first.mqttPort;
    const keys = first.keys;
    const terminalSeed = first.demoTerminals.find((t) => t.terminalId === CRASH_TERMINAL)!.seed;
    await first.close();

    const env = { PASSERELLE_CHILD: JSON.stringify({ dataDir: dir, mqttPort, offline: CRASH_OFFLINE_LIMITS }) };
    const script = 'tests/offline/gateway-child.ts';
    let gateway: ChildProcess = await startChild(script, env);
    const sim = SimTerminal.start({
      terminalId: CRASH_TERMINAL,
      seed: terminalSeed,
      gatewayUrl: `mqtt://127.0.0.1:${mqttPort}`,
      gateway: keys,
      cards: testBureau(keys.issuer),
      outboxFile: join(dir, 'outbox.sqlite'),
      benefits: [CRASH_BENEFIT],
      crypto: 'node',
      config: { replyTimeoutMs: 400, resendIntervalMs: 300, backoffBaseMs: 20, backoffMaxMs: 200, connectTimeoutMs: 1000, maxPending: 50_000 },
      log: silentLogger,
    });
    const lines: OracleLine[] = [];
    let selling = true;
    await sim.waitUntilUp();
    const seller = (async () => {
      while (selling || lines.length < SALES) {
        const card = cards[Math.floor(rnd() * cards.length)]!;
        const sale = sim.runtime.sale(CRASH_BENEFIT, 100 + Math.floor(rnd() * 2900));
        sim.bindings.nfc.tap({ cardNumber: card });
        const o = await sale;
        lines.push(finishedLine(o));
        // A sale every few ms: the gateway dies mid-batch, mid-reply, between sales. A refused customer
        // takes a moment to step aside.
        await sleep(o.kind === 'refused' ? 5 + rnd() * 15 : rnd() * 5);
      }
    })();
    try {
      let kills = 0;
      for (; kills < KILLS; kills++) {
        await sleep(200 + rnd() * 1000);
        await kill9(gateway);
        await sleep(rnd() * 600);
        gateway = await startChild(script, env);
      }
      selling = false;
      await seller;
      const until = Date.now() + 120_000;
      while (sim.terminal.outbox.stats().pending > 0 && Date.now() < until) await sleep(20);
      expect(sim.terminal.outbox.stats().pending).toBe(0);
      await sim.close();
      gateway.kill('SIGTERM');
      expect(await exited(gateway, 20_000)).toBe(0);
      const r = checkExactlyOnce(join(dir, 'ledger.sqlite'), CRASH_TERMINAL, lines);
      console.log(`gateway crash test: ${kills} kills, ${r.finished} sales finished, ${r.shownAccepted} shown accepted (${r.shownOffline} offline), ${r.voided} voided, ${r.applied} applied`, r.outcomes);
      expect(r.problems).toEqual([]);
      expect(r.finished).toBeGreaterThanOrEqual(SALES);
      const ledger = new SqliteLedger({ file: join(dir, 'ledger.sqlite') });
      try {
        expect(await ledger.audit()).toEqual([]);
        expect(await ledger.terminalSync(CRASH_TERMINAL)).toMatchObject({ missing: [], chainBreaks: 0 });
        expect((await ledger.offlineReport()).flaggedTerminals).toEqual([]);
      } finally {
        await ledger.close();
      }
    } finally {
      selling = false;
      await kill9(gateway);
      await sim.close().catch(() => undefined);
    }
  }, 600_000);
});
