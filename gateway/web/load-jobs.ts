import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isPasserelleError } from '../../protocol/errors.ts';
import { uuidv7 } from '../../protocol/uuid7.ts';
import { byteLimit } from '../bulk/byte-limit.ts';
import { loadCardsFile } from '../bulk/load-file.ts';
import type { BadRow } from '../bulk/types.ts';
import type { Ledger } from '../ledger/ledger.ts';

/**
 * The start-of-year card load from the console: the uploaded file is written to a private temporary file
 * (bounded in size), then read, checked and loaded as a job (`loadCardsFile`: all of it or none), whose
 * progress the page follows. Reading reports its bytes as it goes; the load itself is one ledger
 * transaction during which this gateway answers nothing else (some 20 s for 370,000 cards): a quiet-hour
 * job. Jobs live in this gateway's memory (the last 20); what was loaded is in the ledger and its audit.
 */

export type LoadPhase = 'reading' | 'loading' | 'done' | 'refused' | 'failed';

export interface LoadJob {
  readonly id: string;
  readonly by: string;
  readonly fileName: string;
  readonly startedAt: number;
  bytes: number;
  readBytes: number;
  phase: LoadPhase;
  loadedRows: number;
  totalRows: number;
  result: { cards: number; loads: number; readMs: number; loadMs: number } | null;
  errors: readonly BadRow[];
  errorCount: number;
  message: string | null;
  finishedAt: number | null;
}

export class LoadBusy extends Error {}

const KEEP = 20;

export class LoadJobs {
  readonly #jobs = new Map<string, LoadJob>();
  readonly #ledger: Ledger;
  readonly #now: () => number;
  /** One load at a time: taken before the upload's first byte is written, given back when its job ends. */
  #busy = false;

  constructor(ledger: Ledger, now: () => number) {
    this.#ledger = ledger;
    this.#now = now;
  }

  get(id: string): LoadJob | undefined {
    return this.#jobs.get(id);
  }

  list(): LoadJob[] {
    return [...this.#jobs.values()].reverse();
  }

  /** A load under way in this gateway (one at a time). */
  get busy(): boolean {
    return this.#busy;
  }

  /**
   * Write the upload to a private file (at most `maxBytes`), then start its job; the job's id. The one
   * slot is taken before the first byte is written, so two uploads at once cannot both start a load.
   */
  async start(upload: NodeJS.ReadableStream, o: { fileName: string; by: string; maxBytes: number; createCampaigns: boolean; onDone?: (j: LoadJob) => Promise<void> }): Promise<string> {
    if (this.#busy) throw new LoadBusy('a load is already under way');
    this.#busy = true;
    let dir: string;
    try {
      dir = mkdtempSync(join(tmpdir(), 'passerelle-load-'));
    } catch (e) {
      this.#busy = false;
      throw e;
    }
    const file = join(dir, 'cards.csv');
    try {
      await pipeline(upload, byteLimit(o.maxBytes), createWriteStream(file, { mode: 0o600 }));
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      this.#busy = false;
      throw e;
    }
    const job: LoadJob = {
      id: `CH-${uuidv7()}`,
      by: o.by,
      fileName: o.fileName.slice(0, 200),
      startedAt: this.#now(),
      bytes: statSync(file).size,
      readBytes: 0,
      phase: 'reading',
      loadedRows: 0,
      totalRows: 0,
      result: null,
      errors: [],
      errorCount: 0,
      message: null,
      finishedAt: null,
    };
    this.#jobs.set(job.id, job);
    for (const old of [...this.#jobs.keys()].slice(0, Math.max(0, this.#jobs.size - KEEP))) this.#jobs.delete(old);
    void loadCardsFile(this.#ledger, createReadStream(file), {
      at: this.#now(),
      createMissingCampaigns: o.createCampaigns,
      onReadProgress: (bytes) => (job.readBytes = bytes),
      onLoadProgress: (rows, total) => {
        job.phase = 'loading';
        job.loadedRows = rows;
        job.totalRows = total;
      },
    })
      .then(
        (r) => {
          job.phase = 'done';
          job.result = { cards: r.cards, loads: r.loads, readMs: Math.round(r.readMs), loadMs: Math.round(r.loadMs) };
        },
        (e: unknown) => {
          if (isPasserelleError(e, 'BULK_LOAD_INVALID') || isPasserelleError(e, 'DATA_INVALID')) {
            job.phase = 'refused';
            job.errors = ((e.details?.errors as BadRow[] | undefined) ?? []).slice(0, 100);
            job.errorCount = Number(e.details?.errorCount ?? 1);
            job.message = e.message;
          } else {
            job.phase = 'failed';
            job.message = e instanceof Error ? e.message : String(e);
          }
        },
      )
      .finally(async () => {
        job.finishedAt = this.#now();
        this.#busy = false;
        rmSync(dir, { recursive: true, force: true });
        // Its audit line: a failure to write it is shown with the job, which is over either way.
        await o.onDone?.(job).catch((e: unknown) => {
          job.message = `${job.message ?? ''} (journal d'audit non écrit : ${e instanceof Error ? e.message : String(e)})`.trim();
        });
      });
    return job.id;
  }
}
