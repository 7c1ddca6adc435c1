import { afterAll, describe, expect, it } from 'vitest';
import type { CommitOutcome, LedgerItem } from '../gateway/ledger/ledger.ts';
import { SqliteLedger } from '../gateway/ledger/sqlite.ts';
import { PasserelleError } from '../protocol/errors.ts';
import { holder, World } from './helpers/world.ts';

/**
 * No reply before the batch is on disk (gateway/ledger/sqlite/wal-sync.ts): the batch commits on the event
 * loop and its WAL is synced on the thread pool; the replies wait for the sync. Here the sync is held, then
 * fails: nothing is answered meanwhile nor after the failure, and the terminal's resend gets the stored
 * reply once the ledger syncs again, with the debit applied once.
 */

const world = new World();
afterAll(() => world.close());

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('no reply before the batch is on disk', () => {
  it('holds the replies while the WAL sync runs, answers nothing when it fails, and the resend gets the stored reply', async () => {
    await world.startGateway();
    const ledger = world.gateway.ledger;
    const pipeline = world.gateway.pipeline;
    // The ledger commits for real; its durability is held here until the test fails it.
    let committed: readonly LedgerItem[] | undefined;
    const held: ((e: Error) => void)[] = [];
    ledger.commitDebitsDurably = (items: readonly LedgerItem[], at: number): Promise<CommitOutcome[]> => {
      ledger.commitDebits(items, at);
      committed ??= items;
      return new Promise((_, reject) => held.push(reject));
    };

    const t = await world.terminal('T-JUDO-GRE-01', { replyTimeoutMs: 8000, resendIntervalMs: 300 });
    const lea = holder('Léa Martin');
    const before = ledger.walletBalance(lea.cardNumber, 'SPORT')!;
    const sale = t.sellWithCard(lea, 'SPORT', 1000);
    await until('the batch to be committed', () => committed !== undefined);
    const first = committed![0]!;
    const txnId = 'body' in first ? first.body.txnId : '';

    // Committed (the ledger shows it) but not known to be on disk: no reply, though the terminal resends.
    expect(ledger.transfersForTxn(txnId).map((x) => x.kind)).toEqual(['debit']);
    await new Promise((r) => setTimeout(r, 700));
    expect(pipeline.stats).toMatchObject({ approved: 0, batches: 0 });
    expect(t.terminal.outbox.entry(txnId)).toMatchObject({ state: 'pending' });

    // The sync fails (for the first batch and the resends' batches held behind it) and the ledger syncs again
    // (the real path from now on): the failed batches answer nothing, and a later resend gets the reply
    // stored at the first commit.
    const failed = held.length;
    expect(failed).toBeGreaterThanOrEqual(2);
    delete (ledger as { commitDebitsDurably?: unknown }).commitDebitsDurably;
    for (const reject of held.splice(0)) reject(new PasserelleError('LEDGER_FAILED', 'fdatasync failed (test)'));
    await until('the failures to be counted', () => pipeline.stats.ledgerFailures === failed);
    const outcome = await sale;
    expect(outcome).toMatchObject({ kind: 'approved', txnId });
    expect(pipeline.stats.repeats).toBeGreaterThanOrEqual(1);
    expect(ledger).toBeInstanceOf(SqliteLedger);
    expect((ledger as SqliteLedger).walSyncs()).toBeGreaterThanOrEqual(1);
    expect(ledger.transfersForTxn(txnId).map((x) => x.kind)).toEqual(['debit']);
    expect(ledger.walletBalance(lea.cardNumber, 'SPORT')).toBe(before - 1000);
    expect(ledger.audit()).toEqual([]);
  });
});
