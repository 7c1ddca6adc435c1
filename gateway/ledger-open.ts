import { mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '../common/log.ts';
import type { GatewayConfig } from './config.ts';
import type { Ledger } from './ledger/ledger.ts';
import { PostgresLedger } from './ledger/postgres.ts';
import { SqliteLedger } from './ledger/sqlite.ts';

/** The ledger a gateway's configuration names, opened (a PostgreSQL schema is migrated first), and where it is. */
export async function openConfiguredLedger(config: GatewayConfig, log?: Logger): Promise<{ readonly ledger: Ledger; readonly where: string }> {
  const rules = { replacementFeeCents: config.rules.replacementFeeCents, replacementFeeOrder: config.rules.replacementFeeOrder };
  if (config.ledger.kind === 'postgres') {
    const url = config.ledger.url!;
    const ledger = await PostgresLedger.open({ url, rules, maxConnections: config.ledger.maxConnections, onIdleError: (err) => log?.warn({ err }, 'a PostgreSQL connection failed while idle; the next query opens another') });
    return { ledger, where: withoutPassword(url) };
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const file = isAbsolute(config.ledger.file) ? config.ledger.file : join(config.dataDir, config.ledger.file);
  return { ledger: new SqliteLedger({ file, rules }), where: file };
}

/** A database URL fit for a log line or a message: its password, if any, hidden. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unreadable url)';
  }
}
