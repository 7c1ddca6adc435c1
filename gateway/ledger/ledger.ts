import type { AccountLedger } from './accounts.ts';
import type { LedgerBase } from './base.ts';
import type { CardLedger } from './cards.ts';
import type { CorrectionLedger } from './corrections.ts';
import type { DebitLedger } from './debits.ts';
import type { FleetLedger } from './fleet.ts';
import type { GroupSaleLedger } from './group-sales.ts';
import type { OfflineLedger } from './offline-state.ts';
import type { RegistryLedger } from './registry.ts';
import type { StatementLedger } from './statements.ts';
import type { TokenLedger } from './tokens.ts';
import type { WalletLedger } from './wallets.ts';

export * from './accounts.ts';
export * from './base.ts';
export * from './cards.ts';
export * from './corrections.ts';
export * from './debits.ts';
export * from './fleet.ts';
export * from './group-sales.ts';
export * from './offline-state.ts';
export * from './registry.ts';
export * from './statements.ts';
export * from './tokens.ts';
export * from './wallets.ts';

/**
 * The wallet ledger, behind one interface with one contract test suite per role (`*.contract.ts`, all run
 * by `ledger.contract.ts`) that every backend passes: the SQL ledger (gateway/ledger/sql/) on SQLite, the
 * embedded default (`sqlite.ts`), and on PostgreSQL for region scale (`postgres.ts`). Every method answers
 * with a promise.
 *
 * It is a double-entry journal: every movement is a transfer from one account to another, of a positive
 * amount in one unit. Loading a benefit moves value from the Region's funding account for that benefit
 * and campaign to the youth's wallet; a sale moves it from the wallet to what the Region owes the partner;
 * a correction moves it back; expiry returns what is left to the funding account; a replacement fee goes
 * to the Region's fee account. An account's balance is credits − debits; a wallet's balance is never below
 * zero and never above what was loaded into it.
 *
 * Wallets belong to the youth's dossier, not to a card (R1: the card number is not the dossier number), so
 * a replacement card carries the remaining balances without moving any value (R4).
 *
 * Offline sales (docs/offline.md): what a wallet cannot pay of an offline sale accepted within the signed
 * policy is paid to the partner by the Region's offline guarantee (a 'guarantee' transfer from the Region's
 * `offline-guarantee:<unit>` account), recorded as a loss, and the card is soft-blocked for offline sales.
 *
 * The interface is the union of its roles, each in its own file with its records; a caller that needs one
 * role may ask for that role alone.
 */
export interface Ledger
  extends LedgerBase,
    RegistryLedger,
    FleetLedger,
    CardLedger,
    WalletLedger,
    DebitLedger,
    OfflineLedger,
    CorrectionLedger,
    GroupSaleLedger,
    StatementLedger,
    TokenLedger,
    AccountLedger {}
