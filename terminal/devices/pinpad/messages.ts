import { createHash } from 'node:crypto';
import { type PasserelleError, isPasserelleError } from '../../../protocol/errors.ts';
import { frameError } from './frame.ts';

/**
 * Messages carried in PIN pad frames (see docs/pinpad.md): payload = seq (u8) ‖ type (u8) ‖ body.
 *
 * Commands go from the terminal to the pad; the pad answers each with an ACK, a NAK (with a status
 * saying why) or, for STATUS, a STATUS_REPLY, all carrying the command's seq. A PIN entry outlives its
 * command, so its outcome comes later as a PIN_RESULT event carrying the REQUEST_PIN's seq, which the
 * terminal ACKs. Decoding is strict: anything not exactly as specified is a PAD_FRAME_INVALID error.
 */

export const MSG = {
  STATUS: 0x10,
  SHOW_TEXT: 0x11,
  BEEP: 0x12,
  REQUEST_PIN: 0x13,
  CANCEL: 0x14,
  ACK: 0x80,
  NAK: 0x81,
  STATUS_REPLY: 0x82,
  PIN_RESULT: 0x90,
} as const;

export type MessageType = keyof typeof MSG;
const TYPE_BY_CODE = new Map<number, MessageType>(Object.entries(MSG).map(([name, code]) => [code, name as MessageType]));

/** Why the pad refused a command (the status byte of a NAK). */
export const NAK_STATUS = {
  busy: 0x01,
  'no-key': 0x02,
  'bad-argument': 0x03,
  'unknown-command': 0x04,
  'device-fault': 0x05,
} as const;
export type NakStatus = keyof typeof NAK_STATUS;
const NAK_BY_CODE = new Map<number, NakStatus>(Object.entries(NAK_STATUS).map(([name, code]) => [code, name as NakStatus]));

export const PAD_STATES = ['idle', 'entering', 'reporting'] as const;
export type PadState = (typeof PAD_STATES)[number];

export const PIN_OUTCOMES = ['sealed', 'cancelled', 'timed-out'] as const;

/** Display limits of the pad: two lines of twenty characters. */
export const MAX_LINES = 2;
export const MAX_LINE_CHARS = 20;
const MAX_LINE_BYTES = MAX_LINE_CHARS * 4;
export const BEEP_COUNT_MAX = 5;
export const BEEP_DURATION_MS_MIN = 10;
export const BEEP_DURATION_MS_MAX = 2000;
export const PIN_TIMEOUT_S_MIN = 5;
export const PIN_TIMEOUT_S_MAX = 120;
export const TXN_ID_BYTES = 36;
export const KEY_FINGERPRINT_BYTES = 8;
/** The sealed block (ephemeral key ‖ nonce ‖ box), as `protocol/pin.ts` bounds it. */
export const SEALED_BLOCK_BYTES_MIN = 73;
export const SEALED_BLOCK_BYTES_MAX = 200;
const LABEL_BYTES_MAX = 32;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LABEL = /^[\x20-\x7e]+$/;
const CONTROL = /\p{Cc}/u;
const LONE_SURROGATE = /\p{Cs}/u;

export type PinResultBody =
  | { readonly outcome: 'sealed'; readonly block: Uint8Array }
  | { readonly outcome: 'cancelled' | 'timed-out' };

export type Message =
  | { readonly type: 'STATUS'; readonly seq: number }
  | { readonly type: 'SHOW_TEXT'; readonly seq: number; readonly lines: readonly string[] }
  | { readonly type: 'BEEP'; readonly seq: number; readonly count: number; readonly durationMs: number }
  | { readonly type: 'REQUEST_PIN'; readonly seq: number; readonly txnId: string; readonly timeoutS: number; readonly prompt: readonly string[] }
  | { readonly type: 'CANCEL'; readonly seq: number }
  | { readonly type: 'ACK'; readonly seq: number; readonly forType: number }
  | { readonly type: 'NAK'; readonly seq: number; readonly forType: number; readonly status: NakStatus }
  | {
      readonly type: 'STATUS_REPLY';
      readonly seq: number;
      readonly state: PadState;
      /** First 8 bytes of SHA-256 of the gateway box key loaded in the pad; all zero when none is loaded. */
      readonly keyFingerprint: Uint8Array;
      readonly model: string;
      readonly firmware: string;
    }
  | ({ readonly type: 'PIN_RESULT'; readonly seq: number } & PinResultBody);

export type CommandType = 'STATUS' | 'SHOW_TEXT' | 'BEEP' | 'REQUEST_PIN' | 'CANCEL';
export type Command = Extract<Message, { type: CommandType }>;
export type PadMessage = Extract<Message, { type: 'ACK' | 'NAK' | 'STATUS_REPLY' | 'PIN_RESULT' }>;

export function isCommand(m: Message): m is Command {
  return m.type === 'STATUS' || m.type === 'SHOW_TEXT' || m.type === 'BEEP' || m.type === 'REQUEST_PIN' || m.type === 'CANCEL';
}

export function typeName(code: number): string {
  return TYPE_BY_CODE.get(code) ?? `0x${code.toString(16).padStart(2, '0')}`;
}

// ---- encoding ----

/** Appends bytes to a bounded list; the frame layer bounds the total. */
class Writer {
  readonly #parts: number[] = [];
  u8(n: number): this {
    this.#parts.push(n & 0xff);
    return this;
  }
  u16(n: number): this {
    return this.u8(n >> 8).u8(n);
  }
  bytes(b: Uint8Array): this {
    for (const x of b) this.#parts.push(x);
    return this;
  }
  done(): Buffer {
    return Buffer.from(this.#parts);
  }
}

export function encodeMessage(m: Message): Buffer {
  checkRange('seq', m.seq, 0, 255);
  const w = new Writer().u8(m.seq).u8(MSG[m.type]);
  encodeBody(w, m);
  return w.done();
}

function encodeBody(w: Writer, m: Message): void {
  switch (m.type) {
    case 'STATUS':
    case 'CANCEL':
      return;
    case 'SHOW_TEXT':
      writeLines(w, m.lines);
      return;
    case 'BEEP':
      checkRange('beep count', m.count, 1, BEEP_COUNT_MAX);
      checkRange('beep duration', m.durationMs, BEEP_DURATION_MS_MIN, BEEP_DURATION_MS_MAX);
      w.u8(m.count).u16(m.durationMs);
      return;
    case 'REQUEST_PIN':
      if (!UUID.test(m.txnId)) throw invalid('bad-value', 'the transaction id is not a lowercase UUID');
      checkRange('PIN timeout', m.timeoutS, PIN_TIMEOUT_S_MIN, PIN_TIMEOUT_S_MAX);
      w.bytes(Buffer.from(m.txnId, 'ascii')).u8(m.timeoutS);
      writeLines(w, m.prompt);
      return;
    case 'ACK':
      w.u8(m.forType);
      return;
    case 'NAK':
      w.u8(m.forType).u8(NAK_STATUS[m.status]);
      return;
    case 'STATUS_REPLY':
      encodeStatusReply(w, m);
      return;
    case 'PIN_RESULT':
      encodePinResult(w, m);
      return;
  }
}

function encodeStatusReply(w: Writer, m: Extract<Message, { type: 'STATUS_REPLY' }>): void {
  if (m.keyFingerprint.length !== KEY_FINGERPRINT_BYTES) throw invalid('bad-value', 'the key fingerprint must be 8 bytes');
  w.u8(PAD_STATES.indexOf(m.state)).bytes(m.keyFingerprint);
  writeLabel(w, m.model);
  writeLabel(w, m.firmware);
}

function encodePinResult(w: Writer, m: PinResultBody): void {
  w.u8(PIN_OUTCOMES.indexOf(m.outcome));
  if (m.outcome !== 'sealed') return;
  checkRange('sealed block length', m.block.length, SEALED_BLOCK_BYTES_MIN, SEALED_BLOCK_BYTES_MAX);
  w.u8(m.block.length).bytes(m.block);
}

function writeLines(w: Writer, lines: readonly string[]): void {
  checkRange('line count', lines.length, 1, MAX_LINES);
  w.u8(lines.length);
  for (const line of lines) {
    checkText(line);
    const bytes = Buffer.from(line, 'utf8');
    w.u8(bytes.length).bytes(bytes);
  }
}

function writeLabel(w: Writer, label: string): void {
  if (!LABEL.test(label) || label.length > LABEL_BYTES_MAX) throw invalid('bad-text', 'a model or firmware label must be 1..32 printable ASCII characters');
  w.u8(label.length).bytes(Buffer.from(label, 'ascii'));
}

/** One display line: at most 20 characters (accents welcome), no control characters. */
export function checkText(line: string): void {
  if ([...line].length > MAX_LINE_CHARS) throw invalid('text-too-long', `a line holds at most ${MAX_LINE_CHARS} characters`);
  if (CONTROL.test(line)) throw invalid('bad-text', 'a line may not hold control characters');
  // UTF-8 encoding would silently turn a lone surrogate into U+FFFD, so it is refused instead.
  if (LONE_SURROGATE.test(line)) throw invalid('bad-utf8', 'a line holds a lone surrogate');
}

function checkRange(what: string, n: number, min: number, max: number): void {
  if (!Number.isInteger(n) || n < min || n > max) throw invalid('bad-value', `${what} ${n} is out of ${min}..${max}`);
}

/** Why a payload was refused; the frame layer has its own reasons (bad-crc, bad-length, garbage, truncated). */
export type MessageErrorReason = 'short-payload' | 'unknown-type' | 'short-body' | 'trailing-bytes' | 'bad-value' | 'bad-text' | 'bad-utf8' | 'text-too-long';

function invalid(reason: MessageErrorReason, message: string, details: Record<string, unknown> = {}): PasserelleError {
  return frameError(reason, message, details);
}

// ---- decoding ----

/** Reads a body front to back; every read checks the length first, so short input is an error, never a crash. */
class Reader {
  #pos = 0;
  constructor(readonly bytes: Buffer) {}
  need(n: number): void {
    if (this.#pos + n > this.bytes.length) throw invalid('short-body', `the body ends ${this.#pos + n - this.bytes.length} bytes early`);
  }
  u8(): number {
    this.need(1);
    return this.bytes[this.#pos++] as number;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  take(n: number): Buffer {
    this.need(n);
    const out = this.bytes.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return out;
  }
  end(): void {
    if (this.#pos !== this.bytes.length) throw invalid('trailing-bytes', `${this.bytes.length - this.#pos} bytes after the body`);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Decode one frame payload. Throws PAD_FRAME_INVALID with `reason`, `seq` and `type` in its details. */
export function decodeMessage(payload: Uint8Array): Message {
  if (payload.length < 2) throw invalid('short-payload', 'a payload holds at least seq and type');
  const seq = payload[0] as number;
  const code = payload[1] as number;
  try {
    const type = TYPE_BY_CODE.get(code);
    if (type === undefined) throw invalid('unknown-type', `unknown message type ${typeName(code)}`);
    const r = new Reader(Buffer.from(payload.subarray(2)));
    const m = decodeBody(r, seq, type);
    r.end();
    return m;
  } catch (e) {
    if (!isPasserelleError(e)) throw e;
    // Say which message was refused, so a NAK can name it and a log can show it.
    throw frameError(String(e.details?.['reason']), e.message, { seq, type: code });
  }
}

function decodeBody(r: Reader, seq: number, type: MessageType): Message {
  switch (type) {
    case 'STATUS':
    case 'CANCEL':
      return { type, seq };
    case 'SHOW_TEXT':
      return { type, seq, lines: readLines(r) };
    case 'BEEP': {
      const count = r.u8();
      const durationMs = r.u16();
      checkRange('beep count', count, 1, BEEP_COUNT_MAX);
      checkRange('beep duration', durationMs, BEEP_DURATION_MS_MIN, BEEP_DURATION_MS_MAX);
      return { type, seq, count, durationMs };
    }
    case 'REQUEST_PIN':
      return decodeRequestPin(r, seq);
    case 'ACK':
      return { type, seq, forType: r.u8() };
    case 'NAK':
      return decodeNak(r, seq);
    case 'STATUS_REPLY':
      return decodeStatusReply(r, seq);
    case 'PIN_RESULT':
      return { type, seq, ...decodePinResult(r) };
  }
}

function decodeRequestPin(r: Reader, seq: number): Message {
  const txnId = r.take(TXN_ID_BYTES).toString('latin1');
  if (!UUID.test(txnId)) throw invalid('bad-value', 'the transaction id is not a lowercase UUID');
  const timeoutS = r.u8();
  checkRange('PIN timeout', timeoutS, PIN_TIMEOUT_S_MIN, PIN_TIMEOUT_S_MAX);
  return { type: 'REQUEST_PIN', seq, txnId, timeoutS, prompt: readLines(r) };
}

function decodeNak(r: Reader, seq: number): Message {
  const forType = r.u8();
  const status = NAK_BY_CODE.get(r.u8());
  if (status === undefined) throw invalid('bad-value', 'unknown NAK status');
  return { type: 'NAK', seq, forType, status };
}

function decodeStatusReply(r: Reader, seq: number): Message {
  const state = PAD_STATES[r.u8()];
  if (state === undefined) throw invalid('bad-value', 'unknown pad state');
  const keyFingerprint = Buffer.from(r.take(KEY_FINGERPRINT_BYTES));
  return { type: 'STATUS_REPLY', seq, state, keyFingerprint, model: readLabel(r), firmware: readLabel(r) };
}

function decodePinResult(r: Reader): PinResultBody {
  const outcome = PIN_OUTCOMES[r.u8()];
  if (outcome === undefined) throw invalid('bad-value', 'unknown PIN outcome');
  if (outcome !== 'sealed') return { outcome };
  const length = r.u8();
  checkRange('sealed block length', length, SEALED_BLOCK_BYTES_MIN, SEALED_BLOCK_BYTES_MAX);
  return { outcome, block: Buffer.from(r.take(length)) };
}

function readLines(r: Reader): string[] {
  const count = r.u8();
  checkRange('line count', count, 1, MAX_LINES);
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = r.u8();
    if (bytes > MAX_LINE_BYTES) throw invalid('text-too-long', `a line of ${bytes} bytes is longer than ${MAX_LINE_BYTES}`);
    lines.push(readUtf8(r.take(bytes)));
  }
  for (const line of lines) checkText(line);
  return lines;
}

function readUtf8(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw invalid('bad-utf8', 'a line is not valid UTF-8');
  }
}

function readLabel(r: Reader): string {
  const length = r.u8();
  const label = r.take(length).toString('latin1');
  if (length > LABEL_BYTES_MAX || !LABEL.test(label)) throw invalid('bad-text', 'a model or firmware label must be 1..32 printable ASCII characters');
  return label;
}

/** The fingerprint a technician compares: the first 8 bytes of SHA-256 of the 32-byte gateway box key. */
export function keyFingerprint(gatewayBoxPublicKey: Uint8Array): Buffer {
  return createHash('sha256').update(gatewayBoxPublicKey).digest().subarray(0, KEY_FINGERPRINT_BYTES);
}

/** What a pad with no key loaded reports as its fingerprint. */
export const NO_KEY_FINGERPRINT = Buffer.alloc(KEY_FINGERPRINT_BYTES);
