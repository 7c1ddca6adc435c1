import { WEB_CHANNEL_PREFIX } from '../registry.ts';
import type { TerminalSettings } from '../../../protocol/terminal-settings.ts';
import type { AuditEntry, TerminalContact, EnrolmentCodeRecord, FleetEntry, FleetFilter, FleetLedger, FleetTotals, NewTerminalSettings, TerminalHeartbeat } from '../ledger.ts';
import type { SqlStore } from './store.ts';

/** Terminals in the field: their connects (gateway/contacts.ts), enrolment codes (gateway/enrolment.ts) and the audit log (docs/security.md). */
export class SqlFleet implements FleetLedger {
  readonly #st: SqlStore;

  constructor(st: SqlStore) {
    this.#st = st;
  }

  async recordContacts(contacts: readonly TerminalContact[]): Promise<void> {
    if (contacts.length === 0) return;
    const contact = this.#st.db.prepare<[string, number, number]>(
      'INSERT INTO terminal_contacts (terminal_id, head_seq, at) VALUES (?, ?, ?) ON CONFLICT (terminal_id, head_seq) DO UPDATE SET at = CASE WHEN excluded.at > terminal_contacts.at THEN excluded.at ELSE terminal_contacts.at END',
    );
    const presence = this.#st.db.prepare<[string, number, number]>(
      `INSERT INTO terminal_presence (terminal_id, last_token_ms, connected_at) VALUES (?, ?, ?)
       ON CONFLICT (terminal_id) DO UPDATE SET
         last_token_ms = CASE WHEN excluded.last_token_ms > terminal_presence.last_token_ms THEN excluded.last_token_ms ELSE terminal_presence.last_token_ms END,
         connected_at = CASE WHEN excluded.connected_at > terminal_presence.connected_at THEN excluded.connected_at ELSE terminal_presence.connected_at END`,
    );
    // Monotonic upserts (the later time wins): they commute with every other write, so they do not wait
    // for the writers' turn.
    await this.#st.db.transaction(
      async () => {
        for (const c of contacts) {
          await contact.run(c.terminalId, c.headSeq, c.at);
          await presence.run(c.terminalId, c.tokenMs, c.at);
        }
      },
      { exclusive: false },
    );
  }

  async lastConnectTokenMs(terminalId: string): Promise<number> {
    return (await this.#st.db.prepare<[string], { last_token_ms: number }>('SELECT last_token_ms FROM terminal_presence WHERE terminal_id = ?').get(terminalId))?.last_token_ms ?? 0;
  }

  async contactBounds(terminalId: string, seq: number): Promise<{ after: number | null; before: number | null }> {
    return await contactBounds(this.#st, terminalId, seq);
  }

  async addAudit(e: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.#st.db
      .prepare('INSERT INTO audit_log (at, actor, action, subject, details) VALUES (?, ?, ?, ?, ?)')
      .run(e.at, e.actor, e.action, e.subject, e.details === null ? null : JSON.stringify(e.details));
  }

  async auditLog(filter: { readonly subject?: string; readonly action?: string; readonly limit: number }): Promise<AuditEntry[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.subject !== undefined) (where.push('subject = ?'), args.push(filter.subject));
    if (filter.action !== undefined) (where.push('action = ?'), args.push(filter.action));
    const sql = `SELECT id, at, actor, action, subject, details FROM audit_log ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    return (await this.#st.db
      .prepare<(string | number)[], { id: number; at: number; actor: string; action: string; subject: string; details: string | null }>(sql)
      .all(...args, Math.min(Math.max(filter.limit, 1), 1000)))
      .map((r) => ({ ...r, details: r.details === null ? null : (JSON.parse(r.details) as Record<string, unknown>) }));
  }

  async addEnrolmentCode(c: Omit<EnrolmentCodeRecord, 'failures' | 'usedAt' | 'revokedAt'>): Promise<void> {
    await this.#st.run(
      async () =>
        await this.#st.db
          .prepare(
            'INSERT INTO enrolment_codes (id, secret_hash, partner_id, terminal_id, created_at, expires_at, max_tries, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          )
          .run(c.id, c.secretHash, c.partnerId, c.terminalId, c.createdAt, c.expiresAt, c.maxTries, c.createdBy),
      `enrolment code for ${c.terminalId}`,
    );
  }

  async enrolmentCode(id: string): Promise<EnrolmentCodeRecord | undefined> {
    const r = await this.#st.db.prepare<[string], EnrolmentCodeRow>('SELECT * FROM enrolment_codes WHERE id = ?').get(id);
    return r && enrolmentCodeOf(r);
  }

  async openEnrolmentCodes(): Promise<EnrolmentCodeRecord[]> {
    return (await this.#st.db
      .prepare<[], EnrolmentCodeRow>('SELECT * FROM enrolment_codes WHERE used_at IS NULL AND revoked_at IS NULL ORDER BY created_at DESC, id')
      .all())
      .map(enrolmentCodeOf);
  }

  async countEnrolmentFailure(id: string): Promise<number> {
    return (await this.#st.db.prepare<[string], { failures: number }>('UPDATE enrolment_codes SET failures = failures + 1 WHERE id = ? RETURNING failures').get(id))?.failures ?? 0;
  }

  async useEnrolmentCode(id: string, at: number): Promise<boolean> {
    return (await this.#st.db.prepare('UPDATE enrolment_codes SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL').run(at, id)).changes === 1;
  }

  async releaseEnrolmentCode(id: string, usedAt: number): Promise<boolean> {
    return (await this.#st.db.prepare('UPDATE enrolment_codes SET used_at = NULL WHERE id = ? AND used_at = ? AND revoked_at IS NULL').run(id, usedAt)).changes === 1;
  }

  async revokeEnrolmentCode(id: string, at: number): Promise<boolean> {
    return (await this.#st.db.prepare('UPDATE enrolment_codes SET revoked_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL').run(at, id)).changes === 1;
  }

  async recordHeartbeat(h: TerminalHeartbeat): Promise<boolean> {
    const r = await this.#st.db
      .prepare(
        `INSERT INTO terminal_heartbeats (terminal_id, received_at, sent_at, started_at, software, policy_version, hotlist_version, settings_version, pending, oldest_pending_at, offline_pending, offline_pending_cents, devices, last_sale_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (terminal_id) DO UPDATE SET received_at = excluded.received_at, sent_at = excluded.sent_at, started_at = excluded.started_at, software = excluded.software,
           policy_version = excluded.policy_version, hotlist_version = excluded.hotlist_version, settings_version = excluded.settings_version, pending = excluded.pending,
           oldest_pending_at = excluded.oldest_pending_at, offline_pending = excluded.offline_pending, offline_pending_cents = excluded.offline_pending_cents,
           devices = excluded.devices, last_sale_at = excluded.last_sale_at
         WHERE excluded.sent_at > terminal_heartbeats.sent_at`,
      )
      .run(h.terminalId, h.receivedAt, h.sentAt, h.startedAt, h.software, h.policyVersion, h.hotlistVersion, h.settingsVersion, h.pending, h.oldestPendingAt, h.offlinePending, h.offlinePendingCents, JSON.stringify(h.devices), h.lastSaleAt);
    return r.changes === 1;
  }

  async heartbeat(terminalId: string): Promise<TerminalHeartbeat | undefined> {
    const row = await this.#st.db.prepare<[string], HeartbeatRow>(`SELECT ${HEARTBEAT_COLUMNS} FROM terminal_heartbeats h WHERE terminal_id = ?`).get(terminalId);
    return row && heartbeatOf(row);
  }

  async setTerminalSettings(n: NewTerminalSettings, at: number, actor: string): Promise<TerminalSettings> {
    const db = this.#st.db;
    return await db.transaction(async () => {
      const held = await db.prepare<[string], { version: number }>('SELECT version FROM terminal_settings WHERE terminal_id = ?').get(n.terminalId);
      const s: TerminalSettings = { ...n, version: (held?.version ?? 0) + 1, issuedAt: at };
      await this.#st.run(
        async () =>
          await db
            .prepare(
              `INSERT INTO terminal_settings (terminal_id, version, issued_at, issued_by, settings) VALUES (?, ?, ?, ?, ?)
               ON CONFLICT (terminal_id) DO UPDATE SET version = excluded.version, issued_at = excluded.issued_at, issued_by = excluded.issued_by, settings = excluded.settings`,
            )
            .run(s.terminalId, s.version, at, actor, JSON.stringify(s)),
        `settings of terminal ${n.terminalId}`,
      );
      return s;
    });
  }

  async terminalSettings(terminalId: string): Promise<TerminalSettings | undefined> {
    const row = await this.#st.db.prepare<[string], { settings: string }>('SELECT settings FROM terminal_settings WHERE terminal_id = ?').get(terminalId);
    return row && (JSON.parse(row.settings) as TerminalSettings);
  }

  async allTerminalSettings(): Promise<TerminalSettings[]> {
    return (await this.#st.db
      .prepare<[], { settings: string }>('SELECT settings FROM terminal_settings ORDER BY terminal_id')
      .all())
      .map((r) => JSON.parse(r.settings) as TerminalSettings);
  }

  async fleetTotals(): Promise<FleetTotals> {
    const r = (await this.#st.db
      .prepare<[], { terminals: number; heard: number; with_pending: number; pending: number; offline_pending: number; offline_cents: number }>(
        `SELECT count(*) AS terminals, count(h.terminal_id) AS heard, coalesce(sum(CASE WHEN h.pending > 0 THEN 1 ELSE 0 END), 0) AS with_pending,
                coalesce(sum(h.pending), 0) AS pending, coalesce(sum(h.offline_pending), 0) AS offline_pending, coalesce(sum(h.offline_pending_cents), 0) AS offline_cents
         FROM terminals t LEFT JOIN terminal_heartbeats h ON h.terminal_id = t.id
         WHERE t.active = 1 AND t.id NOT LIKE '${WEB_CHANNEL_PREFIX}%'`,
      )
      .get())!;
    return { terminals: r.terminals, heard: r.heard, withPending: r.with_pending, pending: r.pending, offlinePending: r.offline_pending, offlinePendingCents: r.offline_cents };
  }

  async fleet(filter: FleetFilter): Promise<FleetEntry[]> {
    const where: string[] = [`t.id NOT LIKE '${WEB_CHANNEL_PREFIX}%'`];
    const args: (string | number)[] = [];
    if (filter.partnerId !== undefined) (where.push('t.partner_id = ?'), args.push(filter.partnerId));
    if (filter.silentSince !== undefined) (where.push('(h.received_at IS NULL OR h.received_at < ?)'), args.push(filter.silentSince));
    if (filter.withUnsent) where.push('h.pending > 0');
    const sql = `SELECT t.id AS id, t.partner_id AS partner_id, t.active AS active, ${HEARTBEAT_COLUMNS}
      FROM terminals t LEFT JOIN terminal_heartbeats h ON h.terminal_id = t.id
      WHERE ${where.join(' AND ')}
      ORDER BY h.received_at IS NOT NULL, h.received_at, t.id LIMIT ?`;
    return (await this.#st.db
      .prepare<(string | number)[], HeartbeatRow & { id: string; partner_id: string; active: number }>(sql)
      .all(...args, Math.min(Math.max(filter.limit, 1), 1000)))
      .map((r) => ({ terminalId: r.id, partnerId: r.partner_id, active: r.active === 1, heartbeat: r.received_at === null ? null : heartbeatOf(r) }));
  }
}

/** When record `seq` of a terminal can have been made, from its contacts alone (the offline guarantee asks too). */
export async function contactBounds(st: SqlStore, terminalId: string, seq: number): Promise<{ after: number | null; before: number | null }> {
  const after = (await st.s.contactAfter.get(terminalId, seq))?.at ?? null;
  const before = (await st.s.contactBefore.get(terminalId, seq))?.at ?? null;
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

const HEARTBEAT_COLUMNS =
  'h.terminal_id AS terminal_id, h.received_at AS received_at, h.sent_at AS sent_at, h.started_at AS started_at, h.software AS software, h.policy_version AS policy_version, h.hotlist_version AS hotlist_version, h.settings_version AS settings_version, h.pending AS pending, h.oldest_pending_at AS oldest_pending_at, h.offline_pending AS offline_pending, h.offline_pending_cents AS offline_pending_cents, h.devices AS devices, h.last_sale_at AS last_sale_at';

interface HeartbeatRow {
  terminal_id: string;
  received_at: number;
  sent_at: number;
  started_at: number;
  software: string;
  policy_version: number | null;
  hotlist_version: number | null;
  settings_version: number | null;
  pending: number;
  oldest_pending_at: number | null;
  offline_pending: number;
  offline_pending_cents: number;
  devices: string;
  last_sale_at: number | null;
}

function heartbeatOf(r: HeartbeatRow): TerminalHeartbeat {
  return {
    terminalId: r.terminal_id,
    receivedAt: r.received_at,
    sentAt: r.sent_at,
    startedAt: r.started_at,
    software: r.software,
    policyVersion: r.policy_version,
    hotlistVersion: r.hotlist_version,
    settingsVersion: r.settings_version,
    pending: r.pending,
    oldestPendingAt: r.oldest_pending_at,
    offlinePending: r.offline_pending,
    offlinePendingCents: r.offline_pending_cents,
    devices: JSON.parse(r.devices) as TerminalHeartbeat['devices'],
    lastSaleAt: r.last_sale_at,
  };
}
