import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { personaliseCard, type SimPassCard } from '../simulators/card.ts';
import { testChipSeed } from './helpers/chips.ts';
import { VpcdCard } from '../simulators/vpcd-card.ts';
import { enrolTerminal } from '../terminal/enrol.ts';
import { switchLink } from '../terminal/update.ts';
import { startPcscd, type Pcscd } from './helpers/pcscd.ts';
import { holder, World } from './helpers/world.ts';

/**
 * `passerelle terminal update` on a terminal run as systemd runs it: a supervisor that starts
 * `<root>/current/bin/passerelle.mjs terminal start` again whenever it exits, releases side by side under
 * `<root>/releases/<version>` (copies of this project, each with its own version). A queue that does not
 * drain blocks the update; a new version that never comes up is rolled back; a good one takes over; the
 * queue survives each, and its sales reach the ledger once.
 */

const PROJECT = join(dirname(new URL(import.meta.url).pathname), '..');
const TID = 'T-LIB-LYON-40';
const base = mkdtempSync(join(tmpdir(), 'passerelle-update-'));
const root = join(base, 'opt');
const terminalDir = join(base, 'terminal');
const world = new World();
let pcscd: Pcscd;
let card: SimPassCard;
let supervisor: Supervisor;
const lea = holder('Léa Martin');

/** A release: this project's files (not its data or history) with its own version, node_modules shared. */
function release(version: string, broken = false): string {
  const dest = join(base, 'packages', version);
  if (existsSync(dest)) return dest;
  cpSync(PROJECT, dest, { recursive: true, filter: (src) => !/\/(node_modules|\.git|data|\.tmp|\.bench-tmp)(\/|$)/.test(src.slice(PROJECT.length)) });
  symlinkSync(join(PROJECT, 'node_modules'), join(dest, 'node_modules'));
  const pkg = JSON.parse(readFileSync(join(dest, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dest, 'package.json'), JSON.stringify({ ...pkg, version }, null, 2));
  // A version that cannot start: its command line fails at once, as a bad build would.
  if (broken) writeFileSync(join(dest, 'bin', 'passerelle.mjs'), "#!/usr/bin/env node\nconsole.error('broken build');\nprocess.exit(1);\n");
  return dest;
}

/** Restart=always: the version `current` points to, started again after every exit. */
class Supervisor {
  child: ChildProcess | undefined;
  starts = 0;
  #stopped = false;
  readonly out: string[] = [];

  start(): void {
    if (this.#stopped) return;
    this.starts++;
    const child = spawn(process.execPath, [join(root, 'current', 'bin', 'passerelle.mjs'), 'terminal', 'start', '-c', join(terminalDir, 'terminal.json')], {
      env: { ...process.env, PCSCLITE_CSOCK_NAME: pcscd.socketPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => this.out.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => this.out.push(d.toString()));
    child.once('exit', () => setTimeout(() => this.start(), 300));
    this.child = child;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const done = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(t);
  }
}

function control(): { url: string; token: string; pid: number } {
  return JSON.parse(readFileSync(join(terminalDir, 'control.json'), 'utf8')) as { url: string; token: string; pid: number };
}

async function status(): Promise<any> {
  const c = control();
  return (await fetch(`${c.url}/v1/status`, { headers: { authorization: `Bearer ${c.token}` } })).json();
}

async function until(what: string, check: (s: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await status().catch(() => undefined);
    if (s && check(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}\n${supervisor.out.slice(-5).join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function sell(amount: number): Promise<any> {
  const c = control();
  const answer = fetch(`${c.url}/v1/sales`, { method: 'POST', headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ benefit: 'LEISURE_BOOKS', amount }) }).then((r) => r.json());
  await until('the sale screen', (s) => s.state === 'awaitingCredential');
  const v = new VpcdCard({ port: pcscd.vpcdPort, uid: card.uid, handler: (apdu) => card.handle(apdu), connectTimeoutMs: 8000 });
  await v.insert();
  const outcome = (await answer) as any;
  await v.remove();
  return outcome;
}

function update(releaseDir: string, drainS = 20, checkS = 20): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/passerelle.mjs', 'terminal', 'update', '--release', releaseDir, '--root', root, '-c', join(terminalDir, 'terminal.json'), '--drain-timeout', String(drainS), '--check-timeout', String(checkS)], { cwd: PROJECT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ code, out }));
  });
}

/** Records in the outbox file (read beside the running service: SQLite WAL allows a reader). */
function outboxRecords(): number {
  const db = new Database(join(terminalDir, 'outbox.sqlite'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  pcscd = await startPcscd();
  await world.startGateway();
  const tokens = JSON.parse(readFileSync(join(world.dir, 'demo-tokens.json'), 'utf8')) as { operator: string };
  // Léa's card carries her test chip, which the World recorded for her card.
  card = personaliseCard({ cardNumber: lea.cardNumber, expiry: '2099-12-31', issuer: world.gateway.keys.issuer, cardSeed: testChipSeed(lea.cardNumber) });
  const res = await fetch(`${world.gateway.httpUrl}/api/v1/enrolment-codes`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.operator}`, 'content-type': 'application/json' },
    body: JSON.stringify({ partnerId: 'P-LIB-LYON', terminalId: TID }),
  });
  const e = await enrolTerminal({ gatewayUrl: world.gateway.httpUrl, code: ((await res.json()) as { code: string }).code, dir: terminalDir });
  writeFileSync(e.configFile, JSON.stringify({ ...e.config, replyTimeoutMs: 1000, backoffBaseMs: 50, backoffMaxMs: 300, control: { port: 0 } }, null, 2));
  mkdirSync(join(root, 'releases'), { recursive: true });
  cpSync(release('1.0.0'), join(root, 'releases', '1.0.0'), { recursive: true, verbatimSymlinks: true });
  switchLink(join(root, 'current'), join(root, 'releases', '1.0.0'));
  supervisor = new Supervisor();
  supervisor.start();
  await until('version 1.0.0 online', (s) => s.version === '1.0.0' && s.link.state === 'online');
}, 90_000);

afterAll(async () => {
  await supervisor?.stop();
  await world.close();
  await pcscd?.dispose();
  rmSync(base, { recursive: true, force: true });
}, 60_000);

describe('terminal update', () => {
  it('a queue that does not drain blocks the update: nothing switched, the terminal sells again, the sale later reaches the ledger once', async () => {
    // A sale online first: the terminal hears the gateway's signed time, which selling offline needs.
    expect((await sell(100)).outcome).toMatchObject({ kind: 'approved' });
    const before = (await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS'))!;
    await world.gateway.close();
    await until('the link down', (s) => s.link.state === 'offline');
    const offline = (await sell(250)).outcome;
    expect(offline, JSON.stringify(offline)).toMatchObject({ kind: 'offline' });
    const r = await update(release('2.0.0'), 2);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('QUEUE_NOT_EMPTY (323)');
    expect(r.out).toContain("Mise à jour refusée : des ventes attendent d'être envoyées");
    const s = await status();
    expect(s).toMatchObject({ version: '1.0.0', maintenance: false, outbox: { pending: 1 } });
    expect(readFileSync(join(root, 'current', 'package.json'), 'utf8')).toContain('"version": "1.0.0"');
    await world.startGateway();
    await until('the queue drained', (x) => x.link.state === 'online' && x.outbox.pending === 0);
    expect(await world.gateway.ledger.walletBalance(lea.cardNumber, 'LEISURE_BOOKS')).toBe(before - 250);
  }, 60_000);

  it('a new version that does not come up is rolled back: the previous one runs again with its queue', async () => {
    const records = outboxRecords();
    const started = supervisor.starts;
    const r = await update(release('3.0.0', true), 20, 6);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('UPDATE_ROLLED_BACK (344)');
    expect(r.out).toContain("retour à la version 1.0.0");
    const s = await until('1.0.0 back', (x) => x.version === '1.0.0' && x.link.state === 'online');
    expect(s.maintenance).toBe(false);
    expect(supervisor.starts).toBeGreaterThan(started + 1);
    expect(outboxRecords()).toBe(records);
  }, 90_000);

  it('a good version takes over once the queue is empty, and sells', async () => {
    const records = outboxRecords();
    const r = await update(release('2.0.0'));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('Mise à jour terminée : version 1.0.0 → 2.0.0.');
    const s = await until('2.0.0 online', (x) => x.version === '2.0.0' && x.link.state === 'online');
    expect(s.devices.nfc).toBe('ok');
    expect(outboxRecords()).toBe(records);
    expect((await sell(100)).outcome).toMatchObject({ kind: 'approved' });
  }, 90_000);
});
