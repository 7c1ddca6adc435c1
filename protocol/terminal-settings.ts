import { Type, type Static } from '@sinclair/typebox';
import { BenefitSchema, EpochMs, PROTOCOL_VERSION, TerminalId } from './messages.ts';
import { TOPIC_ROOT } from './topics.ts';

/**
 * A terminal's settings as the Region sets them at the gateway and pushes them (issue "the terminal as a
 * product"): the benefits the cashier may choose and the timeouts. Signed with the gateway's key, retained
 * on the terminal's own config topic, numbered: the terminal keeps the highest version it verified (in its
 * outbox, so an offline cold start has it), applies it whole between two uses of each setting, and reports
 * the version in force in its heartbeat. Until a first push, the settings written at enrolment hold.
 */

/** The same ranges as the terminal's config file (terminal/config.ts takes them from here). */
export const ReplyTimeoutMs = Type.Integer({ minimum: 100, maximum: 60_000, default: 3000, description: 'How long a sale waits for its reply before it is left pending' });
export const ResendIntervalMs = Type.Integer({ minimum: 50, maximum: 600_000, default: 2000, description: 'How often an unacknowledged request is sent again' });
export const HeartbeatS = Type.Integer({ minimum: 1, maximum: 3600, default: 60, description: 'How often the terminal service reports its heartbeat to the gateway (versions, queue, devices)' });
export const OfferedBenefits = Type.Array(BenefitSchema, { minItems: 1, maxItems: 10, uniqueItems: true, description: 'Benefits offered to the cashier (the gateway decides)' });

export const TerminalSettings = Type.Object(
  {
    terminalId: TerminalId,
    version: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    issuedAt: EpochMs,
    benefits: OfferedBenefits,
    replyTimeoutMs: ReplyTimeoutMs,
    resendIntervalMs: ResendIntervalMs,
    heartbeatS: HeartbeatS,
  },
  { additionalProperties: false },
);
export type TerminalSettings = Static<typeof TerminalSettings>;

export const TerminalSettingsDoc = Type.Object(
  { v: Type.Literal(PROTOCOL_VERSION), type: Type.Literal('terminal.settings'), body: TerminalSettings },
  { additionalProperties: false },
);

/** Where the gateway pushes one terminal's settings (retained); only that terminal may read it. */
export function settingsTopic(terminalId: string): string {
  return `${TOPIC_ROOT}/terminal/${terminalId}/settings`;
}
