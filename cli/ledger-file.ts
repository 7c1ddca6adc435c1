import { mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { loadGatewayConfig } from '../gateway/config.ts';
import { SqliteLedger } from '../gateway/ledger/sqlite.ts';

export interface LedgerFileOptions {
  readonly config?: string;
  readonly dataDir?: string;
}

/** The ledger file the gateway's configuration names, opened for an operator command. */
export function openConfiguredLedger(o: LedgerFileOptions): { ledger: SqliteLedger; file: string } {
  const config = loadGatewayConfig(o.config, { dataDir: o.dataDir });
  const file = isAbsolute(config.ledger.file) ? config.ledger.file : join(config.dataDir, config.ledger.file);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  return { ledger: new SqliteLedger({ file, rules: config.rules }), file };
}

/** Run an operator command on the configured ledger file, closing it however the command ends. */
export async function withConfiguredLedger<T>(o: LedgerFileOptions, fn: (ledger: SqliteLedger) => T): Promise<T> {
  const { ledger } = openConfiguredLedger(o);
  try {
    return await fn(ledger);
  } finally {
    await ledger.close();
  }
}
