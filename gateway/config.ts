import { PasserelleError } from '../protocol/errors.ts';
import { DEFAULT_OFFLINE_LIMITS, OfflineLimits } from '../protocol/offline.ts';
import { Type, type Static } from '@sinclair/typebox';
import { mergeConfig, parseConfig, readJsonFile } from '../common/config.ts';
import { BenefitSchema } from '../protocol/messages.ts';
import { DEFAULT_LEDGER_RULES } from './ledger/ledger.ts';

/**
 * The gateway's configuration: one schema with defaults, ranges and descriptions, validated at start.
 * A bad value fails fast, naming its path. Relative file paths are relative to `dataDir`.
 */

const Port = (d: number, description: string) => Type.Integer({ minimum: 0, maximum: 65535, default: d, description });
const Section = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, default: {}, description });

export const GatewayConfigSchema = Type.Object(
  {
    dataDir: Type.String({ minLength: 1, default: 'data', description: 'Directory for the ledger file and the gateway keys' }),
    seedDemo: Type.Boolean({ default: true, description: 'Seed the demo partners, terminals and cards when the ledger is empty' }),
    mqtt: Section(
      {
        host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address the embedded MQTT broker listens on' }),
        // Not 1883: a site often runs Mosquitto there already; the embedded broker must not fight it.
        port: Port(1884, 'Port of the embedded MQTT broker (0 picks a free one)'),
        publicUrl: Type.Optional(
          Type.String({ pattern: '^mqtts?://[^/\\s]+$', description: 'The broker URL terminals are given at enrolment (default: built from host and port)' }),
        ),
        external: Type.Optional(
          Type.Object(
            {
              url: Type.String({ pattern: '^mqtts?://[^/\\s]+$', description: 'The external broker (Mosquitto 2 with its dynamic security plugin) the gateway connects to as a client' }),
              username: Type.String({ minLength: 1, default: 'passerelle-gateway', description: "The gateway's account on the broker; it must hold the plugin's admin role" }),
              password: Type.Optional(Type.String({ minLength: 1, description: 'Its password; better given by the PASSERELLE_MQTT_PASSWORD environment variable' })),
              group: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', default: 'passerelle', description: "The shared subscription group: the region's gateways split the terminals' requests within it" }),
              clientId: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: "This gateway's MQTT client id, unique among the gateways (default: gateway-<host>-<pid>)" })),
              certFile: Type.Optional(Type.String({ minLength: 1, description: "For an mqtts:// URL: the broker's certificate (PEM), pinned by the gateway and given to terminals at enrolment" })),
            },
            { additionalProperties: false, description: 'Region scale: an external broker instead of the embedded one (host, port, tls and the connection limits then do not apply)' },
          ),
        ),
        connectTokenMaxAgeS: Type.Integer({
          minimum: 10,
          maximum: 86_400,
          default: 900,
          description: "How far a terminal's connect token time may be from the gateway's clock, in seconds (each token is also used once)",
        }),
        tls: Type.Object(
          {
            mode: Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
              default: 'auto',
              description: 'auto: MQTT over TLS unless the broker listens on loopback; on: always; off: never (a network only trusted parties can reach)',
            }),
            certFile: Type.Optional(Type.String({ minLength: 1, description: "The broker's certificate (PEM); default: the gateway's own, made at first start in the data directory" })),
            keyFile: Type.Optional(Type.String({ minLength: 1, description: 'Its private key (PEM)' })),
          },
          { additionalProperties: false, default: {}, description: 'MQTT over TLS; terminals pin the certificate (given at enrolment)' },
        ),
        maxConnectBytes: Type.Integer({ minimum: 128, maximum: 65_536, default: 1024, description: 'Largest CONNECT packet; a socket declaring more is cut before anything is buffered' }),
        maxPacketBytes: Type.Integer({
          minimum: 17 * 1024,
          maximum: 1024 * 1024,
          default: 20 * 1024,
          description: 'Largest packet after the CONNECT (a signed request is at most 16 KiB, plus its topic); larger ones cut the connection',
        }),
        connectTimeoutS: Type.Integer({ minimum: 1, maximum: 300, default: 10, description: 'A socket must send its CONNECT within this many seconds' }),
        drainTimeoutS: Type.Integer({ minimum: 1, maximum: 300, default: 10, description: 'A terminal that stops reading its replies is cut after this many seconds (it would stall delivery to the others)' }),
        maxConnections: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 50_000, description: 'Open sockets in all' }),
        maxPendingConnectsPerAddress: Type.Integer({ minimum: 1, maximum: 100_000, default: 200, description: 'Sockets from one address not yet authenticated (terminals behind one NAT share an address)' }),
        failedConnects: Type.Object(
          {
            points: Type.Integer({ minimum: 1, maximum: 100_000, default: 20, description: 'Failed connects allowed per address in the window' }),
            durationS: Type.Integer({ minimum: 1, maximum: 86_400, default: 60, description: 'The window, in seconds' }),
            blockS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300, description: 'How long an address over the limit is refused, in seconds' }),
          },
          { additionalProperties: false, default: {}, description: 'Throttle on failed connects, per address' },
        ),
      },
      'Embedded MQTT broker (aedes)',
    ),
    http: Section(
      {
        host: Type.String({ minLength: 1, default: '127.0.0.1', description: 'Address the HTTP API listens on' }),
        port: Port(8080, 'Port of the HTTP API (0 picks a free one)'),
        trustProxy: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
          default: [],
          maxItems: 32,
          description:
            "Addresses or CIDR ranges of the reverse proxies in front of the gateway (e.g. [\"127.0.0.1\"]): their X-Forwarded-For and X-Forwarded-Proto are believed, so rate limits count each client's address, the session cookie is Secure behind HTTPS and invitation links carry the public address. Empty: no header is believed",
        }),
        metricsAllow: Type.Array(Type.String({ minLength: 2, maxLength: 64 }), {
          default: ['127.0.0.1', '::1'],
          maxItems: 64,
          description: 'Addresses or CIDR ranges (e.g. 10.0.0.0/8) that may read /metrics (Prometheus); others get 403. Empty: nobody',
        }),
        rateLimit: Type.Object(
          {
            perMinute: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 600, description: 'Requests per minute for one API token' }),
            anonymousPerMinute: Type.Integer({
              minimum: 1,
              maximum: 1_000_000,
              default: 60,
              description: 'Requests per minute from one address without a valid token (enrolment, health, docs, refused tokens)',
            }),
            webPerMinute: Type.Integer({
              minimum: 1,
              maximum: 1_000_000,
              default: 600,
              description: 'Requests per minute from one address to the web pages and their files (a shop or an office may share one address); logins have their own limit (web.loginPerMinute)',
            }),
          },
          { additionalProperties: false, default: {}, description: 'HTTP rate limits: beyond them, 429 RATE_LIMITED with Retry-After' },
        ),
      },
      'HTTP API (fastify)',
    ),
    ledger: Section(
      {
        kind: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], {
          default: 'sqlite',
          description: 'sqlite: one file, one gateway (the embedded default); postgres: a PostgreSQL database several gateways share (region scale)',
        }),
        file: Type.String({ minLength: 1, default: 'ledger.sqlite', description: 'SQLite ledger file (kind sqlite)' }),
        url: Type.Optional(
          Type.String({
            pattern: '^postgres(ql)?://\\S+$',
            description: 'PostgreSQL database (kind postgres): postgres://user@host:port/database; give the password by PGPASSWORD or ~/.pgpass rather than in the URL',
          }),
        ),
        maxConnections: Type.Integer({ minimum: 1, maximum: 200, default: 10, description: 'PostgreSQL connections this gateway opens at most' }),
      },
      'Ledger',
    ),
    batch: Section(
      {
        maxItems: Type.Integer({ minimum: 1, maximum: 4096, default: 512, description: 'Most debits committed in one transaction' }),
        maxWaitMs: Type.Integer({
          minimum: 0,
          maximum: 50,
          default: 0,
          description: 'How long a batch waits for more debits; 0 commits what arrived in one turn of the event loop',
        }),
      },
      'Group commit',
    ),
    limits: Section(
      {
        maxInFlight: Type.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 20_000,
          description: 'Requests being verified or waiting for commit; beyond it the gateway answers GATEWAY_BUSY',
        }),
        maxInFlightPerTerminal: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 2_000,
          description: "One terminal's share of those: beyond it that terminal is answered GATEWAY_BUSY (others are not slowed)",
        }),
        terminalRecords: Type.Object(
          {
            points: Type.Integer({
              minimum: 1,
              maximum: 10_000_000,
              default: 6000,
              description: "New records (sales and voids) one terminal may have stored in the window: room for a full offline backlog (policy maxPendingCount, with voids)",
            }),
            durationS: Type.Integer({ minimum: 1, maximum: 86_400, default: 600, description: 'The window, in seconds' }),
          },
          {
            additionalProperties: false,
            default: {},
            description: 'Beyond it, new records are answered RATE_LIMITED (retryable: the terminal resends later) and nothing is stored; repeats are still answered',
          },
        ),
      },
      'Limits',
    ),
    rules: Section(
      {
        replacementFeeCents: Type.Integer({
          minimum: 0,
          maximum: 10_000,
          default: DEFAULT_LEDGER_RULES.replacementFeeCents,
          description: 'R4: fee for a card replaced after loss, theft or breakage, in cents (5 € in the documents)',
        }),
        replacementFeeOrder: Type.Array(BenefitSchema, {
          minItems: 1,
          uniqueItems: true,
          default: [...DEFAULT_LEDGER_RULES.replacementFeeOrder],
          description: 'R4: benefits the fee is taken from, the first whose wallet can pay it whole',
        }),
        expirySweepS: Type.Integer({
          minimum: 0,
          maximum: 86_400,
          default: 3600,
          description: 'R7: how often ended wallets are swept back to the Region, in seconds (0: only on request); sales check windows anyway',
        }),
      },
      'Rules the documents leave to the Region',
    ),
    offline: Section(
      {
        limits: Type.Object(
          Object.fromEntries(
            Object.entries(OfflineLimits.properties).map(([k, schema]) => [
              k,
              { ...schema, default: DEFAULT_OFFLINE_LIMITS[k as keyof typeof DEFAULT_OFFLINE_LIMITS] },
            ]),
          ) as typeof OfflineLimits.properties,
          { additionalProperties: false, default: {}, description: 'The signed offline policy pushed to every terminal (docs/offline.md)' },
        ),
        hotlistRefreshS: Type.Integer({
          minimum: 1,
          maximum: 86_400,
          default: 60,
          description: 'How often the hotlist is signed again with a fresh time, so quiet days do not look stale to terminals',
        }),
        hotlistFullEvery: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 500,
          description: 'Republish the whole hotlist (a new base) once the delta since the base holds this many cards',
        }),
        gapGraceMs: Type.Integer({
          minimum: 10,
          maximum: 600_000,
          default: 2000,
          description: "How long a gap in a terminal's sequence numbers may last before the gateway asks for the missing records",
        }),
      },
      'Offline acceptance: the policy and hotlist pushed to terminals, and gap detection',
    ),
    fleet: Section(
      {
        onlineWithinS: Type.Integer({
          minimum: 10,
          maximum: 86_400,
          default: 150,
          description: "The fleet view calls a terminal online when its last heartbeat is at most this old (terminals report every heartbeatS, 60 by default)",
        }),
        heartbeatMinIntervalS: Type.Integer({
          minimum: 1,
          maximum: 3600,
          default: 5,
          description: 'Heartbeats from one terminal closer together than this are dropped unread (a bound on the writes a key holder can cause)',
        }),
      },
      'The terminals as the Region watches them: heartbeats and the fleet view',
    ),
    web: Section(
      {
        loginLockAfter: Type.Integer({ minimum: 3, maximum: 20, default: 5, description: 'Wrong passwords in a row that lock a web account' }),
        loginLockMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 15, description: 'How long a locked web account takes no login' }),
        loginPerMinute: Type.Integer({ minimum: 3, maximum: 600, default: 10, description: 'Login attempts per address and minute' }),
        sessionHours: Type.Integer({ minimum: 1, maximum: 24, default: 8, description: 'A web session ends this long after login' }),
        sessionIdleMinutes: Type.Integer({ minimum: 5, maximum: 480, default: 30, description: 'A web session ends after this long without a page' }),
        invitationDays: Type.Integer({ minimum: 1, maximum: 30, default: 7, description: 'How long an invitation link is valid' }),
      },
      "The partners' web space and the Region's console (docs/web.md)",
    ),
    sepa: Section(
      {
        debtorName: Type.String({ minLength: 1, maxLength: 70, default: 'Region Auvergne-Rhone-Alpes', description: "Name on the Region's paying account" }),
        // Fictional, valid by its check digits: replace with the Region's real account.
        debtorIban: Type.String({ minLength: 15, maxLength: 34, default: 'FR7630001007941234567890185', description: "IBAN of the Region's paying account" }),
        debtorBic: Type.String({ minLength: 8, maxLength: 11, default: 'BDFEFRPPCCT', description: "BIC of the Region's paying account" }),
      },
      'SEPA credit transfers that reimburse partners (R11)',
    ),
    log: Section(
      {
        level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), {
          default: 'info',
          description: 'Log level',
        }),
      },
      'Logging',
    ),
  },
  { additionalProperties: false },
);

export type GatewayConfig = Static<typeof GatewayConfigSchema>;

export function loadGatewayConfig(file: string | undefined, overrides: Record<string, unknown> = {}): GatewayConfig {
  const raw = file ? readJsonFile(file) : {};
  const source = file ?? 'config';
  const config = parseConfig(GatewayConfigSchema, mergeConfig(raw, overrides), source);
  if (config.ledger.kind === 'postgres' && config.ledger.url === undefined) {
    throw new PasserelleError('CONFIG_INVALID', `${source}: /ledger/url: a PostgreSQL ledger needs its url (postgres://user@host:port/database)`, { path: '/ledger/url' });
  }
  return config;
}
