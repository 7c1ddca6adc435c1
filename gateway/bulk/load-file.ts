import { PasserelleError } from '../../protocol/errors.ts';
import { defaultWindows } from '../campaigns.ts';
import type { BulkLoadResult, Ledger } from '../ledger/ledger.ts';
import { parseCardsCsv, type ParseOptions } from './cards-csv.ts';
import type { BadRow, CardLoadRow } from './types.ts';

/**
 * Load a start-of-year card file: read and check all of it first, then load it in one transaction, so a
 * file with a bad row loads nothing and a good one loads whole (the acceptance: "nothing half-loaded").
 *
 * The rows are held in memory between the two steps (about 150 MB for 370,000 cards) rather than loaded
 * while reading: a transaction held open across the file's reads would also take in, and could roll back,
 * the debits the gateway commits meanwhile. The load itself is one synchronous transaction of about
 * 20 s for 370,000 cards on this machine; debits wait for it, so it is a job for a quiet hour.
 */

export interface LoadFileOptions {
  /** When the load happens (wallet windows of the driving-licence aid start then). */
  readonly at: number;
  readonly onReadProgress?: ParseOptions['onProgress'];
  /** Called every `progressEveryRows` rows loaded, with the count so far and the total. */
  readonly onLoadProgress?: (rows: number, total: number) => void;
  readonly progressEveryRows?: number;
  /** Create a campaign the file names but the ledger lacks, with the default windows (R6). */
  readonly createMissingCampaigns?: boolean;
}

export interface LoadFileResult extends BulkLoadResult {
  readonly readMs: number;
  readonly loadMs: number;
}

export async function loadCardsFile(ledger: Ledger, input: NodeJS.ReadableStream | string, o: LoadFileOptions): Promise<LoadFileResult> {
  const started = performance.now();
  const rows: CardLoadRow[] = [];
  const parsed = await parseCardsCsv(input, (batch) => rows.push(...batch), o.onReadProgress ? { onProgress: o.onReadProgress } : {});
  if (parsed.errorCount > 0) throw badFile(parsed.errors, parsed.errorCount);
  if (rows.length === 0) throw new PasserelleError('BULK_LOAD_INVALID', 'the file has no card rows', { errors: [], errorCount: 0 });
  const read = performance.now();
  const result = await ledger.atomically(async () => {
    if (o.createMissingCampaigns) await createCampaigns(ledger, rows);
    return await ledger.bulkLoad(withProgress(rows, o.onLoadProgress, o.progressEveryRows ?? 10_000), o.at);
  });
  return { ...result, readMs: read - started, loadMs: performance.now() - read };
}

async function createCampaigns(ledger: Ledger, rows: readonly CardLoadRow[]): Promise<void> {
  const known = new Set((await ledger.campaigns()).map((c) => c.id));
  for (const id of new Set(rows.map((r) => r.campaign))) if (!known.has(id)) await ledger.addCampaign({ id, windows: defaultWindows(id) });
}

function badFile(errors: readonly BadRow[], errorCount: number): PasserelleError {
  const shown = errors.slice(0, 5).map((e) => `line ${e.line}: ${e.message}`).join('; ');
  return new PasserelleError('BULK_LOAD_INVALID', `${errorCount} problem(s) in the file, nothing loaded: ${shown}${errorCount > 5 ? '; …' : ''}`, {
    errors,
    errorCount,
  });
}

function* withProgress(rows: readonly CardLoadRow[], onProgress: LoadFileOptions['onLoadProgress'], every: number): Generator<CardLoadRow> {
  for (let i = 0; i < rows.length; i++) {
    yield rows[i]!;
    if (onProgress && (i + 1) % every === 0) onProgress(i + 1, rows.length);
  }
  onProgress?.(rows.length, rows.length);
}
