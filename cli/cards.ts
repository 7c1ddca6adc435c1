import { mkdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { loadCardsFile } from '../gateway/bulk/load-file.ts';
import { createProgress } from '../gateway/bulk/progress.ts';
import { loadGatewayConfig } from '../gateway/config.ts';
import type { BadRow } from '../gateway/bulk/types.ts';
import { SqliteLedger } from '../gateway/ledger/sqlite.ts';
import { isPasserelleError } from '../protocol/errors.ts';

export interface CardsLoadOptions {
  readonly config?: string;
  readonly dataDir?: string;
  /** ISO date-time the load is dated at (default now). */
  readonly at?: string;
  readonly createCampaigns?: boolean;
}

/**
 * `passerelle cards load FILE`: the Region's start-of-year load, straight into the ledger file named by
 * the configuration. Bad rows are listed by line number and nothing is loaded (exit code 2).
 */
export async function cardsLoadCommand(file: string, o: CardsLoadOptions): Promise<void> {
  const config = loadGatewayConfig(o.config, { dataDir: o.dataDir });
  const ledgerFile = isAbsolute(config.ledger.file) ? config.ledger.file : join(config.dataDir, config.ledger.file);
  const at = o.at === undefined ? Date.now() : Date.parse(o.at);
  if (Number.isNaN(at)) throw new Error(`--at: not a date: ${o.at}`);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const ledger = new SqliteLedger({ file: ledgerFile, rules: config.rules });
  const reading = createProgress({ total: statSync(file).size, label: 'reading', unit: 'bytes' });
  let loading: ReturnType<typeof createProgress> | undefined;
  try {
    const r = await loadCardsFile(ledger, file, {
      at,
      createMissingCampaigns: o.createCampaigns === true,
      onReadProgress: (bytes) => reading.update(bytes),
      onLoadProgress: (rows, total) => {
        if (!loading) {
          reading.stop();
          loading = createProgress({ total, label: 'loading cards' });
        }
        loading.update(rows);
      },
    });
    loading?.stop();
    process.stdout.write(`${r.cards} cards and ${r.loads} benefits loaded into ${ledgerFile} (read ${(r.readMs / 1000).toFixed(1)} s, loaded ${(r.loadMs / 1000).toFixed(1)} s)\n`);
  } catch (e) {
    reading.stop();
    loading?.stop();
    if (isPasserelleError(e, 'BULK_LOAD_INVALID')) {
      const errors = e.details?.errors as BadRow[] | undefined;
      if (errors) for (const b of errors) process.stderr.write(`line ${b.line}: ${b.message}\n`);
      else process.stderr.write(`${e.message}\n`);
      process.stderr.write(`${String(e.details?.errorCount ?? 1)} problem(s); nothing was loaded.\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  } finally {
    ledger.close();
  }
}
