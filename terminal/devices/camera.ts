import { spawn } from 'node:child_process';
import { opendir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PasserelleError } from '../../protocol/errors.ts';
import type { QrSource } from '../bindings.ts';
import { CODE_SEEN_REASONS, decodeQrFrame, MAX_FRAME_BYTES, NOT_AN_IMAGE_REASONS, unreadableReason } from '../qr-decode.ts';

/**
 * A camera pointed at the counter, as a QrSource. Frames (PNG or JPEG) come from a FrameSource: the
 * standard output of a capture command writing Motion-JPEG, or a spool directory where a capture
 * program drops image files. Each frame is decoded with @zxing/library (`qr-decode.ts`).
 *
 * The camera looks at the counter all day, so a frame without a code is normal and skipped in silence.
 * A frame where a code is seen but cannot be decoded (bad checksum or format) is worth telling the
 * youth: after `unreadableFramesMax` such frames in a row, `waitForCode` rejects with QR_UNREADABLE and
 * the display says "QR code illisible". Frames that are not images point at the capture pipeline: after
 * `brokenFramesMax` in a row, or when the source ends or fails, it rejects with QR_READER_UNAVAILABLE.
 *
 * Decoding runs on the event loop (10–100 ms a frame here), so it is bounded in rate and in share of
 * time; frames that arrive meanwhile are skipped, never queued, so the code decoded is always a recent one.
 */

/** Where frames come from. Implementations bound their buffers and drop old frames rather than queue them. */
export interface FrameSource {
  /**
   * The next frame, PNG or JPEG bytes. Rejects with QR_READER_UNAVAILABLE when the source has ended or
   * failed, or with the signal's reason when aborted.
   */
  nextFrame(signal: AbortSignal): Promise<Buffer>;
  /** Releases the source (stops a capture command, stops polling). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------
// CameraQrSource

export interface CameraQrSourceOptions {
  /** Frames in a row with a code seen but not decodable before QR_UNREADABLE; default 5. */
  readonly unreadableFramesMax?: number;
  /** Frames in a row that are not images before QR_READER_UNAVAILABLE; default 50. */
  readonly brokenFramesMax?: number;
  /** At most this many decodes per second; default 10. */
  readonly decodesPerSecondMax?: number;
  /** At most this share of the time spent decoding, 0.05..1; default 0.5. */
  readonly decodeBusyFractionMax?: number;
  /** Monotonic milliseconds; injected by tests. */
  readonly monotonicMs?: () => number;
  /** The frame decoder; `decodeQrFrame` unless a test injects one. */
  readonly decode?: (frame: Buffer) => string;
}

export interface CameraQrSourceStats {
  frames: number;
  decoded: number;
  /** Frames skipped without decoding to keep within the decode bounds. */
  skippedBusy: number;
  noCode: number;
  codeUnreadable: number;
  notImage: number;
}

export class CameraQrSource implements QrSource {
  readonly stats: CameraQrSourceStats = { frames: 0, decoded: 0, skippedBusy: 0, noCode: 0, codeUnreadable: 0, notImage: 0 };
  readonly #source: FrameSource;
  readonly #unreadableFramesMax: number;
  readonly #brokenFramesMax: number;
  readonly #decodeIntervalMs: number;
  readonly #idleFactor: number;
  readonly #monotonicMs: () => number;
  readonly #decode: (frame: Buffer) => string;
  #nextDecodeAtMs = -Infinity;
  #busy = false;

  constructor(source: FrameSource, opts: CameraQrSourceOptions = {}) {
    this.#source = source;
    this.#unreadableFramesMax = checkInt('unreadableFramesMax', opts.unreadableFramesMax ?? 5, 1, 1000);
    this.#brokenFramesMax = checkInt('brokenFramesMax', opts.brokenFramesMax ?? 50, 1, 100_000);
    this.#decodeIntervalMs = 1000 / checkInt('decodesPerSecondMax', opts.decodesPerSecondMax ?? 10, 1, 120);
    const busyFraction = opts.decodeBusyFractionMax ?? 0.5;
    if (!(busyFraction >= 0.05 && busyFraction <= 1)) throw new RangeError('decodeBusyFractionMax must be in 0.05..1');
    // After a decode of d ms, waiting d × (1/f − 1) ms keeps decoding to a share f of the time.
    this.#idleFactor = 1 / busyFraction - 1;
    this.#monotonicMs = opts.monotonicMs ?? (() => performance.now());
    this.#decode = opts.decode ?? decodeQrFrame;
  }

  /**
   * The text of the next QR code the camera reads. One sale reads at a time: a second concurrent call
   * is a programmer error. Each call starts its counts of unreadable and broken frames afresh.
   */
  async waitForCode(signal: AbortSignal): Promise<string> {
    if (this.#busy) throw new Error('assertion failed: CameraQrSource.waitForCode is already pending');
    this.#busy = true;
    try {
      return await this.#scan(signal);
    } finally {
      this.#busy = false;
    }
  }

  close(): Promise<void> {
    return this.#source.close();
  }

  async #scan(signal: AbortSignal): Promise<string> {
    const run = { unreadable: 0, broken: 0 };
    // Ends with a code, an error or the signal; each turn waits for a new frame from the source.
    for (;;) {
      const frame = await this.#nextFrame(signal);
      this.stats.frames++;
      if (!this.#mayDecode()) {
        this.stats.skippedBusy++;
        continue;
      }
      const text = this.#decodeTimed(frame, run);
      if (text !== null) return text;
      // Decoding is synchronous: let timers and sockets run before the next frame.
      await yieldToEventLoop();
    }
  }

  async #nextFrame(signal: AbortSignal): Promise<Buffer> {
    try {
      return await this.#source.nextFrame(signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (e instanceof PasserelleError && e.code === 'QR_READER_UNAVAILABLE') throw e;
      throw unavailable('The camera frame source failed.', e);
    }
  }

  #mayDecode(): boolean {
    return this.#monotonicMs() >= this.#nextDecodeAtMs;
  }

  /** Decodes one frame: the text, or null to go on; throws when a run of bad frames is long enough. */
  #decodeTimed(frame: Buffer, run: { unreadable: number; broken: number }): string | null {
    const startMs = this.#monotonicMs();
    try {
      const text = this.#decode(frame);
      this.stats.decoded++;
      return text;
    } catch (e) {
      this.#countFailure(e, run);
      return null;
    } finally {
      const endMs = this.#monotonicMs();
      this.#nextDecodeAtMs = Math.max(startMs + this.#decodeIntervalMs, endMs + (endMs - startMs) * this.#idleFactor);
    }
  }

  #countFailure(e: unknown, run: { unreadable: number; broken: number }): void {
    const reason = unreadableReason(e);
    // Anything but a QR_UNREADABLE from the decoder is a bug, not a property of the frame.
    if (reason === null) throw e;
    if (NOT_AN_IMAGE_REASONS.has(reason)) {
      this.stats.notImage++;
      if (++run.broken >= this.#brokenFramesMax) {
        throw unavailable(`The camera sent ${run.broken} frames in a row that are not images (last: ${reason}).`, e);
      }
      return;
    }
    run.broken = 0;
    if (CODE_SEEN_REASONS.has(reason)) {
      this.stats.codeUnreadable++;
      if (++run.unreadable >= this.#unreadableFramesMax) {
        throw new PasserelleError('QR_UNREADABLE', `A QR code was seen in ${run.unreadable} frames in a row but could not be decoded.`, {
          reason,
          frames: run.unreadable,
        });
      }
      return;
    }
    this.stats.noCode++;
    run.unreadable = 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// Motion-JPEG stream

export const MJPEG_FRAME_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;
const MJPEG_FRAME_BYTES_MIN = 64;

export interface MjpegSplitterStats {
  frames: number;
  /** Bytes outside any frame, skipped while looking for the next start of image. */
  garbageBytes: number;
  /** Frames cut short by a new start of image or a malformed marker. */
  brokenFrames: number;
  /** Frames that grew past `maxFrameBytes` and were dropped. */
  oversizedFrames: number;
}

const SOI = Buffer.from([0xff, 0xd8]);
const MARKER_SOI = 0xd8;
const MARKER_EOI = 0xd9;
const MARKER_SOS = 0xda;

type SplitterState = 'seek' | 'markers' | 'entropy';

/**
 * Splits a byte stream of concatenated JPEG images into frames. It follows the JPEG structure rather
 * than searching for FF D9, because an EXIF thumbnail inside a frame has its own end-of-image marker:
 * marker segments are skipped by their length; in entropy-coded data FF 00 and restart markers are
 * data, and any other marker ends the scan. Anything malformed drops the frame and resynchronises on
 * the next start of image. One fixed buffer of `maxFrameBytes`; pure, so it is fuzzed on its own.
 */
export class MjpegSplitter {
  readonly stats: MjpegSplitterStats = { frames: 0, garbageBytes: 0, brokenFrames: 0, oversizedFrames: 0 };
  readonly #buf: Buffer;
  #length = 0;
  /** Where parsing resumes in the current frame. */
  #pos = 0;
  #state: SplitterState = 'seek';

  constructor(readonly maxFrameBytes = MJPEG_FRAME_BYTES_MAX_DEFAULT) {
    checkInt('maxFrameBytes', maxFrameBytes, MJPEG_FRAME_BYTES_MIN, MAX_FRAME_BYTES);
    this.#buf = Buffer.alloc(maxFrameBytes);
  }

  /** Feeds a chunk; returns the complete frames it ends, each a copy starting FF D8 and ending FF D9. */
  push(chunk: Uint8Array): Buffer[] {
    const frames: Buffer[] = [];
    let offset = 0;
    // Each turn copies at least one byte, after dropping an over-long frame if the buffer is full.
    while (offset < chunk.length) {
      if (this.#length === this.maxFrameBytes) this.#dropOversized();
      const n = Math.min(this.maxFrameBytes - this.#length, chunk.length - offset);
      this.#buf.set(chunk.subarray(offset, offset + n), this.#length);
      this.#length += n;
      offset += n;
      this.#parse(frames);
    }
    return frames;
  }

  #parse(frames: Buffer[]): void {
    // Every step consumes bytes, moves the position forward, or waits for more: 4 steps per byte is ample.
    const stepsMax = 4 * this.#length + 16;
    for (let step = 0; step < stepsMax; step++) {
      const more = this.#state === 'seek' ? this.#seek() : this.#state === 'markers' ? this.#marker(frames) : this.#entropy();
      if (!more) return;
    }
    throw new Error('assertion failed: MjpegSplitter made no progress');
  }

  /** Looks for a start of image; returns false when more bytes are needed. */
  #seek(): boolean {
    const at = this.#buf.subarray(0, this.#length).indexOf(SOI);
    if (at < 0) {
      // A trailing FF may be the first half of the next SOI.
      const keep = this.#length > 0 && this.#buf[this.#length - 1] === 0xff ? 1 : 0;
      this.stats.garbageBytes += this.#length - keep;
      this.#consume(this.#length - keep);
      return false;
    }
    this.stats.garbageBytes += at;
    this.#consume(at);
    this.#pos = SOI.length;
    this.#state = 'markers';
    return true;
  }

  /** Reads the marker at the current position; returns false when more bytes are needed. */
  #marker(frames: Buffer[]): boolean {
    const pos = this.#pos;
    if (pos + 2 > this.#length) return false;
    const marker = this.#buf[pos + 1] ?? 0;
    if (this.#buf[pos] !== 0xff || marker === 0x00 || marker === MARKER_SOI) return this.#resync();
    if (marker === 0xff) {
      this.#pos += 1; // A fill byte.
      return true;
    }
    if (marker === MARKER_EOI) return this.#emit(frames, pos + 2);
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      this.#pos += 2; // TEM and RSTn have no length.
      return true;
    }
    if (pos + 4 > this.#length) return false;
    const length = this.#buf.readUInt16BE(pos + 2);
    if (length < 2) return this.#resync();
    if (pos + 2 + length > this.#length) return false;
    this.#pos = pos + 2 + length;
    if (marker === MARKER_SOS) this.#state = 'entropy';
    return true;
  }

  /** Skips entropy-coded data up to the next real marker; returns false when more bytes are needed. */
  #entropy(): boolean {
    const at = this.#buf.subarray(0, this.#length).indexOf(0xff, this.#pos);
    if (at < 0) {
      this.#pos = this.#length;
      return false;
    }
    if (at + 1 >= this.#length) {
      this.#pos = at;
      return false;
    }
    const next = this.#buf[at + 1] ?? 0;
    // FF 00 is a stuffed data byte, RSTn separate intervals, and FF FF is fill before a marker.
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) this.#pos = at + 2;
    else if (next === 0xff) this.#pos = at + 1;
    else {
      this.#pos = at;
      this.#state = 'markers';
    }
    return true;
  }

  #emit(frames: Buffer[], end: number): boolean {
    frames.push(Buffer.from(this.#buf.subarray(0, end)));
    this.stats.frames++;
    this.#consume(end);
    this.#state = 'seek';
    return true;
  }

  /** Drops the frame begun at offset 0 and looks for the next start of image after its first byte. */
  #resync(): boolean {
    this.stats.brokenFrames++;
    this.#consume(1);
    this.#state = 'seek';
    return true;
  }

  #dropOversized(): void {
    this.stats.oversizedFrames++;
    this.#length = 0;
    this.#pos = 0;
    this.#state = 'seek';
  }

  #consume(n: number): void {
    this.#buf.copyWithin(0, n, this.#length);
    this.#length -= n;
    this.#pos = Math.max(0, this.#pos - n);
  }
}

export interface MjpegStreamFrameSourceOptions {
  /** Largest frame, in bytes; default 4 MiB (a 1280x720 frame is ~100–300 kB). */
  readonly maxFrameBytes?: number;
  /** Frames kept while nobody reads, newest kept; default 2. */
  readonly maxQueuedFrames?: number;
}

/** Bytes of a capture command's standard error kept for the error message. */
const STDERR_TAIL_BYTES = 2048;

/**
 * Frames from a byte stream of concatenated JPEGs: what `ffmpeg -f v4l2 -i /dev/video0 -f mjpeg -`
 * writes on its standard output. The stream is read continuously, so the capture command never blocks,
 * and only the newest `maxQueuedFrames` frames are kept while no sale reads: an old frame never pays.
 */
export class MjpegStreamFrameSource implements FrameSource {
  readonly #stream: Readable;
  readonly #splitter: MjpegSplitter;
  readonly #maxQueuedFrames: number;
  readonly #queue: Buffer[] = [];
  #waiter: { resolve: (frame: Buffer) => void; reject: (e: unknown) => void; signal: AbortSignal; onAbort: () => void } | null = null;
  #failure: PasserelleError | null = null;
  #onClose: () => void = () => undefined;
  /** False for a spawned command: its 'close' event, after both exit and end of output, reports instead. */
  #failOnStreamEnd = true;
  /** Frames dropped because newer ones arrived before anybody read them. */
  droppedStale = 0;

  constructor(stream: Readable, opts: MjpegStreamFrameSourceOptions = {}) {
    this.#stream = stream;
    this.#splitter = new MjpegSplitter(opts.maxFrameBytes);
    this.#maxQueuedFrames = checkInt('maxQueuedFrames', opts.maxQueuedFrames ?? 2, 1, 64);
    stream.on('data', this.#onData);
    stream.on('end', () => this.#streamEnded('The camera stream ended.'));
    stream.on('close', () => this.#streamEnded('The camera stream was closed.'));
    stream.on('error', (e: Error) => this.#fail(unavailable('The camera stream failed.', e)));
  }

  /**
   * Runs a capture command (no shell: `argv[0]` is the program) and reads Motion-JPEG from its
   * standard output. A technician configures the command, e.g.
   * `['ffmpeg', '-loglevel', 'error', '-f', 'v4l2', '-video_size', '1280x720', '-i', '/dev/video0', '-f', 'mjpeg', '-q:v', '5', '-']`.
   * The command exiting, or failing to start, makes the source unavailable; `close()` stops it.
   */
  static spawn(argv: readonly string[], opts: MjpegStreamFrameSourceOptions = {}): MjpegStreamFrameSource {
    const [program, ...args] = argv;
    if (program === undefined) throw new RangeError('the capture command is empty');
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const source = new MjpegStreamFrameSource(child.stdout, opts);
    // 'exit' can come before the last frames are read from the pipe; 'close' comes after both.
    source.#failOnStreamEnd = false;
    let stderrTail = '';
    // The command's log must be read, or a chatty ffmpeg would block on a full pipe.
    child.stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.on('error', (e) => source.#fail(unavailable(`The capture command ${program} cannot be run.`, e)));
    child.on('close', (code, signalName) => {
      const how = signalName === null ? `with code ${code}` : `on ${signalName}`;
      source.#fail(unavailable(`The capture command ${program} exited ${how}.`, stderrTail ? new Error(stderrTail.trim()) : undefined));
    });
    source.#onClose = () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    };
    return source;
  }

  get stats(): Readonly<MjpegSplitterStats> {
    return this.#splitter.stats;
  }

  nextFrame(signal: AbortSignal): Promise<Buffer> {
    if (this.#waiter !== null) throw new Error('assertion failed: MjpegStreamFrameSource.nextFrame is already pending');
    if (signal.aborted) return Promise.reject(signal.reason);
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#failure !== null) return Promise.reject(this.#failure);
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiter = null;
        reject(signal.reason);
      };
      this.#waiter = { resolve, reject, signal, onAbort };
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    this.#fail(unavailable('The camera was closed.'));
    this.#stream.off('data', this.#onData);
    this.#onClose();
    this.#stream.destroy();
  }

  readonly #onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    for (const frame of this.#splitter.push(bytes)) this.#offer(frame);
  };

  #offer(frame: Buffer): void {
    const waiter = this.#takeWaiter();
    if (waiter !== null) {
      waiter.resolve(frame);
      return;
    }
    this.#queue.push(frame);
    if (this.#queue.length > this.#maxQueuedFrames) {
      this.#queue.shift();
      this.droppedStale++;
    }
  }

  #takeWaiter(): { resolve: (frame: Buffer) => void; reject: (e: unknown) => void } | null {
    const waiter = this.#waiter;
    if (waiter === null) return null;
    this.#waiter = null;
    waiter.signal.removeEventListener('abort', waiter.onAbort);
    return waiter;
  }

  #streamEnded(message: string): void {
    if (this.#failOnStreamEnd) this.#fail(unavailable(message));
  }

  /** The first failure is kept; frames already queued are still handed out before it. */
  #fail(error: PasserelleError): void {
    if (this.#failure === null) this.#failure = error;
    this.#takeWaiter()?.reject(this.#failure);
  }
}

// ---------------------------------------------------------------------------------------------------
// Spool directory

export interface DirectoryFrameSourceOptions {
  /** How often an empty directory is looked at again; default 100 ms. */
  readonly pollIntervalMs?: number;
  /** Larger files are deleted unread; default 16 MiB. */
  readonly maxFrameBytes?: number;
  /** Older files (by modification time) are deleted unread, so an old frame never pays; default 5 s. */
  readonly maxFrameAgeMs?: number;
  /** Directory entries looked at per scan; default 1000. */
  readonly maxEntriesPerScan?: number;
  /** Wall-clock milliseconds, compared with file times; injected by tests. */
  readonly nowMs?: () => number;
}

export interface DirectoryFrameSourceStats {
  frames: number;
  stale: number;
  oversized: number;
}

const FRAME_FILE = /^[^.].*\.(png|jpe?g)$/i;

interface SpoolEntry {
  readonly path: string;
  readonly name: string;
  readonly mtimeMs: number;
  readonly size: number;
}

/**
 * Frames dropped as `.png`, `.jpg` or `.jpeg` files in a spool directory by a capture program, read
 * oldest first and deleted once read. Writers must write under a name starting with a dot (or another
 * extension) and rename when done, so a half-written file is never read. Stale and oversized files are
 * deleted unread, which also keeps the directory from growing while no sale reads.
 */
export class DirectoryFrameSource implements FrameSource {
  readonly stats: DirectoryFrameSourceStats = { frames: 0, stale: 0, oversized: 0 };
  readonly #dir: string;
  readonly #pollIntervalMs: number;
  readonly #maxFrameBytes: number;
  readonly #maxFrameAgeMs: number;
  readonly #maxEntriesPerScan: number;
  readonly #nowMs: () => number;
  #closed = false;

  constructor(dir: string, opts: DirectoryFrameSourceOptions = {}) {
    this.#dir = dir;
    this.#pollIntervalMs = checkInt('pollIntervalMs', opts.pollIntervalMs ?? 100, 1, 60_000);
    this.#maxFrameBytes = checkInt('maxFrameBytes', opts.maxFrameBytes ?? MAX_FRAME_BYTES, 1, MAX_FRAME_BYTES);
    this.#maxFrameAgeMs = checkInt('maxFrameAgeMs', opts.maxFrameAgeMs ?? 5_000, 1, 24 * 3_600_000);
    this.#maxEntriesPerScan = checkInt('maxEntriesPerScan', opts.maxEntriesPerScan ?? 1000, 1, 1_000_000);
    this.#nowMs = opts.nowMs ?? Date.now;
  }

  async nextFrame(signal: AbortSignal): Promise<Buffer> {
    // Polls until a frame arrives; the signal (the sale moving on) or a failure ends the wait.
    for (;;) {
      if (signal.aborted) throw signal.reason;
      if (this.#closed) throw unavailable('The camera spool was closed.');
      const frame = await this.#takeOldest();
      if (frame !== null) return frame;
      await sleepMs(this.#pollIntervalMs, signal);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async #takeOldest(): Promise<Buffer | null> {
    const entries = await this.#scan();
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const nowMs = this.#nowMs();
    for (const entry of entries) {
      if (nowMs - entry.mtimeMs > this.#maxFrameAgeMs) {
        this.stats.stale++;
        await this.#remove(entry.path);
      } else if (entry.size > this.#maxFrameBytes) {
        this.stats.oversized++;
        await this.#remove(entry.path);
      } else {
        const frame = await this.#read(entry.path);
        if (frame !== null) return frame;
      }
    }
    return null;
  }

  async #scan(): Promise<SpoolEntry[]> {
    const entries: SpoolEntry[] = [];
    try {
      const dir = await opendir(this.#dir);
      let seen = 0;
      for await (const dirent of dir) {
        // Leaving the loop early closes the directory handle.
        if (++seen > this.#maxEntriesPerScan) break;
        if (!dirent.isFile() || !FRAME_FILE.test(dirent.name)) continue;
        const entry = await this.#describe(dirent.name);
        if (entry !== null) entries.push(entry);
      }
    } catch (e) {
      throw unavailable(`The camera spool directory ${this.#dir} cannot be read.`, e);
    }
    return entries;
  }

  async #describe(name: string): Promise<SpoolEntry | null> {
    const path = join(this.#dir, name);
    try {
      const s = await stat(path);
      return { path, name, mtimeMs: s.mtimeMs, size: s.size };
    } catch (e) {
      if (isNotFound(e)) return null; // Removed between the listing and now.
      throw e;
    }
  }

  /** Reads and deletes one frame; null if it vanished meanwhile. */
  async #read(path: string): Promise<Buffer | null> {
    let frame: Buffer;
    try {
      frame = await readFile(path);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw unavailable(`The camera frame ${path} cannot be read.`, e);
    }
    await this.#remove(path);
    // The size was checked before reading, but the file may have grown since.
    if (frame.length > this.#maxFrameBytes) {
      this.stats.oversized++;
      return null;
    }
    this.stats.frames++;
    return frame;
  }

  /** A frame that cannot be deleted would be read again and again: the spool is unusable. */
  async #remove(path: string): Promise<void> {
    try {
      await unlink(path);
    } catch (e) {
      if (!isNotFound(e)) throw unavailable(`The camera frame ${path} cannot be deleted.`, e);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers

function isNotFound(e: unknown): boolean {
  return e instanceof Error && 'code' in e && e.code === 'ENOENT';
}

/** Resolves after `ms`, or rejects with the signal's reason (not a generic AbortError) when aborted. */
function sleepMs(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  return value;
}

function unavailable(message: string, cause?: unknown): PasserelleError {
  return new PasserelleError('QR_READER_UNAVAILABLE', message, {}, cause === undefined ? undefined : { cause });
}
