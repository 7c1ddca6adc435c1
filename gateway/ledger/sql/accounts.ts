import type { Benefit, Unit } from '../../../protocol/benefits.ts';
import { addDays, startOfRegionDay } from '../../../common/paris-time.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import type { AccountLedger, ConventionSignature, DailySales, NewWebUser, SaleFilter, SaleLine, SaleState, TerminalRequest, TerminalRequestDecision, WebRole, WebUser } from '../accounts.ts';
import type { SqlStore } from './store.ts';

interface UserRow {
  id: string;
  email: string;
  name: string;
  role: WebRole;
  partner_id: string | null;
  password_hash: string | null;
  failed_logins: number;
  locked_until: number | null;
  session_epoch: number;
  created_at: number;
  invited_by: string;
  invite_expires_at: number | null;
  disabled_at: number | null;
}

const userOf = (r: UserRow): WebUser => ({
  id: r.id,
  email: r.email,
  name: r.name,
  role: r.role,
  partnerId: r.partner_id,
  passwordHash: r.password_hash,
  failedLogins: r.failed_logins,
  lockedUntil: r.locked_until,
  sessionEpoch: r.session_epoch,
  createdAt: r.created_at,
  invitedBy: r.invited_by,
  inviteExpiresAt: r.invite_expires_at,
  disabledAt: r.disabled_at,
});

const USER_COLUMNS = 'id, email, name, role, partner_id, password_hash, failed_logins, locked_until, session_epoch, created_at, invited_by, invite_expires_at, disabled_at';

interface SignatureRow {
  partner_id: string;
  document_id: string;
  document_sha256: string;
  user_id: string;
  signer_name: string;
  signed_at: number;
}

const signatureOf = (r: SignatureRow): ConventionSignature => ({
  partnerId: r.partner_id,
  documentId: r.document_id,
  documentSha256: r.document_sha256,
  userId: r.user_id,
  signerName: r.signer_name,
  signedAt: r.signed_at,
});

interface SaleRow {
  txn_id: string;
  terminal_id: string | null;
  group_id: string | null;
  card_number: string;
  benefit: Benefit;
  unit: Unit;
  quantity: number;
  amount_cents: number;
  guaranteed: number;
  sale_at: number;
  recorded_at: number;
  correction: 'cancellation' | 'reversal' | null;
  corrected_at: number | null;
  statement_id: string | null;
}

const STATE_OF: Record<string, SaleState> = { cancellation: 'cancelled', reversal: 'reversed' };

/** Web accounts, convention signatures and the partners' sales list. */
export class SqlAccounts implements AccountLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async addWebUser(u: NewWebUser): Promise<void> {
    await this.#st.run(
      async () =>
        await this.#st.db
          .prepare(
            `INSERT INTO web_users (id, email, name, role, partner_id, invite_hash, invite_expires_at, created_at, invited_by)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(u.id, u.email.toLowerCase(), u.name, u.role, u.partnerId, u.inviteHash, u.inviteExpiresAt, u.createdAt, u.invitedBy),
      `an account for ${u.email}`,
    );
  }

  async #user(where: string, value: string): Promise<WebUser | undefined> {
    const r = await this.#st.db.prepare<[string], UserRow>(`SELECT ${USER_COLUMNS} FROM web_users WHERE ${where} = ?`).get(value);
    return r && userOf(r);
  }

  async webUser(id: string): Promise<WebUser | undefined> {
    return await this.#user('id', id);
  }

  async webUserByEmail(email: string): Promise<WebUser | undefined> {
    return await this.#user('email', email.toLowerCase());
  }

  async webUserByInvite(inviteHash: string): Promise<WebUser | undefined> {
    return await this.#user('invite_hash', inviteHash);
  }

  async webUsers(partnerId: string | null): Promise<WebUser[]> {
    const sql = `SELECT ${USER_COLUMNS} FROM web_users WHERE ${partnerId === null ? 'partner_id IS NULL' : 'partner_id = ?'} ORDER BY created_at, email`;
    const stmt = this.#st.db.prepare<unknown[], UserRow>(sql);
    return (partnerId === null ? await stmt.all() : await stmt.all(partnerId)).map(userOf);
  }

  async acceptInvitation(id: string, inviteHash: string, passwordHash: string, at: number): Promise<boolean> {
    return (
      (await this.#st.db
        .prepare(
          `UPDATE web_users SET password_hash = ?, invite_hash = NULL, invite_expires_at = NULL, failed_logins = 0, locked_until = NULL, session_epoch = session_epoch + 1
           WHERE id = ? AND invite_hash = ? AND invite_expires_at > ? AND disabled_at IS NULL`,
        )
        .run(passwordHash, id, inviteHash, at)).changes === 1
    );
  }

  async recordLoginFailure(id: string, at: number, lockAfter: number, lockForMs: number): Promise<WebUser> {
    // One statement: two wrong passwords at once cannot both read the same count.
    await this.#st.db
      .prepare(
        `UPDATE web_users SET
           locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END,
           failed_logins = CASE WHEN failed_logins + 1 >= ? THEN 0 ELSE failed_logins + 1 END
         WHERE id = ?`,
      )
      .run(lockAfter, at + lockForMs, lockAfter, id);
    const u = await this.webUser(id);
    if (!u) throw new Error(`recordLoginFailure: no user ${id}`);
    return u;
  }

  async recordLoginSuccess(id: string): Promise<void> {
    await this.#st.db.prepare('UPDATE web_users SET failed_logins = 0, locked_until = NULL WHERE id = ?').run(id);
  }

  async endSessions(id: string): Promise<void> {
    await this.#st.db.prepare('UPDATE web_users SET session_epoch = session_epoch + 1 WHERE id = ?').run(id);
  }

  async setWebPassword(id: string, passwordHash: string): Promise<void> {
    await this.#st.db.prepare('UPDATE web_users SET password_hash = ?, failed_logins = 0, locked_until = NULL, session_epoch = session_epoch + 1 WHERE id = ?').run(passwordHash, id);
  }

  async renewInvitation(id: string, inviteHash: string, expiresAt: number): Promise<boolean> {
    return (await this.#st.db.prepare('UPDATE web_users SET invite_hash = ?, invite_expires_at = ? WHERE id = ? AND disabled_at IS NULL').run(inviteHash, expiresAt, id)).changes === 1;
  }

  async disableWebUser(id: string, at: number): Promise<boolean> {
    return (
      (await this.#st.db
        .prepare('UPDATE web_users SET disabled_at = ?, invite_hash = NULL, invite_expires_at = NULL, session_epoch = session_epoch + 1 WHERE id = ? AND disabled_at IS NULL')
        .run(at, id)).changes === 1
    );
  }

  async signConvention(s: ConventionSignature): Promise<ConventionSignature> {
    await this.#st.run(
      async () =>
        await this.#st.db
          .prepare(
            `INSERT INTO convention_signatures (partner_id, document_id, document_sha256, user_id, signer_name, signed_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (partner_id, document_id) DO NOTHING`,
          )
          .run(s.partnerId, s.documentId, s.documentSha256, s.userId, s.signerName, s.signedAt),
      `a signature of ${s.documentId}`,
    );
    return (await this.conventionSignature(s.partnerId, s.documentId))!;
  }

  async conventionSignature(partnerId: string, documentId: string): Promise<ConventionSignature | undefined> {
    const r = await this.#st.db
      .prepare<[string, string], SignatureRow>('SELECT * FROM convention_signatures WHERE partner_id = ? AND document_id = ?')
      .get(partnerId, documentId);
    return r && signatureOf(r);
  }

  async saleOf(txnId: string): Promise<SaleLine | undefined> {
    return (await this.#sales(["s.kind = 'sale'", 's.txn_id = @txnId'], { txnId, limit: 1 }))[0];
  }

  async partnerSales(f: SaleFilter): Promise<SaleLine[]> {
    const where = ["s.kind = 'sale'", 's.partner_id = @partnerId'];
    if (f.from !== undefined) where.push('s.sale_at >= @from');
    if (f.to !== undefined) where.push('s.sale_at < @to');
    if (f.benefit !== undefined) where.push('s.benefit = @benefit');
    if (f.terminalId !== undefined) where.push('s.terminal_id = @terminalId');
    if (f.state === 'valid') where.push('c.kind IS NULL');
    if (f.state === 'cancelled') where.push("c.kind = 'cancellation'");
    if (f.state === 'reversed') where.push("c.kind = 'reversal'");
    return await this.#sales(where, { partnerId: f.partnerId, from: f.from, to: f.to, benefit: f.benefit, terminalId: f.terminalId, limit: f.limit });
  }

  async #sales(where: readonly string[], params: Record<string, unknown>): Promise<SaleLine[]> {
    const rows = await this.#st.db
      .prepare<Record<string, unknown>, SaleRow>(
        `SELECT s.txn_id, s.terminal_id, s.group_id, s.card_number, s.benefit, s.unit, s.quantity, s.amount_cents, s.guaranteed,
                s.sale_at, s.recorded_at, s.statement_id, c.kind AS correction, c.recorded_at AS corrected_at
         FROM sales s LEFT JOIN sales c ON c.txn_id = s.txn_id AND c.kind <> 'sale'
         WHERE ${where.join(' AND ')}
         ORDER BY s.sale_at DESC, s.id DESC LIMIT @limit`,
      )
      .all(params);
    return rows.map((r) => ({
      txnId: r.txn_id,
      terminalId: r.terminal_id,
      groupId: r.group_id,
      cardNumber: r.card_number,
      benefit: r.benefit,
      unit: r.unit,
      quantity: r.quantity,
      amountCents: r.amount_cents,
      guaranteed: r.guaranteed,
      saleAt: r.sale_at,
      recordedAt: r.recorded_at,
      state: r.correction === null ? 'valid' : STATE_OF[r.correction]!,
      correctedAt: r.corrected_at,
      statementId: r.statement_id,
    }));
  }

  async addTerminalRequest(r: Pick<TerminalRequest, 'id' | 'partnerId' | 'requestedBy' | 'site' | 'note' | 'createdAt'>): Promise<void> {
    await this.#st.run(
      async () =>
        await this.#st.db
          .prepare('INSERT INTO terminal_requests (id, partner_id, requested_by, site, note, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(r.id, r.partnerId, r.requestedBy, r.site, r.note, r.createdAt),
      `terminal request ${r.id}`,
    );
  }

  async terminalRequest(id: string): Promise<TerminalRequest | undefined> {
    const r = await this.#st.db.prepare<[string], RequestRow>('SELECT * FROM terminal_requests WHERE id = ?').get(id);
    return r && requestOf(r);
  }

  async terminalRequests(filter: { readonly partnerId?: string; readonly status?: TerminalRequest['status'] }): Promise<TerminalRequest[]> {
    return (await this.#st.db
      .prepare<{ p: string | null; s: string | null }, RequestRow>(
        'SELECT * FROM terminal_requests WHERE (CAST(@p AS TEXT) IS NULL OR partner_id = @p) AND (CAST(@s AS TEXT) IS NULL OR status = @s) ORDER BY created_at DESC, id DESC LIMIT 500',
      )
      .all({ p: filter.partnerId ?? null, s: filter.status ?? null }))
      .map(requestOf);
  }

  async decideTerminalRequest(id: string, d: TerminalRequestDecision, by: string, at: number): Promise<boolean> {
    const approved = d.status === 'approved';
    return (
      (await this.#st.db
        .prepare("UPDATE terminal_requests SET status = ?, decided_by = ?, decided_at = ?, terminal_id = ?, code_id = ?, refusal = ? WHERE id = ? AND status = 'open'")
        .run(d.status, by, at, approved ? d.terminalId : null, approved ? d.codeId : null, approved ? null : d.refusal, id)).changes === 1
    );
  }

  async partnerProofs(partnerId: string): Promise<string[]> {
    return (await this.#st.db
      .prepare<[string], { school_year: string }>('SELECT school_year FROM partner_proofs WHERE partner_id = ? ORDER BY school_year')
      .all(partnerId))
      .map((r) => r.school_year);
  }

  async dailySales(fromDay: string, toDay: string): Promise<DailySales[]> {
    if (toDay < fromDay || addDays(fromDay, 366) < toDay) throw new PasserelleError('DATA_INVALID', 'a chart covers 1 to 366 days');
    const stmt = this.#st.db.prepare<[number, number], { benefit: DailySales['benefit']; n: number; off: number; cents: number }>(
      `SELECT s.benefit AS benefit, count(*) AS n, count(o.txn_id) AS off, sum(s.amount_cents) AS cents
       FROM sales s LEFT JOIN offline_sales o ON o.txn_id = s.txn_id
       WHERE s.kind = 'sale' AND s.sale_at >= ? AND s.sale_at < ? GROUP BY s.benefit ORDER BY s.benefit`,
    );
    const out: DailySales[] = [];
    // One range per Paris day (23, 24 or 25 hours), each read through the sale-time index.
    for (let day = fromDay; day <= toDay; day = addDays(day, 1)) {
      for (const r of await stmt.all(startOfRegionDay(day), startOfRegionDay(addDays(day, 1)))) out.push({ day, benefit: r.benefit, sales: r.n, offline: r.off, amountCents: r.cents });
    }
    return out;
  }
}

interface RequestRow {
  id: string;
  partner_id: string;
  requested_by: string;
  site: string;
  note: string;
  created_at: number;
  status: TerminalRequest['status'];
  decided_by: string | null;
  decided_at: number | null;
  terminal_id: string | null;
  code_id: string | null;
  refusal: string | null;
}

function requestOf(r: RequestRow): TerminalRequest {
  return {
    id: r.id,
    partnerId: r.partner_id,
    requestedBy: r.requested_by,
    site: r.site,
    note: r.note,
    createdAt: r.created_at,
    status: r.status,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    terminalId: r.terminal_id,
    codeId: r.code_id,
    refusal: r.refusal,
  };
}
