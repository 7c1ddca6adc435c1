import {
  BinaryBitmap,
  ChecksumException,
  DecodeHintType,
  FormatException,
  HybridBinarizer,
  NotFoundException,
  QRCodeReader,
  RGBLuminanceSource,
} from '@zxing/library';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { PasserelleError } from '../protocol/errors.ts';

/**
 * Decodes the QR code in one camera frame, PNG or JPEG. Every failure is a PasserelleError
 * 'QR_UNREADABLE' whose `details.reason` says which kind it is, because the camera treats them
 * differently: a frame with no code is normal (the camera looks at the counter all day), a code seen
 * but not decodable is worth telling the youth, and a frame that is not an image is a capture fault.
 */

export type FrameFormat = 'png' | 'jpeg';

/**
 * The values of `details.reason` on a QR_UNREADABLE error from `decodeQrFrame`:
 *  - not-image: neither a PNG nor a JPEG signature;
 *  - corrupt-png, corrupt-jpeg: the image is malformed or truncated;
 *  - bad-size: the header declares a size outside 1x1 .. MAX_FRAME_SIDE_PX square, or the frame has more
 *    than MAX_FRAME_BYTES bytes; refused before decoding;
 *  - too-large: the JPEG decoder would need more than its memory bound;
 *  - not-found: no QR code in the frame;
 *  - checksum: a code was seen, but its error correction could not repair it;
 *  - format: a code was seen, but its format or version information is unreadable;
 *  - decoder-error: another internal failure of the decoder on an odd image.
 */
export const QR_UNREADABLE_REASONS = [
  'not-image',
  'corrupt-png',
  'corrupt-jpeg',
  'bad-size',
  'too-large',
  'not-found',
  'checksum',
  'format',
  'decoder-error',
] as const;

export type QrUnreadableReason = (typeof QR_UNREADABLE_REASONS)[number];

/** Reasons meaning "a QR code is in view but cannot be read": worth a message to the youth. */
export const CODE_SEEN_REASONS: ReadonlySet<QrUnreadableReason> = new Set(['checksum', 'format']);
/** Reasons meaning "the bytes are not a usable image": a fault of the capture pipeline. */
export const NOT_AN_IMAGE_REASONS: ReadonlySet<QrUnreadableReason> = new Set([
  'not-image',
  'corrupt-png',
  'corrupt-jpeg',
  'bad-size',
  'too-large',
]);

/** Largest side accepted, in pixels; cameras here send 1280x720, and 4096 leaves room for 4K sensors. */
export const MAX_FRAME_SIDE_PX = 4096;
/** Largest encoded frame accepted, in bytes: a 1280x720 JPEG is ~100–300 kB, a noisy PNG ~1–3 MB. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;
// jpeg-js counts what it allocates (coefficient blocks, tables, output) against this bound and stops.
// A 1920x1080 frame with full-resolution colour needs ~35 MB; 64 MB refuses a hostile 4096x4096 one
// with 4x4 sampling (~200 MB) instead of allocating it.
const JPEG_MAX_MEMORY_MB = 64;
const JPEG_MAX_RESOLUTION_MP = (MAX_FRAME_SIDE_PX * MAX_FRAME_SIDE_PX) / 1e6;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// Signature (8) + IHDR length (4) + type (4) + width (4) + height (4).
const IHDR_END = 24;

/** A decoded frame as zxing wants it: one grey byte per pixel. */
interface GreyImage {
  readonly lum: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}

/** 'png' or 'jpeg' from the first bytes, or null; the file name or MIME type is never trusted. */
export function sniffFrameFormat(bytes: Uint8Array): FrameFormat | null {
  if (bytes.length >= PNG_SIGNATURE.length && PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return 'png';
  // Every JPEG starts with SOI (FF D8) immediately followed by the first marker's FF.
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/**
 * Decodes the QR code in a camera frame given as PNG or JPEG bytes and returns its text.
 * Throws PasserelleError 'QR_UNREADABLE' with `details.reason` a QrUnreadableReason.
 */
export function decodeQrFrame(image: Buffer | Uint8Array): string {
  // A view, not a copy: frames arrive several times a second.
  const bytes = Buffer.isBuffer(image) ? image : Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  return decodeLuminance(readFrame(bytes));
}

function readFrame(bytes: Buffer): GreyImage {
  if (bytes.length > MAX_FRAME_BYTES) {
    throw unreadable(`The frame is ${bytes.length} bytes; at most ${MAX_FRAME_BYTES} are read.`, 'bad-size', { bytes: bytes.length });
  }
  const format = sniffFrameFormat(bytes);
  if (format === 'png') return readPng(bytes);
  if (format === 'jpeg') return readJpeg(bytes);
  throw unreadable('The frame is neither a PNG nor a JPEG image.', 'not-image');
}

// ---------------------------------------------------------------------------------------------------
// PNG

function readPng(bytes: Buffer): GreyImage {
  checkPngHeader(bytes);
  let png: PNG;
  try {
    png = PNG.sync.read(bytes);
  } catch (e) {
    throw unreadable('The PNG frame is corrupt or truncated.', 'corrupt-png', {}, e);
  }
  return { lum: rgbaToLuminance(png.data, png.width, png.height), width: png.width, height: png.height };
}

/** Checks the IHDR before pngjs sees it, because pngjs allocates whatever size the header claims. */
function checkPngHeader(bytes: Buffer): void {
  if (bytes.length < IHDR_END || bytes.toString('latin1', 12, 16) !== 'IHDR') {
    throw unreadable('The PNG frame is truncated or has no IHDR header.', 'corrupt-png');
  }
  checkSize('PNG', bytes.readUInt32BE(16), bytes.readUInt32BE(20));
}

/** pngjs always hands back 8-bit RGBA. */
function rgbaToLuminance(rgba: Uint8Array, width: number, height: number): Uint8ClampedArray {
  const lum = new Uint8ClampedArray(width * height);
  for (let i = 0, p = 0; i < lum.length; i++, p += 4) {
    const a = rgba[p + 3] ?? 255;
    const y = bt601(rgba[p] ?? 0, rgba[p + 1] ?? 0, rgba[p + 2] ?? 0);
    // Transparent pixels are composited on white, as a screen would show them.
    lum[i] = (y * a + 255 * (255 - a)) / 255;
  }
  return lum;
}

// ---------------------------------------------------------------------------------------------------
// JPEG

/** What the markers before the first scan say about a JPEG. */
interface JpegHeader {
  readonly width: number;
  readonly height: number;
  /** Offset of the SOS marker, where default Huffman tables go when the frame has none. */
  readonly sosOffset: number;
  readonly hasHuffmanTables: boolean;
}

// Markers without a length field: TEM and the restart markers RST0..RST7.
const STANDALONE_MARKERS = new Set([0x01, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7]);
// Start-of-frame markers that jpeg-js decodes: baseline, extended and progressive Huffman DCT.
const SUPPORTED_SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2]);
// All other SOFn (lossless, hierarchical, arithmetic coding): valid JPEG, but no camera sends them.
const OTHER_SOF_MARKERS = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const MARKER_DHT = 0xc4;
const MARKER_SOS = 0xda;
const MARKER_EOI = 0xd9;

/**
 * The standard Huffman tables of ITU T.81 Annex K.3, as one DHT segment (marker included). Motion-JPEG
 * from UVC webcams leaves them out of each frame by convention (AVI1), and `ffmpeg -c:v copy` passes such
 * frames on unchanged, so a frame without DHT gets these, as every MJPEG player does.
 */
const STANDARD_DHT_SEGMENT = Buffer.from(
  '/8QBogAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoLEAACAQMDAgQDBQUEBAAAAX0BAgMABBEFEiExQQYTUWEHInEUMoGRoQgjQrHBFVLR8CQzYnKCCQoWFxgZGiUmJygpKjQ1Njc4OTpDREVGR0hJSlNUVVZXWFlaY2RlZmdoaWpzdHV2d3h5eoOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4eLj5OXm5+jp6vHy8/T19vf4+foBAAMBAQEBAQEBAQEAAAAAAAABAgMEBQYHCAkKCxEAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6',
  'base64',
);

function readJpeg(bytes: Buffer): GreyImage {
  const header = readJpegHeader(bytes);
  const complete = header.hasHuffmanTables ? bytes : withStandardHuffmanTables(bytes, header.sosOffset);
  let image: { width: number; height: number; data: Uint8Array };
  try {
    image = jpeg.decode(complete, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: JPEG_MAX_RESOLUTION_MP,
      maxMemoryUsageInMB: JPEG_MAX_MEMORY_MB,
    });
  } catch (e) {
    const tooLarge = e instanceof Error && /maxMemoryUsageInMB|maxResolutionInMP|allocate/.test(e.message);
    if (tooLarge) throw unreadable('The JPEG frame needs more memory than a frame may take.', 'too-large', {}, e);
    throw unreadable('The JPEG frame is corrupt or truncated.', 'corrupt-jpeg', {}, e);
  }
  return { lum: rgbToLuminance(image.data, image.width, image.height), width: image.width, height: image.height };
}

/**
 * Walks the marker segments up to the first scan and checks the frame size declared in SOF, because
 * jpeg-js sizes its buffers from that header: a hostile 65535x65535 header must not get that far.
 */
function readJpegHeader(bytes: Buffer): JpegHeader {
  let size: { width: number; height: number } | null = null;
  let hasHuffmanTables = false;
  let pos = 2;
  // Each turn consumes at least one byte, so the walk ends within bytes.length turns.
  for (let turns = 0; turns < bytes.length; turns++) {
    if (pos + 1 >= bytes.length) break;
    if (bytes[pos] !== 0xff) throw corruptJpeg(`a marker is expected at offset ${pos}`);
    const marker = bytes[pos + 1] ?? 0;
    if (marker === 0xff) {
      pos += 1; // A fill byte before a marker.
      continue;
    }
    if (STANDALONE_MARKERS.has(marker)) {
      pos += 2;
      continue;
    }
    if (marker === MARKER_EOI || marker === 0x00 || marker === 0xd8) throw corruptJpeg(`marker ${hex(marker)} before any scan`);
    if (pos + 4 > bytes.length) break;
    const length = bytes.readUInt16BE(pos + 2);
    if (length < 2) throw corruptJpeg(`segment ${hex(marker)} has length ${length}`);
    if (marker === MARKER_SOS) {
      if (size === null) throw corruptJpeg('the first scan comes before any frame header (SOF)');
      return { ...size, sosOffset: pos, hasHuffmanTables };
    }
    if (marker === MARKER_DHT) hasHuffmanTables = true;
    if (OTHER_SOF_MARKERS.has(marker)) throw corruptJpeg(`frame type ${hex(marker)} (lossless, hierarchical or arithmetic) is not supported`);
    if (SUPPORTED_SOF_MARKERS.has(marker)) size = readSof(bytes, pos, length, size);
    pos += 2 + length;
  }
  throw corruptJpeg('the frame ends before its first scan');
}

function readSof(bytes: Buffer, pos: number, length: number, previous: object | null): { width: number; height: number } {
  if (previous !== null) throw corruptJpeg('more than one frame header (SOF)');
  // Length (2) + precision (1) + height (2) + width (2) + component count (1).
  if (length < 8 || pos + 2 + 8 > bytes.length) throw corruptJpeg('the frame header (SOF) is truncated');
  const height = bytes.readUInt16BE(pos + 5);
  const width = bytes.readUInt16BE(pos + 7);
  // A height of 0 defers it to a DNL marker after the first scan; no camera does that, and it would
  // let the size escape this check.
  checkSize('JPEG', width, height);
  return { width, height };
}

function withStandardHuffmanTables(bytes: Buffer, sosOffset: number): Buffer {
  return Buffer.concat([bytes.subarray(0, sosOffset), STANDARD_DHT_SEGMENT, bytes.subarray(sosOffset)]);
}

/** jpeg-js, asked for RGB, gives 3 bytes per pixel whatever the number of components. */
function rgbToLuminance(rgb: Uint8Array, width: number, height: number): Uint8ClampedArray {
  const lum = new Uint8ClampedArray(width * height);
  for (let i = 0, p = 0; i < lum.length; i++, p += 3) lum[i] = bt601(rgb[p] ?? 0, rgb[p + 1] ?? 0, rgb[p + 2] ?? 0);
  return lum;
}

function corruptJpeg(what: string): PasserelleError {
  return unreadable(`The JPEG frame is corrupt: ${what}.`, 'corrupt-jpeg');
}

function hex(marker: number): string {
  return 'FF' + marker.toString(16).toUpperCase().padStart(2, '0');
}

// ---------------------------------------------------------------------------------------------------
// Common

function checkSize(format: string, width: number, height: number): void {
  if (width === 0 || height === 0 || width > MAX_FRAME_SIDE_PX || height > MAX_FRAME_SIDE_PX) {
    throw unreadable(
      `The ${format} frame is ${width}x${height}; it must be between 1x1 and ${MAX_FRAME_SIDE_PX}x${MAX_FRAME_SIDE_PX}.`,
      'bad-size',
      { width, height },
    );
  }
}

/** BT.601 luma weights in fixed point. */
function bt601(r: number, g: number, b: number): number {
  return (r * 77 + g * 150 + b * 29) >> 8;
}

/**
 * One decode, then, only when a code was seen but not read, the same frame turned a quarter and at half
 * size (each also turned). zxing-js's detector misplaces the sampling grid of some codes: about one card
 * code in four at 5–12 px per module, read at once in another orientation or scale (measured on 300
 * rendered card codes: 77 failures on the first pass, 4 after the retries). Frames with no code at all
 * pay for one pass only.
 */
function decodeLuminance(image: GreyImage): string {
  let first: { reason: QrUnreadableReason; cause: unknown } | undefined;
  for (const attempt of retryViews(image)) {
    const view = attempt();
    try {
      return decodeOnce(view);
    } catch (e) {
      if (!first) first = { reason: decodeFailureReason(e), cause: e };
      if (!CODE_SEEN_REASONS.has(first.reason)) break;
    }
  }
  const { reason, cause } = first!;
  const message = CODE_SEEN_REASONS.has(reason) ? 'A QR code is in the frame but cannot be decoded.' : 'No readable QR code was found in the frame.';
  throw unreadable(message, reason, {}, cause);
}

function decodeOnce(image: GreyImage): string {
  // A one-byte-per-element array is taken as luminance as is; an Int32Array would be read as packed ARGB.
  const source = new RGBLuminanceSource(image.lum, image.width, image.height);
  const hints = new Map<DecodeHintType, unknown>([[DecodeHintType.TRY_HARDER, true]]);
  return new QRCodeReader().decode(new BinaryBitmap(new HybridBinarizer(source)), hints).getText();
}

/** The views tried in order, built lazily: most frames are read (or hold no code) on the first. */
function retryViews(image: GreyImage): (() => GreyImage)[] {
  let half: GreyImage | undefined;
  const halved = (): GreyImage => (half ??= halve(image));
  return [() => image, () => quarterTurn(image), halved, () => quarterTurn(halved())];
}

function quarterTurn(img: GreyImage): GreyImage {
  const { width: w, height: h, lum } = img;
  const out = new Uint8ClampedArray(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out[x * h + (h - 1 - y)] = lum[y * w + x]!;
  }
  return { width: h, height: w, lum: out };
}

function halve(img: GreyImage): GreyImage {
  const w = img.width >> 1;
  const h = img.height >> 1;
  const src = img.lum;
  const out = new Uint8ClampedArray(Math.max(1, w) * Math.max(1, h));
  for (let y = 0; y < h; y++) {
    const r0 = 2 * y * img.width;
    const r1 = r0 + img.width;
    for (let x = 0; x < w; x++) out[y * w + x] = (src[r0 + 2 * x]! + src[r0 + 2 * x + 1]! + src[r1 + 2 * x]! + src[r1 + 2 * x + 1]!) >> 2;
  }
  return { width: Math.max(1, w), height: Math.max(1, h), lum: out };
}

function decodeFailureReason(e: unknown): QrUnreadableReason {
  if (e instanceof NotFoundException) return 'not-found';
  if (e instanceof ChecksumException) return 'checksum';
  if (e instanceof FormatException) return 'format';
  // zxing has other internal failure modes on odd images; they still mean "could not read it".
  return 'decoder-error';
}

function unreadable(
  message: string,
  reason: QrUnreadableReason,
  extra: Record<string, unknown> = {},
  cause?: unknown,
): PasserelleError {
  return new PasserelleError('QR_UNREADABLE', message, { reason, ...extra }, cause === undefined ? undefined : { cause });
}

/** The reason of a QR_UNREADABLE error from `decodeQrFrame`, or null for any other value. */
export function unreadableReason(e: unknown): QrUnreadableReason | null {
  if (!(e instanceof PasserelleError) || e.code !== 'QR_UNREADABLE') return null;
  const reason = e.details?.['reason'];
  return QR_UNREADABLE_REASONS.find((r) => r === reason) ?? null;
}
