import { createRequire } from 'node:module';
import net from 'node:net';
import type { Logger } from '../../common/log.ts';
import { Waiters } from '../../common/waiters.ts';
import { PasserelleError, assert } from '../../protocol/errors.ts';
import type { CardSession, ContactlessReader } from './contactless.ts';
import { SessionBase, type Exchange } from './session.ts';

/**
 * The real contactless reader: nfc-pcsc over PC/SC (pcscd).
 *
 * nfc-pcsc has no seam and no types, so this file is the seam: it uses a narrow, typed subset of the
 * package (declared below) and turns its events into `CardSession`s with our error codes. nfc-pcsc's
 * own card processing is off (`autoProcessing = false`): our card application sends every APDU itself.
 *
 * Things about the native layer (@pokusew/pcsclite) that shape this code:
 *  - Creating a context while pcscd is down spins inside the constructor, on the main thread, until
 *    pcscd appears. So we never create one blind: we first check that pcscd's socket accepts a connection.
 *  - When pcscd goes away, the context's monitoring thread stops for good (an `error` event) and every
 *    reader ends. The context cannot be revived, so we drop it and build a new one when pcscd is back,
 *    probing with a bounded backoff.
 *  - A transmit runs on libuv's thread pool and cannot be cancelled. Our timeout rejects the caller's
 *    promise; the native call ends when the card answers or leaves the field, and its result is dropped.
 *    Until then it holds one of the pool's threads and the reader's lock (the next exchange queues).
 *  - When a card leaves during an exchange, vpcd (and some drivers) report a successful empty response or
 *    a vague transport error before PC/SC reports the removal. A response too short to hold a status word
 *    is therefore a failed exchange, and a vague failure waits (briefly) for the removal to show up.
 */

// ---------------------------------------------------------------------------------------------------
// The part of nfc-pcsc we use.

interface NfcCardEvent {
  readonly atr?: Buffer;
}

interface NfcReaderDevice {
  readonly name: string;
  autoProcessing: boolean;
  readonly connection: unknown;
  on(event: 'card', listener: (card: NfcCardEvent) => void): this;
  on(event: 'card.off', listener: (card: NfcCardEvent) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  on(event: 'end', listener: () => void): this;
  removeAllListeners(): this;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  disconnect(): Promise<unknown>;
  close(): void;
}

interface NfcContext {
  on(event: 'reader', listener: (reader: NfcReaderDevice) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  removeAllListeners(): this;
  close(): void;
}

interface NfcPcscModule {
  readonly NFC: new () => NfcContext;
}

/**
 * Loaded on first use, so that importing this file never needs the native module: nfc-pcsc is an optional
 * dependency (its native part builds only where libpcsclite-dev is installed), and the gateway, the
 * simulators and QR-only terminals run without it. A terminal whose config asks for a PC/SC reader and
 * cannot load it (not installed, not built, built for another Node) is told what to install.
 */
export function loadNfcPcsc(load: (id: string) => unknown = createRequire(import.meta.url)): NfcPcscModule {
  let mod: unknown;
  try {
    mod = load('nfc-pcsc');
  } catch (e) {
    const missing = (e as { code?: unknown }).code === 'MODULE_NOT_FOUND';
    const why = missing ? 'is not installed (an optional dependency: its native part needs libpcsclite-dev to build)' : `cannot be loaded (${e instanceof Error ? e.message : String(e)})`;
    throw new PasserelleError('NFC_DRIVER_MISSING', `nfc-pcsc, the PC/SC contactless driver, ${why}: install pcscd and libpcsclite-dev, then npm install nfc-pcsc`, undefined, { cause: e });
  }
  assert(typeof mod === 'object' && mod !== null && typeof (mod as { NFC?: unknown }).NFC === 'function', 'nfc-pcsc exports NFC');
  return mod as NfcPcscModule;
}

// ---------------------------------------------------------------------------------------------------
// Errors

/** PC/SC return codes that mean pcscd or the reader itself is gone. */
const READER_GONE_CODES = new Set([
  0x80100009, // SCARD_E_UNKNOWN_READER
  0x80100013, // SCARD_F_COMM_ERROR: the client lost pcscd
  0x80100017, // SCARD_E_READER_UNAVAILABLE
  0x8010001d, // SCARD_E_NO_SERVICE
  0x8010001e, // SCARD_E_SERVICE_STOPPED
  0x8010002e, // SCARD_E_NO_READERS_AVAILABLE
]);

/** PC/SC return codes that mean the card left the field. */
const CARD_GONE_CODES = new Set([
  0x8010000c, // SCARD_E_NO_SMARTCARD
  0x80100069, // SCARD_W_REMOVED_CARD
]);

/** The PC/SC return code in an error from the native layer ("… (0x80100069)"), if it carries one. */
export function pcscCode(e: unknown): number | undefined {
  for (let err: unknown = e, depth = 0; err instanceof Error && depth < 3; depth++) {
    const m = /\(0x([0-9a-f]{8})\)/i.exec(err.message);
    if (m) return Number.parseInt(m[1]!, 16);
    err = (err as { previous?: unknown }).previous ?? err.cause;
  }
  return undefined;
}

function readerGone(reader: string, why: string, cause?: unknown): PasserelleError {
  return new PasserelleError('NFC_READER_UNAVAILABLE', `reader ${reader}: ${why}`, { reader }, { cause });
}

function closedError(): PasserelleError {
  return new PasserelleError('NFC_READER_UNAVAILABLE', 'the contactless reader is closed');
}

function cardGone(reader: string): PasserelleError {
  return new PasserelleError('CARD_REMOVED', `the card left the field of ${reader}`, { reader });
}

// ---------------------------------------------------------------------------------------------------
// Options

type DeviceLog = Pick<Logger, 'debug' | 'info' | 'warn'>;

export interface PcscReaderOptions {
  /**
   * pcscd's client socket, probed before a context is created. Default: `$PCSCLITE_CSOCK_NAME` as it was
   * when the first reader of the process probed, or pcsc-lite's default; only override it for tests.
   */
  readonly socketPath?: string;
  readonly log?: DeviceLog;
  /** How long the UID pseudo-APDU may take before the card is delivered without a UID, in ms. */
  readonly uidTimeoutMs?: number;
  /** After a vague transport failure, how long to wait for PC/SC to report the card or reader gone, in ms. */
  readonly settleMs?: number;
  /** The largest response APDU accepted (data and status word), in bytes. */
  readonly responseBytesMax?: number;
  /** Backoff between attempts to reach pcscd, in ms: doubles from min to max. */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  readonly waitersMax?: number;
}

const DEFAULT_SOCKET_PATH = '/run/pcscd/pcscd.comm';

/**
 * The socket libpcsclite talks to. It reads `PCSCLITE_CSOCK_NAME` once per process and keeps it, so we do
 * the same: probing another path than the library's could let a context spin on a daemon that is gone.
 */
let librarySocketPath: string | undefined;
function pcscSocketPath(): string {
  librarySocketPath ??= process.env['PCSCLITE_CSOCK_NAME'] ?? DEFAULT_SOCKET_PATH;
  return librarySocketPath;
}

const GET_UID = Buffer.from('ffca000000', 'hex');
const PROBE_TIMEOUT_MS = 1000;
/** How long `close()` waits for native calls in flight before it returns (they finish on their own). */
const RELEASE_WAIT_MS = 1000;

// ---------------------------------------------------------------------------------------------------
// Sessions

class PcscSession extends SessionBase {
  uid = '';
  readonly #state: ReaderState;
  readonly #settleMs: number;

  constructor(state: ReaderState, settleMs: number) {
    super(state.device.name);
    this.#state = state;
    this.#settleMs = settleMs;
  }

  protected exchange(apdu: Buffer, x: Exchange): void {
    let settleTimer: NodeJS.Timeout | undefined;
    x.onSettled(() => clearTimeout(settleTimer));
    const failed = (cause: unknown): void => {
      // A code that proves the reader or the card gone ends the session now (the events that say so
      // may come a moment later), so `gone` is aborted by the time the caller sees the rejection.
      const code = pcscCode(cause);
      if (code !== undefined && READER_GONE_CODES.has(code)) return this.end(readerGone(this.reader, 'PC/SC is gone', cause));
      if (code !== undefined && CARD_GONE_CODES.has(code)) return this.end(cardGone(this.reader));
      // Vague: the removal (or the reader's end) usually shows up a moment later; wait for it, bounded.
      settleTimer ??= setTimeout(() => x.fail(new PasserelleError('CARD_READ_FAILED', 'the exchange with the card failed', { reader: this.reader }, { cause })), this.#settleMs);
    };
    this.#state.send(apdu).then((response) => {
      if (response.length >= 2) x.answer(response);
      else failed(new Error(`response of ${response.length} bytes, shorter than a status word`));
    }, failed);
  }

  protected override goneError(): PasserelleError {
    const reason: unknown = this.gone.reason;
    if (reason instanceof PasserelleError && reason.code === 'CARD_REMOVED') return cardGone(this.reader);
    return readerGone(this.reader, reason instanceof Error ? reason.message : 'gone', reason);
  }
}

// ---------------------------------------------------------------------------------------------------
// One reader of the context

/**
 * A reader and its native calls in flight. The native reader holds one mutex during every transmit (on
 * the thread pool) and while it reports its end (on the main thread), so closing it while a transmit runs
 * would block the main thread, and closing it from its own `end` event would deadlock. Hence `release`
 * waits for the calls in flight and always closes from a later turn of the event loop.
 */
class ReaderState {
  readonly device: NfcReaderDevice;
  session: PcscSession | undefined;
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #responseBytesMax: number;
  #released = false;

  constructor(device: NfcReaderDevice, responseBytesMax: number) {
    this.device = device;
    this.#responseBytesMax = responseBytesMax;
  }

  send(apdu: Buffer): Promise<Buffer> {
    if (this.#released) return Promise.reject(new Error('reader released'));
    return this.#track(() => this.device.transmit(apdu, this.#responseBytesMax));
  }

  /**
   * Ends the session, optionally releases the card handle, and closes the reader once its native calls
   * are over. Resolves within `waitMs` even if a call is still running (the close then follows it).
   */
  async release(reason: PasserelleError, disconnect: boolean, waitMs: number): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.session?.end(reason);
    this.device.removeAllListeners();
    // A closing reader may still emit an error; without a listener that would throw.
    this.device.on('error', () => {});
    if (disconnect && this.device.connection) void this.#track(() => this.device.disconnect()).catch(() => {});
    const drained = Promise.allSettled([...this.#inflight]).then(() => new Promise((resolve) => setImmediate(resolve)));
    void drained.then(() => closeQuietly(this.device));
    await settleWithin(drained, waitMs);
  }

  /** nfc-pcsc throws synchronously when it has no connection: that becomes a rejection like the others. */
  #track<T>(call: () => Promise<T>): Promise<T> {
    let p: Promise<T>;
    try {
      p = call();
    } catch (e) {
      return Promise.reject(e);
    }
    this.#inflight.add(p);
    const forget = (): void => void this.#inflight.delete(p);
    p.then(forget, forget);
    return p;
  }
}

// ---------------------------------------------------------------------------------------------------
// The reader


/**
 * Cards are delivered to the `waitForCard` calls pending when PC/SC reports them (after the UID is read);
 * a card already in the field counts once it is presented again. A wait goes on while no reader is
 * connected — it spans an unplugged reader or a pcscd restart, and `readers()` tells the status line —
 * and ends only with a card, its signal, or `close()`.
 */
export class PcscContactlessReader implements ContactlessReader {
  readonly #socketPath: string | undefined;
  readonly #log: DeviceLog | undefined;
  readonly #uidTimeoutMs: number;
  readonly #settleMs: number;
  readonly #responseBytesMax: number;
  readonly #reconnectMinMs: number;
  readonly #reconnectMaxMs: number;
  readonly #module: NfcPcscModule;
  readonly #waiters: Waiters<CardSession>;
  readonly #readers = new Map<string, ReaderState>();
  #nfc: NfcContext | undefined;
  /** Bumped for every context, so that late events from a dropped one are ignored. */
  #generation = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs: number;
  #probe: net.Socket | undefined;
  #closed = false;

  constructor(o: PcscReaderOptions = {}) {
    this.#socketPath = o.socketPath;
    this.#log = o.log;
    this.#uidTimeoutMs = o.uidTimeoutMs ?? 500;
    this.#settleMs = o.settleMs ?? 1500;
    this.#responseBytesMax = o.responseBytesMax ?? 4096 + 2;
    this.#reconnectMinMs = o.reconnectMinMs ?? 100;
    this.#reconnectMaxMs = o.reconnectMaxMs ?? 2000;
    this.#waiters = new Waiters<CardSession>(o.waitersMax ?? 16, 'waitForCard');
    assert(this.#reconnectMinMs > 0 && this.#reconnectMinMs <= this.#reconnectMaxMs, 'reconnect backoff: 0 < min <= max');
    assert(this.#responseBytesMax >= 2 && this.#responseBytesMax <= 65538, 'responseBytesMax within 2..65538');
    this.#retryDelayMs = this.#reconnectMinMs;
    this.#module = loadNfcPcsc();
    this.#connect();
  }

  readers(): readonly string[] {
    return [...this.#readers.keys()];
  }

  /** True while a card is in the field of `reader` (of any reader when omitted), for the status line. */
  cardPresent(reader?: string): boolean {
    for (const [name, state] of this.#readers) if ((reader === undefined || reader === name) && state.session && !state.session.gone.aborted) return true;
    return false;
  }

  waitForCard(signal: AbortSignal): Promise<CardSession> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.#closed) return Promise.reject(closedError());
    return this.#waiters.wait(signal);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#probe?.destroy();
    this.#waiters.rejectAll(closedError());
    await this.#dropContext('the contactless reader was closed', true);
    this.#log?.info('contactless reader closed');
  }

  // --- the context and its lifecycle --------------------------------------------------------------

  /** Checks that pcscd accepts connections, then creates a context; otherwise tries again later. */
  #connect(): void {
    if (this.#closed || this.#nfc || this.#probe) return;
    const path = this.#socketPath ?? pcscSocketPath();
    const probe = net.connect({ path });
    this.#probe = probe;
    probe.setTimeout(PROBE_TIMEOUT_MS, () => probe.destroy(new Error('pcscd did not accept the connection in time')));
    probe.once('connect', () => {
      probe.destroy();
      this.#probe = undefined;
      this.#createContext();
    });
    probe.once('error', (e) => {
      this.#probe = undefined;
      this.#log?.debug({ err: e.message, path }, 'pcscd not reachable yet');
      this.#scheduleConnect();
    });
  }

  #scheduleConnect(): void {
    if (this.#closed) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#connect(), this.#retryDelayMs);
    // A forgotten reader must not keep a process alive on its own.
    this.#retryTimer.unref();
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, this.#reconnectMaxMs);
  }

  #createContext(): void {
    if (this.#closed) return;
    let nfc: NfcContext;
    try {
      nfc = new this.#module.NFC();
    } catch (e) {
      this.#log?.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot open a PC/SC context');
      return this.#scheduleConnect();
    }
    const generation = ++this.#generation;
    this.#nfc = nfc;
    this.#retryDelayMs = this.#reconnectMinMs;
    nfc.on('reader', (device) => this.#onReader(generation, device));
    nfc.on('error', (e) => this.#onContextError(generation, e));
    this.#log?.info('PC/SC context open');
  }

  #onContextError(generation: number, e: Error): void {
    if (generation !== this.#generation || this.#closed) return;
    this.#log?.warn({ err: e.message }, 'PC/SC context lost; reconnecting');
    // Sessions end now (pending exchanges reject at once); the native handles go on a later turn.
    void this.#dropContext(`PC/SC is gone (${e.message})`, false).then(() => this.#scheduleConnect());
  }

  /** Ends every session and reader of the current context and releases it. */
  async #dropContext(why: string, disconnect: boolean): Promise<void> {
    const nfc = this.#nfc;
    this.#nfc = undefined;
    this.#generation++;
    const states = [...this.#readers.values()];
    this.#readers.clear();
    const released = states.map((s) => s.release(readerGone(s.device.name, why), disconnect, RELEASE_WAIT_MS));
    if (nfc) setImmediate(() => closeQuietly(nfc));
    await Promise.all(released);
  }

  // --- readers and cards --------------------------------------------------------------------------

  #onReader(generation: number, device: NfcReaderDevice): void {
    const state = new ReaderState(device, this.#responseBytesMax);
    if (generation !== this.#generation) return void state.release(readerGone(device.name, 'stale context'), false, 0);
    device.autoProcessing = false;
    void this.#readers.get(device.name)?.release(readerGone(device.name, 'replaced'), false, 0);
    this.#readers.set(device.name, state);
    device.on('card', (card) => void this.#onCard(generation, state, card));
    device.on('card.off', () => this.#onCardOff(generation, state));
    device.on('error', (e) => this.#log?.debug({ reader: device.name, err: e.message }, 'reader error'));
    device.on('end', () => this.#onReaderEnd(generation, state));
    this.#log?.info({ reader: device.name }, 'reader connected');
  }

  #onReaderEnd(generation: number, state: ReaderState): void {
    if (generation !== this.#generation || this.#readers.get(state.device.name) !== state) return;
    this.#readers.delete(state.device.name);
    void state.release(readerGone(state.device.name, 'the reader vanished'), false, 0);
    this.#log?.warn({ reader: state.device.name }, 'reader disconnected');
  }

  async #onCard(generation: number, state: ReaderState, card: NfcCardEvent): Promise<void> {
    if (generation !== this.#generation) return;
    state.session?.end(cardGone(state.device.name));
    const session = new PcscSession(state, this.#settleMs);
    state.session = session;
    session.uid = await this.#readUid(session);
    // The card may have left while we read its UID: then there is nothing to deliver.
    if (session.gone.aborted || state.session !== session) return;
    this.#log?.info({ reader: session.reader, uid: session.uid, atr: card.atr?.toString('hex') }, 'card in the field');
    this.#waiters.resolveAll(session);
  }

  #onCardOff(generation: number, state: ReaderState): void {
    if (generation !== this.#generation) return;
    state.session?.end(cardGone(state.device.name));
    state.session = undefined;
    this.#log?.debug({ reader: state.device.name }, 'card left the field');
  }

  /** The UID through the PC/SC GET DATA pseudo-APDU; '' when the reader or card does not answer it. */
  async #readUid(session: PcscSession): Promise<string> {
    try {
      const r = await session.transmit(GET_UID, this.#uidTimeoutMs);
      if (r.length > 2 && r.readUInt16BE(r.length - 2) === 0x9000) return r.subarray(0, -2).toString('hex');
    } catch (e) {
      this.#log?.debug({ reader: session.reader, err: e instanceof Error ? e.message : String(e) }, 'no UID');
    }
    return '';
  }
}

/** Closes a native reader or context; closing cancels its thread, which may report that as an error. */
function closeQuietly(handle: { on(event: 'error', l: (e: Error) => void): unknown; removeAllListeners(): unknown; close(): void }): void {
  handle.removeAllListeners();
  handle.on('error', () => {});
  try {
    handle.close();
  } catch {
    // Already closed: nothing left to release.
  }
}

async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
