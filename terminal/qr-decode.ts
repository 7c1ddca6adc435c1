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
import { PNG } from 'pngjs';
import { PasserelleError } from '../protocol/errors.ts';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// Signature (8) + IHDR length (4) + type (4) + width (4) + height (4).
const IHDR_END = 24;
const MAX_SIDE = 4096;

/**
 * Decodes the QR code in a camera frame given as PNG bytes and returns its text.
 * Every failure (not a PNG, corrupt or oversized image, no code, bad checksum) is a
 * PasserelleError 'QR_UNREADABLE' whose details.reason says which.
 */
export function decodeQrFrame(image: Buffer | Uint8Array): string {
  // A view, not a copy: frames arrive several times a second.
  const bytes = Buffer.isBuffer(image) ? image : Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  checkHeader(bytes);
  const png = readPng(bytes);
  return decodeLuminance(toLuminance(png.data, png.width, png.height), png.width, png.height);
}

/** Checks the IHDR before pngjs sees it, because pngjs allocates whatever size the header claims. */
function checkHeader(bytes: Buffer): void {
  if (bytes.length < PNG_SIGNATURE.length || !bytes.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) {
    throw unreadable('The frame is not a PNG image.', 'not-png');
  }
  if (bytes.length < IHDR_END || bytes.toString('latin1', 12, 16) !== 'IHDR') {
    throw unreadable('The PNG frame is truncated or has no IHDR header.', 'corrupt-png');
  }
  const width = bytes.readUInt32BE(16);
  const height = bytes.readUInt32BE(20);
  if (width === 0 || height === 0 || width > MAX_SIDE || height > MAX_SIDE) {
    throw unreadable(`The PNG frame is ${width}x${height}; it must be between 1x1 and ${MAX_SIDE}x${MAX_SIDE}.`, 'bad-size', {
      width,
      height,
    });
  }
}

function readPng(bytes: Buffer): PNG {
  try {
    return PNG.sync.read(bytes);
  } catch (e) {
    throw unreadable('The PNG frame is corrupt or truncated.', 'corrupt-png', {}, e);
  }
}

/** pngjs always hands back 8-bit RGBA; zxing wants one grey byte per pixel. */
function toLuminance(rgba: Buffer, width: number, height: number): Uint8ClampedArray {
  const lum = new Uint8ClampedArray(width * height);
  for (let i = 0, p = 0; i < lum.length; i++, p += 4) {
    const r = rgba[p] ?? 0;
    const g = rgba[p + 1] ?? 0;
    const b = rgba[p + 2] ?? 0;
    const a = rgba[p + 3] ?? 255;
    // BT.601 weights in fixed point; transparent pixels are composited on white like a screen would.
    const y = (r * 77 + g * 150 + b * 29) >> 8;
    lum[i] = (y * a + 255 * (255 - a)) / 255;
  }
  return lum;
}

function decodeLuminance(lum: Uint8ClampedArray, width: number, height: number): string {
  // A one-byte-per-element array is taken as luminance as is; an Int32Array would be read as packed ARGB.
  const source = new RGBLuminanceSource(lum, width, height);
  const bitmap = new BinaryBitmap(new HybridBinarizer(source));
  const hints = new Map<DecodeHintType, unknown>([[DecodeHintType.TRY_HARDER, true]]);
  try {
    return new QRCodeReader().decode(bitmap, hints).getText();
  } catch (e) {
    throw unreadable('No readable QR code was found in the frame.', decodeFailureReason(e), {}, e);
  }
}

function decodeFailureReason(e: unknown): string {
  if (e instanceof NotFoundException) return 'not-found';
  if (e instanceof ChecksumException) return 'checksum';
  if (e instanceof FormatException) return 'format';
  // zxing has other internal failure modes on odd images; they still mean "could not read it".
  return 'decoder-error';
}

function unreadable(message: string, reason: string, extra: Record<string, unknown> = {}, cause?: unknown): PasserelleError {
  return new PasserelleError('QR_UNREADABLE', message, { reason, ...extra }, cause === undefined ? undefined : { cause });
}
