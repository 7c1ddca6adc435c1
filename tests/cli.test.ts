import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyBanner } from '../cli/gateway.ts';
import { campaignAt } from '../gateway/campaigns.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import { b64url, publicKeyFromSeed } from '../protocol/crypto.ts';

/** The `passerelle` command as a user runs it: a real process, its output and its exit status. */

const bin = new URL('../bin/passerelle.mjs', import.meta.url).pathname;
const run = (args: string[], timeout = 60_000) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout });

describe('passerelle command line', () => {
  it('--help lists the subcommands', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['gateway', 'demo', 'sim', 'cards', 'token', 'codes', 'bench']) expect(r.stdout).toContain(c);
  });

  it('demo: every scripted sale as expected, exit 0', () => {
    const r = run(['demo']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('10 ventes, toutes conformes.');
    expect(r.stdout).not.toContain('NON CONFORME');
    for (const s of ['PAIEMENT PARTIEL ACCEPTÉ', 'Avantage non autorisé pour ce partenaire', 'Carte en opposition', 'débits enregistrés : 1', 'ENTRÉE ACCEPTÉE', 'À payer au guichet : 2,00\u00a0€', 'ACCEPTÉ HORS LIGNE', 'réseau rétabli ; vente transmise et réglée : approved']) expect(r.stdout).toContain(s);
  });

  it('bench --quick prints one JSON line per scenario, of the agreed shapes (a smoke run: no speed is asserted)', () => {
    const r = run(['bench', '--quick'], 330_000);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.scenario)).toEqual(['online-debit', 'online-debit-region', 'bulk-load', 'outbox-commit', 'offline-drain', 'tap-to-approval', 'till-to-result']);
    expect(lines[6]).toMatchObject({ sales: 200, errors: 0 });
    for (const k of ['median_ms', 'p99_ms', 'direct_median_ms', 'direct_p99_ms', 'cpu_us_per_sale']) expect(lines[6]![k], k).toBeGreaterThan(0);
    expect(lines[5]).toMatchObject({ sales: 200, errors: 0, target_p99_ms: 50, target_crypto_ms: 1, terminal_crypto: 'node:crypto' });
    expect(lines[5]!.terminal_crypto_median_ms).toBeGreaterThan(0);
    expect(lines[5]!.cpu_us_per_sale).toBeGreaterThan(0);
    expect(lines[5]!.p99_ms).toBeGreaterThan(0);
    expect(lines[3]).toMatchObject({ target_p99_ms: 2 });
    expect(lines[3]!.p99_ms).toBeGreaterThan(0);
    expect(lines[4]).toMatchObject({ sales: 2000, errors: 0, target_s: 3, target_queue_s: 10, terminal_crypto: 'node' });
    expect(lines[4]!.queue_cpu_us_per_sale).toBeGreaterThan(0);
    expect(lines[4]!.drain_s).toBeGreaterThan(0);
    expect(lines[2]).toMatchObject({ cards: 20_000, errors: 0 });
    expect(lines[2]!.seconds).toBeGreaterThan(0);
    // Region: the same closed loop on PostgreSQL and Mosquitto, beside embedded SQLite in the same run.
    const region = lines[1]!;
    expect(region).toMatchObject({ scenario: 'online-debit-region', errors: 0, declined: 0 });
    for (const k of ['sqlite_per_s', 'pg1_per_s', 'pg2_per_s', 'pg1_ratio', 'pg2_ratio', 'two_to_one', 'pg1_engines_cpu_us']) expect(region[k], k).toBeGreaterThan(0);
    const result = lines[0]!;
    expect(Object.keys(result)).toEqual([
      'scenario',
      'max_debits_per_s',
      'limit_per_s',
      'ratio',
      'gateway_cpu_us',
      'terminals_cpu_us',
      'bare_gateway_cpu_us',
      'bare_terminals_cpu_us',
      'declined',
      'offered_per_s',
      'p50_ms',
      'p99_ms',
      'p999_ms',
      'bare_p50_ms',
      'bare_p99_ms',
      'bare_p999_ms',
      'grown_transfers',
      'grown_ledger_mb',
      'grown_max_debits_per_s',
      'grown_gateway_cpu_us',
      'grown_ratio',
      'errors',
    ]);
    expect(result).toMatchObject({ scenario: 'online-debit', errors: 0, declined: 0 });
    for (const k of ['max_debits_per_s', 'limit_per_s', 'ratio', 'gateway_cpu_us', 'terminals_cpu_us', 'bare_gateway_cpu_us', 'bare_terminals_cpu_us', 'grown_max_debits_per_s', 'grown_gateway_cpu_us', 'grown_ratio', 'p99_ms', 'bare_p99_ms']) expect(result[k], k).toBeGreaterThan(0);
    // The quick grown ledger: 20,000 youths' loads and 50,000 past sales.
    expect(result.grown_transfers).toBeGreaterThan(50_000);
    // The open loop is offered at half the closed loop's median.
    expect(result.offered_per_s).toBe(Math.max(1, Math.round((result.max_debits_per_s as number) / 2)));
  }, 330_000);

  it('gateway start on a taken port: a clear PORT_IN_USE and exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'));
    try {
      const r = run(['gateway', 'start', '--data-dir', dir, '--mqtt-port', String(port), '--http-port', '0']);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`PORT_IN_USE (402): MQTT broker (mqtt.port): port ${port}`);
    } finally {
      blocker.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cards load: bad rows by line number and nothing loaded (exit 2); a good file loaded whole; tokens created, listed, revoked', () => {
    const dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-'));
    try {
      const header = 'card_number,dossier_id,holder,campaign,LEISURE_BOOKS,MUSEUM\n';
      writeFileSync(join(dir, 'bad.csv'), `${header}8250000000000018,PR-1,Léa,2022-2023,1500,1\n1234,PR-2,Hugo,2022-2023,1500,1\n`);
      const at = ['--data-dir', join(dir, 'data'), '--at', '2022-09-01T08:00:00+02:00', '--create-campaigns'];
      const bad = run(['cards', 'load', join(dir, 'bad.csv'), ...at]);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('line 3: card_number must be 16 digits');
      expect(bad.stderr).toContain('nothing was loaded');
      writeFileSync(join(dir, 'good.csv'), `${header}8250000000000018,PR-1,Léa,2022-2023,1500,1\n8250000000000026,PR-2,Hugo,2022-2023,3500,\n`);
      const good = run(['cards', 'load', join(dir, 'good.csv'), ...at]);
      expect(good.stderr + good.stdout).toContain('2 cards and 3 benefits loaded');
      expect(good.status).toBe(0);
      const made = run(['token', 'create', '--role', 'operator', '--name', 'Région', '--data-dir', join(dir, 'data')]);
      expect(made.stdout).toMatch(/^psr_[A-Za-z0-9_-]{43}\n$/);
      const id = /id ([0-9a-f]{16})/.exec(made.stderr)![1]!;
      expect(run(['token', 'list', '--data-dir', join(dir, 'data')]).stdout).toContain(`${id}  operator`);
      expect(run(['token', 'revoke', id, '--data-dir', join(dir, 'data')]).status).toBe(0);
      expect(run(['token', 'list', '--data-dir', join(dir, 'data')]).stdout).not.toContain(id);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Six commands, each a process of its own: seconds each on a loaded machine.
  }, 90_000);

  it('codes --markdown is docs/codes.md', () => {
    expect(run(['codes', '--markdown']).stdout).toBe(readFileSync(new URL('../docs/codes.md', import.meta.url), 'utf8'));
  });
});

describe('the gateway banner', () => {
  const gateway = { mqttUrl: 'mqtt://127.0.0.1:1884', httpUrl: 'http://127.0.0.1:8080' };
  it('with the defaults, the try line is the plain command', () => {
    const lines = readyBanner(gateway, loadGatewayConfig(undefined, {}));
    expect(lines.at(-1)).toBe('  try:              npx passerelle sim sale -t T-LIB-LYON-01 --holder "Léa Martin" -b LEISURE_BOOKS -a 12,50');
  });
  it('names the data directory (quoted for the shell when it must be) and the ports it was started with', () => {
    const lines = readyBanner({ mqttUrl: 'mqtt://127.0.0.1:1999', httpUrl: 'http://127.0.0.1:8099' }, loadGatewayConfig(undefined, { dataDir: "/srv/l'essai data" }));
    expect(lines.at(-1)).toMatch(/ -a 12,50 --data-dir '\/srv\/l'\\''essai data' --gateway mqtt:\/\/127\.0\.0\.1:1999 --http http:\/\/127\.0\.0\.1:8099$/);
  });
});

/**
 * `passerelle sim sale` as a developer uses it, against a gateway started with `passerelle gateway start`
 * on free ports and its own data directory. Every command runs from an empty directory, so nothing of a
 * `./data` here is used by mistake.
 */
describe('sim sale against a gateway started from the command line', () => {
  let dir: string;
  let gatewayProcess: ChildProcess;
  let tryLine: string;
  let where: string[];
  let httpUrl: string;
  const dataDir = () => join(dir, 'data');
  const sim = (args: string[]) => spawnSync(process.execPath, [bin, 'sim', 'sale', ...args], { encoding: 'utf8', timeout: 110_000, cwd: dir });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'passerelle-cli-sim-'));
    gatewayProcess = spawn(process.execPath, [bin, 'gateway', 'start', '--data-dir', join(dir, 'data'), '--mqtt-port', '0', '--http-port', '0'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let banner = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner within 30 s: ${banner}`)), 30_000);
      gatewayProcess.stderr!.on('data', (chunk: Buffer) => {
        banner += chunk.toString('utf8');
        if (/ try: .*\n/.test(banner)) {
          clearTimeout(timer);
          resolve();
        }
      });
      gatewayProcess.on('exit', (code) => reject(new Error(`gateway exited with ${code}: ${banner}`)));
    });
    tryLine = /try: +(.*)\n/.exec(banner)![1]!;
    httpUrl = /browsers \(HTTP\): +(http:\/\/\S+)\/healthz/.exec(banner)![1]!;
    const mqttUrl = /terminals \(MQTT\): +(mqtt:\/\/\S+)/.exec(banner)![1]!;
    where = ['--data-dir', dataDir(), '--gateway', mqttUrl, '--http', httpUrl];
  }, 40_000);

  afterAll(async () => {
    if (gatewayProcess.exitCode === null) {
      const exited = new Promise((r) => gatewayProcess.once('exit', r));
      gatewayProcess.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("the banner's try line names this gateway's data directory and ports, and works as printed", () => {
    expect(tryLine).toContain(`--data-dir ${dataDir()}`);
    expect(tryLine).toContain(`--http ${httpUrl}`);
    expect(tryLine).not.toMatch(/:1884|:8080/);
    const r = spawnSync('sh', ['-c', tryLine.replace(/^npx passerelle /, `'${process.execPath}' '${bin}' `)], { encoding: 'utf8', timeout: 60_000, cwd: dir });
    expect(r.stdout).toContain('PAIEMENT ACCEPTÉ');
    expect(r.stdout).toMatch(/outcome: approved \(transaction [0-9a-f-]{36}\)/);
    expect(r.status).toBe(0);
  }, 60_000);

  it('--offline: the link cut before the sale, accepted offline, then forwarded and settled; --repeat same,other: the original reply, then TXN_CONFLICT', () => {
    const r = sim(['-t', 'T-LIB-LYON-01', '--holder', 'Hugo Bernard', '-b', 'LEISURE_BOOKS', '-a', '18', '--offline', '--repeat', 'same,other', ...where]);
    expect(r.stdout, `${r.stdout}\n${r.stderr}`).toContain('réseau coupé avant la vente');
    expect(r.stdout).toContain('ACCEPTÉ HORS LIGNE');
    expect(r.stdout).toMatch(/outcome: offline \(transaction [0-9a-f-]{36}\)/);
    expect(r.stdout).toContain("réseau rétabli ; vente transmise et réglée : approved, 18,00\u00a0€ pris sur l'avantage");
    expect(r.stdout).toContain("renvoi (même id, même contenu, montant 18,00\u00a0€) : approved, la réponse d'origine");
    expect(r.stdout).toContain('renvoi (même id, autre contenu, montant 18,01\u00a0€) : refusé, TXN_CONFLICT (204) : Transaction en conflit');
    expect(r.stdout).not.toContain('NON CONFORME');
    expect(r.status).toBe(0);
  }, 120_000);

  it('any terminal whose key file is given (registered through the API), a card personalised through the API: no gateway private file needed', async () => {
    const operator = (JSON.parse(readFileSync(join(dataDir(), 'demo-tokens.json'), 'utf8')) as { operator: string }).operator;
    const api = async (path: string, body: unknown) => {
      const res = await fetch(`${httpUrl}/api/v1${path}`, { method: 'POST', headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status, await res.clone().text()).toBe(201);
    };
    const seed = randomBytes(32);
    await api('/terminals', { id: 'T-DEV-CLI-01', partnerId: 'P-LIB-LYON', publicKey: b64url(publicKeyFromSeed(seed)) });
    await api('/cards', { number: '8250000000000018', holder: 'Zoé Essai' });
    await api('/cards/8250000000000018/loads', { benefit: 'LEISURE_BOOKS', campaign: campaignAt(Date.now()), amount: 1500 });
    // The developer's own directory: the terminal's key and the gateway's public keys, nothing else.
    const mine = join(dir, 'dev');
    mkdirSync(mine);
    writeFileSync(join(mine, 'terminal-key.json'), JSON.stringify({ terminalId: 'T-DEV-CLI-01', seed: b64url(seed) }));
    copyFileSync(join(dataDir(), 'gateway-public.json'), join(mine, 'gateway-public.json'));
    const args = ['--key-file', join(mine, 'terminal-key.json'), '--card', '8250000000000018', '-b', 'LEISURE_BOOKS', '-a', '4,00', '--token', operator, '--data-dir', mine, ...where.slice(2)];
    const first = sim(args);
    expect(first.stdout).toContain('terminal T-DEV-CLI-01');
    expect(first.stdout).toContain('PAIEMENT ACCEPTÉ');
    expect(first.status).toBe(0);
    // The card keeps its chip from one run to the next, as a real card does.
    const again = sim(args);
    expect(again.stdout).toContain('Solde restant : 7,00\u00a0€');
    expect(again.status).toBe(0);
    // The terminal's own config names its key (a bare seed, as provisioned), the gateway's keys and its outbox.
    writeFileSync(join(mine, 'terminal.key'), b64url(seed));
    const config = {
      terminalId: 'T-DEV-CLI-01',
      gatewayUrl: where[3],
      outboxFile: join(mine, 'sim', 'outbox-T-DEV-CLI-01.sqlite'),
      benefits: ['LEISURE_BOOKS'],
      keyFile: join(mine, 'terminal.key'),
      gatewayKeysFile: join(mine, 'gateway-public.json'),
    };
    writeFileSync(join(mine, 'terminal.json'), JSON.stringify(config));
    const configured = sim(['-c', join(mine, 'terminal.json'), '--card', '8250000000000018', '-b', 'LEISURE_BOOKS', '-a', '1', '--token', operator, '--http', httpUrl, '--data-dir', mine]);
    expect(configured.stdout).toContain('Solde restant : 6,00\u00a0€');
    expect(configured.status).toBe(0);
  }, 60_000);

  it('a terminal the gateway does not know: the refusal is named (LINK_NOT_AUTHORIZED), not NO_REPLY', () => {
    writeFileSync(join(dir, 'stranger.key'), b64url(randomBytes(32)));
    const r = sim(['--key-file', join(dir, 'stranger.key'), '-t', 'T-STRANGER-01', '--holder', 'Léa Martin', '-b', 'LEISURE_BOOKS', '-a', '3', ...where]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('HORS LIGNE : connexion refusée (code 337)');
    expect(r.stdout).toContain('LINK_NOT_AUTHORIZED (337) : Connexion refusée : terminal inconnu ou désactivé, contacter la Région');
    expect(r.stderr).toContain('passerelle: LINK_NOT_AUTHORIZED (337)');
    expect(r.stderr).not.toContain('NO_REPLY');
  }, 60_000);
});
