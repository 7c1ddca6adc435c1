import { PasserelleError } from '../../../protocol/errors.ts';
import type { QrSource } from '../../bindings.ts';
import { CODE_SEEN_REASONS, decodeQrFrame, NOT_AN_IMAGE_REASONS, unreadableReason } from '../../qr-decode.ts';
import { checkInt, unavailable, yieldToEventLoop, type FrameSource } from './frame-source.ts';

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
