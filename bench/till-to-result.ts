import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { silentLogger } from '../common/log.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { PUBLIC_FILE } from '../gateway/keys.ts';
import { simulatedBureauRegistry } from '../gateway/personalise.ts';
import { startGateway } from '../gateway/server.ts';
import { CardBureau } from '../simulators/sim-bindings.ts';
import { startSimService, writeSimTerminalConfig, type SimService } from '../simulators/sim-service.ts';
import { SimTill } from '../simulators/till.ts';
import { seedBookshop, waitFor } from './offline-drain.ts';
import { quantile, round, scratchDir } from './scratch.ts';

/**
 * `"scenario":"till-to-result"`: what a cashier waits for when the till drives the terminal. An embedded
 * gateway, the terminal service on simulated devices (the same service, runtime and till link a terminal
 * runs), and a simulated till speaking Caisse-AP over TCP on 127.0.0.1. Each sale: the till's request, the
 * card tapped on the simulated reader at once, the whole sale, the till's answer; timed from the request
 * to the answer. Alternating with the same sale started directly on the service (no till link) in the same
 * run, so the till link's own cost reads as a difference on a machine whose speed swings.
 */

const SALES_FULL = 1000;
const SALES_QUICK = 200;
const WARMUP = 50;
// Each card holds 35 € and a sale takes 1.00 to 1.49 €: 2,050 sales need more than 2,050 × 1.49 / 35 ≈ 88 cards.
const CARDS = 400;
const TERMINAL_ID = 'T-BENCH-TILL';

export async function tillToResultBench(o: { quick?: boolean }): Promise<void> {
  const sales = o.quick ? SALES_QUICK : SALES_FULL;
  const dir = scratchDir('passerelle-till-');
  const config = loadGatewayConfig(undefined, { dataDir: dir.path, seedDemo: false, mqtt: { port: 0 }, http: { port: 0 }, log: { level: 'silent' } });
  const gateway = await startGateway(config, { log: silentLogger });
  const seed = randomBytes(32);
  let sim: SimService | undefined;
  let till: SimTill | undefined;
  try {
    const { cards } = await seedBookshop(gateway, seed, { terminalId: TERMINAL_ID, cards: CARDS, cents: 3500 });
    const configFile = writeSimTerminalConfig({
      dir: dir.path,
      name: 'terminal',
      terminalId: TERMINAL_ID,
      seed,
      gatewayUrl: gateway.mqttUrl,
      gatewayKeysFile: join(dir.path, PUBLIC_FILE),
      benefits: ['LEISURE_BOOKS'],
      extra: { till: { host: '127.0.0.1', port: 0, allow: ['127.0.0.1'], benefit: 'LEISURE_BOOKS' } },
    });
    sim = await startSimService({ configFile, gateway: gateway.keys, cards: new CardBureau(gateway.keys.issuer, { register: simulatedBureauRegistry(gateway.ledger) }), log: silentLogger });
    const service = sim.service;
    await waitFor('the link and the offline policy', () => service.terminal.runtime.linkUp() && service.terminal.outbox.policy() !== undefined, 10_000);
    till = await SimTill.connect((service.status().till as { port: number }).port);

    const viaTill: number[] = [];
    const direct: number[] = [];
    const errors: string[] = [];
    let cpuFrom: NodeJS.CpuUsage | undefined;
    for (let i = 0; i < WARMUP + 2 * sales; i++) {
      const card = { cardNumber: cards[i % cards.length]! };
      const cents = 100 + (i % 50);
      const t0 = performance.now();
      if (i % 2 === 0) {
        const answer = till.debit(cents);
        sim.devices.nfc.tap(card);
        const a = await answer;
        if (a.get('AE') !== '10' || a.get('CB') !== String(cents)) errors.push(`till sale ${i + 1}: AE ${a.get('AE')} ${a.get('ZE') ?? ''}`);
        if (i >= WARMUP) viaTill.push(performance.now() - t0);
      } else {
        const sale = service.sale('LEISURE_BOOKS', cents);
        sim.devices.nfc.tap(card);
        const outcome = await sale;
        if (outcome.kind !== 'approved') errors.push(`direct sale ${i + 1}: ${outcome.kind}`);
        if (i >= WARMUP) direct.push(performance.now() - t0);
      }
      if (i === WARMUP - 1) cpuFrom = process.cpuUsage();
    }
    const cpu = process.cpuUsage(cpuFrom);
    errors.push(...(await gateway.ledger.audit()).map((a) => `audit: ${a}`));
    report(sales, viaTill, direct, errors, (cpu.user + cpu.system) / (2 * sales));
  } finally {
    till?.close();
    await sim?.close();
    await gateway.close();
    dir.remove();
  }
}

function report(sales: number, viaTill: number[], direct: number[], errors: string[], cpuUsPerSale: number): void {
  const t = [...viaTill].sort((a, b) => a - b);
  const d = [...direct].sort((a, b) => a - b);
  const q = (xs: number[], p: number) => round(quantile(xs, p), 2);
  console.log(`till-to-result benchmark: ${sales} sales from a Caisse-AP till over TCP, alternating with ${sales} started on the service directly; simulated card and reader, real runtime, broker, gateway and ledger on disk`);
  console.log(`  till request → answer: median ${q(t, 0.5)} ms, p90 ${q(t, 0.9)} ms, p99 ${q(t, 0.99)} ms, max ${round(t.at(-1)!, 2)} ms`);
  console.log(`  the same sale without the till link: median ${q(d, 0.5)} ms, p99 ${q(d, 0.99)} ms; the link adds ${round(quantile(t, 0.5) - quantile(d, 0.5), 2)} ms at the median`);
  console.log(`  CPU per sale, all in one process: ${Math.round(cpuUsPerSale)} µs`);
  for (const e of errors.slice(0, 20)) console.log(`  ERROR: ${e}`);
  console.log(
    JSON.stringify({
      scenario: 'till-to-result',
      sales,
      median_ms: q(t, 0.5),
      p90_ms: q(t, 0.9),
      p99_ms: q(t, 0.99),
      max_ms: round(t.at(-1)!, 2),
      direct_median_ms: q(d, 0.5),
      direct_p99_ms: q(d, 0.99),
      cpu_us_per_sale: Math.round(cpuUsPerSale),
      errors: errors.length,
    }),
  );
}
