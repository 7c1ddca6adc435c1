import type { ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../common/log.ts';
import { startGateway } from '../gateway/server.ts';
import { brokerPassword } from '../protocol/connect-token.ts';
import { fromB64url, nodeSigner } from '../protocol/crypto.ts';
import { startChild, TestMosquitto, TestPostgres } from '../simulators/engines.ts';
import { ask, benchGatewayConfig, benchGatewayOverrides, closedRun, forkLoadgen, FULL, median, QUICK, round, seed, TERMINALS, type ClosedRun } from './closed-loop.ts';
import type { LoadgenCommand } from './loadgen.ts';
import { scratchDir } from './scratch.ts';

/**
 * `online-debit-region`: the online-debit closed loop (100 terminals, one request in flight each) on the
 * engines the Region runs, each figure beside the embedded SQLite gateway's in the same run:
 *
 *  - `sqlite`: one gateway, its SQLite ledger and its own broker (the online-debit scenario's setup);
 *  - `pg1`: one gateway on PostgreSQL 15 (fsync on: a commit is on disk before the reply, as with SQLite's
 *    synchronous=FULL) and Mosquitto 2 (dynamic security, terminals logging in with their key password);
 *  - `pg2`: the same with a second gateway process in the shared subscription group.
 *
 * Runs alternate (sqlite, pg1, pg2, then again), so a swing of this shared machine's speed touches all
 * alike; the medians are compared as ratios. CPU per debit: the gateway(s), and the engines (PostgreSQL's
 * processes and Mosquitto) that the embedded setup has inside its one process. Everything shares this
 * machine's cores with the load generator.
 */
const ADMIN = { user: 'passerelle-gateway', password: 'bench-broker-secret' };

export async function onlineDebitRegionBench(o: { quick?: boolean }): Promise<void> {
  const phases = o.quick ? QUICK : FULL;
  const cardCount = o.quick ? 1000 : 5000;
  const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);
  const dir = scratchDir('passerelle-bench-region-');
  progress('starting PostgreSQL (fsync on) and Mosquitto');
  const [pg, mosquitto] = await Promise.all([TestPostgres.start({ durable: true }), TestMosquitto.start({ dynsec: ADMIN, config: ['max_inflight_messages 1000', 'max_queued_messages 10000'] })]);
  const url = await pg.createDatabase('bench');
  const region = (clientId: string) => ({ ledger: { kind: 'postgres', url, maxConnections: 8 }, mqtt: { external: { url: mosquitto.url, username: ADMIN.user, password: ADMIN.password, clientId } } });
  const embedded = await startGateway(benchGatewayConfig(join(dir.path, 'sqlite')), { log: silentLogger });
  const regionDir = join(dir.path, 'region');
  const regional = await startGateway(benchGatewayConfig(regionDir, region('bench-gw-1')), { log: silentLogger });
  const loadgens: ChildProcess[] = [];
  let second: ChildProcess | undefined;
  try {
    progress(`seeding ${cardCount} cards and ${TERMINALS} terminals in each ledger`);
    const sqliteSetup = await seed(embedded, cardCount);
    const regionSetup = await seed(regional, cardCount);
    for (const t of regionSetup.terminals) await regional.provisionBroker!(t.id, brokerPassword(nodeSigner(fromB64url(t.seed, 32, 'seed'))));
    const sqliteGen = forkLoadgen();
    const regionGen = forkLoadgen();
    loadgens.push(sqliteGen, regionGen);
    await ask(sqliteGen, { kind: 'setup', setup: sqliteSetup }, 'ready');
    await ask(regionGen, { kind: 'setup', setup: { ...regionSetup, url: mosquitto.url, auth: 'key' } }, 'ready');
    const engines = () => [pg.pid, mosquitto.child.pid!];
    const runs = { sqlite: [] as ClosedRun[], pg1: [] as ClosedRun[], pg2: [] as ClosedRun[] };
    for (let i = 0; i < phases.closedRuns; i++) {
      progress(`round ${i + 1} of ${phases.closedRuns}: embedded SQLite, then PostgreSQL and Mosquitto with one gateway, then two`);
      runs.sqlite.push(await closedRun(sqliteGen, phases));
      runs.pg1.push(await closedRun(regionGen, phases, engines));
      second = await startSecondGateway({ ...benchGatewayOverrides(regionDir), ...region('bench-gw-2') });
      const pid = second.pid!;
      const two = await closedRun(regionGen, phases, () => [...engines(), pid]);
      await stop(second);
      second = undefined;
      runs.pg2.push(two);
    }
    progress('auditing the ledgers');
    const audit = [...(await embedded.ledger.audit()).map((a) => `sqlite: ${a}`), ...(await regional.ledger.audit()).map((a) => `postgres: ${a}`)];
    for (const { id } of regionSetup.terminals) {
      const sync = await regional.ledger.terminalSync(id);
      if (sync.chainBreaks > 0 || sync.missing.length > 0) audit.push(`postgres: ${id}: ${sync.chainBreaks} chain break(s), missing ${sync.missing.join(', ') || 'none'}`);
    }
    const m = { sqlite: median(runs.sqlite, (r) => r.perS), pg1: median(runs.pg1, (r) => r.perS), pg2: median(runs.pg2, (r) => r.perS) };
    const perS = (rs: readonly ClosedRun[]) => rs.map((r) => Math.round(r.perS)).join(', ');
    const cpu = (r: ClosedRun) => `gateway ${r.gatewayCpuUsPerDebit.toFixed(0)} µs${r.otherCpuUsPerDebit === undefined ? '' : `, engines${r === m.pg2 ? ' and the second gateway' : ''} ${r.otherCpuUsPerDebit.toFixed(0)} µs`}, terminals ${r.terminalsCpuUsPerDebit.toFixed(0)} µs`;
    console.log(`online-debit-region benchmark (${availableParallelism()} cores shared by the gateways, PostgreSQL, Mosquitto and ${TERMINALS} terminals in a child process)`);
    console.log(`  closed loop, ${phases.closedRuns} round(s) of ${phases.closed.measureMs / 1000} s runs after ${phases.closed.warmupMs / 1000} s warm-up, alternating:`);
    console.log(`    embedded SQLite, one gateway: ${perS(runs.sqlite)} debits/s; median ${Math.round(m.sqlite.perS)}; CPU per debit ${cpu(m.sqlite)}`);
    console.log(`    PostgreSQL + Mosquitto, one gateway: ${perS(runs.pg1)} debits/s; median ${Math.round(m.pg1.perS)}; CPU per debit ${cpu(m.pg1)}; ratio to SQLite ${(m.pg1.perS / m.sqlite.perS).toFixed(2)}`);
    console.log(`    PostgreSQL + Mosquitto, two gateways: ${perS(runs.pg2)} debits/s; median ${Math.round(m.pg2.perS)}; CPU per debit ${cpu(m.pg2)}; ratio to SQLite ${(m.pg2.perS / m.sqlite.perS).toFixed(2)}, to one gateway ${(m.pg2.perS / m.pg1.perS).toFixed(2)}`);
    console.log(`  invariants ${audit.length === 0 ? 'hold' : `BROKEN: ${audit.join('; ')}`}`);
    const all = [...runs.sqlite, ...runs.pg1, ...runs.pg2];
    console.log(
      JSON.stringify({
        scenario: 'online-debit-region',
        sqlite_per_s: Math.round(m.sqlite.perS),
        pg1_per_s: Math.round(m.pg1.perS),
        pg2_per_s: Math.round(m.pg2.perS),
        pg1_ratio: round(m.pg1.perS / m.sqlite.perS),
        pg2_ratio: round(m.pg2.perS / m.sqlite.perS),
        two_to_one: round(m.pg2.perS / m.pg1.perS),
        sqlite_gateway_cpu_us: Math.round(m.sqlite.gatewayCpuUsPerDebit),
        pg1_gateway_cpu_us: Math.round(m.pg1.gatewayCpuUsPerDebit),
        pg1_engines_cpu_us: Math.round(m.pg1.otherCpuUsPerDebit ?? 0),
        pg2_gateway_cpu_us: Math.round(m.pg2.gatewayCpuUsPerDebit),
        pg2_engines_and_second_gateway_cpu_us: Math.round(m.pg2.otherCpuUsPerDebit ?? 0),
        declined: all.reduce((n, r) => n + r.result.declined, 0),
        errors: all.reduce((n, r) => n + r.result.errors, 0) + audit.length,
      }),
    );
  } finally {
    if (second) await stop(second);
    for (const child of loadgens) child.send({ kind: 'exit' } satisfies LoadgenCommand);
    await Promise.all(loadgens.map((child) => new Promise((r) => child.once('exit', r))));
    await embedded.close();
    await regional.close();
    await mosquitto.stop();
    await pg.stop();
    dir.remove();
  }
}

function startSecondGateway(overrides: Record<string, unknown>): Promise<ChildProcess> {
  return startChild(fileURLToPath(new URL('./gateway-child.ts', import.meta.url)), { PASSERELLE_BENCH_GATEWAY: JSON.stringify(overrides) });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}
