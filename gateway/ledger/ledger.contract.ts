import type { OpenLedger } from './fixture.contract.ts';
import { fleetContract } from './fleet.contract.ts';
import { registryContract } from './registry.contract.ts';
import { debitsContract } from './debits.contract.ts';
import { walletsContract } from './wallets.contract.ts';
import { cardsContract } from './cards.contract.ts';
import { correctionsContract } from './corrections.contract.ts';
import { groupSalesContract } from './group-sales.contract.ts';
import { statementsContract } from './statements.contract.ts';
import { offlineContract } from './offline-state.contract.ts';
import { baseContract } from './base.contract.ts';
import { accountsContract } from './accounts.contract.ts';

export type { OpenLedger } from './fixture.contract.ts';

/**
 * The contract every ledger backend passes, one suite per role of `Ledger` (gateway/ledger/*.contract.ts,
 * their seed and helpers in `fixture.contract.ts`). A backend's test file calls `ledgerContract(name, open)`;
 * `open` returns a fresh, empty ledger (with the given rules, or the defaults). Each role's suite runs alone
 * too, with the same `open`. `propertyRuns`: see baseContract.
 *
 * Tests named after a rule (`R9 …`) would fail if that rule of `domain.md` were broken.
 */
export function ledgerContract(name: string, open: OpenLedger, o: { readonly propertyRuns?: number } = {}): void {
  fleetContract(name, open);
  registryContract(name, open);
  debitsContract(name, open);
  walletsContract(name, open);
  cardsContract(name, open);
  correctionsContract(name, open);
  groupSalesContract(name, open);
  statementsContract(name, open);
  offlineContract(name, open);
  baseContract(name, open, o);
  accountsContract(name, open);
}
