import net from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import { PasserelleError, assert } from '../protocol/errors.ts';

/**
 * A contactless card emulated in Node behind vsmartcard's virtual reader (vpcd), so the real PC/SC stack
 * (pcscd, libpcsclite, nfc-pcsc) carries our APDUs in tests.
 *
 * The vpcd socket protocol: the card is a TCP client of the port vpcd listens on. Every message, in both
 * directions, is a 2-byte big-endian length followed by that many bytes. From vpcd, a 1-byte payload is a
 * control (power off, power on, reset, get ATR); the card answers GET ATR with its ATR and nothing to the
 * others. A longer payload is a command APDU, answered with one response APDU. vpcd waits for each answer
 * before it sends anything else, so the exchange is strictly one request, one reply.
 *
 * Layers: `VpcdFramer` (pure, bounded framing) → `decodeVpcdMessage` (typed message) → `VpcdCard` (the
 * socket, the card's behaviour, scripted faults and the recording).
 */

export const VPCD_CONTROL = { POWER_OFF: 0x00, POWER_ON: 0x01, RESET: 0x02, GET_ATR: 0x04 } as const;

/** The generic ATR a PC/SC reader builds for an ISO 14443-4 card without historical bytes (T=1). */
export const CONTACTLESS_ATR = Buffer.from('3b80800101', 'hex');

/** vpcd's length prefix is 16 bits, so no message can be longer than this. */
export const VPCD_MESSAGE_BYTES_MAX = 0xffff;

// ---------------------------------------------------------------------------------------------------
// Framing

/** What one `push` produced: whole payloads, and the error that stopped the stream if there was one. */
export interface VpcdFramerResult {
  readonly messages: Buffer[];
  readonly error: PasserelleError | undefined;
}

/**
 * Splits a vpcd byte stream into message payloads, whatever the chunking. It never throws on input: a bad
 * length (zero, or above `maxMessageBytes`) is reported once as a CARD_READ_FAILED error and the framer
 * then stays failed, because a length-prefixed stream has no marker to resynchronise on (the connection
 * must be dropped). Memory is bounded: at most one message of `maxMessageBytes` is buffered.
 */
export class VpcdFramer {
  readonly #maxMessageBytes: number;
  readonly #header = Buffer.alloc(2);
  #headerFill = 0;
  #body: Buffer | undefined;
  #bodyFill = 0;
  #error: PasserelleError | undefined;

  constructor(maxMessageBytes = VPCD_MESSAGE_BYTES_MAX) {
    assert(Number.isInteger(maxMessageBytes) && maxMessageBytes >= 1 && maxMessageBytes <= VPCD_MESSAGE_BYTES_MAX, 'maxMessageBytes within 1..65535');
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** The error that stopped the stream, if any. */
  get error(): PasserelleError | undefined {
    return this.#error;
  }

  /** Bytes of an unfinished message held now (for tests of the bound). */
  get bufferedBytes(): number {
    return this.#headerFill + this.#bodyFill;
  }

  push(chunk: Uint8Array): VpcdFramerResult {
    const messages: Buffer[] = [];
    let offset = 0;
    // Each turn consumes at least one byte or ends, so the loop is bounded by the chunk's length.
    while (offset < chunk.length && this.#error === undefined) {
      offset = this.#body === undefined ? this.#readHeader(chunk, offset) : this.#readBody(chunk, offset, messages);
    }
    return { messages, error: this.#error };
  }

  #readHeader(chunk: Uint8Array, offset: number): number {
    this.#header[this.#headerFill++] = chunk[offset]!;
    if (this.#headerFill < 2) return offset + 1;
    this.#headerFill = 0;
    const length = this.#header.readUInt16BE(0);
    if (length === 0 || length > this.#maxMessageBytes) {
      this.#error = new PasserelleError('CARD_READ_FAILED', `vpcd stream: bad message length ${length} (allowed 1..${this.#maxMessageBytes})`, { length, maxMessageBytes: this.#maxMessageBytes });
      return offset + 1;
    }
    this.#body = Buffer.alloc(length);
    this.#bodyFill = 0;
    return offset + 1;
  }

  #readBody(chunk: Uint8Array, offset: number, messages: Buffer[]): number {
    const body = this.#body!;
    const n = Math.min(body.length - this.#bodyFill, chunk.length - offset);
    body.set(chunk.subarray(offset, offset + n), this.#bodyFill);
    this.#bodyFill += n;
    if (this.#bodyFill === body.length) {
      messages.push(body);
      this.#body = undefined;
      this.#bodyFill = 0;
    }
    return offset + n;
  }
}

/** One message framed for the vpcd socket. Longer payloads are a programmer error. */
export function encodeVpcdFrame(payload: Uint8Array): Buffer {
  assert(payload.length <= VPCD_MESSAGE_BYTES_MAX, `vpcd payload of ${payload.length} bytes exceeds 65535`);
  const frame = Buffer.alloc(2 + payload.length);
  frame.writeUInt16BE(payload.length, 0);
  frame.set(payload, 2);
  return frame;
}

export type VpcdMessage =
  | { readonly kind: 'power-off' | 'power-on' | 'reset' | 'get-atr' }
  | { readonly kind: 'unknown-control'; readonly code: number }
  | { readonly kind: 'apdu'; readonly apdu: Buffer };

/** A payload from vpcd, typed: one byte is a control, anything longer a command APDU. */
export function decodeVpcdMessage(payload: Buffer): VpcdMessage {
  if (payload.length !== 1) return { kind: 'apdu', apdu: payload };
  switch (payload[0]) {
    case VPCD_CONTROL.POWER_OFF:
      return { kind: 'power-off' };
    case VPCD_CONTROL.POWER_ON:
      return { kind: 'power-on' };
    case VPCD_CONTROL.RESET:
      return { kind: 'reset' };
    case VPCD_CONTROL.GET_ATR:
      return { kind: 'get-atr' };
    default:
      return { kind: 'unknown-control', code: payload[0]! };
  }
}

// ---------------------------------------------------------------------------------------------------
// The card

/** A fault for the next command APDU (controls are never faulted: vpcd polls presence with GET ATR). */
export type VpcdFault =
  /** Answer normally, but only after `ms`. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Take the APDU, then leave the field without answering (the connection is dropped). */
  | { readonly kind: 'drop' }
  /** Answer with these bytes (random ones by default) instead of the card's response. */
  | { readonly kind: 'garbage'; readonly bytes?: Buffer };

export interface VpcdCardOptions {
  /** vpcd listens on every interface, but the card only ever connects to loopback. */
  readonly host?: '127.0.0.1';
  readonly port: number;
  readonly atr?: Buffer;
  /**
   * When set, the card also answers the PC/SC GET DATA pseudo-APDU for the UID (FF CA 00 00 00) with this
   * UID, as a real reader does for the card in its field; otherwise that APDU goes to `handler`.
   */
  readonly uid?: string;
  readonly handler: (apdu: Buffer) => Buffer | Promise<Buffer>;
  /** Every command APDU is answered after this delay (a slow card), in ms. */
  readonly delayMs?: number;
  readonly connectTimeoutMs?: number;
}

/** One command APDU and what the card did with it: its response, or null when it dropped the link. */
export interface VpcdExchange {
  readonly apdu: Buffer;
  readonly response: Buffer | null;
}

const GET_UID = Buffer.from('ffca000000', 'hex');
const SW_OK = Buffer.from('9000', 'hex');
/** "No precise diagnosis": what the card answers when its own handler throws. */
const SW_NO_DIAGNOSIS = Buffer.from('6f00', 'hex');
const EXCHANGES_MAX = 1000;
const FAULTS_MAX = 64;
const DELAY_MS_MAX = 60_000;

export class VpcdCard {
  readonly #host: string;
  readonly #port: number;
  readonly #atr: Buffer;
  readonly #uid: Buffer | undefined;
  readonly #handler: (apdu: Buffer) => Buffer | Promise<Buffer>;
  readonly #connectTimeoutMs: number;
  readonly #faults: VpcdFault[] = [];
  #delayMs: number;
  #socket: net.Socket | undefined;
  #closed: Promise<void> = Promise.resolve();
  /** Messages are handled one at a time, in order, as vpcd expects. */
  #chain: Promise<void> = Promise.resolve();
  /** The last EXCHANGES_MAX command APDUs, as they arrive (before the card answers), oldest first. */
  readonly received: Buffer[] = [];
  /** The last EXCHANGES_MAX command APDUs with what the card did about them, once it did, oldest first. */
  readonly exchanges: VpcdExchange[] = [];
  /** Controls received (power on, reset, …), counted by kind. */
  readonly controls = new Map<string, number>();
  /** Why the card last left the field on its own (a bad frame from vpcd, a socket error), if it did. */
  lastError: Error | undefined;

  constructor(o: VpcdCardOptions) {
    assert(Number.isInteger(o.port) && o.port > 0 && o.port < 65536, 'vpcd port is a TCP port');
    this.#host = o.host ?? '127.0.0.1';
    this.#port = o.port;
    this.#atr = o.atr ?? CONTACTLESS_ATR;
    this.#uid = o.uid === undefined ? undefined : Buffer.from(o.uid, 'hex');
    this.#handler = o.handler;
    this.#delayMs = checkDelay(o.delayMs ?? 0);
    this.#connectTimeoutMs = o.connectTimeoutMs ?? 2000;
  }

  /** True while the card is connected to vpcd, i.e. in the reader's field. */
  get inserted(): boolean {
    return this.#socket !== undefined;
  }

  get port(): number {
    return this.#port;
  }

  /** Every later command APDU is answered after `ms` (0 for a prompt card). */
  set delayMs(ms: number) {
    this.#delayMs = checkDelay(ms);
  }

  /** Queues a fault for the next command APDU that has none yet. */
  inject(fault: VpcdFault): void {
    assert(this.#faults.length < FAULTS_MAX, `at most ${FAULTS_MAX} faults queued`);
    if (fault.kind === 'delay') checkDelay(fault.ms);
    this.#faults.push(fault);
  }

  /** The card enters the field: resolves once vpcd accepted the connection. */
  insert(): Promise<void> {
    assert(this.#socket === undefined, 'card already inserted');
    return new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: this.#host, port: this.#port, noDelay: true });
      const timer = setTimeout(() => socket.destroy(new Error(`no connection to vpcd within ${this.#connectTimeoutMs} ms`)), this.#connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.#attach(socket);
        resolve();
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        if (this.#socket !== socket) reject(new PasserelleError('NFC_READER_UNAVAILABLE', `vpcd is not reachable on ${this.#host}:${this.#port}: ${e.message}`, undefined, { cause: e }));
      });
    });
  }

  /** The card leaves the field: the connection is closed; resolves when it is. */
  async remove(): Promise<void> {
    this.#socket?.destroy();
    await this.#closed;
  }

  #attach(socket: net.Socket): void {
    this.#socket = socket;
    this.#chain = Promise.resolve();
    const framer = new VpcdFramer();
    this.#closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        if (this.#socket === socket) this.#socket = undefined;
        resolve();
      });
    });
    socket.on('error', (e) => {
      this.lastError = e;
    });
    socket.on('data', (chunk: Buffer) => {
      const { messages, error } = framer.push(chunk);
      for (const m of messages) this.#chain = this.#chain.then(() => this.#onMessage(socket, decodeVpcdMessage(m)));
      if (error) {
        this.lastError = error;
        socket.destroy();
      }
    });
  }

  async #onMessage(socket: net.Socket, m: VpcdMessage): Promise<void> {
    if (socket.destroyed) return;
    if (m.kind !== 'apdu') {
      this.controls.set(m.kind, (this.controls.get(m.kind) ?? 0) + 1);
      if (m.kind === 'get-atr') socket.write(encodeVpcdFrame(this.#atr));
      return;
    }
    pushBounded(this.received, Buffer.from(m.apdu));
    const response = await this.#answer(socket, m.apdu);
    pushBounded(this.exchanges, { apdu: Buffer.from(m.apdu), response: response === null ? null : Buffer.from(response) });
    if (response === null) socket.destroy();
    else if (!socket.destroyed) socket.write(encodeVpcdFrame(response));
  }

  /** The response to one command APDU, or null when a fault drops the link instead. */
  async #answer(socket: net.Socket, apdu: Buffer): Promise<Buffer | null> {
    const fault = this.#faults.shift();
    if (fault?.kind === 'drop') return null;
    if (fault?.kind === 'garbage') return fault.bytes ?? randomBytes(randomInt(1, 9));
    const delay = fault?.kind === 'delay' ? fault.ms : this.#delayMs;
    if (delay > 0) await sleepUntilClosed(socket, delay);
    if (this.#uid !== undefined && apdu.equals(GET_UID)) return Buffer.concat([this.#uid, SW_OK]);
    try {
      return Buffer.from(await this.#handler(apdu));
    } catch (e) {
      this.lastError = e instanceof Error ? e : new Error(String(e));
      return SW_NO_DIAGNOSIS;
    }
  }

}

function pushBounded<T>(list: T[], item: T): void {
  if (list.length >= EXCHANGES_MAX) list.shift();
  list.push(item);
}

function checkDelay(ms: number): number {
  assert(Number.isFinite(ms) && ms >= 0 && ms <= DELAY_MS_MAX, `delay within 0..${DELAY_MS_MAX} ms`);
  return ms;
}

/** Waits `ms`, or less if the socket closes first (a removed card answers nothing). */
function sleepUntilClosed(socket: net.Socket, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('close', done);
  });
}
