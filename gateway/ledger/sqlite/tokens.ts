import type { ApiTokenRecord, TokenLedger } from '../ledger.ts';
import type { SqliteStore } from './store.ts';
import type { Synchronous } from "./synchronous.ts";

/** The admin API's tokens, kept by hash. */
export class SqliteTokens implements Synchronous<TokenLedger> {
  readonly #st: SqliteStore;

  constructor(st: SqliteStore) {
    this.#st = st;
  }

  addApiToken(t: ApiTokenRecord & { readonly tokenHash: string; readonly demo?: boolean }): void {
    this.#st.run(
      () =>
        this.#st.db
          .prepare('INSERT INTO api_tokens (token_hash, name, role, partner_id, created_at, demo) VALUES (?, ?, ?, ?, ?, ?)')
          .run(t.tokenHash, t.name, t.role, t.partnerId, t.createdAt, t.demo ? 1 : 0),
      `token ${t.name}`,
    );
  }

  revokeDemoTokens(at: number): number {
    return this.#st.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE demo = 1 AND revoked_at IS NULL').run(at).changes;
  }

  apiToken(tokenHash: string): ApiTokenRecord | undefined {
    const r = this.#st.db
      .prepare<[string], { name: string; role: ApiTokenRecord['role']; partner_id: string | null; created_at: number }>(
        'SELECT name, role, partner_id, created_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL',
      )
      .get(tokenHash);
    return r && { name: r.name, role: r.role, partnerId: r.partner_id, createdAt: r.created_at };
  }

  apiTokens(): (ApiTokenRecord & { readonly id: string })[] {
    return this.#st.db
      .prepare<[], { id: string; name: string; role: ApiTokenRecord['role']; partner_id: string | null; created_at: number }>(
        'SELECT substr(token_hash, 1, 16) AS id, name, role, partner_id, created_at FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at, name',
      )
      .all()
      .map((r) => ({ id: r.id, name: r.name, role: r.role, partnerId: r.partner_id, createdAt: r.created_at }));
  }

  revokeApiToken(id: string, at: number): boolean {
    if (!/^[0-9a-f]{16}$/.test(id)) return false;
    return this.#st.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE substr(token_hash, 1, 16) = ? AND revoked_at IS NULL').run(at, id).changes > 0;
  }
}
