import type { AuditEntry, TerminalContact, EnrolmentCodeRecord, FleetLedger } from '../ledger.ts';
import type { SqliteStore } from './store.ts';

/** Terminals in the field: their connects (gateway/contacts.ts), enrolment codes (gateway/enrolment.ts) and the audit log (docs/security.md). */
export class SqliteFleet implements FleetLedger {
  readonly #st: SqliteStore;

  constructor(st: SqliteStore) {
    this.#st = st;
  }

  recordContacts(contacts: readonly TerminalContact[]): void {
    if (contacts.length === 0) return;
    const contact = this.#st.db.prepare<[string, number, number]>(
      'INSERT INTO terminal_contacts (terminal_id, head_seq, at) VALUES (?, ?, ?) ON CONFLICT (terminal_id, head_seq) DO UPDATE SET at = max(at, excluded.at)',
    );
    const presence = this.#st.db.prepare<[string, number, number]>(
      `INSERT INTO terminal_presence (terminal_id, last_token_ms, connected_at) VALUES (?, ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET last_token_ms = max(last_token_ms, excluded.last_token_ms), connected_at = max(connected_at, excluded.connected_at)`,
    );
    this.#st.db.transaction(() => {
      for (const c of contacts) {
        contact.run(c.terminalId, c.headSeq, c.at);
        presence.run(c.terminalId, c.tokenMs, c.at);
      }
    })();
  }

  lastConnectTokenMs(terminalId: string): number {
    return this.#st.db.prepare<[string], { last_token_ms: number }>('SELECT last_token_ms FROM terminal_presence WHERE terminal_id = ?').get(terminalId)?.last_token_ms ?? 0;
  }

  contactBounds(terminalId: string, seq: number): { after: number | null; before: number | null } {
    return contactBounds(this.#st, terminalId, seq);
  }

  addAudit(e: Omit<AuditEntry, 'id'>): void {
    this.#st.db
      .prepare('INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)')
      .run(e.at, e.actor, e.action, e.subject, e.details === null ? null : JSON.stringify(e.details));
  }

  auditLog(filter: { readonly subject?: string; readonly action?: string; readonly limit: number }): AuditEntry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.subject !== undefined) (where.push('subject = ?'), args.push(filter.subject));
    if (filter.action !== undefined) (where.push('action = ?'), args.push(filter.action));
    const sql = `SELECT id, at, actor, action, subject, details FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    return this.#st.db
      .prepare<(string | number)[], { id: number; at: number; actor: string; action: string; subject: string; details: string | null }>(sql)
      .all(...args, Math.min(Math.max(filter.limit, 1), 1000))
      .map((r) => ({ ...r, details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>) }));
  }

  addEnrolmentCode(c: Omit<EnrolmentCodeRecord, 'failures' | 'usedAt' | 'revokedAt'>): void {
    this.#st.run(
      () =>
        this.#st.db
          .prepare(
            'INSERT INTO enrolment_codes (id, secret_hash, partner_id, terminal_id, created_at, expires_at, max_tries, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(c.id, c.secretHash, c.partnerId, c.terminalId, c.createdAt, c.expiresAt, c.maxTries, c.createdBy),
      `enrolment code for ${c.terminalId}`,
    );
  }

  enrolmentCode(id: string): EnrolmentCodeRecord | undefined {
    const r = this.#st.db.prepare<[string], EnrolmentCodeRow>('SELECT * FROM enrolment_codes WHERE id = ?').get(id);
    return r && enrolmentCodeOf(r);
  }

  openEnrolmentCodes(): EnrolmentCodeRecord[] {
    return this.#st.db
      .prepare<[], EnrolmentCodeRow>('SELECT * FROM enrolment_codes WHERE used_at IS NULL AND revoked_at IS NULL ORDER BY created_at DESC, id')
      .all()
      .map(enrolmentCodeOf);
  }

  countEnrolmentFailure(id: string): number {
    return this.#st.db.prepare<[string], { failures: number }>('UPDATE enrolment_codes SET failures = failures + 1 WHERE id = ? RETURNING failures').get(id)?.failures ?? 0;
  }

  useEnrolmentCode(id: string, at: number): boolean {
    return this.#st.db.prepare('UPDATE enrolment_codes SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL').run(at, id).changes === 1;
  }

  revokeEnrolmentCode(id: string, at: number): boolean {
    return this.#st.db.prepare('UPDATE enrolment_codes SET revoked_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL').run(at, id).changes === 1;
  }
}

/** When record `seq` of a terminal can have been made, from its contacts alone (the offline guarantee asks too). */
export function contactBounds(st: SqliteStore, terminalId: string, seq: number): { after: number | null; before: number | null } {
  const after = st.s.contactAfter.get(terminalId, seq)?.at ?? null;
  const before = st.s.contactBefore.get(terminalId, seq)?.at ?? null;
  return { after, before };
}

interface EnrolmentCodeRow {
  readonly id: string;
  readonly secret_hash: string;
  readonly partner_id: string;
  readonly terminal_id: string;
  readonly created_at: number;
  readonly expires_at: number;
  readonly max_tries: number;
  readonly failures: number;
  readonly created_by: string;
  readonly used_at: number | null;
  readonly revoked_at: number | null;
}

function enrolmentCodeOf(r: EnrolmentCodeRow): EnrolmentCodeRecord {
  return {
    id: r.id,
    secretHash: r.secret_hash,
    partnerId: r.partner_id,
    terminalId: r.terminal_id,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    maxTries: r.max_tries,
    failures: r.failures,
    createdBy: r.created_by,
    usedAt: r.used_at,
    revokedAt: r.revoked_at,
  };
}
