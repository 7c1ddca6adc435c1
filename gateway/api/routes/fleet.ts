import { Type } from '@sinclair/typebox';
import type { FleetEntry } from '../../ledger/ledger.ts';
import { PARTNER_TYPES } from '../../../protocol/benefits.ts';
import { PasserelleError } from '../../../protocol/errors.ts';
import { HeartbeatS, OfferedBenefits, ReplyTimeoutMs, ResendIntervalMs } from '../../../protocol/terminal-settings.ts';
import { actorOf, allow, checkPartnerScope, ownPartner, principalOf } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { meta, Obj, PartnerId, TerminalId, Timestamp } from '../schemas.ts';
import { iso } from '../views.ts';

/**
 * The fleet view (issue "the terminal as a product"): every terminal with what its latest heartbeat said
 * (gateway/heartbeats.ts) and how long ago it was heard. `online` means heard within `onlineWithinS`
 * (config `fleet.onlineWithinS`), so the view is the same from any gateway. The Region's question, "which
 * terminals are silent while they hold unsent sales?", is `?silentForS=…&unsent=true`. A partner sees its
 * own terminals; a technician sees no money (the amount of offline sales waiting is left out).
 */

const Nullable = <T extends ReturnType<typeof Type.Integer> | typeof Timestamp>(t: T) => Type.Union([t, Type.Null()]);

const FleetTerminal = Obj({
  terminalId: Type.String(),
  partnerId: Type.String(),
  active: Type.Boolean(),
  state: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('never-heard')], { description: 'online: heard within fleet.onlineWithinS' }),
  lastHeardAt: Nullable(Timestamp),
  silentForS: Nullable(Type.Integer({ description: 'Seconds since the last heartbeat' })),
  software: Type.Union([Type.String(), Type.Null()]),
  startedAt: Nullable(Timestamp),
  policyVersion: Nullable(Type.Integer()),
  hotlistVersion: Nullable(Type.Integer()),
  settingsVersion: Nullable(Type.Integer()),
  queue: Type.Union([
    Obj({
      pending: Type.Integer({ description: 'Records not yet acknowledged by the gateway, as the terminal last reported' }),
      oldestPendingAt: Nullable(Timestamp),
      offlinePending: Type.Integer(),
      offlinePendingCents: Type.Optional(Type.Integer({ description: 'Not shown to a technician' })),
    }),
    Type.Null(),
  ]),
  devices: Type.Union([Obj({ nfc: Type.String(), pad: Type.String(), qr: Type.String() }), Type.Null()]),
  clockOffsetMs: Nullable(Type.Integer({ description: "The gateway's clock minus the terminal's, when the heartbeat arrived (includes its transit)" })),
  lastSaleAt: Nullable(Timestamp),
});

const FleetQuery = Obj({
  partnerId: Type.Optional(PartnerId),
  silentForS: Type.Optional(Type.Integer({ minimum: 1, maximum: 31_536_000, description: 'Only terminals not heard for at least this long (or never)' })),
  unsent: Type.Optional(Type.Boolean({ description: 'Only terminals whose last heartbeat reported records not yet sent' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 200 })),
});

const SettingsParams = Obj({ terminalId: TerminalId });

const NewSettings = Obj({
  benefits: OfferedBenefits,
  replyTimeoutMs: Type.Optional(ReplyTimeoutMs),
  resendIntervalMs: Type.Optional(ResendIntervalMs),
  heartbeatS: Type.Optional(HeartbeatS),
});

const SettingsView = Obj({
  terminalId: Type.String(),
  settings: Type.Union([
    Obj({
      version: Type.Integer(),
      issuedAt: Timestamp,
      benefits: Type.Array(Type.String()),
      replyTimeoutMs: Type.Integer(),
      resendIntervalMs: Type.Integer(),
      heartbeatS: Type.Integer(),
    }),
    Type.Null(),
  ], { description: 'null: none set at the gateway; the terminal runs with what it was enrolled with' }),
  inForce: Nullable(Type.Integer({ description: "The settings version the terminal's latest heartbeat reported (null: its enrolment settings, or never heard)" })),
});

async function settingsView(ledger: ApiDeps['ledger'], terminalId: string) {
  const s = await ledger.terminalSettings(terminalId);
  return {
    terminalId,
    settings: s ? { version: s.version, issuedAt: iso(s.issuedAt), benefits: [...s.benefits], replyTimeoutMs: s.replyTimeoutMs, resendIntervalMs: s.resendIntervalMs, heartbeatS: s.heartbeatS } : null,
    inForce: (await ledger.heartbeat(terminalId))?.settingsVersion ?? null,
  };
}

export function fleetRoutes(api: Api, { ledger, now, config, fleet }: ApiDeps): void {
  api.get(
    '/terminals/:terminalId/settings',
    {
      config: allow('operator', 'technician', 'partner'),
      schema: { ...meta('terminals', "A terminal's settings set at the gateway, and the version it reports in force (a partner reads its own)"), params: SettingsParams, response: { 200: SettingsView, ...ERRORS } },
    },
    async (req) => {
      const t = await ledger.terminal(req.params.terminalId);
      if (!t) throw new PasserelleError('NOT_FOUND', `no terminal ${req.params.terminalId}`);
      checkPartnerScope(principalOf(req), t.partnerId);
      return await settingsView(ledger, t.id);
    },
  );

  api.put(
    '/terminals/:terminalId/settings',
    {
      config: allow('operator'),
      schema: {
        ...meta('terminals', "Set a terminal's benefits and timeouts: the next version, pushed signed to the terminal, which applies it whole and reports it in its heartbeat"),
        params: SettingsParams,
        body: NewSettings,
        response: { 200: SettingsView, ...ERRORS },
      },
    },
    async (req) => {
      const t = await ledger.terminal(req.params.terminalId);
      if (!t) throw new PasserelleError('NOT_FOUND', `no terminal ${req.params.terminalId}`);
      const partner = (await ledger.partner(t.partnerId))!;
      const allowed: readonly string[] = PARTNER_TYPES[partner.type].benefits;
      const refused = req.body.benefits.filter((b) => !allowed.includes(b));
      if (refused.length > 0) throw new PasserelleError('BENEFIT_NOT_ALLOWED', `a ${partner.type} may not debit ${refused.join(', ')} (R10)`);
      const at = now();
      const s = await ledger.atomically(async () => {
        const set = await ledger.setTerminalSettings(
          {
            terminalId: t.id,
            benefits: req.body.benefits,
            replyTimeoutMs: req.body.replyTimeoutMs ?? ReplyTimeoutMs.default,
            resendIntervalMs: req.body.resendIntervalMs ?? ResendIntervalMs.default,
            heartbeatS: req.body.heartbeatS ?? HeartbeatS.default,
          },
          at,
          actorOf(req),
        );
        await ledger.addAudit({ at, actor: actorOf(req), action: 'terminal.settings-set', subject: t.id, details: { ...set } });
        return set;
      });
      fleet.publishSettings(s);
      return await settingsView(ledger, t.id);
    },
  );


  api.get(
    '/fleet',
    {
      config: allow('operator', 'technician', 'partner'),
      schema: {
        ...meta('terminals', 'The terminals with their latest heartbeat, never heard and longest silent first (a partner sees its own)'),
        querystring: FleetQuery,
        response: { 200: Type.Array(FleetTerminal), ...ERRORS },
      },
    },
    async (req) => {
      const p = principalOf(req);
      if (req.query.partnerId !== undefined) checkPartnerScope(p, req.query.partnerId);
      const partnerId = ownPartner(p) ?? req.query.partnerId;
      const at = now();
      const entries = await ledger.fleet({
        ...(partnerId !== undefined ? { partnerId } : {}),
        ...(req.query.silentForS !== undefined ? { silentSince: at - req.query.silentForS * 1000 } : {}),
        ...(req.query.unsent ? { withUnsent: true } : {}),
        limit: req.query.limit ?? 200,
      });
      return entries.map((e) => fleetView(e, at, config.fleetOnlineWithinS, p.role !== 'technician'));
    },
  );
}

function fleetView(e: FleetEntry, at: number, onlineWithinS: number, money: boolean) {
  const h = e.heartbeat;
  const ts = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : iso(ms));
  return {
    terminalId: e.terminalId,
    partnerId: e.partnerId,
    active: e.active,
    state: h === null ? ('never-heard' as const) : at - h.receivedAt <= onlineWithinS * 1000 ? ('online' as const) : ('offline' as const),
    lastHeardAt: ts(h?.receivedAt),
    silentForS: h === null ? null : Math.max(0, Math.floor((at - h.receivedAt) / 1000)),
    software: h?.software ?? null,
    startedAt: ts(h?.startedAt),
    policyVersion: h?.policyVersion ?? null,
    hotlistVersion: h?.hotlistVersion ?? null,
    settingsVersion: h?.settingsVersion ?? null,
    queue:
      h === null
        ? null
        : { pending: h.pending, oldestPendingAt: ts(h.oldestPendingAt), offlinePending: h.offlinePending, ...(money ? { offlinePendingCents: h.offlinePendingCents } : {}) },
    devices: h === null ? null : { ...h.devices },
    clockOffsetMs: h === null ? null : h.receivedAt - h.sentAt,
    lastSaleAt: ts(h?.lastSaleAt),
  };
}

