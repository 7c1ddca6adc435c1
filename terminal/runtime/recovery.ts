import type { Logger } from '../../common/log.ts';
import type { RecordStore } from '../outbox-store.ts';
import { screens, type Screen } from '../screens.ts';

/**
 * After a restart: an online sale still waiting for its reply never had its result shown (the power
 * went during the sale), so it is voided: the gateway undoes it if it was applied. The last sale's
 * state is shown again, so a result committed just before the cut is not lost to the cashier. Returns
 * that screen, if there was a sale.
 */
export function recoverAfterRestart(d: {
  readonly outbox: Pick<RecordStore, 'unvoidedOnline' | 'atomically' | 'lastSale'>;
  readonly records: { voidSale(target: string, reason: 'interrupted'): unknown };
  readonly log: Logger;
}): Screen | undefined {
  const interrupted = d.outbox.unvoidedOnline();
  if (interrupted.length > 0) {
    d.outbox.atomically(() => {
      for (const e of interrupted) d.records.voidSale(e.txnId, 'interrupted');
    });
    d.log.warn({ voided: interrupted.map((e) => e.txnId) }, 'sales interrupted before their result was shown are voided');
  }
  const last = d.outbox.lastSale();
  return last ? screens.lastSale(last) : undefined;
}
