import type { PartnerType } from '../../protocol/benefits.ts';
import type { CampaignDef } from '../campaigns.ts';

export interface PartnerRecord {
  readonly id: string;
  readonly name: string;
  readonly type: PartnerType;
  /** The partnership convention's first and last valid days (R10), local dates `YYYY-MM-DD`. */
  readonly conventionFrom: string;
  readonly conventionTo: string;
  /** What the Region pays per entry, in cents: cinema entries (by convention) and museum visits (0 if free). */
  readonly entryPriceCents?: number;
  /** For SEPA reimbursement; optional until the partner has sent its bank details. */
  readonly iban?: string | null;
  readonly bic?: string | null;
}

export interface TerminalRecord {
  readonly id: string;
  readonly partnerId: string;
  readonly publicKey: Uint8Array;
  readonly active: boolean;
}

/** Who may sell, with what, and when: the campaigns, the partners and their terminals. */
export interface RegistryLedger {
  terminal(id: string): TerminalRecord | undefined;
  partner(id: string): PartnerRecord | undefined;
  partners(): PartnerRecord[];
  terminalsOf(partnerId: string): TerminalRecord[];
  addCampaign(def: CampaignDef): void;
  campaigns(): CampaignDef[];
  addPartner(p: PartnerRecord): void;
  updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): void;
  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): void;
  setTerminalActive(id: string, active: boolean): void;
  /** A replaced device: the new key takes over at once and the terminal is active; the old key is refused from now on. */
  replaceTerminalKey(id: string, publicKey: Uint8Array): void;
}
