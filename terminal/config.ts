import { Type, type Static } from '@sinclair/typebox';
import { BenefitSchema, TerminalId } from '../protocol/messages.ts';
import { HeartbeatS, OfferedBenefits, ReplyTimeoutMs, ResendIntervalMs } from '../protocol/terminal-settings.ts';

/**
 * A terminal's configuration, written at provisioning: one schema with defaults and ranges, validated at
 * start (see gateway/config.ts `parseConfig`). Durations are in ms, with units in the names.
 */
const SerialPath = Type.String({ minLength: 1, maxLength: 256, description: 'Serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…' });
const BaudRate = Type.Integer({ minimum: 1200, maximum: 921_600, default: 115_200, description: 'Serial speed' });

/** Which devices this terminal drives, and how (docs/devices.md). */
export const DevicesSchema = Type.Object(
  {
    nfc: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Read cards on the contactless reader (PC/SC, through pcscd)' }),
        apduTimeoutMs: Type.Integer({ minimum: 50, maximum: 5000, default: 500, description: 'Longest wait for one card answer' }),
      },
      { additionalProperties: false, default: {} },
    ),
    pad: Type.Union(
      [
        Type.Null(),
        Type.Object(
          {
            path: SerialPath,
            baudRate: BaudRate,
            replyTimeoutMs: Type.Integer({ minimum: 50, maximum: 5000, default: 500, description: 'Wait for the pad to acknowledge one command before resending' }),
            retries: Type.Integer({ minimum: 0, maximum: 10, default: 3, description: 'Resends of one command before the pad counts as unavailable' }),
          },
          { additionalProperties: false },
        ),
      ],
      { default: null, description: 'The serial PIN pad (null: none; QR sales are then impossible)' },
    ),
    qr: Type.Union(
      [
        Type.Object({ kind: Type.Literal('none') }, { additionalProperties: false }),
        Type.Object({ kind: Type.Literal('scanner'), path: SerialPath, baudRate: BaudRate }, { additionalProperties: false }),
        Type.Object(
          {
            kind: Type.Literal('camera-command'),
            argv: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: 64, description: 'Capture command writing MJPEG on stdout, e.g. ffmpeg -f v4l2 -i /dev/video0 -f mjpeg -' }),
          },
          { additionalProperties: false },
        ),
        Type.Object({ kind: Type.Literal('camera-directory'), dir: Type.String({ minLength: 1, description: 'Spool directory a capture daemon drops frames into' }) }, { additionalProperties: false }),
      ],
      { default: { kind: 'none' }, description: 'The QR reader: a serial scanner, a camera through a capture command or a spool directory, or none' },
    ),
  },
  { additionalProperties: false, default: {} },
);
export type DevicesConfig = Static<typeof DevicesSchema>;

export const TerminalConfigSchema = Type.Object(
  {
    terminalId: TerminalId,
    gatewayUrl: Type.String({ pattern: '^mqtts?://', default: 'mqtt://127.0.0.1:1884', description: 'MQTT URL of the gateway broker' }),
    brokerAuth: Type.Union([Type.Literal('token'), Type.Literal('key')], {
      default: 'token',
      description: "token: a connect token per connection (the gateway's own broker); key: the password made from the terminal's key (Mosquitto at region scale). Given at enrolment",
    }),
    outboxFile: Type.String({ minLength: 1, description: 'SQLite file of the outbox' }),
    benefits: OfferedBenefits,
    replyTimeoutMs: ReplyTimeoutMs,
    resendIntervalMs: ResendIntervalMs,
    syncWindow: Type.Integer({ minimum: 1, maximum: 2000, default: 200, description: 'Most records sent and not yet acknowledged at a time (forwarding pace after an outage)' }),
    maxPending: Type.Integer({ minimum: 1, maximum: 100_000, default: 20_000, description: 'Most unacknowledged records before new sales are refused (OUTBOX_FULL)' }),
    backoffBaseMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 250, description: 'First reconnection delay' }),
    backoffMaxMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 15_000, description: 'Longest reconnection delay' }),
    connectTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000, description: 'MQTT connect timeout' }),
    keepaliveS: Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'MQTT keepalive' }),
    heartbeatS: HeartbeatS,
    keyFile: Type.Optional(Type.String({ minLength: 1, description: "File holding the terminal's private seed (base64url), made at provisioning" })),
    gatewayKeysFile: Type.Optional(Type.String({ minLength: 1, description: "The gateway's public keys (gateway-public.json), given at provisioning" })),
    devices: DevicesSchema,
    till: Type.Union(
      [
        Type.Null(),
        Type.Object(
          {
            host: Type.String({ minLength: 1, maxLength: 64, default: '0.0.0.0', description: 'Address the till link listens on (the shop network)' }),
            port: Type.Integer({ minimum: 0, maximum: 65535, default: 8888, description: 'TCP port of the till link (Caisse-AP over IP; 8888 is what tills expect)' }),
            allow: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: 32, default: ['127.0.0.1'], description: 'Addresses of the tills allowed to start sales (the protocol has no authentication)' }),
            benefit: Type.Optional(BenefitSchema),
          },
          { additionalProperties: false },
        ),
      ],
      { default: null, description: 'The till link (docs/till.md): null, none' },
    ),
    control: Type.Object(
      {
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 7171, description: 'Loopback port of the control endpoint (cashier page, till link, technician); 0: any free port' }),
        file: Type.Optional(Type.String({ minLength: 1, description: "Where the service writes the endpoint's URL and this boot's secret, 0600 (default: control.json beside the outbox)" })),
      },
      { additionalProperties: false, default: {} },
    ),
    enrolment: Type.Optional(
      Type.Object(
        {
          partnerId: Type.String({ minLength: 1, maxLength: 64 }),
          partnerName: Type.String({ minLength: 1, maxLength: 200, description: 'Shown on the terminal and in its logs' }),
          enrolledAt: Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T', maxLength: 40, description: 'When the gateway enrolled this key (ISO 8601)' }),
          gatewayHttpUrl: Type.String({ pattern: '^https?://', maxLength: 512, description: 'Where the terminal was enrolled (its HTTP API)' }),
        },
        { additionalProperties: false, description: 'Written by `passerelle terminal enrol` from the signed enrolment answer' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type TerminalConfig = Static<typeof TerminalConfigSchema>;
