import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Ledger } from './ledger/ledger.ts';

/**
 * R7, the whole sweep in short steps: a campaign's end expires a million wallets at once (about 7 s of
 * writes for 370,000 youths), and one transaction that long would stall every terminal's debits. Each
 * step is its own transaction of `walletsPerStep` wallets; the event loop turns between steps, so debits
 * keep being committed meanwhile. A crash between steps loses nothing: the next sweep finds the wallets
 * that still hold value.
 */

export const WALLETS_PER_STEP = 5000;

export interface SweepResult {
  readonly wallets: number;
  readonly returned: { cent: number; entry: number };
  readonly steps: number;
}

/** `signal` stops the sweep between two steps (the gateway closing); what is done stays done. */
export async function sweepExpired(ledger: Ledger, at: number, o: { walletsPerStep?: number; signal?: AbortSignal } = {}): Promise<SweepResult> {
  const walletsPerStep = o.walletsPerStep ?? WALLETS_PER_STEP;
  const returned = { cent: 0, entry: 0 };
  let wallets = 0;
  // Bounded: each step but the last empties `walletsPerStep` wallets, which no later step finds again.
  for (let steps = 1; ; steps++) {
    const r = await ledger.expire(at, walletsPerStep);
    wallets += r.wallets;
    returned.cent += r.returned.cent;
    returned.entry += r.returned.entry;
    if (r.done || o.signal?.aborted) return { wallets, returned, steps };
    await nextTurn();
    if (o.signal?.aborted) return { wallets, returned, steps };
  }
}
