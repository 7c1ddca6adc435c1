import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteLedger } from '../gateway/ledger/sqlite.ts';
import type { DebitItem } from '../gateway/ledger/ledger.ts';
import { holder, World } from './helpers/world.ts';

/**
 * No reply before commit: the gateway is stopped after it received and checked a debit but before the
 * batch committed. No approval may reach the terminal; the ledger holds nothing; after a restart the
 * terminal's resend (same id, same bytes) is applied exactly once.
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

describe('no reply before commit', () => {
  it('a gateway stopped between receipt and commit answers nothing; the resend after restart is applied once', async () => {
    let held: readonly DebitItem[] | undefined;
    let release: () => void = () => undefined;
    await world.startGateway({
      hooks: {
        beforeCommit: (items) => {
          held = items;
          return new Promise<void>((r) => (release = r));
        },
      },
    });
    const t = await world.terminal('T-JUDO-GRE-01', { replyTimeoutMs: 800, resendIntervalMs: 200 });
    const lea = holder('Léa Martin');
    const before = world.gateway.ledger.walletBalance(lea.cardNumber, 'SPORT')!;
    const settled: string[] = [];
    t.runtime.onSettled = (s) => settled.push(`${s.txnId}:${s.status}`);

    const sale = t.sellWithCard(lea, 'SPORT', 1000);
    await until('the batch to reach the commit point', () => held !== undefined);
    const txnId = held![0]!.body.txnId;

    // Stop abruptly, as a crash would, while the batch waits to commit.
    await world.gateway.close({ graceful: false });
    release();

    // The terminal never saw an approval: its sale ends "pending", still in its outbox.
    await expect(sale).resolves.toEqual({ kind: 'pending', txnId });
    expect(t.bindings.display.screens.some((s) => s.lines[0]?.startsWith('PAIEMENT'))).toBe(false);
    expect(t.terminal.outbox.entry(txnId)).toMatchObject({ state: 'pending' });
    const probe = new SqliteLedger({ file: join(world.dir, 'ledger.sqlite') });
    expect(probe.request(txnId)).toBeUndefined();
    expect(probe.transfersForTxn(txnId)).toEqual([]);
    probe.close();

    // Restart on the same port and ledger; the terminal reconnects and resends the same request.
    await world.startGateway();
    await until('the resend to be settled', () => settled.length > 0, 10_000);
    expect(settled).toEqual([`${txnId}:approved`]);
    expect(t.terminal.outbox.entry(txnId)).toMatchObject({ state: 'replied', status: 'approved' });

    // More resends of the same bytes change nothing.
    const frame = t.terminal.outbox.entry(txnId)!.frame;
    world.gateway.pipeline.handle(`passerelle/v1/terminal/${t.terminalId}/request`, frame);
    world.gateway.pipeline.handle(`passerelle/v1/terminal/${t.terminalId}/request`, frame);
    await until('the repeats to be answered', () => world.gateway.pipeline.stats.repeats >= 2);
    expect(world.gateway.ledger.transfersForTxn(txnId)).toHaveLength(1);
    expect(world.gateway.ledger.walletBalance(lea.cardNumber, 'SPORT')).toBe(before - 1000);
    expect(world.gateway.ledger.audit()).toEqual([]);
  });
});
