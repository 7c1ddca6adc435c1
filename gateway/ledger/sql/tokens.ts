import type { ApiTokenRecord, TokenLedger } from '../ledger.ts';
import type { SqlStore } from './store.ts';

/** The admin API's tokens, kept by hash. */
export class SqlTokens implements TokenLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async addApiToken(t: ApiTokenRecord & { readonly tokenHash: string; readonly demo?: boolean }): Promise<void> {
    await this.#st.run(
      async () =>
        await this.#st.db
          .prepare('INSERT INTO api_tokens (token_hash, name, role, partner_id, created_at, demo) VALUES (?, ?, ?, ?, ?, ?)')
          .run(t.tokenHash, t.name, t.role, t.partnerId, t.createdAt, t.demo ? 1 : 0),
      `token ${t.name}`,
    );
  }

  async revokeDemoTokens(at: number): Promise<number> {
    return (await this.#st.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE demo = 1 AND revoked_at IS NULL').run(at)).changes;
  }

  async apiToken(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.#st.db
      .prepare<[string], { name: string; role: ApiTokenRecord['role']; partner_id: string | null; created_at: number }>(
        'SELECT name, role, partner_id, created_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL',
      )
      .get(tokenHash);
    return r && { name: r.name, role: r.role, partnerId: r.partner_id, createdAt: r.created_at };
  }

  async apiTokens(): Promise<(ApiTokenRecord & { readonly id: string })[]> {
    return (await this.#st.db
      .prepare<[], { id: string; name: string; role: ApiTokenRecord['role']; partner_id: string | null; created_at: number }>(
        'SELECT substr(token_hash, 1, 16) AS id, name, role, partner_id, created_at FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at, name',
      )
      .all())
      .map((r) => ({ id: r.id, name: r.name, role: r.role, partnerId: r.partner_id, createdAt: r.created_at }));
  }

  async revokeApiToken(id: string, at: number): Promise<boolean> {
    if (!/^[0-9a-f]{16}$/.test(id)) return false;
    return (await this.#st.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE substr(token_hash, 1, 16) = ? AND revoked_at IS NULL').run(at, id)).changes > 0;
  }
}
