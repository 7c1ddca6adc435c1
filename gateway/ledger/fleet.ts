import type { TerminalSettings } from '../../protocol/terminal-settings.ts';

/** One line of the audit log: who did what to which terminal, code, card or token (docs/security.md). */
export interface AuditEntry {
  readonly id: number;
  readonly at: number;
  /** `<role>:<token name>` for an API caller, `enrolment-code:<id>` for a terminal enrolling, `gateway` for itself. */
  readonly actor: string;
  /** e.g. `terminal.registered`, `terminal.key-replaced`, `enrolment-code.failed`, `card.key-recorded`. */
  readonly action: string;
  /** What it was done to: a terminal id, a masked card number, a token id. */
  readonly subject: string;
  readonly details: Readonly<Record<string, unknown>> | null;
}

/** A terminal's admitted connect (gateway/contacts.ts): when, with which outbox head, and its token's time. */
export interface TerminalContact {
  readonly terminalId: string;
  /** The sequence number of the terminal's last record when it connected (0: none). */
  readonly headSeq: number;
  /** The gateway's clock. */
  readonly at: number;
  readonly tokenMs: number;
}

/** An enrolment code as stored: its secret part only as a hash (gateway/enrolment.ts). */
export interface EnrolmentCodeRecord {
  readonly id: string;
  readonly secretHash: string;
  readonly partnerId: string;
  readonly terminalId: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly maxTries: number;
  readonly failures: number;
  readonly createdBy: string;
  readonly usedAt: number | null;
  readonly revokedAt: number | null;
}

/** A terminal's latest heartbeat as the gateway keeps it (protocol/heartbeat.ts), with when it was heard. */
export interface TerminalHeartbeat {
  readonly terminalId: string;
  /** The gateway's clock when it arrived. */
  readonly receivedAt: number;
  /** The terminal's clock when it was sent. */
  readonly sentAt: number;
  readonly startedAt: number;
  readonly software: string;
  readonly policyVersion: number | null;
  readonly hotlistVersion: number | null;
  readonly settingsVersion: number | null;
  readonly pending: number;
  readonly oldestPendingAt: number | null;
  readonly offlinePending: number;
  readonly offlinePendingCents: number;
  readonly devices: Readonly<Record<'nfc' | 'pad' | 'qr', string>>;
  readonly lastSaleAt: number | null;
}

/** One terminal of the fleet view: its registration and its latest heartbeat, if it ever sent one. */
export interface FleetEntry {
  readonly terminalId: string;
  readonly partnerId: string;
  readonly active: boolean;
  readonly heartbeat: TerminalHeartbeat | null;
}

export interface FleetTotals {
  /** Devices registered and active (the web counter's channels are not devices). */
  readonly terminals: number;
  /** Of those, the ones that ever sent a heartbeat. */
  readonly heard: number;
  /** Terminals whose latest heartbeat reported records waiting to be sent, and those records summed. */
  readonly withPending: number;
  readonly pending: number;
  readonly offlinePending: number;
  readonly offlinePendingCents: number;
}

export interface FleetFilter {
  readonly partnerId?: string;
  /** Only terminals not heard since this time (gateway clock), or never heard. */
  readonly silentSince?: number;
  /** Only terminals whose latest heartbeat reported records waiting to be sent. */
  readonly withUnsent?: boolean;
  readonly limit: number;
}

/** What the Region sets for a terminal; the ledger numbers the versions. */
export type NewTerminalSettings = Omit<TerminalSettings, 'version' | 'issuedAt'>;

/** The terminals in the field: their connects, the codes that enrol them, and the audit log of what was done. */
export interface FleetLedger {
  /** Record admitted connects in one transaction (contacts by head, the last token time, the connect time). */
  recordContacts(contacts: readonly TerminalContact[]): Promise<void>;
  /** The time in the last connect token admitted for this terminal (0: none). */
  lastConnectTokenMs(terminalId: string): Promise<number>;
  /**
   * When record `seq` of a terminal can have been made, from its contacts alone: after the latest contact
   * whose head is below `seq`, and no later than the earliest whose head reaches it (null: no such contact).
   */
  contactBounds(terminalId: string, seq: number): Promise<{ readonly after: number | null; readonly before: number | null }>;

  addAudit(e: Omit<AuditEntry, 'id'>): Promise<void>;
  /** Newest first; `limit` at most 1,000. */
  auditLog(filter: { readonly subject?: string; readonly action?: string; readonly limit: number }): Promise<AuditEntry[]>;
  addEnrolmentCode(c: Omit<EnrolmentCodeRecord, 'failures' | 'usedAt' | 'revokedAt'>): Promise<void>;
  enrolmentCode(id: string): Promise<EnrolmentCodeRecord | undefined>;
  /** Codes not yet used nor revoked, newest first. */
  openEnrolmentCodes(): Promise<EnrolmentCodeRecord[]>;
  /** One more wrong try; returns the count. */
  countEnrolmentFailure(id: string): Promise<number>;
  /** Mark used; false when it already was (or was revoked): a code enrols once. */
  useEnrolmentCode(id: string, at: number): Promise<boolean>;
  revokeEnrolmentCode(id: string, at: number): Promise<boolean>;
  /**
   * Undo a use made at `usedAt` that could not complete (the broker refused the terminal's account): the
   * code works again. False when it was not used at that time (used again since, or never).
   */
  releaseEnrolmentCode(id: string, usedAt: number): Promise<boolean>;
  /** Keep a heartbeat unless one sent later (terminal clock) is already kept; false when it was not newer. */
  recordHeartbeat(h: TerminalHeartbeat): Promise<boolean>;
  heartbeat(terminalId: string): Promise<TerminalHeartbeat | undefined>;
  /** Terminals with their latest heartbeat: never heard first, then the longest silent; at most `limit` (1 to 1,000). */
  fleet(filter: FleetFilter): Promise<FleetEntry[]>;
  /** The whole fleet in a few numbers (the gateway's /metrics): what the latest heartbeats report, summed. */
  fleetTotals(): Promise<FleetTotals>;
  /** Store the next version of a terminal's settings (the previous plus one, 1 for the first); returns it. */
  setTerminalSettings(s: NewTerminalSettings, at: number, actor: string): Promise<TerminalSettings>;
  terminalSettings(terminalId: string): Promise<TerminalSettings | undefined>;
  /** Every terminal's settings in force, to push them again (a gateway restart, a new broker). */
  allTerminalSettings(): Promise<TerminalSettings[]>;
}
