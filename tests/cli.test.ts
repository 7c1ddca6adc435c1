import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
    for (const c of ['gateway', 'demo', 'sim', 'codes', 'bench']) expect(r.stdout).toContain(c);
  });

  it('demo: every scripted sale as expected, exit 0', () => {
    const r = run(['demo']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('9 ventes, toutes conformes.');
    expect(r.stdout).not.toContain('NON CONFORME');
    for (const s of ['PAIEMENT PARTIEL ACCEPTÉ', 'Avantage non autorisé pour ce partenaire', 'Carte en opposition', 'débits enregistrés : 1', 'ENTRÉE ACCEPTÉE', 'À payer au guichet : 2,00\u00a0€']) expect(r.stdout).toContain(s);
  });

  it('bench --quick prints one JSON line per scenario, of the agreed shapes (a smoke run: no speed is asserted)', () => {
    const r = run(['bench', '--quick'], 120_000);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.scenario)).toEqual(['online-debit', 'bulk-load']);
    expect(lines[1]).toMatchObject({ cards: 20_000, errors: 0 });
    expect(lines[1]!.seconds).toBeGreaterThan(0);
    const result = lines[0]!;
    expect(Object.keys(result)).toEqual(['scenario', 'max_debits_per_s', 'offered_per_s', 'p50_ms', 'p99_ms', 'p999_ms', 'errors']);
    expect(result).toMatchObject({ scenario: 'online-debit', offered_per_s: 5000, errors: 0 });
    expect(result.max_debits_per_s).toBeGreaterThan(0);
  });

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

  it('codes --markdown is docs/codes.md', () => {
    expect(run(['codes', '--markdown']).stdout).toBe(readFileSync(new URL('../docs/codes.md', import.meta.url), 'utf8'));
  });
});
