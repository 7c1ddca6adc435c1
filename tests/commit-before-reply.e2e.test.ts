import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteLedger } from '../gateway/ledger/sqlite.ts';
import type { LedgerItem } from '../gateway/ledger/ledger.ts';
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
    let held: readonly LedgerItem[] | undefined;
    let release: () => void = () => undefined;
    await world.startGateway(
      {
        hooks: {
          beforeCommit: (items) => {
            held = items;
            return new Promise<void>((r) => (release = r));
          },
        },
      },
      { offline: { hotlistRefreshS: 1 } },
    );
    const t = await world.terminal('T-JUDO-GRE-01', { replyTimeoutMs: 800, resendIntervalMs: 200 });
    await until('the terminal to hear the gateway time (a live hotlist refresh)', () => t.terminal.outbox.gatewayTime() !== undefined, 5000);
    const lea = holder('Léa Martin');
    const before = (await world.gateway.ledger.walletBalance(lea.cardNumber, 'SPORT'))!;
    const settled: string[] = [];
    t.runtime.onSettled = (s) => settled.push(`${s.txnId}:${s.status}`);

    const sale = t.sellWithCard(lea, 'SPORT', 1000);
    await until('the batch to reach the commit point', () => held !== undefined);
    const first = held![0]!;
    const txnId = 'body' in first ? first.body.txnId : '';

    // Stop abruptly, as a crash would, while the batch waits to commit.
    await world.gateway.close({ graceful: false });
    release();

    // No reply in time: the terminal voids the unanswered request and accepts the sale offline instead,
    // under a new id, in one outbox transaction. It never showed an online approval.
    const outcome = await sale;
    expect(outcome).toMatchObject({ kind: 'offline' });
    const offlineTxn = (outcome as { txnId: string }).txnId;
    expect(offlineTxn).not.toBe(txnId);
    expect(t.bindings.display.screens.some((s) => s.lines[0]?.startsWith('PAIEMENT'))).toBe(false);
    expect(t.terminal.outbox.entry(txnId)).toMatchObject({ state: 'pending', voidedBy: expect.any(String) });
    const probe = new SqliteLedger({ file: join(world.dir, 'ledger.sqlite') });
    expect(await probe.request(txnId)).toBeUndefined();
    expect(await probe.transfersForTxn(txnId)).toEqual([]);
    await probe.close();

    // Restart on the same port and ledger; the terminal reconnects and resends the same request.
    await world.startGateway();
    await until('the three records to be settled', () => settled.length === 3, 10_000);
    // The online request, its void and the offline sale. The gateway checks signatures in parallel, so the
    // void may be decided first (the request is then declined TXN_VOIDED) or second (the request was
    // applied, and the void undoes it): the same ledger either way.
    expect(settled).toHaveLength(3);
    expect(settled).toContain(`${offlineTxn}:approved`);
    expect(settled.filter((s) => s.endsWith(':void'))).toHaveLength(1);
    expect([`${txnId}:approved`, `${txnId}:declined`]).toContain(settled.find((s) => s.startsWith(txnId)));
    expect(t.terminal.outbox.entry(offlineTxn)).toMatchObject({ state: 'replied', status: 'approved', taken: 1000 });

    // More resends of the same bytes change nothing.
    const frame = t.terminal.outbox.entry(txnId)!.frame;
    world.gateway.pipeline.handle(`passerelle/v1/terminal/${t.terminalId}/request`, frame);
    world.gateway.pipeline.handle(`passerelle/v1/terminal/${t.terminalId}/request`, frame);
    await until('the repeats to be answered', () => world.gateway.pipeline.stats.repeats >= 2);
    expect([['debit', 'reversal'], []]).toContainEqual((await world.gateway.ledger.transfersForTxn(txnId)).map((x) => x.kind));
    expect((await world.gateway.ledger.transfersForTxn(offlineTxn)).map((x) => x.kind)).toEqual(['debit']);
    expect(await world.gateway.ledger.walletBalance(lea.cardNumber, 'SPORT')).toBe(before - 1000);
    expect(await world.gateway.ledger.audit()).toEqual([]);
  });
});
