import { Type, type Static } from '@sinclair/typebox';
import { BenefitSchema, TerminalId } from '../protocol/messages.ts';

/**
 * A terminal's configuration, written at provisioning: one schema with defaults and ranges, validated at
 * start (see gateway/config.ts `parseConfig`). Durations are in ms, with units in the names.
 */
export const TerminalConfigSchema = Type.Object(
  {
    terminalId: TerminalId,
    gatewayUrl: Type.String({ pattern: '^mqtts?://', default: 'mqtt://127.0.0.1:1884', description: 'MQTT URL of the gateway broker' }),
    outboxFile: Type.String({ minLength: 1, description: 'SQLite file of the outbox' }),
    benefits: Type.Array(BenefitSchema, { minItems: 1, maxItems: 10, uniqueItems: true, description: 'Benefits offered to the cashier (the gateway decides)' }),
    replyTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 3000, description: 'How long a sale waits for its reply before it is left pending' }),
    resendIntervalMs: Type.Integer({ minimum: 50, maximum: 600_000, default: 2000, description: 'How often an unacknowledged request is sent again' }),
    syncWindow: Type.Integer({ minimum: 1, maximum: 2000, default: 200, description: 'Most records sent and not yet acknowledged at a time (forwarding pace after an outage)' }),
    maxPending: Type.Integer({ minimum: 1, maximum: 100_000, default: 20_000, description: 'Most unacknowledged records before new sales are refused (OUTBOX_FULL)' }),
    backoffBaseMs: Type.Integer({ minimum: 10, maximum: 60_000, default: 250, description: 'First reconnection delay' }),
    backoffMaxMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 15_000, description: 'Longest reconnection delay' }),
    connectTimeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000, description: 'MQTT connect timeout' }),
    keepaliveS: Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'MQTT keepalive' }),
  },
  { additionalProperties: false },
);

export type TerminalConfig = Static<typeof TerminalConfigSchema>;
