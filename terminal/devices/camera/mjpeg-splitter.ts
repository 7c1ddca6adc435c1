import { MAX_FRAME_BYTES } from '../../qr-decode.ts';
import { checkInt } from './frame-source.ts';

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
