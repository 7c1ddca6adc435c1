export type ApiRole = 'operator' | 'technician' | 'partner';

/** An HTTP API token: only its hash is stored. A partner token sees only its partner's data. */
export interface ApiTokenRecord {
  readonly name: string;
  readonly role: ApiRole;
  readonly partnerId: string | null;
  readonly createdAt: number;
}

/** The admin API's tokens, by hash: who may call it, in which role. */
export interface TokenLedger {
  /** `demo`: made by the demo seeding, withdrawn by `revokeDemoTokens` when the demo is switched off. */
  addApiToken(t: ApiTokenRecord & { readonly tokenHash: string; readonly demo?: boolean }): Promise<void>;
  apiToken(tokenHash: string): Promise<ApiTokenRecord | undefined>;
  /** Tokens in force, each with its id (the first 16 hex digits of its hash, not a secret). */
  apiTokens(): Promise<(ApiTokenRecord & { readonly id: string })[]>;
  /** Revoke a token by its id; false when no token in force has it. */
  revokeApiToken(id: string, at: number): Promise<boolean>;
  /** Revoke every token the demo seeding made; returns how many were still in force. */
  revokeDemoTokens(at: number): Promise<number>;
}
