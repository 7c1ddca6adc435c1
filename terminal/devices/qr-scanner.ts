import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { SerialPort } from 'serialport';
import { Waiters } from '../../common/waiters.ts';
import { PasserelleError } from '../../protocol/errors.ts';
import type { QrSource } from '../bindings.ts';

/**
 * A serial QR scanner (USB-CDC or RS-232) decodes the code itself and sends its text as one line,
 * terminated by CR, LF or CR LF depending on its settings. This driver splits the byte stream into
 * bounded lines and hands the next one to whoever waits for a code.
 *
 * Lines that arrive while no sale waits for a code are discarded, not queued: a code scanned during an
 * earlier sale, or while the cashier was still typing the amount, must never pay a later sale. The youth
 * scans again when the display asks for it. (The gap between two successive `waitForCode` calls of one
 * sale is a few microseconds; a scanner sends at most a few lines per second.)
 *
 * Errors, all PasserelleErrors:
 *  - QR_PAYLOAD_INVALID: a line longer than `maxLineBytes` (discarded up to its terminator), or a line
 *    that is not valid UTF-8 or holds control characters;
 *  - QR_READER_UNAVAILABLE: the port failed, closed or ended; every later call fails the same way.
 */

export const SCANNER_LINE_BYTES_MAX_DEFAULT = 512;
const SCANNER_LINE_BYTES_MAX_LIMIT = 64 * 1024;
const CR = 0x0d;
const LF = 0x0a;

export type LineEvent =
  /** A complete, non-empty line without its terminator. */
  | { readonly kind: 'line'; readonly bytes: Buffer }
  /** A line grew past the limit; the rest of it, up to its terminator, is dropped. */
  | { readonly kind: 'overlong' };

/**
 * Splits bytes into lines at CR or LF, with a fixed buffer. Empty lines are skipped, which is also how
 * the LF of a CR LF pair disappears. Pure: no stream, no timer, so it is fuzzed on its own.
 */
export class LineSplitter {
  readonly #line: Buffer;
  #length = 0;
  #discarding = false;

  constructor(readonly maxLineBytes = SCANNER_LINE_BYTES_MAX_DEFAULT) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1 || maxLineBytes > SCANNER_LINE_BYTES_MAX_LIMIT) {
      throw new RangeError(`maxLineBytes must be an integer in 1..${SCANNER_LINE_BYTES_MAX_LIMIT}`);
    }
    this.#line = Buffer.alloc(maxLineBytes);
  }

  /** Feeds a chunk; returns the events it completes, at most one per byte of the chunk. */
  push(chunk: Uint8Array): LineEvent[] {
    const events: LineEvent[] = [];
    for (const byte of chunk) {
      if (byte === CR || byte === LF) this.#endLine(events);
      else this.#addByte(byte, events);
    }
    return events;
  }

  #endLine(events: LineEvent[]): void {
    if (!this.#discarding && this.#length > 0) events.push({ kind: 'line', bytes: Buffer.from(this.#line.subarray(0, this.#length)) });
    this.#length = 0;
    this.#discarding = false;
  }

  #addByte(byte: number, events: LineEvent[]): void {
    if (this.#discarding) return;
    if (this.#length === this.maxLineBytes) {
      // Reported as soon as the limit is crossed, so a scanner that never sends a terminator still
      // produces an error instead of silence.
      events.push({ kind: 'overlong' });
      this.#discarding = true;
      this.#length = 0;
      return;
    }
    this.#line[this.#length++] = byte;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// C0 and C1 controls and DEL: a scanner configured to send STX/ETX, tabs or a prefix byte is misconfigured.
const CONTROL_CHARACTER = /\p{Cc}/u;

/** The text of one line, or QR_PAYLOAD_INVALID when it is not printable UTF-8. */
export function decodeLine(bytes: Uint8Array): string {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (e) {
    throw new PasserelleError('QR_PAYLOAD_INVALID', 'The scanner sent a line that is not valid UTF-8.', { reason: 'not-utf8' }, { cause: e });
  }
  if (CONTROL_CHARACTER.test(text)) {
    throw new PasserelleError('QR_PAYLOAD_INVALID', 'The scanner sent a line with control characters.', { reason: 'control-character' });
  }
  return text;
}

export interface SerialQrScannerOptions {
  /** Longest line accepted, in bytes; default 512 (an app QR code is 122 characters). */
  readonly maxLineBytes?: number;
}

export interface SerialQrScannerOpenOptions extends SerialQrScannerOptions {
  /** The device path, e.g. `/dev/ttyACM0` or `/dev/serial/by-id/usb-…`. */
  readonly path: string;
  /** Most scanners default to 9600 or 115200 bauds; USB-CDC ignores it. */
  readonly baudRate: number;
  /** How often the device path is checked to still exist; default 1000 ms. See `#watchPresence`. */
  readonly presenceCheckIntervalMs?: number;
}

const PRESENCE_CHECK_INTERVAL_MS_DEFAULT = 1000;

/** Counters for the status line and the technician's self-test. */
export interface SerialQrScannerStats {
  /** Lines handed to a waiting sale. */
  delivered: number;
  /** Lines (valid or not) that arrived while no sale was waiting, dropped on purpose. */
  discardedIdle: number;
  /** Over-long or unprintable lines reported to a waiting sale. */
  invalid: number;
}

export class SerialQrScanner implements QrSource {
  readonly #port: Readable;
  readonly #ownsPort: boolean;
  readonly #splitter: LineSplitter;
  readonly stats: SerialQrScannerStats = { delivered: 0, discardedIdle: 0, invalid: 0 };
  /** The one pending `waitForCode`, if any. */
  readonly #waiter = new Waiters<string>(1, 'SerialQrScanner.waitForCode');
  #unavailable: PasserelleError | null = null;
  #stopWatch: () => void = () => undefined;

  /**
   * Reads lines from `port`: a serialport `SerialPort` or any byte stream. The caller keeps ownership
   * of the port (opening and closing it) unless the scanner was made by `SerialQrScanner.open`.
   */
  constructor(port: Readable, opts: SerialQrScannerOptions = {}, ownsPort = false) {
    this.#port = port;
    this.#ownsPort = ownsPort;
    this.#splitter = new LineSplitter(opts.maxLineBytes);
    port.on('data', this.#onData);
    port.on('error', this.#onError);
    port.on('close', this.#onClose);
    port.on('end', this.#onEnd);
  }

  /** Opens the serial port at `path` and reads codes from it; `close()` then closes the port too. */
  static async open(opts: SerialQrScannerOpenOptions): Promise<SerialQrScanner> {
    const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(unavailable(`The QR scanner port ${opts.path} cannot be opened.`, err)) : resolve()));
    });
    const scanner = new SerialQrScanner(port, opts, true);
    scanner.#watchPresence(opts.path, opts.presenceCheckIntervalMs ?? PRESENCE_CHECK_INTERVAL_MS_DEFAULT);
    return scanner;
  }

  /**
   * When a tty is hung up (a USB scanner unplugged, the far end of a pty gone), read() returns 0, and
   * @serialport/bindings-cpp 13 retries such reads forever instead of reporting a disconnection
   * (serialport/bindings-cpp#162): the port never emits 'close' and the reads spin. The device node
   * disappears on unplug, so its path is checked periodically; once gone, the port is closed, which
   * also ends the spinning reads, and waits fail with QR_READER_UNAVAILABLE.
   */
  #watchPresence(path: string, intervalMs: number): void {
    if (!Number.isInteger(intervalMs) || intervalMs < 10 || intervalMs > 60_000) {
      throw new RangeError('presenceCheckIntervalMs must be an integer in 10..60000');
    }
    let checking = false;
    const timer = setInterval(() => {
      if (checking) return;
      checking = true;
      stat(path)
        .then(
          () => undefined,
          (e: unknown) => {
            if (isNotFound(e)) void this.#deviceGone(path);
          },
        )
        .finally(() => {
          checking = false;
        });
    }, intervalMs);
    // The watch alone must not keep the process alive.
    timer.unref();
    this.#stopWatch = () => clearInterval(timer);
  }

  async #deviceGone(path: string): Promise<void> {
    this.#fail(unavailable(`The QR scanner ${path} is gone (unplugged).`));
    await this.#closeOwnedPort();
  }

  /**
   * The text of the next line the scanner sends after this call. Rejects with QR_PAYLOAD_INVALID for a
   * malformed line, QR_READER_UNAVAILABLE when the port is gone, or the signal's reason when aborted.
   * One sale reads at a time: a second concurrent call is a programmer error.
   */
  waitForCode(signal: AbortSignal): Promise<string> {
    if (this.#waiter.size > 0) throw new Error('assertion failed: SerialQrScanner.waitForCode is already pending');
    if (this.#unavailable !== null) return Promise.reject(this.#unavailable);
    return this.#waiter.wait(signal);
  }

  /** Stops listening; a pending wait fails with QR_READER_UNAVAILABLE. Closes the port if it owns it. */
  async close(): Promise<void> {
    this.#detach();
    this.#fail(unavailable('The QR scanner was closed.'));
    await this.#closeOwnedPort();
  }

  async #closeOwnedPort(): Promise<void> {
    this.#stopWatch();
    if (!this.#ownsPort || !(this.#port instanceof SerialPort) || !this.#port.isOpen) return;
    const port = this.#port;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    for (const event of this.#splitter.push(bytes)) this.#deliver(event);
  };

  #deliver(event: LineEvent): void {
    if (this.#waiter.size === 0) {
      this.stats.discardedIdle++;
      return;
    }
    if (event.kind === 'overlong') {
      this.stats.invalid++;
      const max = this.#splitter.maxLineBytes;
      this.#waiter.rejectAll(new PasserelleError('QR_PAYLOAD_INVALID', `The scanner sent a line longer than ${max} bytes.`, { reason: 'too-long' }));
      return;
    }
    try {
      const text = decodeLine(event.bytes);
      this.stats.delivered++;
      this.#waiter.resolveAll(text);
    } catch (e) {
      this.stats.invalid++;
      this.#waiter.rejectAll(e);
    }
  }

  readonly #onError = (err: Error): void => {
    this.#fail(unavailable('The QR scanner port failed.', err));
  };

  readonly #onClose = (err?: Error | null): void => {
    this.#stopWatch();
    this.#fail(unavailable('The QR scanner port was closed or unplugged.', err ?? undefined));
  };

  readonly #onEnd = (): void => {
    this.#fail(unavailable('The QR scanner stream ended.'));
  };

  /** The first failure is kept: it is the one that says what happened. */
  #fail(error: PasserelleError): void {
    if (this.#unavailable === null) this.#unavailable = error;
    this.#waiter.rejectAll(this.#unavailable);
  }

  #detach(): void {
    this.#port.off('data', this.#onData);
    this.#port.off('close', this.#onClose);
    this.#port.off('end', this.#onEnd);
    // The error listener stays: an error emitted after close() must not crash the process.
  }
}

function isNotFound(e: unknown): boolean {
  return e instanceof Error && 'code' in e && e.code === 'ENOENT';
}

function unavailable(message: string, cause?: unknown): PasserelleError {
  return new PasserelleError('QR_READER_UNAVAILABLE', message, {}, cause === undefined ? undefined : { cause });
}
