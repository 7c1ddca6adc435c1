import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerItem } from '../gateway/ledger/ledger.ts';
import { TestPostgres } from '../simulators/engines.ts';
import { debitBody } from './helpers/debits.ts';
import type { RawTerminal } from './helpers/raw-terminal.ts';
import { holder, World } from './helpers/world.ts';

/**
 * The PostgreSQL ledger lost under a running gateway: the database crashes while a batch commits, and
 * stays down a while. The batch fails whole and nothing is answered; requests arriving meanwhile get no
 * answer either; the health probe says so. Once the database is back the gateway reconnects by itself,
 * and the terminal's resends are decided once each.
 */
const T = 'T-LIB-LYON-01';
const lea = holder('Léa Martin');
let pg: TestPostgres;
const world = new World();
let crashNextCommit = false;
let raw: RawTerminal;

beforeAll(async () => {
  // Durable: a commit answered before the crash must survive it (fsync and synchronous commits on).
  pg = await TestPostgres.start({ durable: true });
  const url = await pg.createDatabase('loss');
  await world.startGateway(
    {
      hooks: {
        beforeCommit: async (_items: readonly LedgerItem[]) => {
          if (!crashNextCommit) return;
          crashNextCommit = false;
          await pg.crash();
        },
      },
    },
    { ledger: { kind: 'postgres', url, maxConnections: 4 } },
  );
  raw = await world.raw(T);
}, 60_000);

afterAll(async () => {
  await world.close();
  await pg?.stop();
});

const sale = (amount: number) => debitBody({ terminalId: T, cardNumber: lea.cardNumber, benefit: 'LEISURE_BOOKS', amount });

describe('the PostgreSQL ledger lost and back', () => {
  it('fails the batch whole and answers nothing while it is down; the resends are decided once when it is back', async () => {
    const l = world.gateway.ledger;
    const first = sale(100);
    await raw.publish(raw.signedFrame(first));
    expect(await raw.waitFor(first.txnId)).toMatchObject({ body: { status: 'approved' } });
    const before = (await l.walletBalance(lea.cardNumber, 'LEISURE_BOOKS'))!;

    // The database dies as the next batch commits: no answer, the failure counted, health degraded.
    const lost = sale(200);
    crashNextCommit = true;
    await raw.publish(raw.signedFrame(lost));
    await expect(raw.waitFor(lost.txnId, 1500)).rejects.toThrow(/no reply/);
    expect(world.gateway.pipeline.stats.ledgerFailures).toBeGreaterThanOrEqual(1);
    const health = await fetch(`${world.gateway.httpUrl}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'degraded', ledger: { ok: false } });

    // Still down: a new request gets no answer either (nothing can be checked or stored).
    const meanwhile = sale(300);
    await raw.publish(raw.signedFrame(meanwhile));
    await expect(raw.waitFor(meanwhile.txnId, 1000)).rejects.toThrow(/no reply/);

    // Back: the terminal resends both, as it does every unanswered request; each is decided once.
    await pg.restart();
    for (const b of [lost, meanwhile]) {
      let reply;
      for (let i = 0; i < 20 && !reply; i++) {
        await raw.publish(raw.signedFrame(b));
        reply = await raw.waitFor(b.txnId, 500).catch(() => undefined);
      }
      expect(reply).toMatchObject({ body: { status: 'approved' } });
    }
    // Sent once more: the original answer, nothing applied again.
    await raw.publish(raw.signedFrame(lost));
    expect(await l.walletBalance(lea.cardNumber, 'LEISURE_BOOKS')).toBe(before - 500);
    for (const b of [first, lost, meanwhile]) expect(await l.transfersForTxn(b.txnId)).toHaveLength(1);
    expect(await l.audit()).toEqual([]);
    expect((await fetch(`${world.gateway.httpUrl}/healthz`)).status).toBe(200);
  }, 60_000);
});
