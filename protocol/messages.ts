import { isUtf8 } from 'node:buffer';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { BENEFIT_CODES, type Benefit } from './benefits.ts';
import { CARD_NUMBER_PATTERN } from './card.ts';
import { DECLINE_CODES, REJECT_CODES, type DeclineCode, type RejectCode } from './codes.ts';
import { PasserelleError } from './errors.ts';
import { MAX_SALE_CENTS } from './money.ts';
import { TERMINAL_ID_PATTERN } from './topics.ts';

/**
 * Message schemas. Every message is an envelope `{ v, type, corr, body }`:
 *  - `v` is the protocol version (1);
 *  - `type` names the body's schema;
 *  - `corr` is the correlation id: a reply carries the `corr` of the request it answers. For a debit it is
 *    the transaction id, so every resend of a sale carries the same one and a reply to any copy settles it.
 * The envelope lives in the payload, not in MQTT 5 properties, so it works over MQTT 3.1.1.
 */

export const PROTOCOL_VERSION = 1;

/** The largest number of entries (cinema, museum) one sale may take. */
export const MAX_SALE_ENTRIES = 50;

const literalUnion = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const TerminalId = Type.String({ pattern: TERMINAL_ID_PATTERN, description: 'Terminal id, e.g. T-LIB-LYON-01' });
export const TxnId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'Transaction id minted by the terminal (a UUID), the same on every resend',
});
export const CardNumber = Type.String({ pattern: CARD_NUMBER_PATTERN, description: '16-digit card number with a Luhn check digit' });
export const BenefitSchema = literalUnion<Benefit>(BENEFIT_CODES);
export const UnitSchema = Type.Union([Type.Literal('cent'), Type.Literal('entry')]);
/** Milliseconds since the Unix epoch, as an integer. */
export const EpochMs = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 });

/** A base64url Ed25519 signature (64 bytes, 86 characters). */
export const Signature = Type.String({ pattern: '^[A-Za-z0-9_-]{86}$' });

/**
 * The card's signature of the sale (protocol/card-app.ts `saleChallenge`): proof that this card was in the
 * terminal's field for this sale. The gateway checks it with the card's public key recorded at
 * personalisation; no proof, no NFC debit.
 */
export const CardProof = Type.Object(
  {
    /** The transaction the card signed: this sale's id, or the voided online request it replaces offline. */
    ref: TxnId,
    /** The terminal's clock at the tap. */
    at: EpochMs,
    sig: Signature,
  },
  { additionalProperties: false },
);
export type CardProof = Static<typeof CardProof>;

export const NfcCredential = Type.Object(
  { kind: Type.Literal('nfc'), cardNumber: CardNumber, proof: CardProof },
  { additionalProperties: false },
);
export const QrCredential = Type.Object(
  {
    kind: Type.Literal('qr'),
    cardNumber: CardNumber,
    /** The secret code sealed on the PIN pad to the gateway's box key, bound to this transaction id. */
    pinBlock: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' }),
  },
  { additionalProperties: false },
);
export const Credential = Type.Union([NfcCredential, QrCredential]);
export type Credential = Static<typeof Credential>;

/** Base64url SHA-256 (43 characters): links each outbox record to the one before it. */
export const ChainHash = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: "SHA-256 of the previous record's message bytes, base64url" });
/** Per-terminal sequence number, from 1, one per outbox record (sale or void), never reused. */
export const Seq = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
/** A version number of a pushed document (offline policy, hotlist); 0 when the terminal holds none. */
export const DocVersion = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const DebitRequestBody = Type.Object(
  {
    txnId: TxnId,
    terminalId: TerminalId,
    seq: Seq,
    /** The hash chain: SHA-256 of the previous record's message (all zero bytes before the first). */
    prev: ChainHash,
    /** When the sale was made, by the terminal's clock. */
    createdAt: EpochMs,
    /**
     * `online`: the terminal asks and waits for the gateway's decision. `offline`: the terminal already
     * accepted the sale under the signed offline policy and showed "accepted offline"; the gateway settles it.
     */
    mode: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    /** The hotlist and offline policy versions the terminal held when it decided (0: none). */
    hotlist: DocVersion,
    policy: DocVersion,
    credential: Credential,
    benefit: BenefitSchema,
    /** The price asked of the benefit, in the benefit's unit (cents, or entries for cinema and museums). */
    amount: Type.Integer({ minimum: 1, maximum: MAX_SALE_CENTS }),
    unit: UnitSchema,
  },
  { additionalProperties: false },
);
export type DebitRequestBody = Static<typeof DebitRequestBody>;

export const DebitRequest = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    type: Type.Literal('debit.request'),
    corr: TxnId,
    body: DebitRequestBody,
  },
  { additionalProperties: false },
);
export type DebitRequest = Static<typeof DebitRequest>;

export const DebitReplyBody = Type.Object(
  {
    txnId: TxnId,
    terminalId: TerminalId,
    status: Type.Union([Type.Literal('approved'), Type.Literal('declined')]),
    /** Why the sale was declined; absent when approved. */
    code: Type.Optional(literalUnion<DeclineCode>(DECLINE_CODES as DeclineCode[])),
    benefit: BenefitSchema,
    unit: UnitSchema,
    /** The price asked. */
    requested: Type.Integer({ minimum: 0 }),
    /** Taken from the benefit (R9): the whole price, or the whole balance when the balance is lower. */
    taken: Type.Integer({ minimum: 0 }),
    /** What the youth still pays by other means (R9): requested − taken. */
    remainingToPay: Type.Integer({ minimum: 0 }),
    /** The benefit's balance after this sale, when the card has that benefit. */
    balanceAfter: Type.Optional(Type.Integer({ minimum: 0 })),
    /** The gateway's clock when it decided, so a terminal can notice its own clock is wrong. */
    decidedAt: EpochMs,
    /** Echo of the request's mode: an offline sale's reply is its final settlement. */
    mode: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    /**
     * Offline sales only: what the Region covers for the partner because the wallet could not (the
     * offline guarantee, bounded by the policy). Absent or 0 otherwise.
     */
    guaranteed: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type DebitReplyBody = Static<typeof DebitReplyBody>;

export const DebitReply = Type.Object(
  { v: Type.Literal(PROTOCOL_VERSION), type: Type.Literal('debit.reply'), corr: TxnId, body: DebitReplyBody },
  { additionalProperties: false },
);
export type DebitReply = Static<typeof DebitReply>;

/** A request refused before any rule ran (2xx codes). `corr` is empty when the request was unreadable. */
export const ErrorReply = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    type: Type.Literal('error'),
    corr: Type.String({ maxLength: 64 }),
    body: Type.Object(
      {
        code: literalUnion<RejectCode>(REJECT_CODES as RejectCode[]),
        message: Type.String({ maxLength: 500 }),
        decidedAt: EpochMs,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type ErrorReply = Static<typeof ErrorReply>;

/**
 * A void: the terminal declares that one of its own online requests must never be applied, because its
 * result was never shown (no reply in time, or a power cut before it came). The gateway undoes the debit
 * if it had applied it, and declines the request (TXN_VOIDED) if it arrives later. A void is an outbox
 * record like a sale: it has its own id, sequence number and place in the hash chain.
 */
export const VoidRequestBody = Type.Object(
  {
    txnId: TxnId,
    terminalId: TerminalId,
    seq: Seq,
    prev: ChainHash,
    createdAt: EpochMs,
    /** The sale voided: an earlier online sale of this terminal (or, `cancelled`, any of its sales). */
    target: TxnId,
    /**
     * `timeout`, `interrupted`: the sale's result was never shown (docs/offline.md). `cancelled`: the cashier
     * cancels an approved sale the same day; the gateway decides from its own records, as for a partner's
     * cancellation (same day, not guaranteed, not already corrected), and answers `refused` otherwise.
     */
    reason: Type.Union([Type.Literal('timeout'), Type.Literal('interrupted'), Type.Literal('cancelled')]),
  },
  { additionalProperties: false },
);
export type VoidRequestBody = Static<typeof VoidRequestBody>;

export const VoidRequest = Type.Object(
  { v: Type.Literal(PROTOCOL_VERSION), type: Type.Literal('debit.void'), corr: TxnId, body: VoidRequestBody },
  { additionalProperties: false },
);
export type VoidRequest = Static<typeof VoidRequest>;

/** Anything a terminal publishes on its request topic. */
export const TerminalRecord = Type.Union([DebitRequest, VoidRequest]);
export type TerminalRecord = Static<typeof TerminalRecord>;

export const VoidReplyBody = Type.Object(
  {
    txnId: TxnId,
    terminalId: TerminalId,
    target: TxnId,
    /**
     * `undone`: the target had been applied and its debit was given back; `prevented`: it never will be;
     * `refused` (a cashier's cancellation only): nothing changed, `code` says why.
     */
    result: Type.Union([Type.Literal('undone'), Type.Literal('prevented'), Type.Literal('refused')]),
    code: Type.Optional(Type.Union([Type.Literal('NOT_SAME_DAY'), Type.Literal('SALE_GUARANTEED'), Type.Literal('ALREADY_CORRECTED'), Type.Literal('SALE_UNKNOWN'), Type.Literal('NOT_YOUR_SALE')])),
    decidedAt: EpochMs,
  },
  { additionalProperties: false },
);
export type VoidReplyBody = Static<typeof VoidReplyBody>;

export const VoidReply = Type.Object(
  { v: Type.Literal(PROTOCOL_VERSION), type: Type.Literal('void.reply'), corr: TxnId, body: VoidReplyBody },
  { additionalProperties: false },
);
export type VoidReply = Static<typeof VoidReply>;

/**
 * The gateway noticed a gap in a terminal's sequence numbers (a record it never received) and asks for
 * those records again. `corr` is empty: it answers no request.
 */
export const SyncMissing = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    type: Type.Literal('sync.missing'),
    corr: Type.Literal(''),
    body: Type.Object(
      {
        terminalId: TerminalId,
        seqs: Type.Array(Seq, { minItems: 1, maxItems: 500 }),
        decidedAt: EpochMs,
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type SyncMissing = Static<typeof SyncMissing>;

export const Reply = Type.Union([DebitReply, VoidReply, ErrorReply, SyncMissing]);
export type Reply = Static<typeof Reply>;

const checkers = new Map<TSchema, TypeCheck<TSchema>>();

function checkerFor<T extends TSchema>(schema: T): TypeCheck<T> {
  let c = checkers.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    checkers.set(schema, c);
  }
  return c as TypeCheck<T>;
}

/** Validate a parsed value; on failure throw BAD_SCHEMA naming the first wrong path. */
export function validate<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  const checker = checkerFor(schema);
  if (checker.Check(value)) return value;
  const first = checker.Errors(value).First();
  const where = first ? `${first.path || '/'}: ${first.message}` : 'does not match';
  throw new PasserelleError('BAD_SCHEMA', `${what} ${where}`, { path: first?.path ?? '' });
}

/** Parse JSON bytes and validate them; malformed JSON is BAD_FRAME, a wrong shape BAD_SCHEMA. */
export function parseJson<T extends TSchema>(schema: T, bytes: Uint8Array, what: string): Static<T> {
  return validate(schema, parseBytes(bytes, what), what);
}

/**
 * The same, for signed records: the bytes must also be the value's one canonical spelling, exactly what
 * `JSON.stringify` writes (what every terminal sends). JSON lets one value be written many ways (`100`,
 * `100.0`, `1e2`, `"\u0041"`, a key repeated with the last one winning), and a signature covers bytes, not
 * values: two spellings would be two signed records with one meaning, and a field repeated could show one
 * value to a reader of the bytes and another to the parser. One spelling closes both.
 */
export function parseCanonicalJson<T extends TSchema>(schema: T, bytes: Uint8Array, what: string): Static<T> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Valid UTF-8 first: a decoder replaces bad bytes, so text comparison alone could pass two spellings.
  const text = isUtf8(buf) ? buf.toString('utf8') : undefined;
  const value = text === undefined ? undefined : parseText(text, what);
  if (text === undefined || JSON.stringify(value) !== text) {
    throw new PasserelleError('BAD_SCHEMA', `${what} is not in canonical JSON form (numbers, escapes or repeated keys spelt otherwise than JSON.stringify writes them)`);
  }
  return validate(schema, value, what);
}

function parseBytes(bytes: Uint8Array, what: string): unknown {
  return parseText(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), what);
}

function parseText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new PasserelleError('BAD_FRAME', `${what} is not valid JSON`);
  }
}
