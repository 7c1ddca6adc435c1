import { Type, type Static } from '@sinclair/typebox';
import type { Signer } from './crypto.ts';
import { encodeJson } from './debit.ts';
import { encodeDirect } from './frame.ts';
import { DocVersion, EpochMs, PROTOCOL_VERSION, TerminalId } from './messages.ts';

/**
 * A terminal's heartbeat (issue "the terminal as a product"): every `heartbeatS`, and at each connect, the
 * terminal says what it runs and what it holds, signed with its key like its requests, on its own status
 * topic at QoS 0. The gateway keeps the latest per terminal (gateway/heartbeats.ts): it is evidence of what
 * the terminal reports, never of money; the ledger's own records decide every sale.
 */

const DeviceState = Type.String({ pattern: '^[A-Za-z_]{1,40}$', description: "'ok', 'none' (not configured) or the code of its failure" });

export const HeartbeatBody = Type.Object(
  {
    terminalId: TerminalId,
    /** The terminal's wall clock when it sent this (the gateway derives the clock offset). */
    sentAt: EpochMs,
    /** When this run of the terminal service started. */
    startedAt: EpochMs,
    software: Type.String({ pattern: '^[0-9A-Za-z.+-]{1,40}$' }),
    policyVersion: Type.Union([DocVersion, Type.Null()]),
    hotlistVersion: Type.Union([DocVersion, Type.Null()]),
    /** The version of the pushed settings in force (protocol/terminal-settings.ts; null: those written at enrolment). */
    settingsVersion: Type.Union([DocVersion, Type.Null()]),
    queue: Type.Object(
      {
        pending: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
        oldestPendingAt: Type.Union([EpochMs, Type.Null()]),
        offlinePending: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
        offlinePendingCents: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      },
      { additionalProperties: false },
    ),
    devices: Type.Object({ nfc: DeviceState, pad: DeviceState, qr: DeviceState }, { additionalProperties: false }),
    lastSaleAt: Type.Union([EpochMs, Type.Null()]),
  },
  { additionalProperties: false },
);
export type HeartbeatBody = Static<typeof HeartbeatBody>;

export const Heartbeat = Type.Object({ v: Type.Literal(PROTOCOL_VERSION), type: Type.Literal('terminal.heartbeat'), body: HeartbeatBody }, { additionalProperties: false });

/** The largest heartbeat frame a gateway reads. */
export const MAX_HEARTBEAT_BYTES = 2048;

export function signHeartbeat(body: HeartbeatBody, signer: Signer): Buffer {
  const message = encodeJson({ v: PROTOCOL_VERSION, type: 'terminal.heartbeat', body });
  return encodeDirect(message, signer.sign(message));
}
