import type { Benefit } from '../../../protocol/benefits.ts';
import type { Snapshot, WalletProblem } from '../../rules.ts';
import type { SqlStore } from './store.ts';
import type { WalletRow, CardRow, WalletChoice } from './rows.ts';
import { transfer, fundingAccount } from './journal.ts';

/*
 * Which wallet a sale takes from (R6–R8), and the suspensions that rule wallets out (R5).
 */

/**
 * The wallet a sale takes from (R6–R8): among the youth's wallets for the benefit that are in their
 * window and not suspended, the one whose window ends first and that still holds something; if none
 * holds anything, the first usable one (the sale is then declined as exhausted). Without a usable one,
 * the reason: suspended, not yet valid, or expired. `suspendedKeys`: the suspensions to apply (those in
 * force at an offline sale's time); by default those in force now. `asItStood`: an offline sale within
 * the policy, whose wallet counts what the expiry sweep took from it since the sale (`withExpired`).
 */
export async function chooseWallet(st: SqlStore, card: CardRow, benefit: Benefit, at: number, suspendedKeys?: ReadonlySet<string>, asItStood = false): Promise<WalletChoice> {
  const all = await st.s.wallets.all(card.dossier_id, benefit);
  if (all.length === 0) return { problem: 'none' };
  const suspended = suspendedKeys ?? (card.suspensions > 0 ? await suspendedKeysOf(st, card.dossier_id) : undefined);
  let usable: WalletRow | undefined;
  let problem: WalletProblem = 'expired';
  for (const w of all) {
    if (at < w.valid_from) {
      if (problem === 'expired') problem = 'not-yet-valid';
      continue;
    }
    if (at >= w.valid_until) continue;
    if (suspended && (suspended.has(`*:${w.campaign}`) || suspended.has(`${w.benefit}:${w.campaign}`))) {
      problem = 'suspended';
      continue;
    }
    const v = asItStood && w.access === 0 && w.balance === 0 ? await withExpired(st, w) : w;
    if (v.access === 1 || v.balance > 0) return { wallet: v };
    usable ??= v;
  }
  return usable ? { wallet: usable } : { problem };
}

/**
 * A wallet as it stood before the expiry sweep emptied it: the value the sweep returned to the Region,
 * less what late sales already brought back, counts as its balance (docs/offline.md, "Late sales after
 * expiry"). Only an empty wallet is asked, so the lookup costs nothing on an ordinary sale.
 */
async function withExpired(st: SqlStore, w: WalletRow): Promise<WalletRow> {
  const expired = ((await st.s.expiredOf.get(w.id, w.id))!).n;
  return expired > 0 ? { ...w, balance: w.balance + expired, expired } : w;
}

/**
 * Bring back from the Region's funding account what a late sale takes of its wallet's expired value, so
 * the sale then debits the wallet like any other and the sweep's entry stays as it was written.
 */
export async function restoreExpired(st: SqlStore, txnId: string, w: WalletRow, taken: number, at: number): Promise<void> {
  const amount = Math.min(w.expired ?? 0, taken - (w.balance - (w.expired ?? 0)));
  if (amount > 0) await transfer(st, txnId, 'restore', await fundingAccount(st, w.benefit, w.campaign), w.id, amount, w.unit, at);
}

export async function suspendedKeysOf(st: SqlStore, dossierId: string): Promise<Set<string>> {
  return new Set((await st.s.suspensions.all(dossierId)).map((s) => `${s.benefit ?? '*'}:${s.campaign}`));
}

/** The suspensions in force at `at`: made at or before it, not lifted by then. */
export async function suspendedKeysAt(st: SqlStore, dossierId: string, at: number): Promise<Set<string>> {
  return new Set((await st.s.suspensionsAt.all(dossierId, at, at)).map((s) => `${s.benefit ?? '*'}:${s.campaign}`));
}

export function walletSnapshot(choice: WalletChoice | undefined): Pick<Snapshot, 'wallet' | 'walletProblem'> {
  if (!choice) return {};
  if ('problem' in choice) return { walletProblem: choice.problem };
  return { wallet: { balance: choice.wallet.balance, access: choice.wallet.access === 1 } };
}
