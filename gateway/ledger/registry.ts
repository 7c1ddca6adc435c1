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

/**
 * The partner web counter's sales are records of a terminal id the gateway owns per partner
 * (`WEB-<partner id>`, gateway/web/counter.ts): never a device, never on the broker, never enrolled, not in
 * the fleet nor in a partner's list of terminals.
 */
export const WEB_CHANNEL_PREFIX = 'WEB-';
export const webChannelId = (partnerId: string): string => `${WEB_CHANNEL_PREFIX}${partnerId}`;
export const isWebChannel = (terminalId: string): boolean => terminalId.startsWith(WEB_CHANNEL_PREFIX);

export interface TerminalRecord {
  readonly id: string;
  readonly partnerId: string;
  readonly publicKey: Uint8Array;
  readonly active: boolean;
}

/** Who may sell, with what, and when: the campaigns, the partners and their terminals. */
export interface RegistryLedger {
  terminal(id: string): Promise<TerminalRecord | undefined>;
  partner(id: string): Promise<PartnerRecord | undefined>;
  partners(): Promise<PartnerRecord[]>;
  /** A partner's devices (not its web counter channel). */
  terminalsOf(partnerId: string): Promise<TerminalRecord[]>;
  addCampaign(def: CampaignDef): Promise<void>;
  campaigns(): Promise<CampaignDef[]>;
  addPartner(p: PartnerRecord): Promise<void>;
  updatePartner(id: string, patch: Partial<Omit<PartnerRecord, 'id' | 'type'>>): Promise<void>;
  addTerminal(t: Omit<TerminalRecord, 'active'> & { active?: boolean }): Promise<void>;
  setTerminalActive(id: string, active: boolean): Promise<void>;
  /** A replaced device: the new key takes over at once and the terminal is active; the old key is refused from now on. */
  replaceTerminalKey(id: string, publicKey: Uint8Array): Promise<void>;
}
