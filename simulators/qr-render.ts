import { BarcodeFormat, EncodeHintType, QRCodeWriter, WriterException, type BitMatrix } from '@zxing/library';
import { PNG } from 'pngjs';
import { mulberry32 } from '../common/random.ts';

export interface QrFrameOptions {
  width?: number;
  height?: number;
  moduleSizePx?: number;
  offsetX?: number;
  offsetY?: number;
  /** Amplitude of the per-pixel noise in grey levels, 0..64. */
  noise?: number;
  seed?: number;
}

const MAX_TEXT_LENGTH = 1000;
const MAX_NOISE = 64;
const QUIET_ZONE_MODULES = 4;

// Camera frames are never pure black or white: a grey table, a whitish card, inked modules.
const BACKGROUND_GREY = 190;
const PAPER_GREY = 228;
const INK_GREY = 36;

/**
 * Paints `text` as a QR code (error correction M, 4-module quiet zone) into a greyscale-looking
 * RGBA PNG imitating a camera frame. Deterministic: same arguments, same bytes.
 * Throws RangeError on bad arguments: this is a simulator API, misuse is a programmer error.
 */
export function renderQrFrame(text: string, opts: QrFrameOptions = {}): Buffer {
  checkText(text);
  const width = checkInt('width', opts.width ?? 1280, 1, 8192);
  const height = checkInt('height', opts.height ?? 720, 1, 8192);
  const moduleSizePx = checkInt('moduleSizePx', opts.moduleSizePx ?? 8, 1, 64);
  const noise = checkInt('noise', opts.noise ?? 0, 0, MAX_NOISE);
  const seed = checkInt('seed', opts.seed ?? 1, -(2 ** 31), 2 ** 32 - 1);

  const modules = encodeModules(text);
  const side = modules.getWidth() * moduleSizePx;
  if (side > width || side > height) throw notFitting(side, modules.getWidth(), moduleSizePx, width, height);
  const offsetX = checkInt('offsetX', opts.offsetX ?? Math.floor((width - side) / 2), 0, width);
  const offsetY = checkInt('offsetY', opts.offsetY ?? Math.floor((height - side) / 2), 0, height);
  if (offsetX + side > width || offsetY + side > height) {
    throw notFitting(side, modules.getWidth(), moduleSizePx, width, height, `at offset (${offsetX}, ${offsetY})`);
  }

  const grey = new Uint8Array(width * height).fill(BACKGROUND_GREY);
  paintCode(grey, width, modules, moduleSizePx, offsetX, offsetY);
  if (noise > 0) addNoise(grey, noise, seed);
  return toPng(grey, width, height);
}

function notFitting(side: number, n: number, size: number, width: number, height: number, where = ''): RangeError {
  return new RangeError(
    `QR code of ${side}x${side} px (${n} modules of ${size} px, quiet zone included) ` +
      `does not fit in a ${width}x${height} frame${where ? ' ' + where : ''}`,
  );
}

function checkText(text: string): void {
  if (typeof text !== 'string' || text.length === 0) throw new RangeError('QR text must be a non-empty string');
  if (text.length > MAX_TEXT_LENGTH) {
    throw new RangeError(`QR text is ${text.length} chars long, the maximum is ${MAX_TEXT_LENGTH}`);
  }
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
  return value;
}

/** One matrix cell per module, quiet zone included; true = dark. */
function encodeModules(text: string): BitMatrix {
  // The writer's hints are an untyped Map; UTF-8 (with its ECI header) keeps accents intact,
  // whereas the library default, ISO-8859-1, would silently mangle anything outside Latin-1.
  const hints = new Map<EncodeHintType, unknown>([
    [EncodeHintType.ERROR_CORRECTION, 'M'],
    [EncodeHintType.MARGIN, QUIET_ZONE_MODULES],
    [EncodeHintType.CHARACTER_SET, 'UTF-8'],
  ]);
  try {
    // Asking for 0x0 makes the writer use its minimum scale: exactly one pixel per module.
    return new QRCodeWriter().encode(text, BarcodeFormat.QR_CODE, 0, 0, hints);
  } catch (e) {
    if (e instanceof WriterException) throw new RangeError(`QR text cannot be encoded: ${e.message}`, { cause: e });
    throw e;
  }
}

function paintCode(grey: Uint8Array, width: number, modules: BitMatrix, size: number, ox: number, oy: number): void {
  const n = modules.getWidth();
  for (let my = 0; my < n; my++) {
    for (let mx = 0; mx < n; mx++) {
      const shade = modules.get(mx, my) ? INK_GREY : PAPER_GREY;
      for (let dy = 0; dy < size; dy++) {
        const start = (oy + my * size + dy) * width + ox + mx * size;
        grey.fill(shade, start, start + size);
      }
    }
  }
}

function addNoise(grey: Uint8Array, amplitude: number, seed: number): void {
  const next = mulberry32(seed);
  const span = 2 * amplitude + 1;
  for (let i = 0; i < grey.length; i++) {
    const delta = Math.floor(next() * span) - amplitude;
    grey[i] = Math.min(255, Math.max(0, (grey[i] ?? 0) + delta));
  }
}


function toPng(grey: Uint8Array, width: number, height: number): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < grey.length; i++) {
    const v = grey[i] ?? 0;
    const p = i * 4;
    png.data[p] = v;
    png.data[p + 1] = v;
    png.data[p + 2] = v;
    png.data[p + 3] = 255;
  }
  return PNG.sync.write(png);
}
