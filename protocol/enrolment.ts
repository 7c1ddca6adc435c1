import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { BenefitSchema, EpochMs, parseJson, PROTOCOL_VERSION, TerminalId } from './messages.ts';
import { b64url, type Verifier } from './crypto.ts';
import { PasserelleError } from './errors.ts';
import { decodeFrame, verifyFrame } from './frame.ts';
import { parsePublicKeys, type GatewayPublicKeys } from './gateway-keys.ts';

/**
 * The enrolment code and the enrolment answer, as both ends read them (gateway/enrolment.ts makes and
 * redeems codes; terminal/enrol.ts presents one).
 *
 * A code is 16 characters of Crockford base32 in four groups, `K7M2-9QXF-3RTB-HW4D`: the first group names
 * the code, the other twelve are its secret. The gateway stores only `enrolmentSecretHash` of it.
 *
 * The answer is authenticated twice. Its fields are a frame signed with the gateway's reply key, which the
 * terminal keeps for every later reply; and the whole signed frame carries an HMAC keyed with the code's
 * secret hash, which only the gateway and whoever typed the code know. So a terminal that holds no gateway
 * key yet (a new device) still knows the keys it is given come from the gateway that made its code, not
 * from whoever answered on the network; a technician may also pin the gateway key (`--gateway-key`).
 */

/** Crockford's base 32: digits and capitals without I, L, O, U, so a code read aloud or copied by hand survives. */
export const CROCKFORD32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const ENROLMENT_ID_CHARS = 4;
export const ENROLMENT_SECRET_CHARS = 12;

/**
 * A typed code in its canonical form, or undefined when it cannot be one. Technicians copy codes by
 * hand: case, spaces and dashes are ignored, and O, I, L read as 0, 1, 1 (Crockford's rule).
 */
export function parseEnrolmentCode(typed: string): { id: string; secret: string } | undefined {
  const clean = typed.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  if (clean.length !== ENROLMENT_ID_CHARS + ENROLMENT_SECRET_CHARS || [...clean].some((c) => !CROCKFORD32.includes(c))) return undefined;
  return { id: clean.slice(0, ENROLMENT_ID_CHARS), secret: clean.slice(ENROLMENT_ID_CHARS) };
}

/** What the gateway stores of a code (hex SHA-256): the check of a typed code, and the key of the answer's MAC. */
export function enrolmentSecretHash(id: string, secret: string): string {
  return createHash('sha256').update(`passerelle/enrolment/v1\0${id}\0${secret}`).digest('hex');
}

/** The answer's MAC (base64url HMAC-SHA256 of the signed frame, keyed with the code's secret hash). */
export function enrolmentAnswerMac(secretHash: string, signed: string): string {
  return createHmac('sha256', Buffer.from(secretHash, 'hex')).update('passerelle/enrolment-answer/v1\0').update(signed).digest('base64url');
}

const Key = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' });

/** The signed fields of an enrolment answer. */
export const EnrolmentFields = Type.Object(
  {
    terminalId: TerminalId,
    /** The key the terminal sent: an answer is for one device. */
    publicKey: Key,
    partnerId: Type.String({ minLength: 1, maxLength: 64 }),
    partnerName: Type.String({ minLength: 1, maxLength: 200 }),
    benefits: Type.Array(BenefitSchema, { minItems: 1, maxItems: 10, uniqueItems: true }),
    mqtt: Type.Object(
      {
        url: Type.String({ pattern: '^mqtts?://', maxLength: 512 }),
        certPem: Type.Union([Type.String({ maxLength: 8192 }), Type.Null()]),
        /** How the terminal logs in to the broker: a connect token (the gateway's own broker) or its key password (Mosquitto); absent: token. */
        auth: Type.Optional(Type.Union([Type.Literal('token'), Type.Literal('key')])),
      },
      { additionalProperties: false },
    ),
    gateway: Type.Object({ signPublicKey: Key, boxPublicKey: Key, issuerPublicKey: Key }, { additionalProperties: false }),
    enrolledAt: EpochMs,
    replaced: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type EnrolmentFields = Static<typeof EnrolmentFields>;

const EnrolmentMessage = Type.Object(
  { v: Type.Literal(PROTOCOL_VERSION), type: Type.Literal('terminal.enrolment'), body: EnrolmentFields },
  { additionalProperties: false },
);

export interface OpenedEnrolment {
  readonly fields: EnrolmentFields;
  readonly keys: GatewayPublicKeys;
}

function forged(why: string): PasserelleError {
  return new PasserelleError('ENROLMENT_ANSWER_INVALID', `the enrolment answer cannot be trusted: ${why}`);
}

/**
 * The fields of an enrolment answer, once its MAC (under the typed code), its signature (under the key it
 * names, which must be `pinnedSignKey` when one is given) and its binding to this device's public key all
 * hold; ENROLMENT_ANSWER_INVALID otherwise. Only signed bytes are read.
 */
export function openEnrolmentAnswer(
  answer: { readonly signed: string; readonly codeMac: string },
  typedCode: string,
  publicKey: Uint8Array,
  verifier: Verifier,
  pinnedSignKey?: Uint8Array,
): OpenedEnrolment {
  const code = parseEnrolmentCode(typedCode);
  if (!code) throw new PasserelleError('ENROLMENT_CODE_INVALID', 'not an enrolment code (16 characters, e.g. K7M2-9QXF-3RTB-HW4D)');
  const mac = Buffer.from(enrolmentAnswerMac(enrolmentSecretHash(code.id, code.secret), answer.signed));
  const given = Buffer.from(String(answer.codeMac));
  if (given.length !== mac.length || !timingSafeEqual(given, mac)) throw forged('its MAC does not match the enrolment code');
  let message;
  let frame;
  try {
    frame = decodeFrame(Buffer.from(answer.signed, 'utf8'));
    if (frame.mode !== 'direct') throw forged('not a directly signed frame');
    message = parseJson(EnrolmentMessage, frame.message, 'enrolment answer');
  } catch (e) {
    if (e instanceof PasserelleError && e.code === 'ENROLMENT_ANSWER_INVALID') throw e;
    throw forged((e as Error).message);
  }
  const fields = message.body;
  const keys = parsePublicKeys({ ...fields.gateway, ...(fields.mqtt.certPem ? { mqttCertPem: fields.mqtt.certPem } : {}) }, 'enrolment answer');
  if (pinnedSignKey && !Buffer.from(pinnedSignKey).equals(Buffer.from(keys.signPublicKey))) {
    throw forged(`it is signed for gateway key ${fields.gateway.signPublicKey}, not the pinned ${b64url(pinnedSignKey)}`);
  }
  if (!verifyFrame(frame, keys.signPublicKey, verifier)) throw forged('its signature does not match the gateway key it names');
  if (fields.publicKey !== b64url(publicKey)) throw forged("it is for another device's key");
  return { fields, keys };
}
