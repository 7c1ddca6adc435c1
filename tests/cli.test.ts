import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

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
    const r = run(['bench', '--quick'], 240_000);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.scenario)).toEqual(['online-debit', 'bulk-load', 'outbox-commit', 'offline-drain', 'tap-to-approval']);
    expect(lines[4]).toMatchObject({ sales: 200, errors: 0, target_p99_ms: 50, terminal_crypto: 'tweetnacl' });
    expect(lines[4]!.p99_ms).toBeGreaterThan(0);
    expect(lines[2]).toMatchObject({ target_p99_ms: 2 });
    expect(lines[2]!.p99_ms).toBeGreaterThan(0);
    expect(lines[3]).toMatchObject({ sales: 2000, errors: 0, target_s: 5 });
    expect(lines[3]!.drain_s).toBeGreaterThan(0);
    expect(lines[1]).toMatchObject({ cards: 20_000, errors: 0 });
    expect(lines[1]!.seconds).toBeGreaterThan(0);
    const result = lines[0]!;
    expect(Object.keys(result)).toEqual(['scenario', 'max_debits_per_s', 'offered_per_s', 'p50_ms', 'p99_ms', 'p999_ms', 'errors']);
    expect(result).toMatchObject({ scenario: 'online-debit', offered_per_s: 5000, errors: 0 });
    expect(result.max_debits_per_s).toBeGreaterThan(0);
  }, 240_000);

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
  });

  it('codes --markdown is docs/codes.md', () => {
    expect(run(['codes', '--markdown']).stdout).toBe(readFileSync(new URL('../docs/codes.md', import.meta.url), 'utf8'));
  });
});
