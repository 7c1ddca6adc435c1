import { Type } from '@sinclair/typebox';
import type { FleetEntry } from '../../ledger/ledger.ts';
import { allow, checkPartnerScope, ownPartner, principalOf } from '../auth.ts';
import type { Api, ApiDeps } from '../deps.ts';
import { ERRORS } from '../errors.ts';
import { meta, Obj, PartnerId, Timestamp } from '../schemas.ts';
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
  configVersion: Nullable(Type.Integer()),
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

export function fleetRoutes(api: Api, { ledger, now, config }: ApiDeps): void {
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
      const entries = ledger.fleet({
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
    configVersion: h?.configVersion ?? null,
    queue:
      h === null
        ? null
        : { pending: h.pending, oldestPendingAt: ts(h.oldestPendingAt), offlinePending: h.offlinePending, ...(money ? { offlinePendingCents: h.offlinePendingCents } : {}) },
    devices: h === null ? null : { ...h.devices },
    clockOffsetMs: h === null ? null : h.receivedAt - h.sentAt,
    lastSaleAt: ts(h?.lastSaleAt),
  };
}

