/**
 * A terminal process for the crash tests: the real runtime, outbox and MQTT link with simulated devices,
 * selling without pause until the oracle log holds `target` finished sales. The parent kills it with
 * SIGKILL at random moments and starts it again on the same outbox.
 *
 * The oracle log records what the cashier saw, written synchronously (fs.writeSync) the moment the sale
 * finishes, and at start the last sale's state the terminal shows again (a result committed just before
 * the kill, whose screen the kill may have beaten to the log).
 *
 * Configuration comes as JSON in PASSERELLE_CHILD (see CrashTerminalConfig).
 */
import { appendFileSync, readFileSync, existsSync } from 'node:fs';
import { silentLogger } from '../../common/log.ts';
import { mulberry32 } from '../../common/random.ts';
import { fromB64url, nodeSigner } from '../../protocol/crypto.ts';
import { testBureau } from '../helpers/chips.ts';
import { SimTerminal } from '../../simulators/sim-terminal.ts';
import { finishedLine, type CrashTerminalConfig, type OracleLine } from './oracle.ts';

const cfg = JSON.parse(process.env.PASSERELLE_CHILD ?? '{}') as CrashTerminalConfig;
const log = (line: OracleLine) => appendFileSync(cfg.logFile, JSON.stringify(line) + '\n');
const finished = () => (existsSync(cfg.logFile) ? readFileSync(cfg.logFile, 'utf8').split('\n').filter((l) => l.includes('"finished"')).length : 0);

const sim = SimTerminal.start({
  terminalId: cfg.terminalId,
  seed: cfg.seed,
  gatewayUrl: cfg.gatewayUrl,
  gateway: {
    signPublicKey: fromB64url(cfg.gatewaySignPublicKey, 32, 'key'),
    boxPublicKey: fromB64url(cfg.gatewayBoxPublicKey, 32, 'key'),
    issuerPublicKey: nodeSigner(fromB64url(cfg.issuerSeed, 32, 'key')).publicKey,
  },
  cards: testBureau(nodeSigner(fromB64url(cfg.issuerSeed, 32, 'key'))),
  outboxFile: cfg.outboxFile,
  benefits: [cfg.benefit],
  crypto: 'node',
  config: { replyTimeoutMs: 400, resendIntervalMs: 300, backoffBaseMs: 20, backoffMaxMs: 200, connectTimeoutMs: 1000, maxPending: 50_000 },
  log: silentLogger,
});
const outbox = sim.terminal.outbox;
// What the terminal shows again at start (runtime.start voided an interrupted online sale already).
const last = outbox.lastSale();
if (last && !last.voidedBy && last.state !== 'rejected' && (last.mode === 'offline' || last.status === 'approved')) {
  log({ t: 'recovered', txnId: last.txnId, kind: last.mode === 'offline' ? 'offline' : 'approved' });
}
const random = mulberry32(cfg.rngSeed);

async function main(): Promise<void> {
  // A terminal back from a power cut reconnects first; it sells offline if the link stays down.
  await sim.waitUntilUp(3000).catch(() => undefined);
  process.stdout.write('ready\n');
  while (finished() < cfg.target) {
    if (!cfg.final) {
      // Cut the link now and then (offline sales), and drop a reply now and then (void + fallback).
      const r = random();
      if (r < 0.05) sim.link.cut = !sim.link.cut;
      else if (r < 0.08) sim.link.dropNextReplies(1);
    } else sim.link.cut = false;
    const card = cfg.cards[Math.floor(random() * cfg.cards.length)]!;
    const amount = 100 + Math.floor(random() * 2900);
    const sale = sim.runtime.sale(cfg.benefit, amount);
    sim.bindings.nfc.tap({ cardNumber: card });
    const o = await sale;
    log(finishedLine(o));
    // The next customer steps up.
    await new Promise((r) => setTimeout(r, random() * 3));
  }
  if (cfg.final) {
    const until = Date.now() + 60_000;
    while (outbox.stats().pending > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    log({ t: 'drained', txnId: null, kind: String(outbox.stats().pending) });
    await sim.close();
    process.exit(0);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`child failed: ${String((e as Error)?.stack ?? e)}\n`);
  process.exit(3);
});
