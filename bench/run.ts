import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../common/log.ts';
import { startGateway, type Gateway } from '../gateway/server.ts';
import { loadCardsFile } from '../gateway/bulk/load-file.ts';
import { defaultWindows } from '../gateway/campaigns.ts';
import { SqliteLedger } from '../gateway/ledger/sqlite.ts';
import { CAMPAIGN as CSV_CAMPAIGN, writeCardsCsv } from './make-cards-csv.ts';
import { fromB64url, publicKeyFromSeed } from '../protocol/crypto.ts';
import { startBareGateway } from './bare.ts';
import { growLedger, type GrownLedger } from './grown-ledger.ts';
import { scratchDir } from './scratch.ts';
import { outboxCommitBench } from './outbox-commit.ts';
import { offlineDrainBench } from './offline-drain.ts';
import { tapToApprovalBench } from './tap-to-approval.ts';
import { tillToResultBench } from './till-to-result.ts';
import type { ChildProcess } from 'node:child_process';
import type { LoadgenCommand, OpenResult } from './loadgen.ts';
import { ask, benchGatewayConfig, CARD_CENTS, closedRun, forkLoadgen, FULL, median, QUICK, round, seed, TERMINALS, type ClosedRun, type Phases } from './closed-loop.ts';
import { onlineDebitRegionBench } from './region.ts';

/**
 * `npm run bench` runs every scenario below, each printing a human summary and one JSON line
 * (`{"scenario":…}`); PASSERELLE_BENCH_SCENARIOS=a,b runs only those (see `selectedScenarios`):
 *  - "online-debit" (below), "bulk-load" (bulkLoadBench);
 *  - "outbox-commit": the terminal's durable commit (outbox-commit.ts);
 *  - "offline-drain": 10,000 offline sales of one terminal settled after its link returns (offline-drain.ts);
 *  - "tap-to-approval": a card tap to its approved outcome through the card application, the outbox, the
 *    broker and the gateway (tap-to-approval.ts);
 *  - "till-to-result": a Caisse-AP till's request to its answer through the terminal service and its till
 *    link, beside the same sale started directly (till-to-result.ts).
 *
 * Scenario "online-debit": debits through the real path. Simulated terminals (a child
 * process, signing with node:crypto and checking every reply signature) → embedded aedes broker → gateway
 * (signature check, rules, SQLite group commit with synchronous=FULL, Merkle-signed replies).
 *
 *  - max_debits_per_s: closed loop, 100 terminals each with one request in flight; the median of three
 *    runs, because this machine is shared and noisy;
 *  - limit_per_s and ratio: the bare pipeline (bench/bare.ts: signed binary frames, the same broker, one
 *    verification, SQLite group commit, unsigned reply) in the same run, its closed-loop runs alternating
 *    with ours; ratio = ours / bare, the figure that compares across weeks of a machine whose speed swings;
 *  - gateway_cpu_us, terminals_cpu_us (and bare_…): CPU time per debit of each process in the median run;
 *  - p50/p99/p999_ms: open loop offered at half of this run's closed-loop median (offered_per_s), latency
 *    from each request's scheduled send time to its verified reply (so a stall cannot hide by slowing the
 *    offer down); bare_p50/p99/p999_ms: the bare pipeline offered the same rate, what this machine allows.
 *  - grown_…: the closed loop again on a grown ledger (370,000 youths and 3.4 million past sales, 5 million
 *    transfers with the loads; bench/grown-ledger.ts), alternating with runs on the small one; grown_ratio =
 *    grown / small, the cost of a ledger at the end of a school year.
 *
 * Both processes share this machine's cores, so the summary also gives the CPU time each spends per debit.
 * A human summary, then one JSON object as the last line.
 *
 * PASSERELLE_BENCH_PROFILE=<dir> writes a V8 CPU profile of the load generator there (run the parent with
 * `node --cpu-prof` for the gateway's).
 */

/** Cards in the bulk-load scenario: the Region's whole population (domain.md: 370,000 beneficiaries). */
const BULK_CARDS_FULL = 370_000;
const BULK_CARDS_QUICK = 20_000;

/** Every scenario, in the order `npm run bench` runs them. */
const SCENARIOS: Record<string, (o: { quick?: boolean }) => Promise<void>> = {
  'online-debit': onlineDebitBench,
  'online-debit-region': onlineDebitRegionBench,
  'bulk-load': (o) => bulkLoadBench(o.quick ? BULK_CARDS_QUICK : BULK_CARDS_FULL),
  'outbox-commit': outboxCommitBench,
  'offline-drain': offlineDrainBench,
  'tap-to-approval': tapToApprovalBench,
  'till-to-result': tillToResultBench,
};

/**
 * PASSERELLE_BENCH_SCENARIOS=outbox-commit,offline-drain runs only those scenarios (comma-separated,
 * in the order given); unset, all of them run. `o.scenario` (same syntax), when given, wins over it.
 */
function selectedScenarios(o: { scenario?: string }): string[] {
  const env = (o.scenario ?? process.env.PASSERELLE_BENCH_SCENARIOS)?.trim();
  if (!env) return Object.keys(SCENARIOS);
  const names = env.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !(n in SCENARIOS));
  if (unknown.length > 0) throw new Error(`unknown bench scenario(s) ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`);
  return names;
}

export async function runBench(o: { quick?: boolean; scenario?: string }): Promise<void> {
  for (const name of selectedScenarios(o)) await SCENARIOS[name]!(o);
}

/**
 * The start-of-year load: a generated CSV of `cards` youths with their 2022/2023 benefits, read, checked
 * and loaded in one transaction into a new SQLite ledger file (synchronous=FULL, as in production).
 */
async function bulkLoadBench(cards: number): Promise<void> {
  const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-bulk-'));
  try {
    const file = join(dir, 'cards.csv');
    progress(`writing a load file of ${cards} cards`);
    const { bytes } = await writeCardsCsv(file, cards);
    const ledger = new SqliteLedger({ file: join(dir, 'ledger.sqlite') });
    try {
      await ledger.addCampaign({ id: CSV_CAMPAIGN, windows: defaultWindows(CSV_CAMPAIGN) });
      progress('bulk load');
      const started = performance.now();
      const r = await loadCardsFile(ledger, file, { at: Date.parse('2022-09-01T08:00:00+02:00') });
      const seconds = (performance.now() - started) / 1000;
      const audit = await ledger.audit();
      console.log(`bulk-load benchmark: ${r.cards} cards, ${r.loads} benefits, ${(bytes / 1e6).toFixed(1)} MB of CSV`);
      console.log(`  ${seconds.toFixed(1)} s in all: read and checked in ${(r.readMs / 1000).toFixed(1)} s, loaded in ${(r.loadMs / 1000).toFixed(1)} s; invariants ${audit.length === 0 ? 'hold' : 'BROKEN'}`);
      console.log(JSON.stringify({ scenario: 'bulk-load', cards: r.cards, loads: r.loads, seconds: round(seconds), errors: audit.length }));
    } finally {
      await ledger.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function onlineDebitBench(o: { quick?: boolean }): Promise<void> {
  const phases = o.quick ? QUICK : FULL;
  const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);
  // Both ledgers on a real disk (not tmpfs), where a synchronous=FULL commit costs what it costs.
  const dir = scratchDir('passerelle-bench-');
  // Grown first, before any gateway runs: building it holds this process's event loop for minutes, which
  // the terminals' keep-alives would not survive.
  progress(`growing a ledger of ${phases.grown.cards} cards and ${phases.grown.pastDebits} past sales`);
  const grownDir = join(dir.path, 'grown');
  mkdirSync(grownDir);
  const built = await growLedger(dir.path, join(grownDir, 'ledger.sqlite'), { ...phases.grown, sampleSize: phases.cards });
  const gateway = await startGateway(benchGatewayConfig(join(dir.path, 'gateway')), { log: silentLogger });
  progress(`seeding ${phases.cards} cards and ${TERMINALS} terminals`);
  const setup = await seed(gateway, phases.cards);
  const bare = await startBareGateway({
    dir: dir.path,
    cards: phases.cards,
    cents: CARD_CENTS,
    terminals: new Map(setup.terminals.map((t) => [t.id, publicKeyFromSeed(fromB64url(t.seed, 32, 'seed'))])),
  });
  const ours = forkLoadgen(process.env.PASSERELLE_BENCH_PROFILE);
  const bareGen = forkLoadgen();
  try {
    await ask(ours, { kind: 'setup', setup }, 'ready');
    await ask(bareGen, { kind: 'setup', setup: { ...setup, pipeline: 'bare', url: bare.url } }, 'ready');
    // Ours and the bare pipeline alternately, so that a swing of the machine's speed touches both alike.
    const runs: ClosedRun[] = [];
    const bareRuns: ClosedRun[] = [];
    for (let i = 0; i < phases.closedRuns; i++) {
      progress(`closed loop, run ${i + 1} of ${phases.closedRuns}: the bare pipeline, then ours`);
      bareRuns.push(await closedRun(bareGen, phases));
      runs.push(await closedRun(ours, phases));
    }
    const closed = median(runs, (r) => r.perS);
    const limit = median(bareRuns, (r) => r.perS);
    const afterClosed = { ...gateway.pipeline.stats };
    // Offered at half of what this run's closed loop reached: the latency of a gateway with room to spare.
    const offered = Math.max(1, Math.round(Math.round(closed.perS) / 2));
    progress(`open loop at ${offered}/s`);
    const open = (await ask(ours, { kind: 'open', ratePerS: offered, ...phases.open }, 'open')) as OpenResult;
    // The bare pipeline offered the same rate: what the machine itself allows (its disk, its scheduler,
    // the load generator's own event loop) at that rate, against which our p99 is read.
    progress(`open loop at ${offered}/s: the bare pipeline`);
    const bareOpen = (await ask(bareGen, { kind: 'open', ratePerS: offered, ...phases.open }, 'open')) as OpenResult;
    progress('auditing the ledgers');
    // The audit does not look at the terminals' hash chains: every bench terminal's must be whole.
    const audit = await gateway.ledger.audit();
    for (const { id } of setup.terminals) {
      const sync = await gateway.ledger.terminalSync(id);
      if (sync.chainBreaks > 0 || sync.missing.length > 0) audit.push(`${id}: ${sync.chainBreaks} chain break(s), missing ${sync.missing.join(', ') || 'none'}`);
    }
    audit.push(...bare.audit());
    const ratio = closed.perS / limit.perS;
    await summary(phases, { runs, closed, bareRuns, limit, ratio }, open, bareOpen, offered, afterClosed, gateway, audit);
    const grown = await grownRuns(phases, grownDir, built, ours);
    const errors = [...runs, ...bareRuns, ...grown.runs, ...grown.smallRuns].reduce((n, r) => n + r.result.errors, 0) + open.errors + bareOpen.errors + audit.length + grown.audit.length;
    const result = {
      scenario: 'online-debit',
      max_debits_per_s: Math.round(closed.perS),
      limit_per_s: Math.round(limit.perS),
      ratio: round(ratio),
      gateway_cpu_us: Math.round(closed.gatewayCpuUsPerDebit),
      terminals_cpu_us: Math.round(closed.terminalsCpuUsPerDebit),
      bare_gateway_cpu_us: Math.round(limit.gatewayCpuUsPerDebit),
      bare_terminals_cpu_us: Math.round(limit.terminalsCpuUsPerDebit),
      // Every debit of every run should pass: a decline means the picker or the seeding is wrong.
      declined: [...runs, ...grown.runs, ...grown.smallRuns].reduce((n, r) => n + r.result.declined, 0) + open.declined,
      offered_per_s: offered,
      p50_ms: round(open.p50Ms),
      p99_ms: round(open.p99Ms),
      p999_ms: round(open.p999Ms),
      bare_p50_ms: round(bareOpen.p50Ms),
      bare_p99_ms: round(bareOpen.p99Ms),
      bare_p999_ms: round(bareOpen.p999Ms),
      grown_transfers: grown.built.transfers,
      grown_ledger_mb: Math.round(grown.built.bytes / 1e6),
      grown_max_debits_per_s: Math.round(grown.run.perS),
      grown_gateway_cpu_us: Math.round(grown.run.gatewayCpuUsPerDebit),
      grown_ratio: round(grown.run.perS / grown.small.perS),
      errors,
    };
    console.log(JSON.stringify(result));
  } finally {
    for (const child of [ours, bareGen]) child.send({ kind: 'exit' } satisfies LoadgenCommand);
    await Promise.all([ours, bareGen].map((child) => new Promise((r) => child.once('exit', r))));
    await gateway.close();
    await bare.close();
    dir.remove();
  }
}

interface Grown {
  readonly built: GrownLedger;
  readonly runs: readonly ClosedRun[];
  readonly run: ClosedRun;
  readonly smallRuns: readonly ClosedRun[];
  readonly small: ClosedRun;
  readonly audit: string[];
}

/**
 * The closed loop again on a grown ledger (bench/grown-ledger.ts: the Region's 370,000 youths and a school
 * year of past sales), its runs alternating with more runs on the small ledger, whose gateway and load
 * generator are still up: the ratio of the two medians is the cost of a grown ledger, measured in one hour.
 */
async function grownRuns(phases: Phases, dataDir: string, built: GrownLedger, small: ChildProcess): Promise<Grown> {
  const gateway = await startGateway(benchGatewayConfig(dataDir), { log: silentLogger });
  const child = forkLoadgen();
  try {
    await ask(child, { kind: 'setup', setup: await seed(gateway, phases.cards, built.sample) }, 'ready');
    const runs: ClosedRun[] = [];
    const smallRuns: ClosedRun[] = [];
    for (let i = 0; i < phases.closedRuns; i++) {
      process.stderr.write(`bench: closed loop, run ${i + 1} of ${phases.closedRuns}: the small ledger, then the grown one\n`);
      smallRuns.push(await closedRun(small, phases));
      runs.push(await closedRun(child, phases));
    }
    const audit = (await gateway.ledger.audit()).map((a) => `grown ledger: ${a}`);
    const run = median(runs, (r) => r.perS);
    const smallRun = median(smallRuns, (r) => r.perS);
    console.log(
      `  grown ledger (${built.cards} cards, ${built.transfers} transfers, ${Math.round(built.bytes / 1e6)} MB, built in ${built.seconds.toFixed(0)} s): ${runs.map((r) => Math.round(r.perS)).join(', ')} debits/s, median ${Math.round(run.perS)}, gateway CPU ${run.gatewayCpuUsPerDebit.toFixed(0)} µs per debit; small ledger alongside ${Math.round(smallRun.perS)}/s: ratio ${(run.perS / smallRun.perS).toFixed(2)}; invariants ${audit.length === 0 ? 'hold' : `BROKEN: ${audit.join('; ')}`}`,
    );
    return { built, runs, run, smallRuns, small: smallRun, audit };
  } finally {
    child.send({ kind: 'exit' } satisfies LoadgenCommand);
    await new Promise((r) => child.once('exit', r));
    await gateway.close();
  }
}

interface Closed {
  readonly runs: readonly ClosedRun[];
  readonly closed: ClosedRun;
  readonly bareRuns: readonly ClosedRun[];
  readonly limit: ClosedRun;
  readonly ratio: number;
}

async function summary(p: Phases, c: Closed, o: OpenResult, bo: OpenResult, offered: number, afterClosed: Gateway['pipeline']['stats'], g: Gateway, audit: string[]): Promise<void> {
  const s = g.pipeline.stats;
  const batch = (debits: number, batches: number) => (batches ? (debits / batches).toFixed(1) : '0');
  const cpu = (r: ClosedRun) => `gateway ${r.gatewayCpuUsPerDebit.toFixed(0)} µs, terminals ${r.terminalsCpuUsPerDebit.toFixed(0)} µs`;
  const perS = (rs: readonly ClosedRun[]) => rs.map((r) => Math.round(r.perS)).join(', ');
  console.log(`online-debit benchmark (${availableParallelism()} cores shared by the gateway and broker in this process and ${TERMINALS} terminals in a child process)`);
  console.log(`  closed loop, ${TERMINALS} terminals, ${p.closedRuns} run(s) of ${p.closed.measureMs / 1000} s after ${p.closed.warmupMs / 1000} s warm-up, alternating with the bare pipeline:`);
  console.log(`    ours: ${perS(c.runs)} debits/s; median ${Math.round(c.closed.perS)} debits/s; CPU per debit (median run): ${cpu(c.closed)}; mean batch ${batch(afterClosed.approved + afterClosed.declined + afterClosed.repeats, afterClosed.batches)}`);
  console.log(`    bare pipeline (bench/bare.ts): ${perS(c.bareRuns)} debits/s; median ${Math.round(c.limit.perS)} debits/s; CPU per debit: ${cpu(c.limit)}`);
  console.log(`    ratio ours / bare: ${c.ratio.toFixed(2)}; declines in our runs ${c.runs.reduce((n, r) => n + r.result.declined, 0)}`);
  console.log(`  open loop, ${offered}/s offered (half the closed-loop median), ${p.open.measureMs / 1000} s after ${p.open.warmupMs / 1000} s warm-up (latency from scheduled send to verified reply):`);
  console.log(
    `    p50 ${round(o.p50Ms)} ms, p99 ${round(o.p99Ms)} ms, p99.9 ${round(o.p999Ms)} ms, max ${round(o.maxMs)} ms; ${o.measured} measured; mean batch ${batch(s.approved + s.declined - afterClosed.approved - afterClosed.declined, s.batches - afterClosed.batches)}; errors ${o.errors}`,
  );
  console.log(`    bare pipeline at the same rate: p50 ${round(bo.p50Ms)} ms, p99 ${round(bo.p99Ms)} ms, p99.9 ${round(bo.p999Ms)} ms, max ${round(bo.maxMs)} ms; ${bo.measured} measured; errors ${bo.errors}`);
  console.log(`  ledger: ${(await g.ledger.counts()).transfers} transfers, invariants ${audit.length === 0 ? 'hold' : `BROKEN: ${audit.join('; ')}`}; gateway busy answers ${s.rejected}`);
}
