import type { Benefit } from '../../protocol/benefits.ts';
import type { DeclineCode } from '../../protocol/codes.ts';

/**
 * R12: the youths of one outing, approved by the Region (for their school) for one partner and benefit.
 * A group sale names its list: only cards on it, each paid once under it, within the amount per youth.
 */
export interface GroupList {
  readonly id: string;
  readonly partnerId: string;
  readonly benefit: Benefit;
  /** The outing, e.g. "Lycée du Parc, sortie théâtre 12/10". */
  readonly reference: string;
  readonly cardNumbers: readonly string[];
  /** Most taken per youth, in the benefit's unit. */
  readonly maxPerYouth: number;
  /** The last moment a group sale may use it. */
  readonly validUntil: number;
  readonly createdAt: number;
  readonly createdBy: string;
}

export interface GroupSale {
  /** Minted by the caller; a repeat with the same content gets the original results. */
  readonly groupId: string;
  /** The Region's approved list the group's cards come from. */
  readonly listId: string;
  readonly partnerId: string;
  readonly benefit: Benefit;
  /** Per youth, in the benefit's unit. */
  readonly amount: number;
  readonly cardNumbers: readonly string[];
  readonly reference: string;
  readonly at: number;
}

export interface GroupSaleLine {
  readonly cardNumber: string;
  readonly txnId: string;
  readonly status: 'approved' | 'declined';
  readonly code?: DeclineCode;
  readonly taken: number;
  readonly remainingToPay: number;
}

export interface GroupSaleResult {
  readonly groupId: string;
  readonly fresh: boolean;
  readonly lines: readonly GroupSaleLine[];
}

/** R12: a school's outings, paid youth by youth from a list the Region approved. */
export interface GroupSaleLedger {
  /** R12: a school's outing paid with the shows or cinema benefit, each youth's debit on its own, from an approved list. */
  groupSale(g: GroupSale): Promise<GroupSaleResult>;
  addGroupList(l: GroupList): Promise<void>;
  /** The list, with the cards already paid under it. */
  groupList(id: string): Promise<(GroupList & { readonly paid: readonly string[] }) | undefined>;
}
