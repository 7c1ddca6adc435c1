import { PasserelleError } from '../../../protocol/errors.ts';

/**
 * Framing of the serial line between the terminal and the PIN pad (see docs/pinpad.md):
 *
 *   STX 0x02 ‖ LEN (u16 BE, payload bytes, 1..MAX_PAYLOAD_BYTES) ‖ payload ‖ CRC-16/CCITT-FALSE (u16 BE over LEN ‖ payload)
 *
 * A serial line drops, repeats and invents bytes, so the parser trusts nothing: it resynchronises on the
 * next STX after any bad length or bad CRC, keeps a buffer no larger than one frame, and reports every
 * rejection as a PAD_FRAME_INVALID error with a reason instead of throwing.
 */

export const STX = 0x02;
/**
 * Kept below 0x0200 on purpose: after a stray STX, a real frame's own STX is read as the high byte of the
 * length, which then reads as 512 or more and is rejected at once, so the real frame is found without
 * waiting for a timeout.
 */
export const MAX_PAYLOAD_BYTES = 500;
const HEADER_BYTES = 3;
const CRC_BYTES = 2;
export const MAX_FRAME_BYTES = HEADER_BYTES + MAX_PAYLOAD_BYTES + CRC_BYTES;

export type FrameErrorReason = 'bad-crc' | 'bad-length' | 'garbage' | 'truncated';

const CRC_TABLE = buildCrcTable();

function buildCrcTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[byte] = crc;
  }
  return table;
}

/** CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR. */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xffff) ^ (CRC_TABLE[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number);
  }
  return crc;
}

/** Wrap one payload in a frame. A payload out of range is the caller's bug in our own encoder. */
export function encodeFrame(payload: Uint8Array): Buffer {
  if (payload.length < 1 || payload.length > MAX_PAYLOAD_BYTES) {
    throw new PasserelleError('PAD_FRAME_INVALID', `payload of ${payload.length} bytes does not fit a frame`, { reason: 'bad-length' });
  }
  const frame = Buffer.alloc(HEADER_BYTES + payload.length + CRC_BYTES);
  frame[0] = STX;
  frame.writeUInt16BE(payload.length, 1);
  frame.set(payload, HEADER_BYTES);
  frame.writeUInt16BE(crc16(frame, 1, HEADER_BYTES + payload.length), HEADER_BYTES + payload.length);
  return frame;
}

/** A PAD_FRAME_INVALID error; `reason` is a FrameErrorReason here and a message-level reason in messages.ts. */
export function frameError(reason: string, message: string, details: Record<string, unknown> = {}): PasserelleError {
  return new PasserelleError('PAD_FRAME_INVALID', `PIN pad frame: ${message}`, { reason, ...details });
}

export interface FrameStats {
  frames: number;
  badCrc: number;
  badLength: number;
  garbageBytes: number;
  truncated: number;
}

export interface FrameParserOptions {
  /** Called once for each rejection (a run of garbage counts once). Must not throw. */
  readonly onError?: (err: PasserelleError) => void;
  /** Monotonic ms; without it, a partial frame is never given up on for silence (tests of pure bytes). */
  readonly nowMs?: () => number;
  /**
   * A silence longer than this inside a frame means the frame was cut: the partial frame is dropped when
   * the next bytes arrive. At 115200 baud a whole frame takes under 50 ms.
   */
  readonly interByteTimeoutMs?: number;
}

/**
 * A pure, push-driven frame parser. `push` returns the payloads of the complete, valid frames found; the
 * internal buffer never holds more than one frame (MAX_FRAME_BYTES), and every loop consumes at least one
 * byte per turn, so hostile input can neither grow memory nor hang it.
 */
export class FrameParser {
  readonly stats: FrameStats = { frames: 0, badCrc: 0, badLength: 0, garbageBytes: 0, truncated: 0 };
  readonly #buf = Buffer.alloc(MAX_FRAME_BYTES);
  #len = 0;
  #lastByteMs = 0;
  readonly #onError: (err: PasserelleError) => void;
  readonly #nowMs: (() => number) | undefined;
  readonly #interByteTimeoutMs: number;

  constructor(opts: FrameParserOptions = {}) {
    this.#onError = opts.onError ?? (() => {});
    this.#nowMs = opts.nowMs;
    this.#interByteTimeoutMs = opts.interByteTimeoutMs ?? 200;
  }

  /** Bytes held while waiting for the rest of a frame (never more than MAX_FRAME_BYTES). */
  get buffered(): number {
    return this.#len;
  }

  push(chunk: Uint8Array): Buffer[] {
    this.#dropIfStale();
    const frames: Buffer[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(chunk.length - offset, MAX_FRAME_BYTES - this.#len);
      this.#buf.set(chunk.subarray(offset, offset + take), this.#len);
      this.#len += take;
      offset += take;
      this.#drain(frames);
    }
    return frames;
  }

  /** Forget a partial frame (the port was closed or reopened). */
  reset(): void {
    this.#len = 0;
  }

  #dropIfStale(): void {
    const now = this.#nowMs?.();
    if (now === undefined) return;
    if (this.#len > 0 && now - this.#lastByteMs > this.#interByteTimeoutMs) {
      this.stats.truncated++;
      this.#report(frameError('truncated', `a partial frame of ${this.#len} bytes was cut by a silence`, { bytes: this.#len }));
      this.#len = 0;
    }
    this.#lastByteMs = now;
  }

  /**
   * Extract every complete frame from the buffer. After it returns, the buffer is empty or holds the
   * beginning of one plausible frame (an STX, then fewer bytes than its length announces), which is
   * always shorter than MAX_FRAME_BYTES, so `push` can always add at least one more byte.
   */
  #drain(out: Buffer[]): void {
    // Each turn removes bytes from the buffer or returns, so the bound is never reached in practice.
    for (let turn = 0; turn <= MAX_FRAME_BYTES; turn++) {
      if (this.#len === 0) return;
      if (this.#buf[0] !== STX) {
        this.#skipGarbage();
        continue;
      }
      if (this.#len < HEADER_BYTES) return;
      const payloadBytes = this.#buf.readUInt16BE(1);
      if (payloadBytes < 1 || payloadBytes > MAX_PAYLOAD_BYTES) {
        this.stats.badLength++;
        this.#report(frameError('bad-length', `length ${payloadBytes} is out of 1..${MAX_PAYLOAD_BYTES}`, { length: payloadBytes }));
        this.#consume(1);
        continue;
      }
      const frameBytes = HEADER_BYTES + payloadBytes + CRC_BYTES;
      if (this.#len < frameBytes) return;
      const expected = this.#buf.readUInt16BE(HEADER_BYTES + payloadBytes);
      const actual = crc16(this.#buf, 1, HEADER_BYTES + payloadBytes);
      if (expected !== actual) {
        this.stats.badCrc++;
        this.#report(frameError('bad-crc', `CRC ${hex4(expected)} does not match ${hex4(actual)}`, { length: payloadBytes }));
        this.#consume(1);
        continue;
      }
      out.push(Buffer.from(this.#buf.subarray(HEADER_BYTES, HEADER_BYTES + payloadBytes)));
      this.stats.frames++;
      this.#consume(frameBytes);
    }
  }

  #skipGarbage(): void {
    const next = this.#buf.subarray(0, this.#len).indexOf(STX);
    const skipped = next < 0 ? this.#len : next;
    this.stats.garbageBytes += skipped;
    this.#report(frameError('garbage', `${skipped} bytes outside any frame`, { bytes: skipped }));
    this.#consume(skipped);
  }

  #consume(bytes: number): void {
    this.#buf.copyWithin(0, bytes, this.#len);
    this.#len -= bytes;
  }

  #report(err: PasserelleError): void {
    try {
      this.#onError(err);
    } catch {
      // A faulty listener must not break the parser; the counters still hold the error.
    }
  }
}

function hex4(n: number): string {
  return `0x${n.toString(16).padStart(4, '0')}`;
}
