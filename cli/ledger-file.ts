import { loadGatewayConfig } from '../gateway/config.ts';
import { openConfiguredLedger as open } from '../gateway/ledger-open.ts';
import type { Ledger } from '../gateway/ledger/ledger.ts';

export interface LedgerFileOptions {
  readonly config?: string;
  readonly dataDir?: string;
}

/** The ledger the gateway's configuration names (its SQLite file or PostgreSQL database), opened for an operator command. */
export async function openConfiguredLedger(o: LedgerFileOptions): Promise<{ ledger: Ledger; where: string }> {
  return open(loadGatewayConfig(o.config, { dataDir: o.dataDir }));
}

/** Run an operator command on the configured ledger, closing it however the command ends. */
export async function withConfiguredLedger<T>(o: LedgerFileOptions, fn: (ledger: Ledger) => T): Promise<Awaited<T>> {
  const { ledger } = await openConfiguredLedger(o);
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}
