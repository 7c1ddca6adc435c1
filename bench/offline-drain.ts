import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { silentLogger } from '../common/log.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { demoCampaign } from '../gateway/demo-data.ts';
import { startGateway, type Gateway } from '../gateway/server.ts';
import { cardNumberFrom } from '../protocol/card.ts';
import { NodeVerifier, publicKeyFromSeed } from '../protocol/crypto.ts';
import type { OfflineLimits } from '../protocol/offline.ts';
import { SimTerminal } from '../simulators/sim-terminal.ts';
import { round, scratchDir, timeCalls } from './scratch.ts';
import { CardBureau } from '../simulators/sim-bindings.ts';
import { simulatedBureauRegistry } from '../gateway/personalise.ts';

/**
 * `"scenario":"offline-drain"`: one terminal that sold offline through a long outage catches up. An
 * embedded gateway (its own data directory on disk, free ports) and one simulated terminal (the real
 * runtime, outbox and MQTT link; node:crypto as on a terminal, or tweetnacl with
 * PASSERELLE_BENCH_DRAIN_CRYPTO=tweetnacl for comparison). Once the terminal holds the signed policy, a hotlist and the
 * gateway's time, its link is cut and it makes `sales` offline sales through the runtime (each must be
 * accepted offline). Then the link comes back, and the drain is timed from that instant until the outbox
 * holds nothing pending: every record forwarded (`syncWindow` at a time), settled by the gateway and its
 * verified reply recorded. The ledger must then hold exactly those sales, offline and approved, with no
 * gap or chain break in the terminal's sequence, and its invariants must hold.
 *
 * Targets (issues 4 and 14): 10,000 sales queued in ≤ 10 s, and settled in ≤ 3 s after the link returns. The median of
 * PASSERELLE_BENCH_DRAIN_RUNS runs (3 by default, 1 with --quick), each with a fresh gateway and terminal.
 *
 * Where the drain's time goes is measured by wrapping, for the drain only, the terminal's outbox
 * transactions and window reads, the gateway's ledger commits and both sides' signature checks (all in
 * this one process, so they add up against the wall time). PASSERELLE_BENCH_DRAIN_PROFILE=<dir> also
 * writes a V8 CPU profile of each drain (and nothing else) there.
 */

const TARGET_S = 3;
const TARGET_QUEUE_S = 10;
const SALES_FULL = 10_000;
const SALES_QUICK = 2000;
const CARDS = 200;
const TERMINAL_ID = 'T-BENCH-DRAIN';
/** PASSERELLE_BENCH_DRAIN_PROFILE also profiles the last sales queued (where a sale's cost grows with the backlog). */
const QUEUE_TAIL_PROFILED = 500;

/** Limits that let one terminal hold 10,000+ offline sales over 200 cards (50 sales a card, ≤ 59 cents each). */
const LIMITS: OfflineLimits = {
  enabled: true,
  maxSaleCents: 3000,
  maxSaleEntries: 2,
  perCardDayCount: 100,
  perCardDayCents: 100_000,
  maxPendingCount: 100_000,
  maxPendingCents: 100_000_000,
  maxOfflineMs: 24 * 3_600_000,
  hotlistMaxAgeMs: 24 * 3_600_000,
  clockSkewMaxMs: 5 * 60_000,
};

interface DrainRun {
  readonly sales: number;
  readonly queueS: number;
  readonly drainS: number;
  /** Process CPU (terminal, broker and gateway together) per sale while queuing, and while draining. */
  readonly queueCpuUsPerSale: number;
  readonly drainCpuUsPerSale: number;
  /** From the link's return to the first settled record. */
  readonly firstSettleMs: number;
  readonly errors: string[];
  readonly profile: Record<string, number>;
}

export async function offlineDrainBench(o: { quick?: boolean }): Promise<void> {
  const sales = o.quick ? SALES_QUICK : SALES_FULL;
  const runs = Number(process.env.PASSERELLE_BENCH_DRAIN_RUNS ?? (o.quick ? 1 : 3));
  const crypto = process.env.PASSERELLE_BENCH_DRAIN_CRYPTO === 'tweetnacl' ? 'tweetnacl' : 'node';
  // The terminal's syncWindow (its default, 200, unless set): an experiment knob, not the measured configuration.
  const window = process.env.PASSERELLE_BENCH_DRAIN_WINDOW ? Number(process.env.PASSERELLE_BENCH_DRAIN_WINDOW) : undefined;
  const results: DrainRun[] = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`bench: offline drain, run ${i + 1} of ${runs} (${sales} sales, terminal crypto ${crypto}, syncWindow ${window ?? 'default'})\n`);
    results.push(await drainOnce(sales, crypto, window));
  }
  const byDrain = [...results].sort((a, b) => a.drainS - b.drainS);
  const med = byDrain[Math.floor(byDrain.length / 2)]!;
  const errors = results.flatMap((r) => r.errors);
  console.log(`offline-drain benchmark: ${sales} offline sales on one terminal (crypto ${crypto}), drained after the link returns; ${runs} run(s)`);
  for (const r of results) {
    console.log(
      `  queued in ${round(r.queueS)} s (${Math.round(r.sales / r.queueS)} sales/s, ${Math.round(r.queueCpuUsPerSale)} µs CPU a sale); drained in ${round(r.drainS, 3)} s (${Math.round(r.sales / r.drainS)}/s, ${Math.round(r.drainCpuUsPerSale)} µs CPU a sale), first settle after ${round(r.firstSettleMs)} ms; ${r.errors.length} error(s)`,
    );
    console.log(`    where the time went (ms, summed over the drain): ${Object.entries(r.profile).map(([k, v]) => `${k} ${round(v, 1)}`).join(', ')}`);
  }
  for (const e of errors.slice(0, 20)) console.log(`  ERROR: ${e}`);
  console.log(
    JSON.stringify({
      scenario: 'offline-drain',
      sales,
      drain_s: round(med.drainS, 3),
      rate_per_s: Math.round(sales / med.drainS),
      queue_s: round(med.queueS, 2),
      queue_cpu_us_per_sale: Math.round(med.queueCpuUsPerSale),
      drain_cpu_us_per_sale: Math.round(med.drainCpuUsPerSale),
      runs_drain_s: results.map((r) => round(r.drainS, 3)),
      terminal_crypto: crypto,
      ...(window ? { sync_window: window } : {}),
      errors: errors.length,
      target_s: TARGET_S,
      target_queue_s: TARGET_QUEUE_S,
      met: errors.length === 0 && med.drainS <= TARGET_S && med.queueS <= TARGET_QUEUE_S,
    }),
  );
}

const usOf = (c: NodeJS.CpuUsage) => c.user + c.system;

export async function waitFor(what: string, ok: () => boolean, timeoutMs: number, everyMs = 10): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!ok()) {
    if (performance.now() > until) throw new Error(`bench: ${what} not reached after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A bookshop, its terminal, and `cards` cards with `cents` of leisure books each (plus one more, the
 * warm card, for an online sale). Shared by the benchmarks that run one terminal against a real gateway.
 */
export async function seedBookshop(g: Gateway, terminalSeed: Uint8Array, o: { terminalId: string; cards: number; cents: number }): Promise<{ cards: string[]; warmCard: string }> {
  const l = g.ledger;
  const campaign = demoCampaign(Date.now());
  const cards: string[] = [];
  const number = (i: number) => cardNumberFrom(`7${String(i).padStart(14, '0')}`);
  await l.atomically(async () => {
    await l.addCampaign(campaign);
    await l.addPartner({ id: 'P-BENCH', name: 'Librairie du banc d’essai', type: 'bookshop', conventionFrom: '2022-06-01', conventionTo: '2099-12-31' });
    await l.addTerminal({ id: o.terminalId, partnerId: 'P-BENCH', publicKey: publicKeyFromSeed(terminalSeed) });
    for (let i = 0; i <= o.cards; i++) {
      await l.issueCard({ number: number(i), holder: `Bench ${i}`, pinHash: null });
      await l.load({ cardNumber: number(i), benefit: 'LEISURE_BOOKS', campaign: campaign.id, amount: o.cents, at: Date.now() });
      if (i < o.cards) cards.push(number(i));
    }
  });
  return { cards, warmCard: number(o.cards) };
}

/** Time every call of `obj[name]` into `profile[label]` (and count it); returns the undo. */
function timeMethod<T extends object>(obj: T, name: keyof T & string, label: string, profile: Record<string, number>, counts?: Record<string, number>): () => void {
  profile[label] = 0;
  if (counts) counts[label] = 0;
  return timeCalls(obj, name, (ms) => {
    profile[label]! += ms;
    if (counts) counts[label]!++;
  });
}

async function drainOnce(sales: number, crypto: 'tweetnacl' | 'node', window: number | undefined): Promise<DrainRun> {
  const dir = scratchDir('passerelle-drain-');
  const config = loadGatewayConfig(undefined, {
    dataDir: dir.path,
    seedDemo: false,
    mqtt: { port: 0 },
    http: { port: 0 },
    log: { level: 'silent' },
    offline: { limits: LIMITS },
    // The whole backlog of one terminal arrives at once: its quota of new records holds it.
    limits: { terminalRecords: { points: 2 * sales + 1000, durationS: 600 } },
  });
  const gateway = await startGateway(config, { log: silentLogger });
  const terminalSeed = randomBytes(32);
  let sim: SimTerminal | undefined;
  const errors: string[] = [];
  const restore: (() => void)[] = [];
  try {
    const { cards, warmCard } = await seedBookshop(gateway, terminalSeed, { terminalId: TERMINAL_ID, cards: CARDS, cents: 3500 });
    sim = SimTerminal.start({
      terminalId: TERMINAL_ID,
      seed: terminalSeed,
      gatewayUrl: gateway.mqttUrl,
      gateway: gateway.keys,
      cards: new CardBureau(gateway.keys.issuer, { register: simulatedBureauRegistry(gateway.ledger) }),
      outboxFile: join(dir.path, 'outbox.sqlite'),
      benefits: ['LEISURE_BOOKS'],
      crypto,
      config: { maxPending: 100_000, backoffBaseMs: 20, backoffMaxMs: 200, ...(window ? { syncWindow: window } : {}) },
      log: silentLogger,
    });
    await sim.waitUntilUp();
    const rt = sim.runtime;
    const outbox = sim.terminal.outbox;
    await waitFor('the offline policy and a hotlist', () => outbox.policy() !== undefined && outbox.hotlistState().issuedAt > 0, 10_000);

    // One online sale: its signed reply gives the terminal the gateway's time.
    const warm = rt.sale('LEISURE_BOOKS', 100);
    sim.bindings.nfc.tap({ cardNumber: warmCard });
    const warmOutcome = await warm;
    if (warmOutcome.kind !== 'approved') throw new Error(`offline-drain: the online warm-up sale was ${warmOutcome.kind}`);
    await waitFor("the gateway's time", () => outbox.gatewayTime() !== undefined && outbox.stats().pending === 0, 10_000);

    // The outage: every sale is judged by the signed policy and committed as an offline sale.
    // Cutting the simulated link tells the runtime the link is down, as a real outage does.
    sim.link.cut = true;
    const txnIds: string[] = [];
    const queueCpu = process.cpuUsage();
    const queueStart = performance.now();
    const profileDir = process.env.PASSERELLE_BENCH_DRAIN_PROFILE;
    let queueSession: Session | undefined;
    for (let i = 0; i < sales; i++) {
      if (profileDir && i === sales - QUEUE_TAIL_PROFILED) {
        queueSession = new Session();
        queueSession.connect();
        await queueSession.post('Profiler.enable');
        await queueSession.post('Profiler.start');
      }
      const sale = rt.sale('LEISURE_BOOKS', 10 + (i % 50));
      sim.bindings.nfc.tap({ cardNumber: cards[i % cards.length]! });
      const outcome = await sale;
      if (outcome.kind !== 'offline') throw new Error(`offline-drain: sale ${i + 1} was ${outcome.kind}${'code' in outcome ? ` (${outcome.code})` : ''}, expected offline`);
      txnIds.push(outcome.txnId);
    }
    const queueS = (performance.now() - queueStart) / 1000;
    const queueCpuUs = usOf(process.cpuUsage(queueCpu));
    if (queueSession) {
      const { profile: cpuProfile } = await queueSession.post('Profiler.stop');
      const file = join(profileDir!, `offline-queue-tail-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(cpuProfile));
      queueSession.disconnect();
      process.stderr.write(`bench: CPU profile of the last ${QUEUE_TAIL_PROFILED} sales queued written to ${file}\n`);
    }
    const before = outbox.stats();
    if (before.pending !== sales || before.offlinePending !== sales) throw new Error(`offline-drain: ${before.pending} pending (${before.offlinePending} offline) after ${sales} sales`);

    // Instrument the drain: terminal settle transactions, gateway ledger commits.
    const profile: Record<string, number> = {};
    const counts: Record<string, number> = {};
    timeMethod(outbox, 'atomically', 'terminal outbox transactions (settle)', profile, counts);
    timeMethod(outbox, 'pending', 'terminal outbox.pending (window reads)', profile, counts);
    timeMethod(gateway.ledger, 'commitDebits', 'gateway ledger commits', profile, counts);
    let settled = 0;
    let firstSettle = 0;
    let lastSettle = 0;
    rt.onSettled = () => {
      lastSettle = performance.now();
      if (settled++ === 0) firstSettle = lastSettle;
    };
    // Signature checks: the terminal's (one per reply batch root) and the gateway's synchronous ones. The
    // terminal's instance first, so that its calls are not counted again by the prototype's wrapper.
    const patch = <T extends object>(obj: T, name: keyof T & string, label: string) => restore.push(timeMethod(obj, name, label, profile, counts));
    patch(sim.keys.verifier, 'verify', `terminal ${crypto} verify (reply batch roots)`);
    patch(NodeVerifier.prototype, 'verify', 'gateway node:crypto verify');
    const session = profileDir ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const cpuStart = process.cpuUsage();
    const statsBefore = { ...gateway.pipeline.stats };

    // The link returns: time until nothing is pending.
    const drainStart = performance.now();
    sim.link.cut = false;
    await waitFor('an empty outbox', () => settled >= sales && outbox.stats().pending === 0, 120_000, 2);
    const drainEnd = performance.now();
    const cpu = process.cpuUsage(cpuStart);
    for (const r of restore.splice(0)) r();
    if (session) {
      const { profile: cpuProfile } = await session.post('Profiler.stop');
      const file = join(profileDir!, `offline-drain-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(cpuProfile));
      session.disconnect();
      process.stderr.write(`bench: CPU profile of the drain written to ${file}\n`);
    }
    const drainS = (drainEnd - drainStart) / 1000;
    profile['process CPU (user+system)'] = (cpu.user + cpu.system) / 1000;
    profile['wall'] = drainEnd - drainStart;
    const s = gateway.pipeline.stats;
    profile['gateway batches'] = s.batches - statsBefore.batches;
    for (const [k, n] of Object.entries(counts)) profile[`${k}: calls`] = n;
    profile['requests received'] = s.received - statsBefore.received;
    profile['repeats'] = s.repeats - statsBefore.repeats;

    // The ledger holds exactly these sales, offline and approved, once each, with an unbroken chain.
    for (const id of txnIds) {
      const r = await gateway.ledger.request(id);
      if (!r) errors.push(`${id} not in the ledger`);
      else if (r.mode !== 'offline' || r.status !== 'approved') errors.push(`${id}: ${r.mode} ${r.status} ${r.code ?? ''}`);
    }
    for (const id of txnIds) {
      const e = outbox.entry(id);
      if (e?.kind !== 'sale' || e.state !== 'replied' || e.status !== 'approved') errors.push(`${id}: terminal holds ${e?.state} ${e?.kind === 'sale' ? e.status : e?.kind}`);
    }
    const sync = await gateway.ledger.terminalSync(TERMINAL_ID);
    if (sync.maxSeq !== sales + 1 || sync.nextSeq !== sales + 2 || sync.missing.length > 0 || sync.chainBreaks > 0) {
      errors.push(`terminal sync: ${JSON.stringify(sync)}`);
    }
    const offlineRequests = (await gateway.ledger.counts()).requests - 1;
    if (offlineRequests !== sales) errors.push(`ledger holds ${offlineRequests} requests besides the online one, expected ${sales}`);
    errors.push(...(await gateway.ledger.audit()).map((a) => `audit: ${a}`));
    return { sales, queueS, drainS, queueCpuUsPerSale: queueCpuUs / sales, drainCpuUsPerSale: usOf(cpu) / sales, firstSettleMs: firstSettle - drainStart, errors, profile: { ...profile, 'last settle to empty check (ms)': drainEnd - lastSettle } };
  } finally {
    for (const r of restore.splice(0)) r();
    await sim?.close();
    await gateway.close();
    dir.remove();
  }
}

